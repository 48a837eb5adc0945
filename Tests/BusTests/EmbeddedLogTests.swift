import Bus
@testable import BusEmbedded
import BusTestKit
import Foundation
import Testing

/// Durability of the embedded bus's on-disk log: what a crash or a damaged disk leaves behind.
@Suite("Embedded log")
struct EmbeddedLogTests {
    private func makeLog(settings: [String: String] = [:]) async throws -> (EmbeddedTransport, PartitionLog, String) {
        let directory = temporaryDirectory("log")
        let transport = try EmbeddedTransport(directory: directory, settings: ["fsync": "never"])
        _ = try await transport.createTopics([TopicConfig(name: "t", partitions: 1, settings: settings)])
        return (transport, try transport.log(TopicPartition("t", 0)), directory)
    }

    private func segmentPaths(_ directory: String) throws -> [String] {
        let partition = directory + "/topics/t/0"
        return try FileManager.default.contentsOfDirectory(atPath: partition).filter { $0.hasSuffix(".log") }.sorted()
            .map { partition + "/" + $0 }
    }

    private func values(_ log: PartitionLog, from offset: Int64 = 0) throws -> [String] {
        try log.read(from: offset, maxRecords: 10_000, maxBytes: 64 << 20).records.map(\.valueString)
    }

    @Test func appendThenRead() async throws {
        let (_, log, _) = try await makeLog()
        let offsets = try log.append((0..<5).map { OutgoingRecord(topic: "t", key: nil, value: "v\($0)") })
        #expect(offsets == [0, 1, 2, 3, 4])
        let result = try log.read(from: 0, maxRecords: 10, maxBytes: 1 << 20)
        #expect(result.records.map(\.valueString) == ["v0", "v1", "v2", "v3", "v4"])
        #expect(result.nextOffset == 5)
    }

    @Test("a torn tail left by a crash mid-append is never served and is cut by the next writer")
    func tornTail() async throws {
        let (_, log, directory) = try await makeLog()
        _ = try log.append((0..<3).map { OutgoingRecord(topic: "t", key: nil, value: "v\($0)") })
        // A writer died half-way through a record: its first bytes are on disk, the rest is not.
        let segment = try #require(try segmentPaths(directory).last)
        var frame: [UInt8] = []
        RecordFrame.encode(offset: 3, timestampMs: 1, key: nil, headers: [], value: Array("lost".utf8), into: &frame)
        let handle = try #require(FileHandle(forWritingAtPath: segment))
        handle.seekToEndOfFile()
        handle.write(Data(frame.prefix(frame.count - 3)))
        try handle.close()

        // A fresh process (new transport) reads only the three whole records.
        let reopened = try EmbeddedTransport(directory: directory, settings: ["fsync": "never"])
        let log2 = try reopened.log(TopicPartition("t", 0))
        #expect(try values(log2) == ["v0", "v1", "v2"])
        #expect(try log2.endOffset == 3)
        // The next append cuts the torn bytes and continues at offset 3.
        #expect(try log2.append([OutgoingRecord(topic: "t", key: nil, value: "v3")]) == [3])
        #expect(try values(log2) == ["v0", "v1", "v2", "v3"])
    }

    private func flipByte(in path: String, at position: (Int) -> Int) throws {
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[position(bytes.count)] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path))
    }

    /// A new transport on the same directory: what a restarted process sees.
    private func reopen(_ directory: String) throws -> PartitionLog {
        try EmbeddedTransport(directory: directory, settings: ["fsync": "never"]).log(TopicPartition("t", 0))
    }

    private func readAll(_ log: PartitionLog) throws -> [BusRecord] {
        try log.read(from: 0, maxRecords: 100_000, maxBytes: 256 << 20).records
    }

    @Test("damage in the middle of the log is skipped and reported, never cut, and writing goes on")
    func midLogCorruption() async throws {
        let (_, log, directory) = try await makeLog()
        _ = try log.append((0..<10).map { OutgoingRecord(topic: "t", key: nil, value: "value-\($0)") })
        let segment = try #require(try segmentPaths(directory).last)
        let size = try Data(contentsOf: URL(fileURLWithPath: segment)).count
        try flipByte(in: segment) { $0 / 2 }

        let log2 = try reopen(directory)
        let records = try readAll(log2)
        let defects = records.filter { $0.defect != nil }
        #expect(defects.count == 1)
        #expect(records.filter { $0.defect == nil }.count == 9, "only the damaged record is lost")
        #expect(records.map(\.offset) == Array(0..<10), "each offset once, in order")
        #expect(defects.first?.defect?.contains("lost") == true)
        // Producing still works and continues after the last offset.
        #expect(try log2.append([OutgoingRecord(topic: "t", key: nil, value: "more")]) == [10])
        // Nothing was cut: the damaged bytes stay for forensics.
        #expect(try Data(contentsOf: URL(fileURLWithPath: segment)).count > size)
    }

    @Test("a complete last record with a bad checksum is corruption: reported, kept, and its offset never reused")
    func damagedLastRecord() async throws {
        let (_, log, directory) = try await makeLog()
        _ = try log.append((0..<3).map { OutgoingRecord(topic: "t", key: nil, value: "record-\($0)") })
        let segment = try #require(try segmentPaths(directory).last)
        try flipByte(in: segment) { $0 - 2 }  // inside the last record's value

        let reader = try reopen(directory)
        let seen = try readAll(reader)
        #expect(seen.map(\.offset) == [0, 1, 2])
        #expect(seen.last?.defect != nil, "the damaged record is delivered as a defect, not hidden")
        #expect(try reader.endOffset == 3)

        let writer = try reopen(directory)
        #expect(try writer.append([OutgoingRecord(topic: "t", key: nil, value: "after")]) == [3], "offset 2 is not reused")
        let again = try readAll(try reopen(directory))
        #expect(again.map(\.offset) == [0, 1, 2, 3])
        #expect(again.last?.valueString == "after")
    }

    @Test("retention in a new process judges old segments by their newest record, not as infinitely old")
    func retentionAcrossProcesses() async throws {
        let (_, log, directory) = try await makeLog(settings: ["segment.bytes": "65536"])
        let value = String(repeating: "r", count: 100)
        for batch in 0..<50 {
            _ = try log.append((0..<100).map { OutgoingRecord(topic: "t", key: nil, value: "\(batch * 100 + $0):\(value)") })
        }
        #expect(try segmentPaths(directory).count > 2)
        // A second process rolls a segment (the active one is full) under the default 7-day retention.
        let second = try reopen(directory)
        let before = try segmentPaths(directory).count
        var appended = 0
        while try segmentPaths(directory).count == before {
            _ = try second.append([OutgoingRecord(topic: "t", key: nil, value: "late:\(value)")])
            appended += 1
            if appended > 2000 { break }
        }
        let third = try reopen(directory)
        #expect(third.startOffset == 0, "fresh segments must survive a roll in another process")
        #expect(try third.endOffset == Int64(5000 + appended))
    }

    @Test("a deleted middle segment is reported as lost offsets, not skipped silently")
    func deletedSegment() async throws {
        let (_, log, directory) = try await makeLog(settings: ["segment.bytes": "2048"])
        for i in 0..<60 { _ = try log.append([OutgoingRecord(topic: "t", key: nil, value: "\(i):" + String(repeating: "z", count: 150))]) }
        let paths = try segmentPaths(directory)
        #expect(paths.count >= 4)
        try FileManager.default.removeItem(atPath: paths[1])
        try? FileManager.default.removeItem(atPath: String(paths[1].dropLast(4)) + ".index")
        let records = try readAll(try reopen(directory))
        #expect(records.map(\.offset) == Array(Set(records.map(\.offset))).sorted())
        let defects = records.filter { $0.defect != nil }
        #expect(defects.count == 1)
        #expect(defects.first?.defect?.contains("missing") == true)
        #expect(records.last?.offset == 59)
    }

    @Test("damage inside a sealed segment read through its index is found and skipped")
    func sealedSegmentDamage() async throws {
        let (_, log, directory) = try await makeLog(settings: ["segment.bytes": "4096"])
        for i in 0..<80 { _ = try log.append([OutgoingRecord(topic: "t", key: nil, value: "\(i):" + String(repeating: "s", count: 150))]) }
        let first = try #require(try segmentPaths(directory).first)
        #expect(FileManager.default.fileExists(atPath: String(first.dropLast(4)) + ".index"))
        try flipByte(in: first) { $0 - 100 }
        let reader = try reopen(directory)
        // Start in the middle of the damaged segment, as a consumer resuming there would.
        let records = try reader.read(from: 5, maxRecords: 1000, maxBytes: 1 << 24).records
        #expect(records.first?.offset == 5)
        #expect(records.filter { $0.defect != nil }.count == 1)
        #expect(records.map(\.offset) == Array(5..<80))
    }

    @Test("check reports damage, torn tails and stale commits; repair salvages every valid record")
    func checkAndRepair() async throws {
        let (transport, log, directory) = try await makeLog(settings: ["segment.bytes": "4096"])
        for i in 0..<80 { _ = try log.append([OutgoingRecord(topic: "t", key: nil, value: "\(i):" + String(repeating: "c", count: 150))]) }
        let paths = try segmentPaths(directory)
        try flipByte(in: paths[0]) { $0 / 2 }
        // A torn tail on the active segment.
        let handle = try #require(FileHandle(forWritingAtPath: paths.last!))
        handle.seekToEndOfFile()
        handle.write(Data([0x10, 0x20, 0x30]))
        try handle.close()
        let coordinator = try GroupCoordinator(root: directory, group: "g")
        try coordinator.transact { $0.offsets["t/0"] = 500 }

        let reopened = try EmbeddedTransport(directory: directory, settings: ["fsync": "never"])
        let found = try await reopened.check(topics: nil, repair: false)
        let kinds = Set(found.flatMap(\.problems).map(\.kind))
        #expect(kinds == [.damage, .tornTail, .commitBeyondEnd])
        #expect(found.first?.records == 79)

        let repaired = try await reopened.check(topics: nil, repair: true)
        #expect(repaired.flatMap(\.problems).allSatisfy { $0.repaired })
        let after = try await EmbeddedTransport(directory: directory, settings: ["fsync": "never"]).check(topics: nil, repair: false)
        let left = after.flatMap(\.problems)
        #expect(left.map(\.kind) == [.missingOffsets], "only the lost offset is still reported")
        #expect(try coordinator.committedOffset(TopicPartition("t", 0)) == 80)
        let records = try readAll(try reopen(directory))
        #expect(records.filter { $0.defect == nil }.count == 79)
        #expect(records.map(\.offset) == Array(0..<80))
        _ = transport
    }

    @Test("a group whose commit lies beyond the log end resumes at the end and skips nothing new")
    func commitBeyondEnd() async throws {
        let (transport, log, directory) = try await makeLog()
        _ = try log.append((0..<3).map { OutgoingRecord(topic: "t", key: nil, value: "old-\($0)") })
        try GroupCoordinator(root: directory, group: "g").transact { $0.offsets["t/0"] = 50 }
        let bus = MessageBus(transport: transport)
        let consumer = try await bus.makeConsumer(group: "g", topics: ["t"])
        _ = try log.append((0..<2).map { OutgoingRecord(topic: "t", key: nil, value: "new-\($0)") })
        var values: [String] = []
        for _ in 0..<20 where values.count < 2 {
            values += try await consumer.poll(maxRecords: 10, timeout: .milliseconds(200)).map(\.valueString)
        }
        await consumer.close()
        #expect(values == ["new-0", "new-1"])
    }

    @Test("retention by size deletes whole old segments and moves the log start")
    func retentionBySize() async throws {
        let (_, log, directory) = try await makeLog(settings: ["segment.bytes": "2048", "retention.bytes": "4096"])
        let value = String(repeating: "x", count: 200)
        for i in 0..<100 { _ = try log.append([OutgoingRecord(topic: "t", key: nil, value: "\(i):\(value)")]) }
        try log.enforceRetention()
        let start = log.startOffset
        #expect(start > 0)
        #expect(try segmentPaths(directory).count <= 4)
        let kept = try values(log)
        #expect(kept.first?.hasPrefix("\(start):") == true)
        #expect(kept.last?.hasPrefix("99:") == true)
        // Reading from before the start continues at the start.
        #expect(try log.read(from: 0, maxRecords: 1, maxBytes: 1 << 20).records.first?.offset == start)
    }

    @Test("retention by time deletes segments whose newest record is too old")
    func retentionByTime() async throws {
        let (_, log, _) = try await makeLog(settings: ["segment.bytes": "1024", "retention.ms": "1"])
        for i in 0..<40 { _ = try log.append([OutgoingRecord(topic: "t", key: nil, value: "\(i)" + String(repeating: "y", count: 100))]) }
        try await Task.sleep(for: .milliseconds(20))
        try log.enforceRetention()
        // Only the active segment survives.
        #expect(log.startOffset > 30)
        #expect(try log.endOffset == 40)
    }

    @Test("topic settings the embedded bus cannot honour are refused with a reason")
    func unsupportedSettings() async throws {
        let directory = temporaryDirectory("log")
        let transport = try EmbeddedTransport(directory: directory)
        await #expect(throws: BusError.self) {
            _ = try await transport.createTopics([TopicConfig(name: "c", partitions: 1, settings: ["cleanup.policy": "compact"])])
        }
        await #expect(throws: BusError.self) {
            _ = try await transport.createTopics([TopicConfig(name: "bad/name", partitions: 1)])
        }
        #expect(throws: BusError.self) { _ = try EmbeddedTransport(directory: directory, settings: ["fsync": "sometimes"]) }
    }
}
