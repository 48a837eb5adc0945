import Blocking
import Bus
import CRdKafka
import Logging
import Synchronization

/// The Kafka bus, through librdkafka.
///
/// Any librdkafka property can be set through the URL's query items or `settings`
/// (`security.protocol`, `sasl.mechanisms`, `sasl.username`, `ssl.ca.location`, …). Two settings
/// are this transport's own: `videoagent.connect.timeout.ms` (default 10000: how long to wait for a
/// first broker answer before giving up) and `videoagent.request.timeout.ms` (default 30000: admin
/// and metadata requests).
public final class KafkaTransport: BusTransport, @unchecked Sendable {
    public let address: String
    let logger: Logger
    /// Settings passed to every librdkafka client.
    let clientSettings: [String: String]
    let requestTimeoutMs: Int32
    /// A producer-type client used for metadata and admin requests.
    let admin: RDKafkaClient
    /// Set when connected to librdkafka's mock cluster, which answers no admin requests: topics
    /// are then created through the mock's own API and settings are not stored.
    let mock: KafkaMockCluster?
    private let knownTopics = Mutex<Set<String>>([])
    private let closed = Atomic<Bool>(false)

    public convenience init(address: BusAddress, logger: Logger = Logger(label: "videoagent.bus.kafka")) async throws {
        guard address.kind == .kafka else { throw BusError.invalidAddress("\(address) is not a kafka:// address") }
        try await self.init(bootstrapServers: address.location, settings: address.settings, logger: logger)
    }

    /// Connects to librdkafka's in-process mock cluster (tests, trying things without a broker).
    public convenience init(mock: KafkaMockCluster, settings: [String: String] = [:],
                            logger: Logger = Logger(label: "videoagent.bus.kafka")) async throws {
        try await self.init(bootstrapServers: mock.bootstrapServers, settings: settings, mock: mock, logger: logger)
    }

    /// Connects and waits (at most the connect timeout) for a broker to answer.
    public convenience init(bootstrapServers: String, settings: [String: String] = [:],
                            logger: Logger = Logger(label: "videoagent.bus.kafka")) async throws {
        try await self.init(bootstrapServers: bootstrapServers, settings: settings, mock: nil, logger: logger)
    }

    private init(bootstrapServers: String, settings: [String: String], mock: KafkaMockCluster?, logger: Logger)
        async throws
    {
        self.mock = mock
        var settings = settings
        func ownSetting(_ key: String, default value: Int32) throws -> Int32 {
            guard let text = settings.removeValue(forKey: key) else { return value }
            guard let number = Int32(text), number > 0 else {
                throw BusError.invalidArgument("\(key)=\(text) must be a positive number of milliseconds")
            }
            return number
        }
        let connectTimeoutMs = try ownSetting("videoagent.connect.timeout.ms", default: 10_000)
        requestTimeoutMs = try ownSetting("videoagent.request.timeout.ms", default: 30_000)
        var base = [
            "bootstrap.servers": bootstrapServers,
            "client.id": "videoagent",
        ]
        base.merge(settings, uniquingKeysWith: { _, user in user })
        clientSettings = base
        address = "kafka://\(bootstrapServers)"
        self.logger = logger
        admin = try RDKafkaClient(kind: .producer, settings: base, logger: logger)
        let admin = self.admin
        let address = self.address
        do {
            let topics = try await Blocking.run { try admin.topics(timeoutMs: connectTimeoutMs) }
            knownTopics.withLock { $0 = Set(topics.filter { $0.error == RD_KAFKA_RESP_ERR_NO_ERROR }.map(\.name)) }
        } catch {
            var detail = admin.context.lastError.map { "; last error: \($0)" } ?? ""
            if detail.contains("Read underflow") {
                detail += ". This librdkafka (\(String(cString: rd_kafka_version_str()))) may be too old for this broker: "
                    + "use a newer one, e.g. the 2.16 build the tests use (see the README, \"Kafka versions\")"
            }
            throw BusError.unreachable("no broker at \(address) answered within \(connectTimeoutMs) ms\(detail)")
        }
    }

    public func makeProducer() async throws -> any RawProducer {
        _ = try openAdmin()
        return try KafkaProducer(transport: self)
    }

    public func makeGroupConsumer(group: String, topics: [String], options: ConsumerOptions) async throws
        -> any RawConsumer
    {
        try await KafkaConsumer.member(transport: self, group: group, topics: topics, options: options)
    }

    public func makeReader(topic: String, partitions: [Int]?, from start: ReplayStart) async throws -> any RawConsumer {
        guard let description = try await describeTopics([topic]).first else { throw BusError.unknownTopic(topic) }
        let chosen = description.partitions.filter { partitions?.contains($0.partition) ?? true }
        // Logical offsets where the end is meant: some brokers (Tansu) report a high watermark
        // that stops at the last batch's first record, so the end is left for the broker to find.
        let end = Int64(RD_KAFKA_OFFSET_END)
        var offsets: [TopicPartition: Int64] = [:]
        switch start {
        case .beginning:
            for p in chosen { offsets[TopicPartition(topic, p.partition)] = Int64(RD_KAFKA_OFFSET_BEGINNING) }
        case .end:
            for p in chosen { offsets[TopicPartition(topic, p.partition)] = end }
        case .offset(let offset):
            // Below the log start: the start. Past the end: the reader's reset policy ("latest").
            for p in chosen { offsets[TopicPartition(topic, p.partition)] = max(offset, p.startOffset) }
        case .timestamp(let ms):
            let admin = try openAdmin()
            let timeout = requestTimeoutMs
            let tps = chosen.map { TopicPartition(topic, $0.partition) }
            let found = try await Blocking.run { try admin.offsets(for: tps, atOrAfter: ms, timeoutMs: timeout) }
            for p in chosen {
                let tp = TopicPartition(topic, p.partition)
                offsets[tp] = (found[tp] ?? nil) ?? end
            }
        }
        return try await KafkaConsumer.reader(transport: self, offsets: offsets)
    }

    public func createTopics(_ topics: [TopicConfig]) async throws -> [TopicCreationResult] {
        let admin = try openAdmin()
        let timeout = requestTimeoutMs
        let mock = self.mock
        let results = try await Blocking.run {
            if let mock { return try mock.createTopics(topics, client: admin, timeoutMs: timeout) }
            return try KafkaAdmin.createTopics(topics, client: admin, timeoutMs: timeout)
        }
        knownTopics.withLock { known in for case .created(let name) in results { known.insert(name) } }
        return results
    }

    public func describeTopics(_ names: [String]?) async throws -> [TopicDescription] {
        let admin = try openAdmin()
        let timeout = requestTimeoutMs
        let withSettings = mock == nil
        return try await Blocking.run {
            try KafkaAdmin.describeTopics(names, client: admin, timeoutMs: timeout, withSettings: withSettings)
        }
    }

    /// Frees the admin client. Producers and consumers made by this transport are closed by their
    /// owners; close them first.
    public func close() async {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let admin = self.admin
        _ = try? await Blocking.run { admin.destroy() }
    }

    /// The admin client, unless the transport was closed.
    private func openAdmin() throws -> RDKafkaClient {
        guard !closed.load(ordering: .acquiring) else { throw BusError.closed }
        return admin
    }

    /// Throws ``BusError/unknownTopic(_:)`` unless the cluster has `topic` (cached once seen).
    func requireTopic(_ topic: String) async throws {
        if knownTopics.withLock({ $0.contains(topic) }) { return }
        let admin = try openAdmin()
        let timeout = requestTimeoutMs
        let topics = try await Blocking.run { try admin.topics(timeoutMs: timeout) }
        let present = Set(topics.filter { $0.error == RD_KAFKA_RESP_ERR_NO_ERROR && $0.partitions > 0 }.map(\.name))
        knownTopics.withLock { $0.formUnion(present) }
        guard present.contains(topic) else { throw BusError.unknownTopic(topic) }
    }
}
