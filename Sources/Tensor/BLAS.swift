import COpenBLAS

/// The only file that calls OpenBLAS. Matrices are row-major.
///
/// OpenBLAS runs single-threaded: this project splits work across cores itself (images of a
/// batch, or row/column blocks of one product), which avoids OpenBLAS's spinning worker threads
/// (a quarter of the time of small products) and never oversubscribes the cores.
enum BLAS {
    private static let configured: Void = { openblas_set_num_threads(1) }()

    /// The kernel family OpenBLAS chose for this CPU when it loaded ("Prescott", "SkylakeX", "Zen", …).
    static var coreName: String { String(cString: openblas_get_corename()) }

    /// C (m×n) = alpha · op(A) · op(B) + beta · C, with op(A) m×k and op(B) k×n, on this thread.
    /// Leading dimensions are those of the stored (untransposed) row-major matrices.
    @inline(__always)
    static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = configured
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if beta == 0 {
                for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) }
            }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The same product split into row or column blocks across the cores when it is large enough.
    static func parallelSgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                              a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                              beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let workers = Parallelism.workers
        guard workers > 1, m * n * k >= 1 << 18, max(m, n) >= 2 * workers else {
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                  beta: beta, c: c, ldc: ldc)
            return
        }
        let (pa, pb, pc) = (SharedPointer(a), SharedPointer(b), SharedPointer(c))
        let splitRows = m >= n
        forkJoin(iterations: workers) { w in
            if splitRows {
                // Rows i0..<i1 of C come from rows i0..<i1 of op(A).
                let (i0, i1) = (m * w / workers, m * (w + 1) / workers)
                let aBlock = transA ? pa.base + i0 : pa.base + i0 * lda
                sgemm(transA: transA, transB: transB, m: i1 - i0, n: n, k: k, alpha: alpha, a: aBlock, lda: lda,
                      b: pb.base, ldb: ldb, beta: beta, c: pc.base + i0 * ldc, ldc: ldc)
            } else {
                // Columns j0..<j1 of C come from columns j0..<j1 of op(B).
                let (j0, j1) = (n * w / workers, n * (w + 1) / workers)
                let bBlock = transB ? pb.base + j0 * ldb : pb.base + j0
                sgemm(transA: transA, transB: transB, m: m, n: j1 - j0, k: k, alpha: alpha, a: pa.base, lda: lda,
                      b: bBlock, ldb: ldb, beta: beta, c: pc.base + j0, ldc: ldc)
            }
        }
    }
}
