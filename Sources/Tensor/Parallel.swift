/// How many workers element-wise kernels split into (the machine's cores, at most 8).
public enum Parallelism {
    public static let workers: Int = min(8, max(1, ProcessInfoCores.count))
}

enum ProcessInfoCores {
    static let count: Int = {
        #if canImport(Glibc)
        return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #else
        return 2
        #endif
    }()
}

/// Runs `body(range)` over `0..<count` split into contiguous ranges, one per worker, when the
/// work is large enough to pay for the threads; otherwise inline on the calling thread.
@inline(__always)
func parallelFor(_ count: Int, minimumPerWorker: Int = 32_768, _ body: (Range<Int>) -> Void) {
    let workers = min(Parallelism.workers, count / max(1, minimumPerWorker))
    if workers <= 1 {
        body(0..<count)
        return
    }
    forkJoin(splitting: count, into: workers) { _, range in body(range) }
}

/// Splits `0..<count` into `parts` contiguous ranges of nearly equal size and runs
/// `body(part, range)` for each, in parallel on the fork-join pool.
func forkJoin(splitting count: Int, into parts: Int, _ body: (Int, Range<Int>) -> Void) {
    forkJoin(iterations: parts) { w in body(w, (count * w / parts)..<(count * (w + 1) / parts)) }
}

/// Carries a non-Sendable closure to other threads (the pool's helpers, `concurrentPerform`); the
/// closures passed here only write disjoint ranges of buffers, and the fork joins before they end.
struct UnsafeSendableBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

#if canImport(Glibc)
import Glibc
#endif
