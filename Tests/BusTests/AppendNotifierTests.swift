@testable import BusEmbedded
import Synchronization
import Testing

/// The embedded bus's wake-ups: a waiter must return on an append or at its timeout, whichever
/// comes first, however the two race with it parking. (A timer that fired before its waiter had
/// parked was lost, and `bus replay` with no producer in its process waited forever.)
@Suite("Append notifier")
struct AppendNotifierTests {
    /// True when `body` finished within `limit` (generous: the suite shares two cores with training
    /// tests). The body runs in an unstructured task, so a hang fails the expectation instead of
    /// holding the test run.
    private func finishes(within limit: Duration, _ body: @escaping @Sendable () async -> Void) async -> Bool {
        let done = Atomic<Bool>(false)
        Task { await body(); done.store(true, ordering: .releasing) }
        let deadline = ContinuousClock.now + limit
        while !done.load(ordering: .acquiring) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return done.load(ordering: .acquiring)
    }

    /// `waiters` tasks each waiting `rounds` times with timeouts of 0 to `maxMicroseconds` - 1 µs,
    /// while `appends` appends are signalled alongside.
    private func shortWaits(on notifier: AppendNotifier, waiters: Int, rounds: Int, maxMicroseconds: Int,
                            appends: Int = 0) async {
        await withTaskGroup(of: Void.self) { group in
            for waiter in 0..<waiters {
                group.addTask {
                    for round in 0..<rounds {
                        await notifier.wait(since: notifier.version,
                                            timeout: .microseconds((waiter + round) % maxMicroseconds))
                    }
                }
            }
            group.addTask { for _ in 0..<appends { notifier.bump(); await Task.yield() } }
        }
    }

    @Test("waits whose timeout elapses around the moment they park all return")
    func shortTimeouts() async {
        let notifier = AppendNotifier()
        let returned = await finishes(within: .seconds(120)) {
            await shortWaits(on: notifier, waiters: 4, rounds: 5_000, maxMicroseconds: 30)
        }
        #expect(returned, "a waiter missed its timeout and never returned")
        #expect(notifier.pendingWaiters == 0)
    }

    @Test("an append wakes a waiter long before its timeout")
    func appendWakes() async {
        let notifier = AppendNotifier()
        let version = notifier.version
        let bumper = Task {
            try? await Task.sleep(for: .milliseconds(50))
            notifier.bump()
        }
        let returned = await finishes(within: .seconds(120)) { await notifier.wait(since: version, timeout: .seconds(600)) }
        bumper.cancel()
        #expect(returned)
        #expect(notifier.pendingWaiters == 0)
    }

    @Test("waiters racing with appends and short timeouts all return")
    func racingWaiters() async {
        let notifier = AppendNotifier()
        let returned = await finishes(within: .seconds(120)) {
            await shortWaits(on: notifier, waiters: 8, rounds: 1_000, maxMicroseconds: 50, appends: 4_000)
        }
        #expect(returned)
        #expect(notifier.pendingWaiters == 0)
    }
}
