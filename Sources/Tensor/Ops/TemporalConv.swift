// Convolution along the frame axis, for (2+1)-D factorised video convolutions.
//
// x (B, F, Ci, S…), weight (Co, Ci, k), bias (Co) → (B, F, Co, S…), zero-padded to keep F
// ("same" padding, k odd). For each frame f:  out[f] = Σ_j W_j · x[f + j − k/2], W_j = weight[:, :, j].

extension Tensor {
    public static func temporalConv(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        precondition(x.rank >= 3 && weight.rank == 3 && x.shape[2] == weight.shape[1] && weight.shape[2] % 2 == 1,
                     "temporalConv: input \(x.shape) (B, F, Ci, …) does not fit weight \(weight.shape) (Co, Ci, odd k)")
        let (b, f, ci) = (x.shape[0], x.shape[1], x.shape[2])
        let s = x.shape[3...].reduce(1, *)
        let (co, k) = (weight.shape[0], weight.shape[2])
        let half = k / 2
        if let bias { precondition(bias.shape == [co], "temporalConv: bias \(bias.shape) for \(co) channels") }
        // Taps as contiguous (Co, Ci) matrices: (Co, Ci, k) → (k, Co, Ci)
        let taps = weight.detached().permuted([2, 0, 1])
        let out = Tensor.empty([b, f, co] + Array(x.shape[3...]))
        let px = SharedPointer(x.storage.pointer), pt = SharedPointer(taps.storage.pointer)
        let po = SharedPointer(out.storage.pointer)
        let pb = bias.map { SharedPointer($0.storage.pointer) }
        forEachFrame(b * f) { frames, gemm in
            for bf in frames {
                let (bi, fi) = (bf / f, bf % f)
                let o = po + bf * co * s
                var first = true
                for j in 0..<k {
                    let src = fi + j - half
                    guard src >= 0 && src < f else { continue }
                    gemm(false, false, co, s, ci, pt + j * co * ci, ci, px + (bi * f + src) * ci * s, s, first ? 0 : 1, o, s)
                    first = false
                }
                if first { o.update(repeating: 0, count: co * s) }
                if let pb { for c in 0..<co { let v = pb[c]; for j in 0..<s { o[c * s + j] += v } } }
            }
        }
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return result(out, inputs: inputs) { [taps] g in
            withExtendedLifetime(taps) {}  // pt points into it
            let pg = SharedPointer(g.storage.pointer)
            if x.requiresGrad {
                // gx[f'] = Σ_j W_jᵀ · g[f' − j + k/2]
                let gx = Tensor.empty(x.shape)
                let pgx = SharedPointer(gx.storage.pointer)
                forEachFrame(b * f) { frames, gemm in
                    for bf in frames {
                        let (bi, fi) = (bf / f, bf % f)
                        let d = pgx + bf * ci * s
                        var first = true
                        for j in 0..<k {
                            let dst = fi - j + half
                            guard dst >= 0 && dst < f else { continue }
                            gemm(true, false, ci, s, co, pt + j * co * ci, ci, pg + (bi * f + dst) * co * s, s,
                                 first ? 0 : 1, d, s)
                            first = false
                        }
                        if first { d.update(repeating: 0, count: ci * s) }
                    }
                }
                x.accumulateGrad(gx)
            }
            if weight.requiresGrad {
                // gW_j = Σ_{b,f} g[f] · x[f + j − k/2]ᵀ, gathered as (k, Co, Ci) then put back to (Co, Ci, k)
                let gTaps = Tensor.zeros([k, co, ci])
                let pgt = gTaps.storage.pointer
                for bf in 0..<(b * f) {
                    let (bi, fi) = (bf / f, bf % f)
                    for j in 0..<k {
                        let src = fi + j - half
                        guard src >= 0 && src < f else { continue }
                        BLAS.parallelSgemm(transB: true, m: co, n: ci, k: s, a: pg + bf * co * s, lda: s,
                                   b: px + (bi * f + src) * ci * s, ldb: s, beta: 1, c: pgt + j * co * ci, ldc: ci)
                    }
                }
                weight.accumulateGrad(gTaps.permuted([1, 2, 0]))
            }
            if let bias, bias.requiresGrad {
                let gb = Tensor.zeros([co])
                let p = gb.storage.pointer
                for bf in 0..<(b * f) { for c in 0..<co { let row = pg + (bf * co + c) * s; p[c] += sumOf(row, count: s) } }
                bias.accumulateGrad(gb)
            }
        }
    }

    typealias Gemm = (Bool, Bool, Int, Int, Int, UnsafeMutablePointer<Float>, Int, UnsafeMutablePointer<Float>, Int,
                      Float, UnsafeMutablePointer<Float>, Int) -> Void

    /// Splits frames across cores when there are enough of them (each product on one core);
    /// otherwise runs them in turn, each product split across cores.
    private static func forEachFrame(_ count: Int, _ body: (Range<Int>, Gemm) -> Void) {
        let workers = count >= 2 * Parallelism.workers ? Parallelism.workers : 1
        if workers <= 1 {
            body(0..<count) { ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc in
                BLAS.parallelSgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta,
                                   c: c, ldc: ldc)
            }
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UnsafeSendableBox(body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                box.value((count * w / workers)..<(count * (w + 1) / workers)) { ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc in
                    BLAS.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta,
                               c: c, ldc: ldc)
                }
            }
        }
    }
}

import Dispatch
