import Checksum

/// How values too large for one record travel: as consecutive records on one partition carrying
/// `va-chunk-*` headers, reassembled and sha256-verified by the reader.
public struct ChunkingPolicy: Sendable, Equatable {
    /// Values longer than this are split into chunks of at most this many bytes. Kept well under
    /// Kafka's default `max.message.bytes` (1 MB), like the 512 KiB checkpoint chunks.
    public var chunkBytes: Int
    /// The largest value the producer accepts at all.
    public var maxValueBytes: Int
    /// Tighter limits for some topics (from their specs' `max_message_bytes`).
    public var maxValueBytesByTopic: [String: Int] = [:]
    /// An unfinished chunked value is given up once records on its partition are this much newer
    /// than its first chunk (its producer died mid-value); it is then delivered as a defect.
    public var incompleteTimeoutMs: Int64

    public init(chunkBytes: Int = 512 * 1024, maxValueBytes: Int = 256 << 20, incompleteTimeoutMs: Int64 = 300_000) {
        self.chunkBytes = chunkBytes
        self.maxValueBytes = maxValueBytes
        self.incompleteTimeoutMs = incompleteTimeoutMs
    }
}

/// Header names of a chunk. Every chunk carries all of them so any one can be understood alone.
enum ChunkHeader {
    static let id = "va-chunk-id"
    static let index = "va-chunk-index"
    static let count = "va-chunk-count"
    static let bytes = "va-chunk-bytes"
    static let sha256 = "va-chunk-sha256"
    static let all: Set<String> = [id, index, count, bytes, sha256]
}

/// Splits large values into chunk records.
struct Chunker {
    var policy: ChunkingPolicy

    /// The records to send for `record`: itself when small, else its chunks (partition pinned by
    /// `pinnedPartition` when the record has neither key nor partition, so chunks stay together).
    func split(_ record: OutgoingRecord, pinnedPartition: () throws -> Int?) throws -> [OutgoingRecord] {
        let limit = policy.maxValueBytesByTopic[record.topic] ?? policy.maxValueBytes
        if record.value.count > limit {
            throw BusError.valueTooLarge(topic: record.topic, bytes: record.value.count, limit: limit)
        }
        guard record.value.count > policy.chunkBytes else { return [record] }
        if record.headers.contains(where: { ChunkHeader.all.contains($0.name) }) {
            throw BusError.invalidArgument("headers named va-chunk-* are reserved for chunking")
        }
        var partition = record.partition
        if partition == nil && record.key == nil { partition = try pinnedPartition() }
        let count = (record.value.count + policy.chunkBytes - 1) / policy.chunkBytes
        let id = Self.randomID()
        let digest = SHA256.hex(record.value)
        var chunks: [OutgoingRecord] = []
        chunks.reserveCapacity(count)
        for index in 0..<count {
            let start = index * policy.chunkBytes
            let end = min(start + policy.chunkBytes, record.value.count)
            var headers = index == 0 ? record.headers : []
            headers += [
                BusHeader(ChunkHeader.id, id), BusHeader(ChunkHeader.index, String(index)),
                BusHeader(ChunkHeader.count, String(count)), BusHeader(ChunkHeader.bytes, String(record.value.count)),
                BusHeader(ChunkHeader.sha256, digest),
            ]
            chunks.append(OutgoingRecord(topic: record.topic, key: record.key, value: Array(record.value[start..<end]),
                                         headers: headers, partition: partition))
        }
        return chunks
    }

    static func randomID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }.hexString
    }
}

/// Reassembles chunked values read from one consumer's partitions and tells which offsets are safe
/// to commit (never past the first chunk of a value still being assembled).
struct Reassembler {
    private struct Pending {
        var firstOffset: Int64
        var lastOffset: Int64
        var firstTimestampMs: Int64
        var key: [UInt8]?
        var headers: [BusHeader]
        var count: Int
        var totalBytes: Int
        var sha256: String
        /// The chunks received, by index (a dictionary: a hostile count must not allocate).
        var parts: [Int: [UInt8]] = [:]
        var received: Int { parts.count }
    }

    let policy: ChunkingPolicy
    private var pending: [TopicPartition: [String: Pending]] = [:]

    init(policy: ChunkingPolicy) { self.policy = policy }

    /// Feeds one raw record; returns the records to hand to the application (none while a value is
    /// incomplete, possibly a defect for a value given up).
    mutating func accept(_ record: BusRecord) -> [BusRecord] {
        var out = expire(record.topicPartition, now: record.timestampMs)
        guard let id = record.headers.string(ChunkHeader.id) else { return out + [record] }
        guard let index = record.headers.string(ChunkHeader.index).flatMap({ Int($0) }),
              let count = record.headers.string(ChunkHeader.count).flatMap({ Int($0) }),
              let total = record.headers.string(ChunkHeader.bytes).flatMap({ Int($0) }),
              let digest = record.headers.string(ChunkHeader.sha256),
              count > 0, index >= 0, index < count, total >= 0
        else {
            var defect = record
            defect.defect = "chunk headers are malformed"
            out.append(defect)
            return out
        }
        // Headers come from producers this consumer does not control: a claimed size beyond the topic's
        // limit (or more chunks than bytes) is refused before anything is set aside for it.
        let limit = policy.maxValueBytesByTopic[record.topic] ?? policy.maxValueBytes
        guard total <= limit, count <= max(1, total) else {
            var defect = record
            defect.defect = "chunk headers claim \(total) bytes in \(count) chunks; this consumer accepts values up to \(limit) bytes"
            out.append(defect)
            return out
        }
        let tp = record.topicPartition
        var sets = pending[tp] ?? [:]
        if index == 0 {
            // A producer that died mid-value and retried starts a new set for the same key.
            for (otherID, other) in sets where other.key == record.key && otherID != id {
                out.append(giveUp(other, tp: tp, reason: "superseded by a newer value with the same key"))
                sets[otherID] = nil
            }
            if sets[id] == nil {
                sets[id] = Pending(firstOffset: record.offset, lastOffset: record.offset,
                                   firstTimestampMs: record.timestampMs, key: record.key,
                                   headers: record.headers.filter { !ChunkHeader.all.contains($0.name) },
                                   count: count, totalBytes: total, sha256: digest)
            }
        }
        // A continuation whose first chunk was never seen began before the replay start: skip it.
        guard var value = sets[id], value.count == count else {
            pending[tp] = sets
            return out
        }
        if value.parts[index] == nil { value.parts[index] = record.value }
        value.lastOffset = max(value.lastOffset, record.offset)
        if value.received == value.count {
            sets[id] = nil
            var bytes: [UInt8] = []
            bytes.reserveCapacity(value.parts.values.reduce(0) { $0 + $1.count })
            for i in 0..<value.count { bytes += value.parts[i]! }
            var assembled = BusRecord(topic: record.topic, partition: record.partition, offset: value.lastOffset,
                                      timestampMs: value.firstTimestampMs, key: value.key, value: bytes,
                                      headers: value.headers)
            if bytes.count != value.totalBytes {
                assembled.defect = "reassembled \(bytes.count) bytes, expected \(value.totalBytes)"
            } else if SHA256.hex(bytes) != value.sha256 {
                assembled.defect = "sha256 of the reassembled value does not match its chunks' header"
            }
            out.append(assembled)
        } else {
            sets[id] = value
        }
        pending[tp] = sets.isEmpty ? nil : sets
        return out
    }

    /// The offset it is safe to commit for `tp` once everything up to `offset` is processed.
    func safeCommitOffset(_ tp: TopicPartition, processedThrough offset: Int64) -> Int64 {
        let oldestPending = pending[tp]?.values.map(\.firstOffset).min() ?? Int64.max
        return min(offset + 1, oldestPending)
    }

    /// Forgets partitions this consumer no longer owns (their next owner starts from the commit).
    mutating func retain(only partitions: Set<TopicPartition>) {
        for tp in pending.keys where !partitions.contains(tp) { pending[tp] = nil }
    }

    private mutating func expire(_ tp: TopicPartition, now: Int64) -> [BusRecord] {
        guard var sets = pending[tp] else { return [] }
        var out: [BusRecord] = []
        for (id, value) in sets where now - value.firstTimestampMs > policy.incompleteTimeoutMs {
            out.append(giveUp(value, tp: tp, reason: "no further chunks within \(policy.incompleteTimeoutMs) ms"))
            sets[id] = nil
        }
        pending[tp] = sets.isEmpty ? nil : sets
        return out
    }

    private func giveUp(_ value: Pending, tp: TopicPartition, reason: String) -> BusRecord {
        BusRecord(topic: tp.topic, partition: tp.partition, offset: value.lastOffset, timestampMs: value.firstTimestampMs,
                  key: value.key, value: [], headers: value.headers,
                  defect: "incomplete chunked value (\(value.received) of \(value.count) chunks, first at offset "
                      + "\(value.firstOffset)): \(reason)")
    }
}
