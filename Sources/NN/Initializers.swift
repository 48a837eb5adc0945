import Tensor

/// Parameter initialisations, as PyTorch's defaults for the same layers.
public enum Initializer {
    /// U(−1/√fanIn, 1/√fanIn): PyTorch's default for Linear and Conv weights (kaiming_uniform
    /// with a = √5) and for their biases.
    public static func pytorchDefault(_ shape: [Int], fanIn: Int, rng: inout SeededRNG) -> Tensor {
        let bound = 1 / Float(max(1, fanIn)).squareRoot()
        let t = Tensor.uniform(shape, low: -bound, high: bound, rng: &rng)
        t.requiresGrad = true
        return t
    }

    /// Zeros (for layers that should start as the identity of a residual branch).
    public static func zeros(_ shape: [Int]) -> Tensor { Tensor.zeros(shape, requiresGrad: true) }

    public static func ones(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 1, requiresGrad: true) }

    /// N(0, std²).
    public static func normal(_ shape: [Int], std: Float, rng: inout SeededRNG) -> Tensor {
        let t = Tensor.randn(shape, std: std, rng: &rng)
        t.requiresGrad = true
        return t
    }
}
