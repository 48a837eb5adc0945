import Blocking
import Bus
import Foundation

/// What `videoagent bus check` found in one partition of an embedded bus.
public struct PartitionCheck: Sendable {
    public struct Problem: Sendable, CustomStringConvertible {
        public enum Kind: String, Sendable {
            /// Bytes that hold no valid record; their offsets are lost.
            case damage
            /// Offsets no record holds (a deleted segment file, an earlier repair).
            case missingOffsets = "missing-offsets"
            /// The unfinished frame of a writer that died mid-append (never acknowledged).
            case tornTail = "torn-tail"
            /// A segment index that disagrees with its segment (it is ignored and rescanned).
            case staleIndex = "stale-index"
            /// A consumer group committed past the end of the log.
            case commitBeyondEnd = "commit-beyond-end"
        }

        public var kind: Kind
        public var detail: String
        /// Offsets whose records are gone, when the problem loses any.
        public var lostOffsets: Range<Int64>?
        public var repaired: Bool

        public var description: String {
            "\(kind.rawValue): \(detail)" + (repaired ? " [repaired]" : "")
        }
    }

    public var topicPartition: TopicPartition
    public var segments: Int
    public var records: Int64
    public var startOffset: Int64
    public var endOffset: Int64
    public var problems: [Problem]
}

extension PartitionLog {
    /// Scans every segment from its first byte (ignoring indexes) and reports what is wrong.
    /// With `repair`, under the writers' lock: torn tails are cut, damaged segments are rewritten
    /// with their valid records only (the original is kept beside as `<base>.damaged-<ms>`; the
    /// lost offsets stay lost and readers keep reporting them), and indexes are rewritten.
    func check(repair: Bool) throws -> PartitionCheck {
        try lock.withLock {
            try lockFile.withLock {
                try refresh(asWriter: false)
                var problems: [PartitionCheck.Problem] = []
                var records: Int64 = 0
                for (i, segment) in segments.enumerated() {
                    let sealed = i < segments.count - 1
                    let indexBytes = try? FileSystem.readAll(indexPath(segment.base))
                    segment.forgetScan()
                    try verify(segment, asWriter: false, useIndex: false)
                    records += try countRecords(segment)
                    for damage in segment.damage {
                        problems.append(.init(
                            kind: .damage,
                            detail: "\(segment.path) bytes \(damage.startByte)..<\(damage.endByte): \(damage.reason); "
                                + "offsets \(damage.firstOffset)..<\(damage.endOffset) lost",
                            lostOffsets: damage.firstOffset..<damage.endOffset, repaired: false))
                    }
                    for gap in segment.gaps {
                        problems.append(.init(kind: .missingOffsets, detail: "\(segment.path) holds no records for offsets "
                            + "\(gap.lowerBound)..<\(gap.upperBound)", lostOffsets: gap, repaired: false))
                    }
                    if let torn = segment.examinedTornTail {
                        problems.append(.init(kind: .tornTail, detail: "\(segment.path): \(torn.fileSize - torn.position) "
                            + "unfinished byte(s) after byte \(torn.position)", lostOffsets: nil, repaired: false))
                    }
                    if sealed {
                        let size = try segment.file.size
                        let index = indexBytes.flatMap { SegmentIndex.decode($0, fileSize: size, base: segment.base) }
                        if indexBytes != nil && (index == nil || index?.nextOffset != segment.nextOffset) {
                            problems.append(.init(kind: .staleIndex, detail: "\(indexPath(segment.base)) does not match "
                                + "its segment", lostOffsets: nil, repaired: false))
                        }
                        let next = segments[i + 1].base
                        if next > segment.nextOffset {
                            problems.append(.init(kind: .missingOffsets, detail: "no segment holds offsets "
                                + "\(segment.nextOffset)..<\(next) (a segment file is missing)",
                                lostOffsets: segment.nextOffset..<next, repaired: false))
                        }
                    } else if indexBytes != nil {
                        problems.append(.init(kind: .staleIndex, detail: "the active segment has an index file "
                            + "\(indexPath(segment.base))", lostOffsets: nil, repaired: false))
                    }
                }
                if repair { problems = try self.repair(problems) }
                return PartitionCheck(topicPartition: TopicPartition(topic, partition), segments: segments.count,
                                      records: records, startOffset: segments.first?.base ?? 0,
                                      endOffset: segments.last?.nextOffset ?? 0, problems: problems)
            }
        }
    }

    private func countRecords(_ segment: Segment) throws -> Int64 {
        var scanner = scanner(segment, from: 0, limit: segment.verifiedBytes)
        var count: Int64 = 0
        while let peek = try scanner.next() {
            if case .record = peek {
                count += 1
            } else if let damage = segment.damage.first(where: { $0.startByte == scanner.position }) {
                scanner.seek(to: damage.endByte)
            } else {
                break
            }
        }
        return count
    }

    /// Called with both locks held, after a full scan of every segment.
    private func repair(_ problems: [PartitionCheck.Problem]) throws -> [PartitionCheck.Problem] {
        var problems = problems
        for i in segments.indices {
            let sealed = i < segments.count - 1
            if !segments[i].damage.isEmpty { try rewriteWithoutDamage(at: i) }
            let segment = segments[i]
            if let torn = segment.examinedTornTail {
                try segment.file.truncate(to: torn.position)
                try segment.file.sync()
                segment.examinedTornTail = nil
            }
            if sealed { try seal(segment) } else { try FileSystem.remove(indexPath(segment.base)) }
        }
        for i in problems.indices where problems[i].kind != .missingOffsets { problems[i].repaired = true }
        // The segments are new files now: every process must open them afresh.
        segments = []
        try refresh(asWriter: true)
        return problems
    }

    /// Copies the valid records of segment `i` to a new file that replaces it; keeps the original.
    private func rewriteWithoutDamage(at i: Int) throws {
        let segment = segments[i]
        let temporary = segment.path + ".repair"
        let output = try PosixFile(path: temporary, mode: .create)
        try output.truncate(to: 0)
        var scanner = scanner(segment, from: 0, limit: segment.verifiedBytes)
        var written = 0
        while let peek = try scanner.next() {
            if case .record(let record, _) = peek {
                var frame: [UInt8] = []
                RecordFrame.encode(offset: record.offset, timestampMs: record.timestampMs, key: record.key,
                                   headers: record.headers, value: record.value, into: &frame)
                try output.write(frame, at: written)
                written += frame.count
            } else if let damage = segment.damage.first(where: { $0.startByte == scanner.position }) {
                scanner.seek(to: damage.endByte)
            } else {
                break
            }
        }
        try output.sync()
        let kept = String(segment.path.dropLast(4)) + ".damaged-\(FileSystem.nowMs)"
        guard rename(segment.path, kept) == 0 else { throw PosixFile.error("rename", segment.path) }
        guard rename(temporary, segment.path) == 0 else { throw PosixFile.error("rename", temporary) }
        try FileSystem.syncDirectory(directory)
        let fresh = Segment(base: segment.base, path: segment.path, file: try PosixFile(path: segment.path, mode: .readWrite))
        segments[i] = fresh
        try verify(fresh, asWriter: false, useIndex: false)
    }
}

extension EmbeddedTransport {
    /// `videoagent bus check`: every partition of `topics` (all when nil), and every group's
    /// committed offsets against the log ends. See ``PartitionLog/check(repair:)``.
    public func check(topics names: [String]?, repair: Bool) async throws -> [PartitionCheck] {
        try await Blocking.run { [self] in
            let wanted = try names ?? FileSystem.list(root + "/topics").filter {
                FileSystem.exists(root + "/topics/" + $0 + "/topic.json")
            }
            var results: [PartitionCheck] = []
            for topic in wanted {
                let metadata = try metadata(topic)
                for p in 0..<metadata.partitions {
                    results.append(try log(TopicPartition(topic, p)).check(repair: repair))
                }
            }
            let ends = Dictionary(uniqueKeysWithValues: results.map { ($0.topicPartition, $0.endOffset) })
            for group in try FileSystem.list(root + "/groups") where FileSystem.exists(root + "/groups/\(group)/state.json") {
                let coordinator = try GroupCoordinator(root: root, group: group)
                let beyond = try coordinator.transact { state -> [(TopicPartition, Int64, Int64)] in
                    var found: [(TopicPartition, Int64, Int64)] = []
                    for (key, offset) in state.offsets {
                        guard let tp = GroupCoordinator.topicPartition(key), let end = ends[tp], offset > end else { continue }
                        found.append((tp, offset, end))
                        if repair { state.offsets[key] = end }
                    }
                    return found
                }
                for (tp, offset, end) in beyond {
                    guard let i = results.firstIndex(where: { $0.topicPartition == tp }) else { continue }
                    results[i].problems.append(.init(kind: .commitBeyondEnd, detail: "group '\(group)' committed \(offset) "
                        + "but the log ends at \(end) (its consumers resume at the end)", lostOffsets: nil, repaired: repair))
                }
            }
            return results
        }
    }
}
