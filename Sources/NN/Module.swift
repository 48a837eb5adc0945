import Tensor

/// A layer or model: an object whose stored properties are its parameters (``Tensor``s that
/// require gradients), buffers (other tensors) and submodules (``Module``s, or arrays of them).
///
/// Names come from the property names by reflection, nested with dots and array indices:
/// `down.0.res.1.conv1.weight`, as PyTorch's `state_dict` spells them, so checkpoints open in
/// Python with the same keys.
public protocol Module: AnyObject {}

extension Module {
    /// Every tensor of the module and its submodules, named, in declaration order.
    public func namedTensors() -> [(name: String, tensor: Tensor)] {
        var out: [(String, Tensor)] = []
        collect(Mirror(reflecting: self), prefix: "", into: &out)
        return out
    }

    /// The trainable tensors (those that require gradients), named.
    public func namedParameters() -> [(name: String, tensor: Tensor)] {
        namedTensors().filter { $0.tensor.requiresGrad }
    }

    public func parameters() -> [Tensor] { namedParameters().map(\.tensor) }

    /// Total number of trainable values.
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

    public func zeroGrad() { for p in parameters() { p.zeroGrad() } }

    private func collect(_ mirror: Mirror, prefix: String, into out: inout [(String, Tensor)]) {
        if let superclass = mirror.superclassMirror { collect(superclass, prefix: prefix, into: &out) }
        for child in mirror.children {
            guard let label = child.label else { continue }
            add(child.value, name: prefix + label, into: &out)
        }
    }

    private func add(_ value: Any, name: String, into out: inout [(String, Tensor)]) {
        switch value {
        case let tensor as Tensor:
            out.append((name, tensor))
        case let module as any Module:
            module.collectInto(prefix: name + ".", out: &out)
        case let array as [Any]:
            for (i, element) in array.enumerated() { add(element, name: "\(name).\(i)", into: &out) }
        default:
            // An optional (a layer without bias): look inside when it holds something.
            let mirror = Mirror(reflecting: value)
            if mirror.displayStyle == .optional, let wrapped = mirror.children.first?.value {
                add(wrapped, name: name, into: &out)
            }
        }
    }

    fileprivate func collectInto(prefix: String, out: inout [(String, Tensor)]) {
        collect(Mirror(reflecting: self), prefix: prefix, into: &out)
    }
}

/// Something that maps one tensor to another (a layer with a single input).
public protocol UnaryLayer: Module {
    func callAsFunction(_ x: Tensor) -> Tensor
}
