extension Tensor {
    /// The same values under another shape (shares storage). One dimension may be -1 (inferred).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var target = newShape
        if let unknown = target.firstIndex(of: -1) {
            let known = target.enumerated().filter { $0.offset != unknown }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            target[unknown] = count / known
        }
        precondition(target.reduce(1, *) == count, "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        if target == shape { return self }
        let out = Tensor(shape: target, storage: storage)
        return Tensor.result(out, inputs: [self]) { [shape] g in self.accumulateGrad(g.reshaped(shape)) }
    }

    /// Dimensions reordered: output dimension i is input dimension `order[i]` (a copy).
    public func permuted(_ order: [Int]) -> Tensor {
        precondition(order.sorted() == Array(0..<rank), "\(order) is not a permutation of \(rank) axes")
        if order == Array(0..<rank) { return self }
        let outShape = order.map { shape[$0] }
        let out = Tensor.empty(outShape)
        // Strides of the input, in output order.
        var inStrides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
        let strides = order.map { inStrides[$0] }
        Tensor.stridedCopy(from: storage.pointer, strides: strides, shape: outShape, to: out.storage.pointer)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, axis) in order.enumerated() { inverse[axis] = i }
        return Tensor.result(out, inputs: [self]) { g in self.accumulateGrad(g.permuted(inverse)) }
    }

    /// Swaps the last two dimensions (a copy).
    public func transposedLast2() -> Tensor {
        var order = Array(0..<rank)
        order.swapAt(rank - 1, rank - 2)
        return permuted(order)
    }

    /// Copies `src` read with `strides` into a contiguous array of `shape`.
    static func stridedCopy(from src: UnsafeMutablePointer<Float>, strides: [Int], shape: [Int],
                            to dst: UnsafeMutablePointer<Float>) {
        let rank = shape.count
        let inner = shape[rank - 1]
        let innerStride = strides[rank - 1]
        let rows = shape.dropLast().reduce(1, *)
        let outer = Array(shape.dropLast())
        let outerStrides = Array(strides.dropLast())
        let s = SharedPointer(src), d = SharedPointer(dst)
        parallelFor(rows, minimumPerWorker: max(1, 32_768 / max(1, inner))) { range in
            // Offset of the first row of this range.
            var index = [Int](repeating: 0, count: outer.count)
            var remainder = range.lowerBound
            var offset = 0
            for axis in stride(from: outer.count - 1, through: 0, by: -1) {
                index[axis] = remainder % outer[axis]
                remainder /= outer[axis]
                offset += index[axis] * outerStrides[axis]
            }
            for row in range {
                let o = d + row * inner
                let x = s + offset
                if innerStride == 1 {
                    o.update(from: x, count: inner)
                } else {
                    for i in 0..<inner { o[i] = x[i * innerStride] }
                }
                var axis = outer.count - 1
                while axis >= 0 {
                    index[axis] += 1
                    offset += outerStrides[axis]
                    if index[axis] < outer[axis] { break }
                    offset -= outerStrides[axis] * outer[axis]
                    index[axis] = 0
                    axis -= 1
                }
            }
        }
    }

    /// Joins tensors along `axis`; all other dimensions must agree.
    public static func concat(_ tensors: [Tensor], axis: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concat of nothing")
        let first = tensors[0]
        let axis = axis < 0 ? axis + first.rank : axis
        for t in tensors {
            precondition(t.rank == first.rank && (0..<first.rank).allSatisfy { $0 == axis || t.shape[$0] == first.shape[$0] },
                         "concat along \(axis): shapes \(tensors.map(\.shape)) do not agree")
        }
        var outShape = first.shape
        outShape[axis] = tensors.reduce(0) { $0 + $1.shape[axis] }
        let out = Tensor.empty(outShape)
        let outer = first.shape[..<axis].reduce(1, *)
        let innerOut = outShape[axis...].reduce(1, *)
        var offset = 0
        for t in tensors {
            let inner = t.shape[axis...].reduce(1, *)
            let src = t.storage.pointer, dst = out.storage.pointer
            for o in 0..<outer { (dst + o * innerOut + offset).update(from: src + o * inner, count: inner) }
            offset += inner
        }
        let sizes = tensors.map { $0.shape[axis] }
        return result(out, inputs: tensors) { g in
            let parts = g.split(sizes, axis: axis)
            for (t, part) in zip(tensors, parts) where t.requiresGrad { t.accumulateGrad(part) }
        }
    }

    /// Cuts along `axis` into pieces of the given sizes.
    public func split(_ sizes: [Int], axis: Int) -> [Tensor] {
        let axis = axis < 0 ? axis + rank : axis
        precondition(sizes.reduce(0, +) == shape[axis], "split sizes \(sizes) do not add up to \(shape[axis])")
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return slice(axis: axis, start: start, length: size)
        }
    }

    /// Elements `start..<start+length` along `axis` (a copy).
    public func slice(axis: Int, start: Int, length: Int) -> Tensor {
        let axis = axis < 0 ? axis + rank : axis
        precondition(start >= 0 && length >= 0 && start + length <= shape[axis],
                     "slice \(start)..<\(start + length) of axis \(axis) with size \(shape[axis])")
        var outShape = shape
        outShape[axis] = length
        let out = Tensor.empty(outShape)
        let outer = shape[..<axis].reduce(1, *)
        let block = shape[(axis + 1)...].reduce(1, *)
        let innerIn = shape[axis] * block
        let src = storage.pointer, dst = out.storage.pointer
        for o in 0..<outer { (dst + o * length * block).update(from: src + o * innerIn + start * block, count: length * block) }
        return Tensor.result(out, inputs: [self]) { [shape] g in
            let full = Tensor.zeros(shape)
            let pg = g.storage.pointer, pf = full.storage.pointer
            for o in 0..<outer { (pf + o * innerIn + start * block).update(from: pg + o * length * block, count: length * block) }
            self.accumulateGrad(full)
        }
    }

    /// Stacks same-shaped tensors along a new leading axis.
    public static func stack(_ tensors: [Tensor]) -> Tensor {
        concat(tensors.map { $0.reshaped([1] + $0.shape) }, axis: 0)
    }
}
