import Synchronization

/// The bus every stage talks to: one backend (``BusTransport``) plus the behaviour all backends
/// share — chunking of large values, reassembly with sha256 verification, and commits that never
/// move past the first chunk of a value still being assembled.
public final class MessageBus: Sendable {
    public let transport: any BusTransport
    public let chunking: ChunkingPolicy
    private let partitionCounts = Mutex<[String: Int]>([:])

    public init(transport: any BusTransport, chunking: ChunkingPolicy = ChunkingPolicy()) {
        self.transport = transport
        self.chunking = chunking
    }

    public var address: String { transport.address }

    public func makeProducer() async throws -> BusProducer {
        BusProducer(raw: try await transport.makeProducer(), bus: self)
    }

    /// A member of consumer group `group` reading `topics`.
    public func makeConsumer(group: String, topics: [String], options: ConsumerOptions = ConsumerOptions())
        async throws -> BusConsumer
    {
        guard !group.isEmpty else { throw BusError.invalidArgument("the consumer group name is empty") }
        guard !topics.isEmpty else { throw BusError.invalidArgument("a consumer needs at least one topic") }
        let raw = try await transport.makeGroupConsumer(group: group, topics: topics, options: options)
        return BusConsumer(raw: raw, policy: chunking, group: group)
    }

    /// Reads `topic` from `start` without joining a group (audits, replays). Commits are refused.
    public func makeReplay(topic: String, partitions: [Int]? = nil, from start: ReplayStart) async throws -> BusConsumer {
        let raw = try await transport.makeReader(topic: topic, partitions: partitions, from: start)
        return BusConsumer(raw: raw, policy: chunking, group: nil)
    }

    public func createTopics(_ topics: [TopicConfig]) async throws -> [TopicCreationResult] {
        try await transport.createTopics(topics)
    }

    public func describeTopics(_ names: [String]? = nil) async throws -> [TopicDescription] {
        try await transport.describeTopics(names)
    }

    public func close() async { await transport.close() }

    func partitionCount(_ topic: String) async throws -> Int {
        if let known = partitionCounts.withLock({ $0[topic] }) { return known }
        guard let description = try await transport.describeTopics([topic]).first else {
            throw BusError.unknownTopic(topic)
        }
        partitionCounts.withLock { $0[topic] = description.partitions.count }
        return description.partitions.count
    }
}

/// Writes records; `send` returns once the bus acknowledged every record.
public final class BusProducer: Sendable {
    private let raw: any RawProducer
    private let bus: MessageBus

    init(raw: any RawProducer, bus: MessageBus) {
        self.raw = raw
        self.bus = bus
    }

    public func send(_ record: OutgoingRecord) async throws -> DeliveryReport {
        try await send([record])[0]
    }

    /// Sends a batch; order is kept per partition. A value above the chunking threshold becomes
    /// several records; its report is that of its last chunk.
    public func send(_ records: [OutgoingRecord]) async throws -> [DeliveryReport] {
        let chunker = Chunker(policy: bus.chunking)
        var flattened: [OutgoingRecord] = []
        var lastIndex: [Int] = []
        flattened.reserveCapacity(records.count)
        for record in records {
            var pinned: Int?
            if record.value.count > bus.chunking.chunkBytes && record.key == nil && record.partition == nil {
                pinned = Int.random(in: 0..<(try await bus.partitionCount(record.topic)))
            }
            flattened += try chunker.split(record, pinnedPartition: { pinned })
            lastIndex.append(flattened.count - 1)
        }
        let reports = try await raw.send(flattened)
        return lastIndex.map { reports[$0] }
    }

    public func close() async { await raw.close() }
}

/// Reads records as a consumer-group member or as a group-less replay.
///
/// Use one consumer from one task at a time: records of a partition come in offset order, and a
/// commit covers everything before the committed record.
public actor BusConsumer {
    private let raw: any RawConsumer
    private var reassembler: Reassembler
    private var committed: [TopicPartition: Int64] = [:]
    public nonisolated let group: String?

    init(raw: any RawConsumer, policy: ChunkingPolicy, group: String?) {
        self.raw = raw
        self.reassembler = Reassembler(policy: policy)
        self.group = group
    }

    /// Up to about `maxRecords` records; an empty array when nothing arrived within `timeout`.
    /// Records with a ``BusRecord/defect`` could not be decoded; report or dead-letter them.
    public func poll(maxRecords: Int = 500, timeout: Duration = .seconds(1)) async throws -> [BusRecord] {
        let raws = try await raw.poll(maxRecords: maxRecords, timeout: timeout)
        let assigned = await raw.assignment()
        reassembler.retain(only: assigned)
        for tp in committed.keys where !assigned.contains(tp) { committed[tp] = nil }
        var out: [BusRecord] = []
        out.reserveCapacity(raws.count)
        for record in raws { out += reassembler.accept(record) }
        return out
    }

    /// Commits `record` and everything before it on its partition, once the caller's work for them
    /// is done. Returns when the bus stored the commit.
    public func commit(through record: BusRecord) async throws {
        try await commit([record])
    }

    /// Commits the highest of `records` on each partition.
    public func commit(_ records: [BusRecord]) async throws {
        guard group != nil else { throw BusError.invalidArgument("a replay belongs to no group and cannot commit") }
        var offsets: [TopicPartition: Int64] = [:]
        for record in records {
            let safe = reassembler.safeCommitOffset(record.topicPartition, processedThrough: record.offset)
            offsets[record.topicPartition] = max(offsets[record.topicPartition] ?? 0, safe)
        }
        offsets = offsets.filter { tp, offset in offset > (committed[tp] ?? -1) }
        guard !offsets.isEmpty else { return }
        try await raw.commit(offsets)
        for (tp, offset) in offsets { committed[tp] = offset }
    }

    public func assignment() async -> Set<TopicPartition> { await raw.assignment() }

    /// Next offset to be read per assigned partition (for progress and "caught up" checks).
    public func positions() async -> [TopicPartition: Int64] { await raw.positions() }

    public func close() async { await raw.close() }
}
