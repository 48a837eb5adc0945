import JSON
import Bus
import Foundation

/// One topic as `topics/<name>.yaml` describes it: how it is created on the bus and what its
/// values look like.
public struct TopicSpec: Sendable {
    public var name: String
    public var summary: String
    public var partitions: Int
    public var replicationFactor: Int
    /// `delete` (the embedded bus supports only this) or `compact`.
    public var cleanupPolicy: String
    /// -1: keep forever.
    public var retentionMs: Int64
    /// Per partition; -1: no size limit.
    public var retentionBytes: Int64
    /// The largest value a producer may write (larger values are refused before they are sent;
    /// values above the bus's chunk size travel as several records).
    public var maxMessageBytes: Int
    /// What the record key is (e.g. "episode id, UTF-8").
    public var key: String
    public var schema: JSONSchema
    public var examples: [JSONValue]
    /// The file the spec came from, for messages.
    public var file: String

    /// The broker-side record limit: a chunk (≤ 512 KiB plus headers) must always fit, and Kafka's
    /// default (1 MiB) is kept for everything larger.
    public static let brokerRecordLimit = 1_048_588

    /// What `topics create` asks the bus for.
    public var topicConfig: TopicConfig {
        TopicConfig(name: name, partitions: partitions, replicationFactor: replicationFactor, settings: [
            "cleanup.policy": cleanupPolicy,
            "retention.ms": String(retentionMs),
            "retention.bytes": String(retentionBytes),
            "max.message.bytes": String(min(maxMessageBytes, Self.brokerRecordLimit)),
        ])
    }

    /// Problems with a value written to this topic: not JSON, or not matching the schema.
    public func violations(of value: [UInt8]) -> [String] {
        let document: JSONValue
        do {
            document = try JSONParser.parse(value)
        } catch {
            return ["not valid JSON: \(error)"]
        }
        return schema.violations(of: document)
    }

    static func describe(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            return context.underlyingError.map { "\($0)" } ?? context.debugDescription
        }
        return "\(error)"
    }
}
