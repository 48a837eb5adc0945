/// Iteration over an output shape with inputs that broadcast into it (NumPy rules), after
/// merging dimensions that can be walked as one, so the innermost loop is as long as possible.
struct BroadcastLayout {
    /// Collapsed output dimensions; the last is the inner loop.
    var dims: [Int]
    /// Per input, the stride (in elements) of each collapsed dimension; 0 where it broadcasts.
    var strides: [[Int]]

    /// The shape two shapes broadcast to, or nil when they cannot.
    static func shape(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = max(a.count, b.count)
        var out = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            guard da == db || da == 1 || db == 1 else { return nil }
            out[i] = da == 1 ? db : da
        }
        return out
    }

    init(output: [Int], inputs: [[Int]]) {
        let rank = output.count
        // Row-major strides of each input aligned to the output's rank, 0 where broadcast.
        var raw: [[Int]] = inputs.map { shape in
            var strides = [Int](repeating: 0, count: rank)
            var step = 1
            for i in stride(from: shape.count - 1, through: 0, by: -1) {
                let axis = i + rank - shape.count
                strides[axis] = shape[i] == 1 && output[axis] != 1 ? 0 : step
                step *= shape[i]
            }
            return strides
        }
        var dims: [Int] = []
        var kept: [[Int]] = Array(repeating: [], count: inputs.count)
        for axis in 0..<rank where output[axis] != 1 {
            if let last = dims.last,
               (0..<inputs.count).allSatisfy({ kept[$0].last! == raw[$0][axis] * output[axis] })
            {
                dims[dims.count - 1] = last * output[axis]
                for k in 0..<inputs.count { kept[k][kept[k].count - 1] = raw[k][axis] }
            } else {
                dims.append(output[axis])
                for k in 0..<inputs.count { kept[k].append(raw[k][axis]) }
            }
        }
        if dims.isEmpty {
            dims = [1]
            kept = kept.map { _ in [0] }
        }
        raw = kept
        self.dims = dims
        self.strides = raw
    }

    /// Calls `body(row offsets, inner length, inner strides)` for every inner row, in order.
    /// Row offsets and strides are per input.
    func forEachRow(_ body: (_ row: Int, _ offsets: [Int]) -> Void) {
        let outer = dims.dropLast()
        let rows = outer.reduce(1, *)
        var index = [Int](repeating: 0, count: outer.count)
        var offsets = [Int](repeating: 0, count: strides.count)
        for row in 0..<rows {
            body(row, offsets)
            // Advance the odometer.
            var axis = outer.count - 1
            while axis >= 0 {
                index[axis] += 1
                for k in 0..<strides.count { offsets[k] += strides[k][axis] }
                if index[axis] < dims[axis] { break }
                for k in 0..<strides.count { offsets[k] -= strides[k][axis] * dims[axis] }
                index[axis] = 0
                axis -= 1
            }
        }
    }

    var inner: Int { dims.last! }
    func innerStride(_ input: Int) -> Int { strides[input].last! }
}
