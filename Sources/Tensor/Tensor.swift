/// A dense Float32 tensor in row-major (C) order, with reverse-mode automatic differentiation.
///
/// Every op returns a new tensor (views such as ``reshaped(_:)`` share storage but are never
/// written through). A tensor produced from inputs that require gradients remembers how it was
/// made; ``backward(_:)`` walks that graph and fills ``grad`` of every leaf that requires it.
///
/// Shapes in comments use: B batch, C channels, F frames, H/W height/width, S spatial (H·W),
/// L sequence length, D feature size.
public final class Tensor {
    public let shape: [Int]
    public let storage: Storage
    /// Whether gradients flow to this tensor. Parameters set it; op outputs inherit it.
    public var requiresGrad: Bool
    /// The accumulated gradient after ``backward(_:)`` (leaves only; intermediates are released).
    public internal(set) var grad: Tensor?
    /// True while `grad` is a tensor this one does not own (it must be copied before adding to it).
    var gradIsBorrowed = false
    /// How this tensor was computed, while its graph is alive.
    var node: Node?

    init(shape: [Int], storage: Storage, requiresGrad: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        precondition(storage.count == shape.reduce(1, *), "storage of \(storage.count) for shape \(shape)")
        self.shape = shape
        self.storage = storage
        self.requiresGrad = requiresGrad
    }

    /// A tensor whose elements are all `value`.
    public convenience init(shape: [Int], repeating value: Float = 0, requiresGrad: Bool = false) {
        self.init(shape: shape, storage: Storage(repeating: value, count: shape.reduce(1, *)), requiresGrad: requiresGrad)
    }

    /// A tensor holding `values` in row-major order.
    public convenience init(shape: [Int], values: [Float], requiresGrad: Bool = false) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        let storage = Storage(uninitialized: values.count)
        values.withUnsafeBufferPointer { storage.pointer.update(from: $0.baseAddress!, count: values.count) }
        self.init(shape: shape, storage: storage, requiresGrad: requiresGrad)
    }

    /// A rank-0 tensor.
    public convenience init(scalar: Float) { self.init(shape: [], values: [scalar]) }

    /// Uninitialized, for ops that write every element.
    static func empty(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, storage: Storage(uninitialized: shape.reduce(1, *)))
    }

    public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor(shape: shape, repeating: 0, requiresGrad: requiresGrad)
    }

    public static func ones(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 1) }

    /// Standard normal values times `std`.
    public static func randn(_ shape: [Int], std: Float = 1, rng: inout SeededRNG) -> Tensor {
        let t = empty(shape)
        for i in 0..<t.count { t.storage.pointer[i] = rng.normal() * std }
        return t
    }

    /// Uniform values in [low, high).
    public static func uniform(_ shape: [Int], low: Float, high: Float, rng: inout SeededRNG) -> Tensor {
        let t = empty(shape)
        for i in 0..<t.count { t.storage.pointer[i] = low + (high - low) * rng.uniform() }
        return t
    }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }

    /// The single value of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "item of a tensor with \(count) elements")
        return storage.pointer[0]
    }

    public func toArray() -> [Float] { Array(storage.buffer) }

    /// Reads the values without copying.
    /// The first NaN or infinite value, if any.
    public func firstNonFinite() -> Float? {
        withValues { values in values.first { !$0.isFinite } }
    }

    public func withValues<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(storage.buffer))
    }

    /// Writes the values in place (optimizer steps, loading weights). Not recorded for autodiff.
    public func withMutableValues<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        defer { storage.markMutated() }
        return try body(storage.buffer)
    }

    /// The same values, cut off from the graph (shares storage).
    public func detached() -> Tensor { Tensor(shape: shape, storage: storage) }

    /// A copy with its own storage, cut off from the graph.
    public func copy() -> Tensor {
        let out = Tensor.empty(shape)
        out.storage.pointer.update(from: storage.pointer, count: count)
        return out
    }

    /// Forgets the accumulated gradient.
    public func zeroGrad() {
        grad = nil
        gradIsBorrowed = false
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shown = toArray().prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape): [\(shown)\(count > 8 ? ", …" : "")])"
    }
}

/// Product of dimensions.
@inline(__always) func volume(_ shape: ArraySlice<Int>) -> Int { shape.reduce(1, *) }

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
