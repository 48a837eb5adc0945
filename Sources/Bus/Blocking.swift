import Dispatch

/// Runs blocking work (file I/O with fsync, librdkafka calls that wait) on threads outside
/// Swift's cooperative pool, so a slow disk or broker never starves other tasks.
public enum Blocking {
    private static let queue = DispatchQueue(label: "videoagent.blocking", qos: .userInitiated, attributes: .concurrent)

    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Runs `body` on `queue` (a serial queue that owns some C handle) and waits for it.
    public static func run<T: Sendable>(on queue: DispatchQueue, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}

extension Duration {
    /// Whole milliseconds, rounded down, never negative.
    public var milliseconds: Int {
        let (seconds, attoseconds) = components
        return max(0, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }
}
