import Bus

/// Looks at bytes of a segment that do not start with a valid record: how far the damage runs,
/// whether it is only a torn write, and which offsets it stands for.
struct DamageLocator {
    /// From the first bad byte to the end of what is examined.
    let bytes: [UInt8]
    let topic: String
    let partition: Int
    let maxBody: Int
    /// The offset the first damaged record would have had.
    let expectedOffset: Int64

    private func peek(at position: Int) -> RecordFrame.Peek {
        bytes.withUnsafeBytes {
            RecordFrame.peek(UnsafeRawBufferPointer(rebasing: $0[position...]), topic: topic, partition: partition,
                             maxBody: maxBody)
        }
    }

    /// Why the first frame is not a record.
    var reason: String {
        switch peek(at: 0) {
        case .invalid(let why): return why
        case .incomplete: return "a record's length runs past the data that follows it"
        case .record: return "valid"
        }
    }

    /// The distance to the next whole, valid record at or after the expected offset, and its offset.
    func nextValidFrame() -> (distance: Int, offset: Int64)? {
        var at = 1
        while at + RecordFrame.prefixBytes <= bytes.count {
            if case .record(let record, _) = peek(at: at), record.offset >= expectedOffset {
                return (at, record.offset)
            }
            at += 1
        }
        return nil
    }

    /// A writer that died mid-append leaves the first bytes of a frame, or (after a power cut
    /// with fsync=never) zeros: nothing acknowledged is lost by cutting them.
    var looksTorn: Bool {
        if case .incomplete = peek(at: 0) { return true }
        return bytes.allSatisfy { $0 == 0 }
    }

    /// For damage at the very end (nothing valid follows): one past the highest plausible offset
    /// among the frames the length fields still delimit, and at least one record.
    var inferredEndOffset: Int64 {
        var at = 0
        var highest = expectedOffset
        while at + RecordFrame.prefixBytes + 16 <= bytes.count {
            let length = bytes.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self))) }
            guard length >= 28, length <= maxBody, at + RecordFrame.prefixBytes + length <= bytes.count else { break }
            let offset = bytes.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(fromByteOffset: at + 8, as: Int64.self)) }
            if offset >= expectedOffset, offset - expectedOffset < 1 << 20 { highest = max(highest, offset) }
            at += RecordFrame.prefixBytes + length
        }
        return highest + 1
    }
}
