import Blocking
import Bus
import CRdKafka
import Foundation
import Synchronization

/// One record's way back from the delivery callback: which batch, which position in it.
final class DeliveryTicket {
    let batch: DeliveryBatch
    let index: Int

    init(batch: DeliveryBatch, index: Int) {
        self.batch = batch
        self.index = index
    }
}

/// Collects the delivery reports of one `send`; resumes the caller when all have arrived.
final class DeliveryBatch: Sendable {
    private struct State {
        var expected: Int
        var received = 0
        var reports: [DeliveryReport?]
        var failure: BusError?
        var continuation: CheckedContinuation<[DeliveryReport], any Error>?
        var finished = false
    }

    private let state: Mutex<State>
    private let topics: [String]

    init(topics: [String]) {
        self.topics = topics
        state = Mutex(State(expected: topics.count, reports: Array(repeating: nil, count: topics.count)))
    }

    func delivered(index: Int, partition: Int, offset: Int64, error: rd_kafka_resp_err_t) {
        finish { state in
            state.received += 1
            if error == RD_KAFKA_RESP_ERR_NO_ERROR {
                state.reports[index] = DeliveryReport(topic: topics[index], partition: partition, offset: offset)
            } else if state.failure == nil {
                state.failure = .broker(code: Int(error.rawValue),
                                        message: "delivery to \(topics[index]) failed: \(RDKafkaClient.message(error))")
            }
        }
    }

    /// Records that only the first `count` records were enqueued (the next failed with `error`).
    func stopped(after count: Int, error: BusError) {
        finish { state in
            state.expected = count
            if state.failure == nil { state.failure = error }
        }
    }

    func wait() async throws -> [DeliveryReport] {
        try await withCheckedThrowingContinuation { continuation in
            finish { $0.continuation = continuation }
        }
    }

    private func finish(_ change: (inout State) -> Void) {
        let resume: (() -> Void)? = state.withLock { state in
            change(&state)
            guard !state.finished, state.received >= state.expected, let continuation = state.continuation else {
                return nil
            }
            state.finished = true
            if let failure = state.failure { return { continuation.resume(throwing: failure) } }
            let reports = state.reports.map { $0! }
            return { continuation.resume(returning: reports) }
        }
        resume?()
    }
}

/// An idempotent producer (`enable.idempotence=true`, `acks=all`) whose `send` awaits the delivery
/// report of every record. A dedicated thread serves librdkafka's callbacks.
final class KafkaProducer: RawProducer, @unchecked Sendable {
    // `topicNames` is guarded by `lock`; the rest is immutable or atomic.
    private let client: RDKafkaClient
    private let transport: KafkaTransport
    private let running = RunFlag()
    private let lock = NSLock()
    private var topicNames: [String: UnsafeMutablePointer<CChar>] = [:]
    private let poller: Thread
    /// Signalled when the poll thread has stopped, so the client can be destroyed after it.
    private let pollerStopped = DispatchSemaphore(value: 0)

    init(transport: KafkaTransport) throws {
        self.transport = transport
        let settings = transport.clientSettings.merging([
            "enable.idempotence": "true", "acks": "all", "partitioner": "murmur2_random",
            // A message not delivered in two minutes fails its send instead of waiting five.
            "message.timeout.ms": "120000",
        ], uniquingKeysWith: { user, _ in user })
        let client = try RDKafkaClient(kind: .producer, settings: settings, logger: transport.logger)
        self.client = client
        let running = self.running
        let stopped = pollerStopped
        poller = Thread {
            while running.isSet { client.poll(timeoutMs: 50) }
            stopped.signal()
        }
        poller.name = "videoagent.kafka.producer"
        poller.start()
    }

    deinit {
        // A producer dropped without close: stop the poll thread, which then releases the client.
        running.clear()
        for pointer in topicNames.values { free(pointer) }
    }

    private func cName(_ topic: String) -> UnsafeMutablePointer<CChar> {
        lock.withLock {
            if let known = topicNames[topic] { return known }
            let pointer = strdup(topic)!
            topicNames[topic] = pointer
            return pointer
        }
    }

    func send(_ records: [OutgoingRecord]) async throws -> [DeliveryReport] {
        guard running.isSet else { throw BusError.closed }
        guard !records.isEmpty else { return [] }
        for topic in Set(records.map(\.topic)) { try await transport.requireTopic(topic) }
        let batch = DeliveryBatch(topics: records.map(\.topic))
        for (index, record) in records.enumerated() {
            let name = cName(record.topic)
            var backoff = Duration.microseconds(200)
            while true {
                let ticket = Unmanaged.passRetained(DeliveryTicket(batch: batch, index: index))
                let code = client.produce(record, topicName: name, opaque: ticket.toOpaque())
                if code == RD_KAFKA_RESP_ERR_NO_ERROR { break }
                ticket.release()
                if code == RD_KAFKA_RESP_ERR__QUEUE_FULL {
                    // The local queue is full: wait for deliveries to drain it.
                    try await Task.sleep(for: backoff)
                    backoff = min(backoff * 2, .milliseconds(50))
                    continue
                }
                let error: BusError
                switch code {
                case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
                    error = .valueTooLarge(topic: record.topic, bytes: record.value.count,
                                           limit: Int(transport.clientSettings["message.max.bytes"] ?? "1000000") ?? 1_000_000)
                case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
                    error = .unknownTopic(record.topic)
                case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
                    error = .unknownPartition(TopicPartition(record.topic, record.partition ?? -1))
                default:
                    error = client.fatalError ?? client.error(code, "produce to \(record.topic)")
                }
                batch.stopped(after: index, error: error)
                return try await batch.wait()
            }
        }
        return try await batch.wait()
    }

    func close() async {
        guard running.isSet else { return }
        let client = self.client
        let running = self.running
        let stopped = pollerStopped
        _ = try? await Blocking.run {
            _ = client.flush(timeoutMs: 30_000)
            running.clear()
            stopped.wait()
            client.destroy()
        }
    }
}

/// A flag a polling thread watches; cleared once to stop it.
final class RunFlag: Sendable {
    private let value = Atomic<Bool>(true)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func clear() { value.store(false, ordering: .releasing) }
}
