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
/// serve whole, checksum-valid records.
///
/// What a damaged disk or a crash leaves behind (docs/embedded-bus.md):
/// - An *incomplete* last frame (or a zero-filled tail) is a torn write: a writer died mid-append
///   before the batch was acknowledged. Readers do not serve it; the next writer cuts it.
/// - Anything else that is not a valid record is *damage*. It is never cut and its offsets are
///   never given to new records. Readers skip to the next valid frame and deliver one record with
///   a ``BusRecord/defect`` naming the lost offsets, so consumers report it and move on; the
///   damage is also logged and counted (`videoagent_bus_damaged_records_total`).
/// - Offsets missing between records or segments (a deleted segment file, a repaired segment)
///   are delivered the same way.
final class PartitionLog: @unchecked Sendable {
    // All mutable state is guarded by `lock`.
    let topic: String
    let partition: Int
    let directory: String
    let settings: LogSettings
    private let logger: Logger
    let lock = NSLock()
    let lockFile: PosixFile
    /// Segments in offset order; the last one is active (appended to).
    var segments: [Segment] = []
    private var lastRefreshMs: Int64 = 0

    static let indexIntervalBytes = 4096

    struct IndexEntry {
        var offset: Int64
        var position: Int
        var timestampMs: Int64
    }

    /// A stretch of a segment that holds no valid record, and the offsets it stands for.
    struct Damage: Equatable {
        var startByte: Int
        var endByte: Int
        /// The offsets `firstOffset..<endOffset` are lost (possibly none).
        var firstOffset: Int64
        var endOffset: Int64
        var reason: String
    }

    final class Segment {
        let base: Int64
        let path: String
        let file: PosixFile
        /// Bytes at the start of the file that have been examined: valid records and damage.
        var verifiedBytes = 0
        var nextOffset: Int64
        /// The newest record's timestamp; `.min` until the segment is verified or holds none.
        var lastTimestampMs: Int64 = .min
        var index: [IndexEntry] = []
        var indexedUpTo = -PartitionLog.indexIntervalBytes
        var damage: [Damage] = []
        /// Offsets skipped between two valid records (a repaired segment).
        var gaps: [Range<Int64>] = []
        /// Where a torn tail was last examined, so a reader does not search it again each poll.
        var examinedTornTail: (position: Int, fileSize: Int)?

        init(base: Int64, path: String, file: PosixFile) {
            self.base = base
            self.path = path
            self.file = file
            self.nextOffset = base
        }

        /// Back to "never examined", so the next verify scans the whole file.
        func forgetScan() {
            verifiedBytes = 0
            nextOffset = base
            lastTimestampMs = .min
            index = []
            indexedUpTo = -PartitionLog.indexIntervalBytes
            damage = []
            gaps = []
            examinedTornTail = nil
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
        for record in records { try checkSize(record) }
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

    /// Throws when `record` is larger than the topic's `max.message.bytes`.
    func checkSize(_ record: OutgoingRecord) throws {
        let bytes = record.value.count + (record.key?.count ?? 0)
            + record.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.count }
        if bytes > settings.maxMessageBytes {
            throw BusError.valueTooLarge(topic: topic, bytes: bytes, limit: settings.maxMessageBytes)
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
    func seal(_ segment: Segment) throws {
        try FileSystem.writeAtomically(SegmentIndex.encode(segment), to: indexPath(segment.base))
    }

    private func loadIndex(into segment: Segment, fileSize: Int) -> Bool {
        guard let bytes = try? FileSystem.readAll(indexPath(segment.base)),
              let index = SegmentIndex.decode(bytes, fileSize: fileSize, base: segment.base)
        else { return false }
        segment.verifiedBytes = fileSize
        segment.nextOffset = index.nextOffset
        segment.lastTimestampMs = index.lastTimestampMs
        segment.index = index.entries
        segment.indexedUpTo = index.entries.last?.position ?? segment.indexedUpTo
        return true
    }

    /// Deletes whole sealed segments past `retention.ms` or beyond `retention.bytes`.
    private func applyRetention() throws {
        let now = FileSystem.nowMs
        while segments.count > 1 {
            let oldest = segments[0]
            // A segment found on disk is judged by its real newest record, never by "unknown".
            try ensureVerified(oldest)
            let total = segments.reduce(0) { $0 + Int64($1.verifiedBytes) }
            let expired = settings.retentionMs >= 0 && oldest.lastTimestampMs != .min
                && oldest.lastTimestampMs < now - settings.retentionMs
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
    /// start continues at the log start. Lost offsets come as one record with a `defect` each.
    func read(from offset: Int64, maxRecords: Int, maxBytes: Int) throws -> ReadResult {
        try lock.withLock {
            if offset >= endOffsetLocked() {
                try refreshIfStale()
                if offset >= endOffsetLocked() { return ReadResult(records: [], nextOffset: offset) }
            }
            var position = max(offset, startOffsetLocked())
            var records: [BusRecord] = []
            var bytes = 0
            var lastTimestamp: Int64 = 0
            func lost(_ range: Range<Int64>, _ why: String) {
                guard !range.isEmpty else { return }
                records.append(lostRecords(range, why, timestampMs: lastTimestamp))
                position = range.upperBound
            }
            while records.count < maxRecords, bytes < maxBytes, position < endOffsetLocked(),
                  let segment = segments.last(where: { $0.base <= position })
            {
                try ensureVerified(segment)
                guard position < segment.nextOffset else {
                    guard let next = segments.first(where: { $0.base > segment.base }) else { break }
                    if next.base > position {
                        lost(position..<next.base, "the segment file holding them is missing from \(directory)")
                    }
                    position = next.base
                    continue
                }
                var scanner = scanner(segment, from: seekPosition(in: segment, for: position), limit: segment.verifiedBytes)
                while records.count < maxRecords, bytes < maxBytes, position < segment.nextOffset,
                      let peek = try scanner.next()
                {
                    guard case .record(let record, let size) = peek else {
                        let damage = try damage(in: segment, at: scanner.position)
                        lost(max(damage.firstOffset, position)..<damage.endOffset,
                             "damaged bytes \(damage.startByte)..<\(damage.endByte) of \(segment.path): \(damage.reason)")
                        scanner.seek(to: damage.endByte)
                        continue
                    }
                    guard record.offset >= position else { continue }
                    lost(position..<record.offset, "no record holds them in \(segment.path) (removed by a repair?)")
                    records.append(record)
                    bytes += size
                    position = record.offset + 1
                    lastTimestamp = record.timestampMs
                }
                if position < segment.nextOffset {
                    if records.count >= maxRecords || bytes >= maxBytes { break }
                    // The segment's verified bytes end before its offsets do (cannot happen after a
                    // verified scan); never loop on it.
                    lost(position..<segment.nextOffset, "the end of \(segment.path) is unreadable")
                }
            }
            return ReadResult(records: records, nextOffset: position)
        }
    }

    /// A record standing for lost offsets `range`: its offset is the last of them, so committing
    /// through it commits past all of them.
    private func lostRecords(_ range: Range<Int64>, _ why: String, timestampMs: Int64) -> BusRecord {
        let what = range.count == 1 ? "offset \(range.lowerBound) is" : "offsets \(range.lowerBound)..<\(range.upperBound) are"
        return BusRecord(topic: topic, partition: partition, offset: range.upperBound - 1, timestampMs: timestampMs,
                         key: nil, value: [], headers: [], defect: "\(what) lost: \(why)")
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
                        scanner.seek(to: try damage(in: segment, at: scanner.position).endByte)
                        continue
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

    func scanner(_ segment: Segment, from position: Int, limit: Int) -> FrameScanner {
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
    /// As the writer (holding the flock), a torn tail is cut off.
    func refresh(asWriter: Bool) throws {
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

    /// Extends the examined prefix of `segment` to the end of its file. Sealed segments load their
    /// saved index instead of being scanned (their damage is then found when read).
    func verify(_ segment: Segment, asWriter: Bool, useIndex: Bool = true, limit: Int? = nil) throws {
        let size = try limit ?? segment.file.size
        let sealed = segment !== segments.last
        if useIndex, sealed, segment.verifiedBytes == 0, loadIndex(into: segment, fileSize: size) { return }
        guard size > segment.verifiedBytes else { return }
        if !asWriter, !sealed, let examined = segment.examinedTornTail, examined.fileSize == size { return }
        var scanner = scanner(segment, from: segment.verifiedBytes, limit: size)
        while let peek = try scanner.next() {
            guard case .record(let record, _) = peek else {
                let position = scanner.position
                guard let damage = try locateDamage(in: segment, at: position, limit: size, sealed: sealed) else {
                    try handleTornTail(segment, at: position, fileSize: size, asWriter: asWriter)
                    return
                }
                register(damage, in: segment)
                segment.verifiedBytes = damage.endByte
                scanner.seek(to: damage.endByte)
                continue
            }
            noteRecord(in: segment, offset: record.offset, position: segment.verifiedBytes, timestampMs: record.timestampMs)
            if record.offset > segment.nextOffset { segment.gaps.append(segment.nextOffset..<record.offset) }
            segment.nextOffset = max(segment.nextOffset, record.offset + 1)
            segment.lastTimestampMs = max(segment.lastTimestampMs, record.timestampMs)
            segment.verifiedBytes = scanner.position
        }
        segment.examinedTornTail = nil
    }

    private func handleTornTail(_ segment: Segment, at position: Int, fileSize: Int, asWriter: Bool) throws {
        if asWriter {
            logger.warning("cutting torn tail left by an interrupted write", metadata: [
                "segment": "\(segment.path)", "validBytes": "\(position)", "tornBytes": "\(fileSize - position)",
            ])
            try segment.file.truncate(to: position)
            try segment.file.sync()
            segment.examinedTornTail = nil
        } else {
            // A writer may be mid-append, or died; either way the bytes are not served.
            segment.examinedTornTail = (position, fileSize)
        }
    }

    /// The damage starting at byte `position` of a verified segment: registered by a scan, or
    /// found by scanning the segment now (a sealed segment whose index was loaded instead).
    private func damage(in segment: Segment, at position: Int) throws -> Damage {
        if let known = segment.damage.first(where: { $0.startByte == position }) { return known }
        let size = segment.verifiedBytes
        segment.forgetScan()
        try verify(segment, asWriter: false, useIndex: false, limit: size)
        if let known = segment.damage.first(where: { $0.startByte == position }) { return known }
        // The bytes changed under us; report them as unreadable up to the segment's end.
        let damage = Damage(startByte: position, endByte: segment.verifiedBytes, firstOffset: segment.nextOffset,
                            endOffset: segment.nextOffset, reason: "changed while being read")
        return damage
    }

    /// Finds the extent of bytes at `position` that do not form a valid record. Returns nil for a
    /// torn tail of the active segment (an incomplete last frame, or zeros to the end).
    private func locateDamage(in segment: Segment, at position: Int, limit: Int, sealed: Bool) throws -> Damage? {
        let expected = segment.nextOffset
        let rest = try segment.file.read(at: position, count: limit - position)
        let damaged = DamageLocator(bytes: rest, topic: topic, partition: partition, maxBody: maxBodyBytes,
                                    expectedOffset: expected)
        if let (distance, offset) = damaged.nextValidFrame() {
            return Damage(startByte: position, endByte: position + distance, firstOffset: expected,
                          endOffset: max(offset, expected), reason: damaged.reason)
        }
        if !sealed, damaged.looksTorn { return nil }
        let following = segments.first(where: { $0.base > segment.base })?.base
        let end = sealed ? max(following ?? segment.nextOffset, segment.nextOffset) : damaged.inferredEndOffset
        return Damage(startByte: position, endByte: limit, firstOffset: expected, endOffset: max(end, expected + 1),
                      reason: damaged.reason)
    }

    private var reported: Set<String> = []

    /// Records damage in the segment and reports it once per process.
    private func register(_ damage: Damage, in segment: Segment) {
        if !segment.damage.contains(damage) { segment.damage.append(damage) }
        segment.nextOffset = max(segment.nextOffset, damage.endOffset)
        let key = "\(segment.path)@\(damage.startByte)"
        guard reported.insert(key).inserted else { return }
        let lost = damage.endOffset - damage.firstOffset
        DamageMetrics.record(topic: topic, partition: partition, lostRecords: lost)
        logger.error("damaged records in the embedded log; they are skipped and their offsets never reused", metadata: [
            "segment": "\(segment.path)", "bytes": "\(damage.startByte)..<\(damage.endByte)",
            "offsets": "\(damage.firstOffset)..<\(damage.endOffset)", "reason": "\(damage.reason)",
            "fix": "videoagent bus check --bus embedded://… [--repair]",
        ])
    }

    func indexPath(_ base: Int64) -> String { directory + "/" + String(Self.segmentName(base).dropLast(4)) + ".index" }

    static func segmentName(_ base: Int64) -> String {
        let digits = String(base)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".log"
    }
}
