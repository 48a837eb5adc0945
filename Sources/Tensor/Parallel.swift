import Dispatch

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
    forkJoin(iterations: workers) { w in
        body((count * w / workers)..<(count * (w + 1) / workers))
    }
}

/// Carries a non-Sendable closure into `concurrentPerform`; the closures passed here only write
/// disjoint ranges of buffers.
struct UnsafeSendableBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

#if canImport(Glibc)
import Glibc
#endif
