import Dispatch
import Foundation

/// Standard input as a stream of events for commands that batch lines: each line, a tick every
/// `tick` (so a batch waiting for more input is flushed after its linger time), the end of
/// input, or a shutdown signal (SIGINT, SIGTERM) so nothing read is lost on Ctrl-C.
enum InputEvent: Sendable {
    case line(String)
    case tick
    case end
    case signal(Int32)
}

/// Owns what produces the events; cancel it when done.
final class InputEvents {
    let stream: AsyncStream<InputEvent>
    private let ticker: Task<Void, Never>
    private let signals: [any DispatchSourceSignal]

    init(tick: Duration) {
        let (stream, continuation) = AsyncStream.makeStream(of: InputEvent.self)
        self.stream = stream
        // readLine blocks: it gets a thread of its own, off Swift's cooperative pool.
        let reader = Thread {
            while let line = readLine(strippingNewline: true) { continuation.yield(.line(line)) }
            continuation.yield(.end)
        }
        reader.start()
        ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: tick)
                continuation.yield(.tick)
            }
        }
        signals = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(.signal(number)) }
            source.resume()
            return source
        }
    }

    func cancel() {
        ticker.cancel()
        for source in signals { source.cancel() }
    }
}
