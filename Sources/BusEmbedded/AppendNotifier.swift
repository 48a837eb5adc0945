import Synchronization

/// Wakes consumers of this process as soon as a producer of this process appends. Writers in
/// other processes are noticed by polling, so waits are always short and bounded.
final class AppendNotifier: Sendable {
    /// A waiter exists from the moment its id is handed out, so a wake-up (timer or append) that
    /// comes before the waiter has parked is remembered instead of lost.
    private enum Waiter {
        case arriving
        case parked(CheckedContinuation<Void, Never>)
        case woken

        var isWoken: Bool { if case .woken = self { true } else { false } }
    }

    private struct State {
        var version: UInt64 = 0
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
    }

    private let state = Mutex(State())

    var version: UInt64 { state.withLock { $0.version } }

    func bump() {
        let parked = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.version &+= 1
            var parked: [CheckedContinuation<Void, Never>] = []
            for (id, waiter) in state.waiters {
                switch waiter {
                case .parked(let continuation):
                    parked.append(continuation)
                    state.waiters[id] = nil
                case .arriving: state.waiters[id] = .woken
                case .woken: break
                }
            }
            return parked
        }
        for continuation in parked { continuation.resume() }
    }

    /// Returns when something was appended after `version` was read, or after `timeout`.
    func wait(since version: UInt64, timeout: Duration) async {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter &+= 1
            state.waiters[state.nextWaiter] = .arriving
            return state.nextWaiter
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            self.wake(id)
        }
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> Bool in
                if state.version != version || state.waiters[id]?.isWoken == true {
                    state.waiters[id] = nil
                    return true
                }
                state.waiters[id] = .parked(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
        timer.cancel()
    }

    private func wake(_ id: UInt64) {
        let parked = state.withLock { state -> CheckedContinuation<Void, Never>? in
            switch state.waiters[id] {
            case .parked(let continuation):
                state.waiters[id] = nil
                return continuation
            case .arriving:
                state.waiters[id] = .woken
                return nil
            case .woken, nil:
                return nil
            }
        }
        parked?.resume()
    }

    /// Waiters not yet returned (for tests: none may be left behind).
    var pendingWaiters: Int { state.withLock { $0.waiters.count } }
}
