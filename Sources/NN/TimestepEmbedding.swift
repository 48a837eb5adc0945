import Foundation
import Tensor

/// The sinusoidal embedding of diffusion timesteps (as in "Attention is all you need" and DDPM):
/// [sin(t·f_i), cos(t·f_i)] with f_i = 10000^(−i/(D/2)), one row per timestep, (N, D).
public func sinusoidalEmbedding(_ timesteps: [Float], dimension: Int) -> Tensor {
    let half = dimension / 2
    let frequencies = (0..<half).map { exp(-log(10000) * Double($0) / Double(half)) }
    var values: [Float] = []
    values.reserveCapacity(timesteps.count * dimension)
    for t in timesteps {
        values += frequencies.map { Float(sin(Double(t) * $0)) }
        values += frequencies.map { Float(cos(Double(t) * $0)) }
    }
    return Tensor(shape: [timesteps.count, dimension], values: values)
}
