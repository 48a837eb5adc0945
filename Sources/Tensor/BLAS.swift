import COpenBLAS

/// The only file that calls OpenBLAS. Matrices are row-major.
enum BLAS {
    /// C (m×n) = alpha · op(A) · op(B) + beta · C, with op(A) m×k and op(B) k×n.
    /// Leading dimensions are those of the stored (untransposed) row-major matrices.
    @inline(__always)
    static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
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

    /// The number of threads OpenBLAS uses for one call.
    static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(newValue)) }
    }

    /// Runs `body` with OpenBLAS single-threaded (when the caller already splits work across cores).
    static func singleThreaded<T>(_ body: () throws -> T) rethrows -> T {
        let saved = threads
        if saved != 1 { threads = 1 }
        defer { if saved != 1 { threads = saved } }
        return try body()
    }
}

/// Public knobs of the numeric back end.
public enum NumericBackend {
    /// Threads OpenBLAS may use (defaults to the number of cores).
    public static var blasThreads: Int {
        get { BLAS.threads }
        set { BLAS.threads = newValue }
    }
}
