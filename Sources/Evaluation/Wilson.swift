/// A success rate with its 95 % Wilson score interval (sound at 0 %, 100 % and small n).
public struct SuccessRate: Codable, Sendable, Equatable {
    public let successes: Int
    public let trials: Int
    public let rate: Double
    public let low: Double
    public let high: Double

    public init(successes: Int, trials: Int, z: Double = 1.959964) {
        self.successes = successes
        self.trials = trials
        guard trials > 0 else {
            (rate, low, high) = (0, 0, 1)
            return
        }
        let n = Double(trials), p = Double(successes) / n
        let denominator = 1 + z * z / n
        let centre = (p + z * z / (2 * n)) / denominator
        let half = z * (p * (1 - p) / n + z * z / (4 * n * n)).squareRoot() / denominator
        rate = p
        low = max(0, centre - half)
        high = min(1, centre + half)
    }

    /// "46.7 % [35.2, 58.5]"
    public var text: String {
        func percent(_ v: Double) -> String { String(Double(Int((v * 1000).rounded())) / 10) }
        return "\(percent(rate)) % [\(percent(low)), \(percent(high))]"
    }
}
