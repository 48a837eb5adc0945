import Bus
import Foundation
import TopicCatalog

/// The size limits a value must meet before `bus produce` sends it.
struct RecordLimits {
    /// The largest whole value (the topic spec's limit, else the bus's).
    let valueBytes: Int
    /// The broker's limit on one record (a chunk of a large value), when the topic reports one.
    let recordBytes: Int?
    let chunkBytes: Int

    init(bus: MessageBus, topic: String) async throws {
        valueBytes = bus.chunking.maxValueBytesByTopic[topic] ?? bus.chunking.maxValueBytes
        chunkBytes = bus.chunking.chunkBytes
        let description = try await bus.describeTopics([topic]).first
        recordBytes = description?.settings["max.message.bytes"].flatMap { Int($0) }
    }

    /// Why a value of `value` bytes with `key` cannot be sent; nil when it can.
    func problem(key: [UInt8]?, value: [UInt8]) -> String? {
        if value.count > valueBytes {
            return "value of \(value.count) bytes exceeds the topic's limit of \(valueBytes) bytes"
        }
        // Chunks carry ~250 bytes of headers; a record is at most one chunk.
        let record = min(value.count, chunkBytes) + (key?.count ?? 0) + (value.count > chunkBytes ? 256 : 0)
        if let recordBytes, record > recordBytes {
            return "a record of \(record) bytes exceeds the topic's max.message.bytes of \(recordBytes)"
        }
        return nil
    }
}

/// The lines `bus produce` has read: checked, batched, sent, and counted for the final report.
struct ProduceSession {
    let topic: String
    let spec: TopicSpec?
    let limits: RecordLimits
    let producer: BusProducer
    private var pending: [(line: Int, record: OutgoingRecord)] = []
    private var pendingSince: ContinuousClock.Instant?
    private var lineNumber = 0
    private(set) var sent = 0
    private(set) var refused = 0
    /// A send failed: the lines from the failed batch on were not sent.
    private(set) var failed = false
    var stoppedBy: Int32?

    init(topic: String, spec: TopicSpec?, limits: RecordLimits, producer: BusProducer) {
        self.topic = topic
        self.spec = spec
        self.limits = limits
        self.producer = producer
    }

    var pendingCount: Int { pending.count }
    var pendingAge: Duration? { pendingSince.map { ContinuousClock.now - $0 } }

    /// Checks one input line and queues it, or reports why it is refused.
    mutating func add(_ line: String) {
        lineNumber += 1
        if line.isEmpty { return }
        do {
            let (key, value) = try RecordLine.parseInput(line[...])
            if let problem = limits.problem(key: key, value: value) { throw RecordLine.LineError(problem) }
            if let spec {
                let problems = spec.violations(of: value)
                if !problems.isEmpty {
                    throw RecordLine.LineError("value does not match \(spec.name): " + problems.prefix(3).joined(separator: "; "))
                }
            }
            if pending.isEmpty { pendingSince = .now }
            pending.append((lineNumber, OutgoingRecord(topic: topic, key: key, value: value)))
        } catch {
            refused += 1
            printError("line \(lineNumber): \(error)")
        }
    }

    /// Sends what is queued and waits for the bus to acknowledge it. A failure is reported with
    /// the lines it concerns and ends the session (the bus's state is then unknown).
    mutating func flush() async throws {
        guard !pending.isEmpty, !failed else { return }
        let batch = pending
        pending.removeAll(keepingCapacity: true)
        pendingSince = nil
        do {
            sent += try await producer.send(batch.map(\.record)).count
        } catch {
            failed = true
            printError("lines \(batch.first!.line)–\(batch.last!.line) (\(batch.count) record(s)) were not sent: \(error)")
        }
    }

    var summary: String {
        var text = "sent \(sent) record(s) to \(topic)"
        if refused > 0 { text += "; refused \(refused) line(s)" }
        if failed { text += "; stopped at a failed send, later lines not read" }
        if let stoppedBy { text += "; stopped by signal \(stoppedBy) after sending what was read" }
        return text
    }
}
