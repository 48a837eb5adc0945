// A fork-join pool whose helper threads spin for a while after each job before they sleep.
//
// Dispatch's concurrentPerform wakes a sleeping worker for every call. On these virtual machines
// a wake-up across cores took longer than the work of most kernels: two 50 µs halves of a job
// took 108 µs with concurrentPerform (the caller did both before the worker woke) and 51 µs with
// this pool. A forward pass of the plan model forks about 200 times, so the kernels of a batch-1
// plan mostly ran on one core (compare: `VIDEOAGENT_POOL=off bench-video --profile-forward 0`
// against the default: 31 ms against 24 ms on a 2-core AMD EPYC). Helpers that keep spinning
// for a short window (VIDEOAGENT_SPIN_US, default 300 µs) are there when the next fork comes.

import Dispatch
import Foundation
import Synchronization

/// Runs `body(i)` for i in 0..<iterations on the caller and the pool's helpers, returning when
/// all are done (like `DispatchQueue.concurrentPerform`). A call made while the pool is busy
/// (from another thread, or nested inside a body) falls back to `concurrentPerform`.
func forkJoin(iterations: Int, _ body: (Int) -> Void) {
    guard iterations > 1 else {
        if iterations == 1 { body(0) }
        return
    }
    if let pool = WorkerPool.shared, pool.tryRun(iterations: iterations, body) { return }
    withoutActuallyEscaping(body) { body in
        let box = UnsafeSendableBox(body)
        DispatchQueue.concurrentPerform(iterations: iterations) { box.value($0) }
    }
}

final class WorkerPool: @unchecked Sendable {
    /// One helper per core beyond the caller's; nil on one core or with VIDEOAGENT_POOL=off.
    static let shared: WorkerPool? = {
        guard Parallelism.workers > 1, ProcessInfo.processInfo.environment["VIDEOAGENT_POOL"] != "off" else { return nil }
        let spin = ProcessInfo.processInfo.environment["VIDEOAGENT_SPIN_US"].flatMap { UInt64($0) } ?? 300
        return WorkerPool(helpers: Parallelism.workers - 1, spinNanoseconds: spin * 1000)
    }()

    /// Held by the one caller whose job the pool runs.
    private let busy = Atomic<Bool>(false)
    /// generation << 1 | open: helpers join a job while it is open and its generation is new to them.
    private let state = Atomic<Int>(0)
    private let nextIteration = Atomic<Int>(0)
    /// Helpers between joining a job and leaving it. Once the caller's own claims run out, every
    /// iteration is claimed, so waiting for zero active helpers after closing the job waits for
    /// all iterations, makes their writes visible, and leaves no helper holding the body (which
    /// lives only as long as the call).
    private let active = Atomic<Int>(0)
    // Written by the caller only while the job is closed and no helper is active.
    private var body: UnsafeSendableBox<(Int) -> Void>?
    private var iterations = 0
    private var generation = 0

    private let sleep = NSCondition()
    private var sleepers = 0
    private let spinNanoseconds: UInt64

    private init(helpers: Int, spinNanoseconds: UInt64) {
        self.spinNanoseconds = spinNanoseconds
        for index in 0..<helpers {
            let thread = Thread { [unowned self] in self.helperLoop() }
            thread.name = "videoagent-pool-\(index + 1)"
            thread.start()
        }
    }

    func tryRun(iterations count: Int, _ body: (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        withoutActuallyEscaping(body) { body in
            self.body = UnsafeSendableBox(body)
            iterations = count
            nextIteration.store(0, ordering: .relaxed)
            generation += 1
            state.store(generation << 1 | 1, ordering: .sequentiallyConsistent)
            sleep.lock()
            if sleepers > 0 { sleep.broadcast() }
            sleep.unlock()
            work()
            var spins = 0
            state.store(generation << 1, ordering: .sequentiallyConsistent)
            while active.load(ordering: .sequentiallyConsistent) > 0 { Self.backOff(&spins) }
            self.body = nil
        }
        busy.store(false, ordering: .releasing)
        return true
    }

    /// Claims iterations until none are left.
    private func work() {
        guard let body else { return }
        let count = iterations
        while true {
            let i = nextIteration.add(1, ordering: .relaxed).oldValue
            if i >= count { return }
            body.value(i)
        }
    }

    private func helperLoop() {
        var seen = 0
        while true {
            let job = waitForJob(after: seen)
            seen = job >> 1
            active.add(1, ordering: .sequentiallyConsistent)
            // Still the same open job? Otherwise the caller may already be done with its body.
            if state.load(ordering: .sequentiallyConsistent) == job { work() }
            active.subtract(1, ordering: .sequentiallyConsistent)
        }
    }

    /// Spins for the spin window, then sleeps until a job newer than `seen` is open.
    private func waitForJob(after seen: Int) -> Int {
        @inline(__always) func isNew(_ s: Int) -> Bool { s & 1 == 1 && s >> 1 != seen }
        var s = state.load(ordering: .sequentiallyConsistent)
        if isNew(s) { return s }
        let deadline = DispatchTime.now().uptimeNanoseconds + spinNanoseconds
        var spins = 0
        while spins & 255 != 0 || DispatchTime.now().uptimeNanoseconds < deadline {
            s = state.load(ordering: .sequentiallyConsistent)
            if isNew(s) { return s }
            spins &+= 1
        }
        sleep.lock()
        defer { sleep.unlock() }
        while true {
            s = state.load(ordering: .sequentiallyConsistent)
            if isNew(s) { return s }
            sleepers += 1
            sleep.wait()
            sleepers -= 1
        }
    }

    /// Spins, then yields the core: a helper preempted in the middle of an iteration needs it back.
    @inline(__always)
    private static func backOff(_ spins: inout Int) {
        spins &+= 1
        if spins > 4096 { sched_yield() }
    }
}

#if canImport(Glibc)
import Glibc
#endif
