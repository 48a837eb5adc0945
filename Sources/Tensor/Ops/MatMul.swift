extension Tensor {
    /// Matrix product over the last two dimensions, batched over the leading ones.
    ///
    /// `a` is (…, m, k) (or (…, k, m) when `transposeA`), `b` is (…, k, n) (or (…, n, k) when
    /// `transposeB`); leading dimensions must match, or `b` may be a plain matrix shared by every batch.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        precondition(a.rank >= 2 && b.rank >= 2, "matmul needs matrices, got \(a.shape) and \(b.shape)")
        let (ar, ac) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
        let (br, bc) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
        let (m, k) = transposeA ? (ac, ar) : (ar, ac)
        let (k2, n) = transposeB ? (bc, br) : (br, bc)
        precondition(k == k2, "matmul: inner sizes differ, \(a.shape) × \(b.shape)")
        let batchShape = Array(a.shape.dropLast(2))
        let batch = batchShape.reduce(1, *)
        let shared = b.rank == 2
        precondition(shared || Array(b.shape.dropLast(2)) == batchShape, "matmul: batch shapes \(a.shape) and \(b.shape)")
        let out = Tensor.empty(batchShape + [m, n])
        let pa = a.storage.pointer, pb = b.storage.pointer, po = out.storage.pointer
        if shared && !transposeA && batch > 1 {
            // (batch·m, k) × (k, n) in one call.
            BLAS.parallelSgemm(transB: transposeB, m: batch * m, n: n, k: k, a: pa, lda: ac, b: pb, ldb: bc, c: po, ldc: n)
        } else {
            for i in 0..<batch {
                BLAS.parallelSgemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k, a: pa + i * ar * ac, lda: ac,
                           b: pb + (shared ? 0 : i * br * bc), ldb: bc, c: po + i * m * n, ldc: n)
            }
        }
        return result(out, inputs: [a, b]) { g in
            // C = A·B: dA = dC·Bᵀ, dB = Aᵀ·dC (with the transposes folded in).
            if a.requiresGrad {
                let ga = transposeA
                    ? matmul(b, g, transposeA: transposeB, transposeB: true)
                    : matmul(g, b, transposeA: false, transposeB: !transposeB)
                a.accumulateGrad(ga)
            }
            if b.requiresGrad {
                var gb = transposeB
                    ? matmul(g, a, transposeA: true, transposeB: transposeA)
                    : matmul(a, g, transposeA: !transposeA, transposeB: false)
                if shared && batch > 1 { gb = gb.reshaped([batch] + gb.shape.suffix(2)).sum(axes: [0]) }
                b.accumulateGrad(gb)
            }
        }
    }

    /// x · wᵀ + bias over the last dimension: x (…, in), weight (out, in), bias (out).
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        precondition(weight.rank == 2 && x.shape.last == weight.shape[1],
                     "linear: input \(x.shape) does not fit weight \(weight.shape)")
        let (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])
        let rows = x.count / max(1, inFeatures)
        let out = Tensor.empty(Array(x.shape.dropLast()) + [outFeatures])
        let px = x.storage.pointer, pw = weight.storage.pointer, po = out.storage.pointer
        // (rows, in) × (out, in)ᵀ → (rows, out)
        BLAS.parallelSgemm(transB: true, m: rows, n: outFeatures, k: inFeatures, a: px, lda: inFeatures, b: pw, ldb: inFeatures,
                   c: po, ldc: outFeatures)
        if let bias {
            precondition(bias.shape == [outFeatures], "linear: bias \(bias.shape) for \(outFeatures) outputs")
            let pb = bias.storage.pointer
            for r in 0..<rows { for j in 0..<outFeatures { po[r * outFeatures + j] += pb[j] } }
        }
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return result(out, inputs: inputs) { g in
            let pg = g.storage.pointer
            if x.requiresGrad {
                let gx = Tensor.empty(x.shape)
                // (rows, out) × (out, in) → (rows, in)
                BLAS.parallelSgemm(m: rows, n: inFeatures, k: outFeatures, a: pg, lda: outFeatures, b: pw, ldb: inFeatures,
                           c: gx.storage.pointer, ldc: inFeatures)
                x.accumulateGrad(gx)
            }
            if weight.requiresGrad {
                let gw = Tensor.empty(weight.shape)
                // (rows, out)ᵀ × (rows, in) → (out, in)
                BLAS.parallelSgemm(transA: true, m: outFeatures, n: inFeatures, k: rows, a: pg, lda: outFeatures, b: px,
                           ldb: inFeatures, c: gw.storage.pointer, ldc: inFeatures)
                weight.accumulateGrad(gw)
            }
            if let bias, bias.requiresGrad {
                let gb = Tensor.zeros([outFeatures])
                let p = gb.storage.pointer
                for r in 0..<rows { for j in 0..<outFeatures { p[j] += pg[r * outFeatures + j] } }
                bias.accumulateGrad(gb)
            }
        }
    }
}
