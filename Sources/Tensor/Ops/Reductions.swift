extension Tensor {
    /// The sum of all elements (a scalar tensor).
    public func sum() -> Tensor {
        let p = storage.pointer
        var total: Double = 0
        var i = 0
        // Accumulate in Double over blocks: float sums of millions of elements drift.
        while i < count {
            let end = min(count, i + 4096)
            total += Double(sumOf(p + i, count: end - i))
            i = end
        }
        let out = Tensor(shape: [], values: [Float(total)])
        return Tensor.result(out, inputs: [self]) { [shape] g in
            self.accumulateGrad(Tensor(shape: shape, repeating: g.item))
        }
    }

    /// The mean of all elements.
    public func mean() -> Tensor { sum().scaled(1 / Float(max(1, count))) }

    /// Sums over `axes`; keeps them as size 1 when `keepingDimensions`.
    public func sum(axes: [Int], keepingDimensions: Bool = false) -> Tensor {
        let normalized = Set(axes.map { $0 < 0 ? $0 + rank : $0 })
        precondition(normalized.allSatisfy { $0 >= 0 && $0 < rank }, "axes \(axes) out of range for shape \(shape)")
        let kept = shape.enumerated().map { normalized.contains($0.offset) ? 1 : $0.element }
        let reduced = sum(to: kept)
        if keepingDimensions { return reduced }
        return reduced.reshaped(shape.enumerated().filter { !normalized.contains($0.offset) }.map(\.element))
    }

    /// Means over `axes`.
    public func mean(axes: [Int], keepingDimensions: Bool = false) -> Tensor {
        let n = axes.map { shape[$0 < 0 ? $0 + rank : $0] }.reduce(1, *)
        return sum(axes: axes, keepingDimensions: keepingDimensions).scaled(1 / Float(max(1, n)))
    }
}
