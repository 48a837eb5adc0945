import Foundation

/// The cosine noise schedule (Nichol & Dhariwal) with T steps, and the v-parameterisation.
///
/// x_t = √ᾱ_t · x₀ + √(1−ᾱ_t) · ε;  v = √ᾱ_t · ε − √(1−ᾱ_t) · x₀.  Step t = 0 is the least noisy.
public struct CosineSchedule: Sendable {
    public let steps: Int
    /// ᾱ_t for t = 0 ..< steps.
    public let alphaBar: [Double]

    public init(steps: Int, offset: Double = 0.008) {
        self.steps = steps
        func f(_ t: Double) -> Double {
            let c = cos((t / Double(steps) + offset) / (1 + offset) * .pi / 2)
            return c * c
        }
        var values: [Double] = []
        var product = 1.0
        for t in 0..<steps {
            // β clipped at 0.999 so the last step is not pure division by zero.
            let beta = min(1 - f(Double(t + 1)) / f(Double(t)), 0.999)
            product *= 1 - beta
            values.append(product)
        }
        alphaBar = values
    }

    public func signal(_ t: Int) -> Float { Float(alphaBar[t].squareRoot()) }
    public func noise(_ t: Int) -> Float { Float((1 - alphaBar[t]).squareRoot()) }
    public func snr(_ t: Int) -> Double { alphaBar[t] / (1 - alphaBar[t]) }

    /// The min-SNR-γ loss weight for v-prediction: min(SNR, γ) / (SNR + 1).
    public func minSNRWeight(_ t: Int, gamma: Double = 5) -> Float { Float(min(snr(t), gamma) / (snr(t) + 1)) }

    /// `count` timesteps from the noisiest down to 0, evenly spaced (DDIM's sub-sequence).
    public func samplingTimesteps(_ count: Int) -> [Int] {
        let n = max(1, min(count, steps))
        return (0..<n).map { i in Int((Double(steps - 1) * Double(n - 1 - i) / Double(max(1, n - 1))).rounded()) }
    }
}
