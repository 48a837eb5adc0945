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

    @Test("damage in the middle of the log is reported as corruption, never cut")
    func midLogCorruption() async throws {
        let (_, log, directory) = try await makeLog()
        _ = try log.append((0..<10).map { OutgoingRecord(topic: "t", key: nil, value: "value-\($0)") })
        let segment = try #require(try segmentPaths(directory).last)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: segment))
        let size = bytes.count
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: segment))

        let reopened = try EmbeddedTransport(directory: directory, settings: ["fsync": "never"])
        #expect(throws: BusError.self) {
            let log2 = try reopened.log(TopicPartition("t", 0))
            _ = try log2.append([OutgoingRecord(topic: "t", key: nil, value: "more")])
        }
        // Nothing was cut: the damaged file keeps every byte for recovery.
        #expect(try Data(contentsOf: URL(fileURLWithPath: segment)).count == size)
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
