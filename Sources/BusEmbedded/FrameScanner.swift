import Bus

/// Walks the frames of a segment file from a byte position, reading it in large windows.
struct FrameScanner {
    let file: PosixFile
    let topic: String
    let partition: Int
    let maxBody: Int
    /// Byte position of the next frame.
    private(set) var position: Int
    /// Bytes past this position are not looked at.
    let limit: Int
    private var window: [UInt8] = []
    private var windowStart = 0

    static let windowBytes = 256 * 1024

    init(file: PosixFile, topic: String, partition: Int, maxBody: Int, from position: Int, limit: Int) {
        self.file = file
        self.topic = topic
        self.partition = partition
        self.maxBody = maxBody
        self.position = position
        self.limit = limit
    }

    /// Continues at `position` (past a damaged stretch).
    mutating func seek(to position: Int) { self.position = position }

    /// The frame at `position` (advancing past it when it is a record); nil at `limit`.
    mutating func next() throws -> RecordFrame.Peek? {
        guard position < limit else { return nil }
        var peek = try peekHere()
        if case .incomplete(let needed) = peek, position + needed <= limit {
            try fill(count: max(needed, Self.windowBytes))
            peek = try peekHere()
        }
        if case .record(_, let size) = peek { position += size }
        return peek
    }

    private mutating func peekHere() throws -> RecordFrame.Peek {
        let offsetInWindow = position - windowStart
        if offsetInWindow < 0 || offsetInWindow + RecordFrame.prefixBytes > window.count {
            try fill(count: Self.windowBytes)
        }
        let start = position - windowStart
        return window.withUnsafeBytes {
            RecordFrame.peek(UnsafeRawBufferPointer(rebasing: $0[start...]), topic: topic, partition: partition, maxBody: maxBody)
        }
    }

    private mutating func fill(count: Int) throws {
        window = try file.read(at: position, count: min(count, limit - position))
        windowStart = position
    }
}
