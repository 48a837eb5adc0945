import Bus
import Foundation
import Logging

/// Settings of an embedded topic, read from Kafka-named keys.
struct LogSettings: Sendable, Equatable {
    var segmentBytes = 64 << 20
    var retentionMs: Int64 = 7 * 24 * 3_600_000
    var retentionBytes: Int64 = -1
    var maxMessageBytes = 1_048_588
    var fsync = true

    init(settings: [String: String], fsync: Bool) throws {
        func integer(_ key: String) throws -> Int64? {
            guard let text = settings[key] else { return nil }
            guard let value = Int64(text) else {
                throw BusError.invalidArgument("topic setting \(key)=\(text) is not an integer")
            }
            return value
        }
        if let value = try integer("segment.bytes") {
            guard value >= 1024 else { throw BusError.invalidArgument("segment.bytes must be at least 1024") }
            segmentBytes = Int(value)
        }
        if let value = try integer("retention.ms") { retentionMs = value }
        if let value = try integer("retention.bytes") { retentionBytes = value }
        if let value = try integer("max.message.bytes") {
            guard value >= 64 else { throw BusError.invalidArgument("max.message.bytes must be at least 64") }
            maxMessageBytes = Int(value)
        }
        if let policy = settings["cleanup.policy"], policy != "delete" {
            throw BusError.invalidArgument(
                "cleanup.policy=\(policy) is not supported by the embedded bus (only delete); use Kafka for compaction")
        }
        self.fsync = fsync
    }
}

/// One topic-partition on disk: segment files `<base offset, 20 digits>.log` in its directory, each
/// an append-only run of checksummed ``RecordFrame``s, plus a sparse `.index` for sealed segments.
///
/// Several processes may open the same directory. Appends take an exclusive `flock` on the
/// partition's lock file, so a writer always sees the true tail; readers never lock and only
/// serve whole, checksum-valid records. A torn tail (a writer died mid-append) is cut by the next
/// writer; a bad record followed by good ones is corruption and is reported, never cut.
final class PartitionLog: @unchecked Sendable {
    // All mutable state is guarded by `lock`.
    let topic: String
    let partition: Int
    let directory: String
    let settings: LogSettings
    private let logger: Logger
    private let lock = NSLock()
    private let lockFile: PosixFile
    private var segments: [Segment] = []
    private var lastRefreshMs: Int64 = 0

    static let indexIntervalBytes = 4096

    struct IndexEntry {
        var offset: Int64
        var position: Int
        var timestampMs: Int64
    }

    final class Segment {
        let base: Int64
        let path: String
        let file: PosixFile
        /// Bytes at the start of the file that hold verified records.
        var verifiedBytes = 0
        var nextOffset: Int64
        var lastTimestampMs: Int64 = .min
        var index: [IndexEntry] = []
        var indexedUpTo = -PartitionLog.indexIntervalBytes
        /// Where an invalid tail was last examined, so a reader does not search it again each poll.
        var examinedInvalidTail: (position: Int, fileSize: Int)?

        init(base: Int64, path: String, file: PosixFile) {
            self.base = base
            self.path = path
            self.file = file
            self.nextOffset = base
        }
    }

    init(topic: String, partition: Int, directory: String, settings: LogSettings, logger: Logger) throws {
        self.topic = topic
        self.partition = partition
        self.directory = directory
        self.settings = settings
        self.logger = logger
        try FileSystem.makeDirectory(directory)
        lockFile = try PosixFile(path: directory + "/.lock", mode: .create)
        try lock.withLock { try refresh(asWriter: false) }
    }

    // MARK: - Writing

    /// Appends records and returns their offsets once they are written (and synced when `fsync`).
    func append(_ records: [OutgoingRecord]) throws -> [Int64] {
        for record in records {
            let bytes = record.value.count + (record.key?.count ?? 0)
                + record.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.count }
            if bytes > settings.maxMessageBytes {
                throw BusError.valueTooLarge(topic: topic, bytes: bytes, limit: settings.maxMessageBytes)
            }
        }
        return try lock.withLock {
            try lockFile.withLock {
                try refresh(asWriter: true)
                var active = try activeSegmentForAppend()
                if active.verifiedBytes >= settings.segmentBytes {
                    try seal(active)
                    active = try createSegment(base: active.nextOffset)
                    try applyRetention()
                }
                var offsets: [Int64] = []
                offsets.reserveCapacity(records.count)
                var buffer: [UInt8] = []
                buffer.reserveCapacity(records.reduce(0) { $0 + $1.value.count + 64 })
                // Append time, never going backwards, so replay-by-time can search.
                let timestamp = max(FileSystem.nowMs, active.lastTimestampMs)
                var offset = active.nextOffset
                var frameStarts: [Int] = []
                for record in records {
                    frameStarts.append(buffer.count)
                    RecordFrame.encode(offset: offset, timestampMs: timestamp, key: record.key, headers: record.headers,
                                       value: record.value, into: &buffer)
                    offsets.append(offset)
                    offset += 1
                }
                let position = active.verifiedBytes
                try active.file.write(buffer, at: position)
                if settings.fsync { try active.file.sync() }
                for (i, start) in frameStarts.enumerated() {
                    noteRecord(in: active, offset: offsets[i], position: position + start, timestampMs: timestamp)
                }
                active.verifiedBytes = position + buffer.count
                active.nextOffset = offset
                active.lastTimestampMs = timestamp
                return offsets
            }
        }
    }

    private func activeSegmentForAppend() throws -> Segment {
        if let last = segments.last { return last }
        return try createSegment(base: 0)
    }

    private func createSegment(base: Int64) throws -> Segment {
        let path = directory + "/" + Self.segmentName(base)
        let segment = Segment(base: base, path: path, file: try PosixFile(path: path, mode: .create))
        segment.lastTimestampMs = segments.last?.lastTimestampMs ?? .min
        segments.append(segment)
        try FileSystem.syncDirectory(directory)
        return segment
    }

    /// Writes the sparse index of a full segment so later opens need not scan it.
    private func seal(_ segment: Segment) throws {
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        put(UInt32(0x5641_4958))  // "VAIX"
        put(UInt64(segment.verifiedBytes))
        put(UInt64(bitPattern: segment.nextOffset))
        put(UInt64(bitPattern: segment.lastTimestampMs))
        put(UInt32(segment.index.count))
        for entry in segment.index {
            put(UInt64(bitPattern: entry.offset))
            put(UInt64(entry.position))
            put(UInt64(bitPattern: entry.timestampMs))
        }
        try FileSystem.writeAtomically(out, to: indexPath(segment.base))
    }

    private func loadIndex(into segment: Segment, fileSize: Int) -> Bool {
        guard let bytes = try? FileSystem.readAll(indexPath(segment.base)), bytes.count >= 32 else { return false }
        return bytes.withUnsafeBytes { raw -> Bool in
            func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
            guard UInt32(littleEndian: raw.loadUnaligned(as: UInt32.self)) == 0x5641_4958,
                  Int(u64(4)) == fileSize
            else { return false }
            let count = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 28, as: UInt32.self)))
            guard bytes.count == 32 + count * 24 else { return false }
            segment.verifiedBytes = fileSize
            segment.nextOffset = Int64(bitPattern: u64(12))
            segment.lastTimestampMs = Int64(bitPattern: u64(20))
            segment.index = (0..<count).map { i in
                let at = 32 + i * 24
                return IndexEntry(offset: Int64(bitPattern: u64(at)), position: Int(u64(at + 8)),
                                  timestampMs: Int64(bitPattern: u64(at + 16)))
            }
            segment.indexedUpTo = segment.index.last?.position ?? segment.indexedUpTo
            return true
        }
    }

    /// Deletes whole sealed segments past `retention.ms` or beyond `retention.bytes`.
    private func applyRetention() throws {
        let now = FileSystem.nowMs
        while segments.count > 1 {
            let oldest = segments[0]
            let total = segments.reduce(0) { $0 + Int64($1.verifiedBytes) }
            let expired = settings.retentionMs >= 0 && oldest.lastTimestampMs < now - settings.retentionMs
            let oversized = settings.retentionBytes >= 0 && total - Int64(oldest.verifiedBytes) >= settings.retentionBytes
                && total > settings.retentionBytes
            guard expired || oversized else { break }
            try FileSystem.remove(oldest.path)
            try FileSystem.remove(indexPath(oldest.base))
            segments.removeFirst()
            logger.debug("retention removed segment", metadata: [
                "topic": "\(topic)", "partition": "\(partition)", "base": "\(oldest.base)",
                "reason": "\(expired ? "retention.ms" : "retention.bytes")",
            ])
        }
    }

    /// Runs retention now (also done at each segment roll).
    func enforceRetention() throws {
        try lock.withLock { try lockFile.withLock { try refresh(asWriter: true); try applyRetention() } }
    }

    // MARK: - Reading

    struct ReadResult {
        var records: [BusRecord]
        /// Offset to read next.
        var nextOffset: Int64
    }

    /// Records from `offset` on, up to `maxRecords` or about `maxBytes`. An offset before the log
    /// start continues at the log start.
    func read(from offset: Int64, maxRecords: Int, maxBytes: Int) throws -> ReadResult {
        try lock.withLock {
            if offset >= endOffsetLocked() {
                try refreshIfStale()
                if offset >= endOffsetLocked() { return ReadResult(records: [], nextOffset: offset) }
            }
            var position = max(offset, startOffsetLocked())
            var records: [BusRecord] = []
            var bytes = 0
            while records.count < maxRecords, bytes < maxBytes, position < endOffsetLocked(),
                  let segment = segments.last(where: { $0.base <= position })
            {
                try ensureVerified(segment)
                guard position < segment.nextOffset else {
                    guard let next = segments.first(where: { $0.base > segment.base }) else { break }
                    position = next.base
                    continue
                }
                var scanner = scanner(segment, from: seekPosition(in: segment, for: position), limit: segment.verifiedBytes)
                while records.count < maxRecords, bytes < maxBytes, let peek = try scanner.next() {
                    guard case .record(let record, let size) = peek else {
                        throw BusError.corrupt("\(segment.path) at byte \(scanner.position): \(describe(peek))")
                    }
                    guard record.offset >= position else { continue }
                    records.append(record)
                    bytes += size
                    position = record.offset + 1
                }
                if position < segment.nextOffset { break }  // a limit was reached
            }
            return ReadResult(records: records, nextOffset: position)
        }
    }

    /// The first offset whose record has a timestamp at or after `timestampMs` (the end offset when none).
    func offset(atOrAfter timestampMs: Int64) throws -> Int64 {
        try lock.withLock {
            try refreshIfStale(force: true)
            for segment in segments {
                try ensureVerified(segment)
                guard segment.lastTimestampMs >= timestampMs, segment.nextOffset > segment.base else { continue }
                let start = segment.index.last(where: { $0.timestampMs < timestampMs })?.position ?? 0
                var scanner = scanner(segment, from: start, limit: segment.verifiedBytes)
                while let peek = try scanner.next() {
                    guard case .record(let record, _) = peek else {
                        throw BusError.corrupt("\(segment.path) at byte \(scanner.position): \(describe(peek))")
                    }
                    if record.timestampMs >= timestampMs { return record.offset }
                }
            }
            return endOffsetLocked()
        }
    }

    var startOffset: Int64 { lock.withLock { startOffsetLocked() } }

    var endOffset: Int64 {
        get throws { try lock.withLock { try refreshIfStale(force: true); return endOffsetLocked() } }
    }

    private func startOffsetLocked() -> Int64 { segments.first?.base ?? 0 }
    private func endOffsetLocked() -> Int64 { segments.last?.nextOffset ?? 0 }
    private var maxBodyBytes: Int { settings.maxMessageBytes + 64 * 1024 }

    private func scanner(_ segment: Segment, from position: Int, limit: Int) -> FrameScanner {
        FrameScanner(file: segment.file, topic: topic, partition: partition, maxBody: maxBodyBytes, from: position,
                     limit: limit)
    }

    private func seekPosition(in segment: Segment, for offset: Int64) -> Int {
        // Binary search for the last index entry at or before `offset`.
        var low = 0
        var high = segment.index.count - 1
        var best = 0
        while low <= high {
            let mid = (low + high) / 2
            if segment.index[mid].offset <= offset {
                best = segment.index[mid].position
                low = mid + 1
            } else {
                high = mid - 1
            }
        }
        return best
    }

    private func noteRecord(in segment: Segment, offset: Int64, position: Int, timestampMs: Int64) {
        if position - segment.indexedUpTo >= Self.indexIntervalBytes {
            segment.index.append(IndexEntry(offset: offset, position: position, timestampMs: timestampMs))
            segment.indexedUpTo = position
        }
    }

    // MARK: - Discovering what is on disk

    /// Re-reads the directory and the tail at most every few milliseconds (other processes write too).
    private func refreshIfStale(force: Bool = false) throws {
        let now = FileSystem.nowMs
        if force || now - lastRefreshMs >= 2 {
            try refresh(asWriter: false)
            lastRefreshMs = now
        }
    }

    /// Brings the segment list and the verified tail up to date with the files.
    /// As the writer (holding the flock), an invalid or partial tail is cut off.
    private func refresh(asWriter: Bool) throws {
        let names = try FileSystem.list(directory).filter { $0.hasSuffix(".log") }
        let bases = names.compactMap { Int64($0.dropLast(4)) }.sorted()
        segments.removeAll { segment in !bases.contains(segment.base) }
        for base in bases where !segments.contains(where: { $0.base == base }) {
            let path = directory + "/" + Self.segmentName(base)
            // Opened for writing whenever allowed: the process that reads a segment now may append
            // to it later (after a restart every existing segment is first opened by a reader).
            let file = try (try? PosixFile(path: path, mode: .readWrite)) ?? PosixFile(path: path, mode: .read)
            segments.append(Segment(base: base, path: path, file: file))
        }
        segments.sort { $0.base < $1.base }
        // Only the last segment grows; sealed ones are verified lazily, when first read.
        if let last = segments.last { try verify(last, asWriter: asWriter) }
    }

    /// Makes sure a segment has been scanned (or its index loaded) before it is read.
    private func ensureVerified(_ segment: Segment) throws {
        if segment === segments.last { return }
        try verify(segment, asWriter: false)
    }

    /// Extends the verified prefix of `segment` to the end of its file. Sealed segments load their
    /// saved index instead of being scanned; damage in a sealed segment is always corruption.
    private func verify(_ segment: Segment, asWriter: Bool) throws {
        let size = try segment.file.size
        let sealed = segment !== segments.last
        if sealed, segment.verifiedBytes == 0, loadIndex(into: segment, fileSize: size) { return }
        guard size > segment.verifiedBytes else { return }
        if !asWriter, !sealed, let examined = segment.examinedInvalidTail, examined.fileSize == size { return }
        var scanner = scanner(segment, from: segment.verifiedBytes, limit: size)
        while let peek = try scanner.next() {
            guard case .record(let record, _) = peek else {
                if sealed {
                    throw BusError.corrupt("\(segment.path) at byte \(scanner.position): \(describe(peek))")
                }
                try handleBadTail(segment, at: scanner.position, fileSize: size, reason: peek, asWriter: asWriter)
                return
            }
            noteRecord(in: segment, offset: record.offset, position: segment.verifiedBytes, timestampMs: record.timestampMs)
            segment.nextOffset = record.offset + 1
            segment.lastTimestampMs = record.timestampMs
            segment.verifiedBytes = scanner.position
        }
        segment.examinedInvalidTail = nil
    }

    private func handleBadTail(_ segment: Segment, at position: Int, fileSize: Int, reason: RecordFrame.Peek,
                               asWriter: Bool) throws {
        if let later = try validFrame(in: segment, after: position, fileSize: fileSize) {
            throw BusError.corrupt(
                "\(segment.path): the record at byte \(position) is damaged (\(describe(reason))) but valid records "
                    + "follow at byte \(later); refusing to cut acknowledged data. Move the segment aside to recover.")
        }
        if asWriter {
            logger.warning("cutting torn tail left by an interrupted write", metadata: [
                "segment": "\(segment.path)", "validBytes": "\(position)", "tornBytes": "\(fileSize - position)",
            ])
            try segment.file.truncate(to: position)
            try segment.file.sync()
            segment.examinedInvalidTail = nil
        } else {
            // A writer may be mid-append, or died; either way the bytes are not served.
            segment.examinedInvalidTail = (position, fileSize)
        }
    }

    /// Searches for a whole valid record starting after `position` (proof of mid-log damage).
    private func validFrame(in segment: Segment, after position: Int, fileSize: Int) throws -> Int? {
        guard fileSize - position > RecordFrame.prefixBytes else { return nil }
        let bytes = try segment.file.read(at: position, count: fileSize - position)
        return bytes.withUnsafeBytes { raw -> Int? in
            var at = 1
            while at + RecordFrame.prefixBytes <= raw.count {
                if case .record(let record, _) = RecordFrame.peek(UnsafeRawBufferPointer(rebasing: raw[at...]),
                                                                   topic: topic, partition: partition,
                                                                   maxBody: maxBodyBytes),
                   record.offset >= segment.nextOffset
                {
                    return position + at
                }
                at += 1
            }
            return nil
        }
    }

    private func describe(_ peek: RecordFrame.Peek) -> String {
        switch peek {
        case .invalid(let why): return why
        case .incomplete: return "record cut short"
        case .record: return "valid"
        }
    }

    private func indexPath(_ base: Int64) -> String { directory + "/" + String(Self.segmentName(base).dropLast(4)) + ".index" }

    static func segmentName(_ base: Int64) -> String {
        let digits = String(base)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".log"
    }
}
