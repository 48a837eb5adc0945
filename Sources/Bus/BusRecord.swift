/// A header on a record: a name and opaque bytes (Kafka header semantics; names may repeat).
public struct BusHeader: Sendable, Hashable {
    public var name: String
    public var value: [UInt8]

    public init(_ name: String, _ value: [UInt8]) {
        self.name = name
        self.value = value
    }

    public init(_ name: String, _ value: String) {
        self.init(name, Array(value.utf8))
    }
}

extension Array where Element == BusHeader {
    /// The value of the last header called `name`, if any.
    public func value(_ name: String) -> [UInt8]? { last(where: { $0.name == name })?.value }

    /// The last header called `name` decoded as UTF-8.
    public func string(_ name: String) -> String? { value(name).map { String(decoding: $0, as: UTF8.self) } }
}

/// A topic and one of its partitions.
public struct TopicPartition: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int

    public init(_ topic: String, _ partition: Int) {
        self.topic = topic
        self.partition = partition
    }

    public static func < (a: Self, b: Self) -> Bool { (a.topic, a.partition) < (b.topic, b.partition) }
    public var description: String { "\(topic)[\(partition)]" }
}

/// A record to write. A nil `partition` lets the bus choose: by key hash when there is a key.
public struct OutgoingRecord: Sendable {
    public var topic: String
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [BusHeader]
    public var partition: Int?

    public init(topic: String, key: [UInt8]? = nil, value: [UInt8], headers: [BusHeader] = [], partition: Int? = nil) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
        self.partition = partition
    }

    public init(topic: String, key: String?, value: String, headers: [BusHeader] = []) {
        self.init(topic: topic, key: key.map { Array($0.utf8) }, value: Array(value.utf8), headers: headers)
    }
}

/// Where the bus stored a record, returned once the write is acknowledged (durable on the embedded
/// bus, acknowledged by all in-sync replicas on Kafka).
public struct DeliveryReport: Sendable, Hashable {
    public var topic: String
    public var partition: Int
    public var offset: Int64

    public init(topic: String, partition: Int, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

/// A record read from the bus.
public struct BusRecord: Sendable {
    public var topic: String
    public var partition: Int
    /// Offset of the record; for a value reassembled from chunks, the offset of its last chunk,
    /// so committing through it commits past every chunk.
    public var offset: Int64
    /// Milliseconds since the Unix epoch: when the record (its first chunk) was produced.
    public var timestampMs: Int64
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [BusHeader]
    /// Why the record could not be decoded (checksum mismatch, missing chunks, …); nil when intact.
    /// A defective record is still delivered so the caller can report it or dead-letter it.
    public var defect: String?

    public init(topic: String, partition: Int, offset: Int64, timestampMs: Int64, key: [UInt8]?, value: [UInt8],
                headers: [BusHeader], defect: String? = nil) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestampMs = timestampMs
        self.key = key
        self.value = value
        self.headers = headers
        self.defect = defect
    }

    public var topicPartition: TopicPartition { TopicPartition(topic, partition) }
    public var keyString: String? { key.map { String(decoding: $0, as: UTF8.self) } }
    public var valueString: String { String(decoding: value, as: UTF8.self) }
}
