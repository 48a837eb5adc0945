/// How an op's output was made: its inputs, and how to send the output's gradient back to them.
final class Node {
    let inputs: [Tensor]
    /// Receives the gradient of the output and accumulates into the inputs that require one.
    let backward: (Tensor) -> Void

    init(inputs: [Tensor], backward: @escaping (Tensor) -> Void) {
        self.inputs = inputs
        self.backward = backward
    }
}

/// Whether ops record the graph for ``Tensor/backward(_:)``.
public enum GradMode {
    @TaskLocal public static var isEnabled = true
}

/// Runs `body` without recording gradients (inference, EMA updates, evaluation).
public func withoutGrad<T>(_ body: () throws -> T) rethrows -> T {
    try GradMode.$isEnabled.withValue(false, operation: body)
}

extension Tensor {
    /// Wraps an op's result: records `backward` when gradients are on and an input needs them.
    static func result(_ out: Tensor, inputs: [Tensor], backward: @escaping (Tensor) -> Void) -> Tensor {
        if GradMode.isEnabled, inputs.contains(where: \.requiresGrad) {
            out.requiresGrad = true
            out.node = Node(inputs: inputs, backward: backward)
        }
        return out
    }

    /// Adds `g` to this tensor's gradient.
    func accumulateGrad(_ g: Tensor) {
        precondition(g.shape == shape, "gradient of shape \(g.shape) for a tensor of shape \(shape)")
        guard let existing = grad else {
            grad = g
            gradIsBorrowed = true
            return
        }
        if gradIsBorrowed {
            let owned = existing.copy()
            grad = owned
            gradIsBorrowed = false
        }
        let dst = grad!.storage.pointer
        let src = g.storage.pointer
        parallelFor(count) { range in
            for i in range { dst[i] += src[i] }
        }
    }

    /// Multiplies the accumulated gradient by `factor` in place (gradient clipping).
    public func scaleGradient(by factor: Float) {
        guard let g = grad else { return }
        if gradIsBorrowed {
            grad = g.copy()
            gradIsBorrowed = false
        }
        let p = grad!.storage.pointer
        for i in 0..<g.count { p[i] *= factor }
    }

    /// Back-propagates from this tensor: `seed` is d(result)/d(self), ones by default (a scalar loss).
    /// Fills ``grad`` of every leaf that requires gradients and releases the graph.
    public func backward(_ seed: Tensor? = nil) {
        precondition(requiresGrad, "backward() on a tensor that does not require gradients")
        // Topological order by an explicit stack (graphs can be deeper than the call stack).
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (tensor, expanded) = stack.popLast() {
            if expanded {
                order.append(tensor)
                continue
            }
            guard visited.insert(ObjectIdentifier(tensor)).inserted else { continue }
            stack.append((tensor, true))
            for input in tensor.node?.inputs ?? [] where input.node != nil && !visited.contains(ObjectIdentifier(input)) {
                stack.append((input, false))
            }
        }
        accumulateGrad(seed ?? Tensor(shape: shape, repeating: 1))
        // Gradients are computed without recording a graph of their own.
        withoutGrad {
            for tensor in order.reversed() {
                guard let node = tensor.node else { continue }
                tensor.node = nil
                if let grad = tensor.grad {
                    node.backward(grad)
                }
                // Intermediate results keep no gradient; only leaves do.
                tensor.grad = nil
            }
        }
    }
}
