import Tensor
import Testing

/// Compares the gradients autodiff gives with central finite differences.
///
/// The scalar checked is Σ f(inputs) ⊙ W for a fixed random W, so every output element matters.
func checkGradients(_ name: String, _ inputs: [Tensor], step: Float = 1e-2, tolerance: Float = 2e-2,
                    sourceLocation: SourceLocation = #_sourceLocation, _ f: ([Tensor]) -> Tensor) {
    var rng = SeededRNG(seed: 42)
    for x in inputs { x.requiresGrad = true; x.zeroGrad() }
    let probe = f(inputs)
    let weights = Tensor.randn(probe.shape, rng: &rng)
    func objective() -> Float { withoutGrad { (f(inputs) * weights).sum().item } }
    (f(inputs) * weights).sum().backward()
    for (index, x) in inputs.enumerated() {
        let analytic = x.grad?.toArray() ?? [Float](repeating: 0, count: x.count)
        var worst: (error: Float, at: Int, analytic: Float, numeric: Float) = (0, -1, 0, 0)
        for i in 0..<x.count {
            let original = x.withValues { $0[i] }
            x.withMutableValues { $0[i] = original + step }
            let plus = objective()
            x.withMutableValues { $0[i] = original - step }
            let minus = objective()
            x.withMutableValues { $0[i] = original }
            let numeric = (plus - minus) / (2 * step)
            let error = abs(numeric - analytic[i]) / (tolerance + tolerance * max(abs(numeric), abs(analytic[i])))
            if error > worst.error { worst = (error, i, analytic[i], numeric) }
        }
        #expect(worst.error <= 1, "\(name): input \(index) element \(worst.at): autodiff \(worst.analytic), finite difference \(worst.numeric)",
                sourceLocation: sourceLocation)
        x.zeroGrad()
    }
}
