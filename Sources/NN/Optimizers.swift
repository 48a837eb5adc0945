import Tensor

/// AdamW (Loshchilov & Hutter): Adam with weight decay applied to the weights directly,
/// as PyTorch's `torch.optim.AdamW`.
public final class AdamW {
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let eps: Float
    public let weightDecay: Float
    public private(set) var step = 0
    private let parameters: [Tensor]
    private let firstMoments: [Tensor]
    private let secondMoments: [Tensor]

    public init(parameters: [Tensor], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                eps: Float = 1e-8, weightDecay: Float = 1e-2) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        firstMoments = parameters.map { Tensor.zeros($0.shape) }
        secondMoments = parameters.map { Tensor.zeros($0.shape) }
    }

    /// One update from the parameters' current gradients (parameters without one are skipped).
    public func update() {
        step += 1
        let correction1 = 1 - Float(Double(beta1).power(step))
        let correction2 = 1 - Float(Double(beta2).power(step))
        let stepSize = learningRate / correction1
        let decay = 1 - learningRate * weightDecay
        let (b1, b2, eps) = (beta1, beta2, eps)
        for (i, parameter) in parameters.enumerated() {
            guard let grad = parameter.grad else { continue }
            grad.withValues { g in
                firstMoments[i].withMutableValues { m in
                    secondMoments[i].withMutableValues { v in
                        parameter.withMutableValues { p in
                            for j in 0..<p.count {
                                m[j] = b1 * m[j] + (1 - b1) * g[j]
                                v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j]
                                let denominator = (v[j] / correction2).squareRoot() + eps
                                p[j] = p[j] * decay - stepSize * m[j] / denominator
                            }
                        }
                    }
                }
            }
        }
    }

    /// The optimizer's state, named, for checkpoints (resume exactly where training stopped).
    public func state() -> [(name: String, tensor: Tensor)] {
        var out: [(String, Tensor)] = [("step", Tensor(shape: [1], values: [Float(step)]))]
        for i in parameters.indices {
            out.append(("m.\(i)", firstMoments[i]))
            out.append(("v.\(i)", secondMoments[i]))
        }
        return out
    }

    /// Restores ``state()``.
    public func load(state: [String: Tensor]) throws {
        guard let stepTensor = state["step"] else { throw SafetensorsError("optimizer state has no step") }
        for i in parameters.indices {
            guard let m = state["m.\(i)"], let v = state["v.\(i)"], m.shape == parameters[i].shape,
                  v.shape == parameters[i].shape
            else { throw SafetensorsError("optimizer state does not fit parameter \(i) \(parameters[i].shape)") }
            m.withValues { src in firstMoments[i].withMutableValues { _ = $0.update(fromContentsOf: src) } }
            v.withValues { src in secondMoments[i].withMutableValues { _ = $0.update(fromContentsOf: src) } }
        }
        step = Int(stepTensor.item)
    }
}

extension Double {
    fileprivate func power(_ n: Int) -> Double { Foundation.pow(self, Double(n)) }
}

/// Scales all gradients so their global L2 norm is at most `maxNorm`; returns the norm before.
@discardableResult
public func clipGradientNorm(_ parameters: [Tensor], maxNorm: Float) -> Float {
    var total: Double = 0
    for p in parameters {
        p.grad?.withValues { g in for x in g { total += Double(x) * Double(x) } }
    }
    let norm = Float(total.squareRoot())
    guard norm > maxNorm, norm > 0 else { return norm }
    let scale = maxNorm / (norm + 1e-6)
    for p in parameters { p.scaleGradient(by: scale) }
    return norm
}

/// An exponential moving average of parameters: shadow ← decay·shadow + (1 − decay)·parameter.
/// Sampling from the average is steadier than from the last step (as in AVDC and DDPM).
public final class EMA {
    public let decay: Float
    public let shadow: [Tensor]
    private let parameters: [Tensor]

    public init(parameters: [Tensor], decay: Float = 0.999) {
        self.parameters = parameters
        self.decay = decay
        shadow = parameters.map { $0.copy() }
    }

    public func update() {
        let d = decay
        for (s, p) in zip(shadow, parameters) {
            p.withValues { src in s.withMutableValues { dst in for j in 0..<dst.count { dst[j] = d * dst[j] + (1 - d) * src[j] } } }
        }
    }

    /// Sets the average to the parameters' current values (training starts from given weights).
    public func reset(to values: [Tensor]) {
        for (s, v) in zip(shadow, values) { v.withValues { src in s.withMutableValues { _ = $0.update(fromContentsOf: src) } } }
    }

    /// Copies the averaged values into `targets` (another instance of the same model).
    public func copy(into targets: [Tensor]) {
        precondition(targets.count == shadow.count, "EMA of \(shadow.count) tensors copied into \(targets.count)")
        for (s, t) in zip(shadow, targets) {
            precondition(s.shape == t.shape, "EMA tensor \(s.shape) copied into \(t.shape)")
            s.withValues { src in t.withMutableValues { _ = $0.update(fromContentsOf: src) } }
        }
    }
}

import Foundation
