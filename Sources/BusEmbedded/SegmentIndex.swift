/// The sparse index written beside a sealed segment (`<base>.index`), so opening a partition need
/// not scan every old segment. Little-endian:
///
///     u32 magic "VAIX", u64 segment size, i64 next offset, i64 newest timestamp,
///     u32 entry count, then per entry: i64 offset, u64 byte position, i64 timestamp
///
/// An index that does not match its segment (size, offsets, positions) is ignored: the segment is
/// scanned instead.
enum SegmentIndex {
    static let magic: UInt32 = 0x5641_4958
    static let headerBytes = 32
    static let entryBytes = 24

    struct Contents {
        var nextOffset: Int64
        var lastTimestampMs: Int64
        var entries: [PartitionLog.IndexEntry]
    }

    static func encode(_ segment: PartitionLog.Segment) -> [UInt8] {
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        put(magic)
        put(UInt64(segment.verifiedBytes))
        put(UInt64(bitPattern: segment.nextOffset))
        put(UInt64(bitPattern: segment.lastTimestampMs))
        put(UInt32(segment.index.count))
        for entry in segment.index {
            put(UInt64(bitPattern: entry.offset))
            put(UInt64(entry.position))
            put(UInt64(bitPattern: entry.timestampMs))
        }
        return out
    }

    /// The index in `bytes` if it is well formed and describes a segment of `fileSize` bytes
    /// starting at offset `base`; nil otherwise.
    static func decode(_ bytes: [UInt8], fileSize: Int, base: Int64) -> Contents? {
        guard bytes.count >= headerBytes else { return nil }
        return bytes.withUnsafeBytes { raw -> Contents? in
            func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
            guard UInt32(littleEndian: raw.loadUnaligned(as: UInt32.self)) == magic,
                  u64(4) == UInt64(fileSize)
            else { return nil }
            let count = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 28, as: UInt32.self)))
            guard bytes.count == headerBytes + count * entryBytes else { return nil }
            let nextOffset = Int64(bitPattern: u64(12))
            guard nextOffset >= base else { return nil }
            var entries: [PartitionLog.IndexEntry] = []
            entries.reserveCapacity(count)
            for i in 0..<count {
                let at = headerBytes + i * entryBytes
                let entry = PartitionLog.IndexEntry(offset: Int64(bitPattern: u64(at)), position: Int(truncatingIfNeeded: u64(at + 8)),
                                                    timestampMs: Int64(bitPattern: u64(at + 16)))
                // Entries point inside the segment, in increasing order.
                guard entry.position >= 0, entry.position < fileSize, entry.offset >= base, entry.offset < nextOffset,
                      entries.last.map({ $0.position < entry.position && $0.offset < entry.offset }) ?? true
                else { return nil }
                entries.append(entry)
            }
            return Contents(nextOffset: nextOffset, lastTimestampMs: Int64(bitPattern: u64(20)), entries: entries)
        }
    }
}
