import Blocking
import Bus
import Checksum
import Foundation
import Logging

/// The embedded bus: durable topics in a directory, shared safely by every process that opens it.
///
/// Layout of `DIR`:
///
///     topics/<topic>/topic.json          partitions and settings
///     topics/<topic>/<partition>/*.log   append-only segments of checksummed records
///     groups/<group>/state.json          members, partition owners, committed offsets
///
/// Settings (URL query items): `fsync=always` (default; an acknowledged record survives a power
/// cut) or `fsync=never` (survives a process crash only; faster).
public final class EmbeddedTransport: BusTransport, @unchecked Sendable {
    // `logs` and `topics` are guarded by `lock`; the rest is immutable.
    public let address: String
    let root: String
    let fsync: Bool
    let logger: Logger
    let notifier = AppendNotifier()
    private let lock = NSLock()
    private var logs: [TopicPartition: PartitionLog] = [:]
    private var topics: [String: TopicMetadata] = [:]

    struct TopicMetadata: Codable, Equatable {
        var name: String
        var partitions: Int
        var replicationFactor: Int
        var settings: [String: String]
    }

    /// - Parameter create: make the directory when it holds no bus yet; read-only commands pass
    ///   false, so a mistyped path is an error instead of a new, empty bus.
    public convenience init(address: BusAddress, create: Bool = true,
                            logger: Logger = Logger(label: "videoagent.bus.embedded")) throws {
        guard address.kind == .embedded else { throw BusError.invalidAddress("\(address) is not an embedded:// address") }
        try self.init(directory: address.location, settings: address.settings, create: create, logger: logger)
    }

    public init(directory: String, settings: [String: String] = [:], create: Bool = true,
                logger: Logger = Logger(label: "videoagent.bus.embedded")) throws
    {
        for key in settings.keys where key != "fsync" {
            throw BusError.invalidAddress("unknown embedded bus setting '\(key)'; the only one is fsync=always|never")
        }
        switch settings["fsync"] ?? "always" {
        case "always": fsync = true
        case "never": fsync = false
        case let other: throw BusError.invalidAddress("fsync=\(other) is not one of always, never")
        }
        root = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        address = "embedded://\(root)"
        self.logger = logger
        if !create && !FileSystem.exists(root + "/topics") {
            throw BusError.unreachable("there is no embedded bus in \(root) (no topics/ directory in it); check the path, "
                + "or create the topics first: videoagent topics create --bus embedded://\(root)")
        }
        do {
            try FileSystem.makeDirectory(root + "/topics")
            try FileSystem.makeDirectory(root + "/groups")
        } catch {
            throw BusError.unreachable("cannot use \(root) as the embedded bus directory: \(error)")
        }
    }

    // MARK: - Topics

    public func createTopics(_ configs: [TopicConfig]) async throws -> [TopicCreationResult] {
        try await Blocking.run { try self.createTopicsNow(configs) }
    }

    private func createTopicsNow(_ configs: [TopicConfig]) throws -> [TopicCreationResult] {
        let rootLock = try PosixFile(path: root + "/.lock", mode: .create)
        return try rootLock.withLock {
            try configs.map { config in
                try Self.validateTopicName(config.name)
                guard config.partitions >= 1 else {
                    throw BusError.invalidArgument("topic '\(config.name)' needs at least one partition")
                }
                _ = try LogSettings(settings: config.settings, fsync: fsync)
                let directory = topicDirectory(config.name)
                if FileSystem.exists(directory + "/topic.json") { return .alreadyExists(config.name) }
                try FileSystem.makeDirectory(directory)
                let metadata = TopicMetadata(name: config.name, partitions: config.partitions,
                                             replicationFactor: config.replicationFactor, settings: config.settings)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try FileSystem.writeAtomically(Array(try encoder.encode(metadata)), to: directory + "/topic.json")
                return .created(config.name)
            }
        }
    }

    public func describeTopics(_ names: [String]?) async throws -> [TopicDescription] {
        try await Blocking.run {
            let wanted = try names ?? FileSystem.list(self.root + "/topics").filter {
                FileSystem.exists(self.topicDirectory($0) + "/topic.json")
            }
            return try wanted.map { name in
                let metadata = try self.metadata(name)
                let partitions = try (0..<metadata.partitions).map { p in
                    let log = try self.log(TopicPartition(name, p))
                    return PartitionDescription(partition: p, startOffset: log.startOffset, endOffset: try log.endOffset)
                }
                var settings = metadata.settings
                settings["replication.factor"] = String(metadata.replicationFactor)
                return TopicDescription(name: name, partitions: partitions, settings: settings)
            }
        }
    }

    func metadata(_ topic: String) throws -> TopicMetadata {
        if let known = lock.withLock({ topics[topic] }) { return known }
        let path = topicDirectory(topic) + "/topic.json"
        guard FileSystem.exists(path) else { throw BusError.unknownTopic(topic) }
        let metadata: TopicMetadata
        do {
            metadata = try JSONDecoder().decode(TopicMetadata.self, from: Data(try FileSystem.readAll(path)))
        } catch {
            throw BusError.corrupt("topic metadata \(path) cannot be read: \(error)")
        }
        lock.withLock { topics[topic] = metadata }
        return metadata
    }

    func log(_ tp: TopicPartition) throws -> PartitionLog {
        if let known = lock.withLock({ logs[tp] }) { return known }
        let metadata = try metadata(tp.topic)
        guard tp.partition >= 0 && tp.partition < metadata.partitions else { throw BusError.unknownPartition(tp) }
        let log = try PartitionLog(topic: tp.topic, partition: tp.partition,
                                   directory: topicDirectory(tp.topic) + "/\(tp.partition)",
                                   settings: try LogSettings(settings: metadata.settings, fsync: fsync), logger: logger)
        return lock.withLock {
            if let raced = logs[tp] { return raced }
            logs[tp] = log
            return log
        }
    }

    private func topicDirectory(_ topic: String) -> String { root + "/topics/" + topic }

    static func validateTopicName(_ name: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        guard !name.isEmpty, name.count <= 249, name != ".", name != "..", name.allSatisfy(allowed.contains) else {
            throw BusError.invalidArgument(
                "topic name '\(name)' must be 1-249 characters of a-z A-Z 0-9 . _ - (and not '.' or '..')")
        }
    }

    // MARK: - Clients

    public func makeProducer() async throws -> any RawProducer { EmbeddedProducer(transport: self) }

    public func makeGroupConsumer(group: String, topics: [String], options: ConsumerOptions) async throws
        -> any RawConsumer
    {
        for topic in topics { _ = try metadata(topic) }
        let coordinator = try GroupCoordinator(root: root, group: group)
        return try await EmbeddedGroupConsumer.join(transport: self, coordinator: coordinator, topics: topics,
                                                    options: options)
    }

    public func makeReader(topic: String, partitions: [Int]?, from start: ReplayStart) async throws -> any RawConsumer {
        let metadata = try metadata(topic)
        let chosen = partitions ?? Array(0..<metadata.partitions)
        var positions: [TopicPartition: Int64] = [:]
        for p in chosen {
            let tp = TopicPartition(topic, p)
            let log = try self.log(tp)
            positions[tp] = try await Blocking.run {
                switch start {
                case .beginning: return log.startOffset
                case .end: return try log.endOffset
                case .offset(let offset): return min(max(offset, log.startOffset), try log.endOffset)
                case .timestamp(let ms): return try log.offset(atOrAfter: ms)
                }
            }
        }
        return EmbeddedReader(transport: self, positions: positions)
    }

    public func close() async {}

    // MARK: - Shared by consumers

    /// Reads from `positions` round-robin, starting at partition index `startIndex`; returns the
    /// records and the advanced positions.
    func fetch(_ positions: [TopicPartition: Int64], maxRecords: Int, startIndex: Int) throws
        -> (records: [BusRecord], positions: [TopicPartition: Int64])
    {
        var positions = positions
        var records: [BusRecord] = []
        let order = positions.keys.sorted()
        guard !order.isEmpty else { return ([], positions) }
        let perPartition = max(1, maxRecords / order.count)
        for i in 0..<order.count where records.count < maxRecords {
            let tp = order[(startIndex + i) % order.count]
            let result = try log(tp).read(from: positions[tp]!, maxRecords: min(perPartition, maxRecords - records.count),
                                          maxBytes: 4 << 20)
            records += result.records
            positions[tp] = result.nextOffset
        }
        return (records, positions)
    }
}
