import Dispatch
import Foundation

/// Runs blocking work outside Swift's cooperative thread pool, so it never starves other tasks.
///
/// The pool has one thread per core (two here). A task that holds one of them for seconds — a
/// librdkafka poll, an fsync, a training step on OpenBLAS, a pipe read from a simulator — stalls
/// every other task of the process for as long: heartbeats miss their session timeouts, timers
/// fire late, consumers look idle.
public enum Blocking {
    private static let queue = DispatchQueue(label: "videoagent.blocking", qos: .userInitiated, attributes: .concurrent)

    /// Short blocking calls (file I/O with fsync, librdkafka calls that wait briefly), on a shared
    /// concurrent dispatch queue.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await run(on: queue, body)
    }

    /// Runs `body` on `queue` (a serial queue that owns some C handle) and waits for it.
    public static func run<T: Sendable>(on queue: DispatchQueue, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Long work (training, sampling, waiting on a child process) on a thread of its own, which
    /// the OS time-slices fairly with everything else instead of queueing it behind other work.
    public static func onOwnThread<T: Sendable>(name: String = "videoagent.work",
                                                _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.name = name
            // Big enough for deep recursion in autodiff graphs; the default for secondary threads is 512 KB.
            thread.stackSize = 8 << 20
            thread.start()
        }
    }
}
