import Blocking
import Bus
import CRdKafka
import Dispatch
import Foundation
import Logging

/// A Kafka consumer: a consumer-group member (subscribe, commit) or a group-less reader (assign).
///
/// Every librdkafka call of a consumer runs on its own serial queue, so blocking polls never touch
/// Swift's cooperative pool and the rebalance callback (which runs inside a poll) is serialised
/// with everything else.
final class KafkaConsumer: RawConsumer, @unchecked Sendable {
    // `tracked` and `closed` are touched only on `queue`.
    private let client: RDKafkaClient
    private let queue: DispatchQueue
    private let group: String?
    private let logger: Logger
    private var tracked: [TopicPartition: Int64] = [:]
    private var closed = false

    private init(client: RDKafkaClient, group: String?, logger: Logger) {
        self.client = client
        self.group = group
        self.logger = logger
        queue = DispatchQueue(label: "videoagent.kafka.consumer." + (group ?? "replay"))
    }

    /// Joins `group`; partitions arrive with the first polls (the rebalance runs inside them).
    static func member(transport: KafkaTransport, group: String, topics: [String], options: ConsumerOptions) async throws
        -> KafkaConsumer
    {
        for topic in topics { try await transport.requireTopic(topic) }
        let settings = transport.clientSettings.merging([
            "group.id": group,
            "enable.auto.commit": "false",
            "enable.auto.offset.store": "false",
            "auto.offset.reset": options.autoOffsetReset.rawValue,
            "session.timeout.ms": String(options.sessionTimeout.milliseconds),
            // librdkafka's default heartbeat (3 s) would let a short session expire between beats.
            "heartbeat.interval.ms": String(max(100, options.sessionTimeout.milliseconds / 3)),
            "partition.assignment.strategy": "cooperative-sticky",
        ], uniquingKeysWith: { user, _ in user })
        let client = try RDKafkaClient(kind: .consumer, settings: settings, logger: transport.logger)
        let consumer = KafkaConsumer(client: client, group: group, logger: transport.logger)
        try await Blocking.run(on: consumer.queue) { try client.subscribe(topics) }
        return consumer
    }

    /// Reads fixed partitions from fixed offsets without a group.
    static func reader(transport: KafkaTransport, offsets: [TopicPartition: Int64]) async throws -> KafkaConsumer {
        let settings = transport.clientSettings.merging([
            // librdkafka wants a group id on consumers; nothing is ever committed or joined with it.
            "group.id": "videoagent-replay-\(UUID().uuidString.lowercased())",
            "enable.auto.commit": "false",
            "enable.auto.offset.store": "false",
            // An offset past the end starts at the end (the replay waits for new records).
            "auto.offset.reset": "latest",
        ], uniquingKeysWith: { user, _ in user })
        let client = try RDKafkaClient(kind: .consumer, settings: settings, logger: transport.logger)
        let consumer = KafkaConsumer(client: client, group: nil, logger: transport.logger)
        try await Blocking.run(on: consumer.queue) {
            try client.assign(offsets)
            // Logical offsets (beginning, end) become known positions with the first record.
            consumer.tracked = offsets.filter { $0.value >= 0 }
        }
        return consumer
    }

    func poll(maxRecords: Int, timeout: Duration) async throws -> [BusRecord] {
        try await Blocking.run(on: queue) { [self] in
            guard !closed else { throw BusError.closed }
            var records: [BusRecord] = []
            let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeout.milliseconds) * 1_000_000
            while records.count < maxRecords {
                let now = DispatchTime.now().uptimeNanoseconds
                // Wait for the first record; after that take only what is already here.
                let waitMs = records.isEmpty ? Int32(min(100, max(0, Int(deadline > now ? (deadline - now) / 1_000_000 : 0)))) : 0
                guard let consumed = client.consumerPoll(timeoutMs: waitMs) else {
                    if !records.isEmpty || DispatchTime.now().uptimeNanoseconds >= deadline { break }
                    continue
                }
                switch consumed {
                case .record(let record):
                    tracked[record.topicPartition] = record.offset + 1
                    records.append(record)
                case .error(let code, let text, let tp):
                    if code == RD_KAFKA_RESP_ERR__PARTITION_EOF { continue }
                    if let fatal = client.fatalError { throw fatal }
                    if code == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || code == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC {
                        throw BusError.unknownTopic(tp?.topic ?? text)
                    }
                    logger.warning("consumer error", metadata: [
                        "error": "\(text)", "code": "\(code.rawValue)", "partition": "\(tp?.description ?? "-")",
                    ])
                }
            }
            let assigned = client.context.assignment
            if group != nil { tracked = tracked.filter { assigned.contains($0.key) } }
            return records
        }
    }

    func commit(_ offsets: [TopicPartition: Int64]) async throws {
        guard group != nil else { throw BusError.invalidArgument("a replay belongs to no group and cannot commit") }
        try await Blocking.run(on: queue) { [self] in
            guard !closed else { throw BusError.closed }
            let code = client.commit(offsets)
            switch code {
            case RD_KAFKA_RESP_ERR_NO_ERROR, RD_KAFKA_RESP_ERR__NO_OFFSET:
                return
            case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION,
                 RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID, RD_KAFKA_RESP_ERR__STATE:
                // The partitions moved; their next owner resumes from the last stored commit.
                logger.info("commit skipped during a rebalance", metadata: ["reason": "\(RDKafkaClient.message(code))"])
            default:
                throw client.error(code, "commit offsets")
            }
        }
    }

    func assignment() async -> Set<TopicPartition> { client.context.assignment }

    func positions() async -> [TopicPartition: Int64] {
        (try? await Blocking.run(on: queue) { [self] in tracked }) ?? [:]
    }

    func close() async {
        _ = try? await Blocking.run(on: queue) { [self] in
            guard !closed else { return }
            closed = true
            if group != nil {
                let code = client.closeConsumer()
                if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                    logger.warning("consumer close: \(RDKafkaClient.message(code))")
                }
            }
            client.destroy()
        }
    }
}
