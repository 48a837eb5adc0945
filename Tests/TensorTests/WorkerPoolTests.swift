@testable import Tensor
import Dispatch
import Synchronization
import Testing

/// The spinning fork-join pool: every iteration runs exactly once, whether the pool takes the job,
/// a nested call falls back to Dispatch, or several threads fork at the same time.
@Suite("Fork-join pool")
struct WorkerPoolTests {
    /// Counts how often each iteration ran.
    final class Tally: @unchecked Sendable {
        let counts: Mutex<[Int]>
        init(_ n: Int) { counts = Mutex(Array(repeating: 0, count: n)) }
        func hit(_ i: Int) { counts.withLock { $0[i] += 1 } }
        var all: [Int] { counts.withLock { $0 } }
    }

    @Test(arguments: [1, 2, 3, 7, 64])
    func everyIterationRunsOnce(iterations: Int) {
        for _ in 0..<200 {
            let tally = Tally(iterations)
            forkJoin(iterations: iterations) { tally.hit($0) }
            #expect(tally.all == Array(repeating: 1, count: iterations))
        }
    }

    @Test func nestedForksRunEveryInnerIteration() {
        let tally = Tally(4 * 5)
        forkJoin(iterations: 4) { outer in
            forkJoin(iterations: 5) { inner in tally.hit(outer * 5 + inner) }
        }
        #expect(tally.all == Array(repeating: 1, count: 20))
    }

    @Test func concurrentCallersEachGetTheirOwnJob() {
        let callers = 4, iterations = 16, rounds = 100
        let tallies = (0..<callers).map { _ in Tally(iterations) }
        DispatchQueue.concurrentPerform(iterations: callers) { c in
            for _ in 0..<rounds { forkJoin(iterations: iterations) { tallies[c].hit($0) } }
        }
        for tally in tallies { #expect(tally.all == Array(repeating: rounds, count: iterations)) }
    }

    /// The results of a parallel sum are all there after the call returns (the join is a barrier).
    @Test func writesOfAllIterationsAreVisibleAfterTheJoin() {
        let n = 1000
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { buffer.deallocate() }
        let shared = SharedPointer(buffer)
        for round in 0..<50 {
            forkJoin(iterations: n) { shared[$0] = Float($0 + round) }
            #expect((0..<n).allSatisfy { buffer[$0] == Float($0 + round) })
        }
    }
}
