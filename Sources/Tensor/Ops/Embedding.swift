extension Tensor {
    /// Rows of `table` (V, D) picked by `indices`: the result is (indices.count, D).
    public static func embedding(_ table: Tensor, indices: [Int]) -> Tensor {
        precondition(table.rank == 2, "embedding table must be (V, D), got \(table.shape)")
        let (v, d) = (table.shape[0], table.shape[1])
        for i in indices { precondition(i >= 0 && i < v, "embedding index \(i) outside 0..<\(v)") }
        let out = Tensor.empty([indices.count, d])
        let pt = table.storage.pointer, po = out.storage.pointer
        for (row, i) in indices.enumerated() { (po + row * d).update(from: pt + i * d, count: d) }
        return result(out, inputs: [table]) { g in
            let gt = Tensor.zeros(table.shape)
            let pg = g.storage.pointer, pgt = gt.storage.pointer
            for (row, i) in indices.enumerated() { for j in 0..<d { pgt[i * d + j] += pg[row * d + j] } }
            table.accumulateGrad(gt)
        }
    }
}
