/// What a bus backend provides. ``MessageBus`` adds what every backend shares on top of it
/// (chunking of large values, reassembly, commit positions that never skip an unfinished value).
///
/// Implementations: `EmbeddedTransport` (module BusEmbedded) and `KafkaTransport` (module BusKafka).
public protocol BusTransport: Sendable {
    /// The address this transport was opened with, for messages (no secrets).
    var address: String { get }

    /// A producer whose `send` returns once every record is acknowledged.
    func makeProducer() async throws -> any RawProducer

    /// A member of consumer group `group` subscribed to `topics`. Members of one group share the
    /// partitions; a member resumes from the group's committed offsets.
    func makeGroupConsumer(group: String, topics: [String], options: ConsumerOptions) async throws -> any RawConsumer

    /// A reader of `topic` that belongs to no group and commits nothing.
    /// - Parameter partitions: the partitions to read, or nil for all.
    func makeReader(topic: String, partitions: [Int]?, from start: ReplayStart) async throws -> any RawConsumer

    /// Creates topics; a topic that already exists is reported, not an error.
    func createTopics(_ topics: [TopicConfig]) async throws -> [TopicCreationResult]

    /// Describes the named topics (all topics when nil).
    func describeTopics(_ names: [String]?) async throws -> [TopicDescription]

    func close() async
}

/// A backend producer. `send` keeps the order of `records` within each partition.
public protocol RawProducer: Sendable {
    func send(_ records: [OutgoingRecord]) async throws -> [DeliveryReport]
    /// Waits for outstanding deliveries and releases the producer.
    func close() async
}

/// A backend consumer (group member or group-less reader).
public protocol RawConsumer: Sendable {
    /// Up to `maxRecords` records, or fewer (possibly none) once `timeout` passes.
    func poll(maxRecords: Int, timeout: Duration) async throws -> [BusRecord]
    /// Commits, for each partition, the offset of the next record to read. Group consumers only.
    func commit(_ offsets: [TopicPartition: Int64]) async throws
    /// The partitions this consumer currently reads.
    func assignment() async -> Set<TopicPartition>
    /// For each assigned partition, the offset of the next record `poll` will return.
    func positions() async -> [TopicPartition: Int64]
    func close() async
}

/// Options for a consumer-group member.
public struct ConsumerOptions: Sendable {
    public enum Reset: String, Sendable { case earliest, latest }
    /// Where to start in a partition the group has never committed.
    public var autoOffsetReset: Reset = .earliest
    /// A member that has not been heard from for this long is considered gone and its
    /// partitions move to the others.
    public var sessionTimeout: Duration = .seconds(10)

    public init(autoOffsetReset: Reset = .earliest, sessionTimeout: Duration = .seconds(10)) {
        self.autoOffsetReset = autoOffsetReset
        self.sessionTimeout = sessionTimeout
    }
}

/// Where a replay starts.
public enum ReplayStart: Sendable, Equatable {
    case beginning
    case end
    /// The same offset in every partition read (clamped to what the partition holds).
    case offset(Int64)
    /// The first record whose timestamp is at or after this many milliseconds since the epoch.
    case timestamp(Int64)
}

/// A topic to create: partitions, replication and Kafka-named settings (`cleanup.policy`,
/// `retention.ms`, `retention.bytes`, `max.message.bytes`, `segment.bytes`), which the embedded
/// bus honours too.
public struct TopicConfig: Sendable, Equatable {
    public var name: String
    public var partitions: Int
    public var replicationFactor: Int
    public var settings: [String: String]

    public init(name: String, partitions: Int, replicationFactor: Int = 1, settings: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.settings = settings
    }
}

public enum TopicCreationResult: Sendable, Equatable {
    case created(String)
    case alreadyExists(String)
}

public struct PartitionDescription: Sendable, Equatable {
    public var partition: Int
    /// First offset still stored (log start / low watermark).
    public var startOffset: Int64
    /// Offset the next record will get (high watermark).
    public var endOffset: Int64

    public init(partition: Int, startOffset: Int64, endOffset: Int64) {
        self.partition = partition
        self.startOffset = startOffset
        self.endOffset = endOffset
    }
}

public struct TopicDescription: Sendable, Equatable {
    public var name: String
    public var partitions: [PartitionDescription]
    public var settings: [String: String]

    public init(name: String, partitions: [PartitionDescription], settings: [String: String]) {
        self.name = name
        self.partitions = partitions
        self.settings = settings
    }
}
