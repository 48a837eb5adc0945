import Bus
import BusTestKit
import Foundation
import Testing

/// The behaviour every bus backend must show: run against the embedded bus, librdkafka's mock
/// cluster and a real broker.
@Suite("Bus behaviour", .timeLimit(.minutes(3)))
struct BusBehaviourTests {
    @Test("produce with key and headers, acknowledged, then consumed", arguments: Backend.available)
    func roundTrip(backend: Backend) async throws {
        let fixture = try await BusFixture.make(backend)
        defer { Task { await fixture.close() } }
        let topic = try await fixture.createTopic("roundtrip", partitions: 3)
        let producer = try await fixture.bus.makeProducer()
        let records = (0..<20).map { i in
            OutgoingRecord(topic: topic, key: Array("key-\(i % 4)".utf8), value: Array("value-\(i)".utf8),
                           headers: [BusHeader("n", "\(i)"), BusHeader("empty", [])])
        }
        let reports = try await producer.send(records)
        #expect(reports.count == 20)
        #expect(Set(reports.map(\.topic)) == [topic])
        // Same key, same partition, increasing offsets.
        for k in 0..<4 {
            let mine = reports.enumerated().filter { $0.offset % 4 == k }.map(\.element)
            #expect(Set(mine.map(\.partition)).count == 1)
            #expect(mine.map(\.offset) == mine.map(\.offset).sorted())
        }
        await producer.close()

        let consumer = try await fixture.bus.makeConsumer(group: fixture.group("rt"), topics: [topic])
        let got = try await consumer.collect(20)
        await consumer.close()
        #expect(got.count == 20)
        let byValue = Dictionary(uniqueKeysWithValues: got.map { ($0.valueString, $0) })
        for i in 0..<20 {
            let record = try #require(byValue["value-\(i)"])
            #expect(record.keyString == "key-\(i % 4)")
            #expect(record.headers.string("n") == "\(i)")
            #expect(record.headers.value("empty") == [])
            #expect(record.defect == nil)
            #expect(record.partition == reports[i].partition && record.offset == reports[i].offset)
            #expect(record.timestampMs > 0)
        }
    }

    @Test("records of one key arrive in the order they were produced", arguments: Backend.available)
    func perKeyOrder(backend: Backend) async throws {
        let fixture = try await BusFixture.make(backend)
        defer { Task { await fixture.close() } }
        let topic = try await fixture.createTopic("order", partitions: 4)
        let producer = try await fixture.bus.makeProducer()
        // Several concurrent batches interleave keys; each key's sequence is sent in order.
        for round in 0..<10 {
            let batch = (0..<6).map { k in
                OutgoingRecord(topic: topic, key: "episode-\(k)", value: "\(round)")
            }
            _ = try await producer.send(batch)
        }
        await producer.close()
        let consumer = try await fixture.bus.makeConsumer(group: fixture.group("order"), topics: [topic])
        let got = try await consumer.collect(60)
        await consumer.close()
        #expect(got.count == 60)
        for k in 0..<6 {
            let sequence = got.filter { $0.keyString == "episode-\(k)" }.map { Int($0.valueString)! }
            #expect(sequence == Array(0..<10), "key episode-\(k)")
        }
    }

    @Test("a restarted member resumes at the group's committed offsets", arguments: Backend.available)
    func resumeFromCommit(backend: Backend) async throws {
        let fixture = try await BusFixture.make(backend)
        defer { Task { await fixture.close() } }
        let topic = try await fixture.createTopic("resume", partitions: 1)
        let producer = try await fixture.bus.makeProducer()
        _ = try await producer.send((0..<30).map { OutgoingRecord(topic: topic, key: nil, value: "\($0)") })
        await producer.close()
        let group = fixture.group("resume")

        let first = try await fixture.bus.makeConsumer(group: group, topics: [topic])
        var seen: [BusRecord] = []
        while seen.count < 12 {
            seen += try await first.poll(maxRecords: 12 - seen.count, timeout: .milliseconds(500))
        }
        // Commit through the 10th record only: records 10 and 11 were read but not finished.
        try await first.commit(through: seen[9])
        await first.close()

        let second = try await fixture.bus.makeConsumer(group: group, topics: [topic])
        let rest = try await second.collect(20)
        await second.close()
        #expect(rest.map(\.valueString) == (10..<30).map { "\($0)" })
    }

    @Test("members of a group split the partitions; a member leaving mid-stream loses nothing",
          arguments: Backend.available)
    func groupSharing(backend: Backend) async throws {
        let fixture = try await BusFixture.make(backend)
        defer { Task { await fixture.close() } }
        let topic = try await fixture.createTopic("share", partitions: 4)
        let group = fixture.group("share")
        let options = ConsumerOptions(sessionTimeout: .seconds(6))
        let a = try await fixture.bus.makeConsumer(group: group, topics: [topic], options: options)
        let b = try await fixture.bus.makeConsumer(group: group, topics: [topic], options: options)
        // Poll both until the group settles with every partition owned by exactly one member.
        var settled = false
        for _ in 0..<150 {
            _ = try await a.poll(maxRecords: 1, timeout: .milliseconds(100))
            _ = try await b.poll(maxRecords: 1, timeout: .milliseconds(100))
            let (sa, sb) = (await a.assignment(), await b.assignment())
            if !sa.isEmpty, !sb.isEmpty, sa.isDisjoint(with: sb), sa.union(sb).count == 4 {
                settled = true
                break
            }
        }
        #expect(settled, "the two members never split the four partitions")

        let producer = try await fixture.bus.makeProducer()
        let total = 200
        _ = try await producer.send((0..<total).map { OutgoingRecord(topic: topic, key: "k\($0 % 16)", value: "\($0)") })
        await producer.close()

        // A reads a little, commits only part, then goes away without committing the rest.
        var fromA: [BusRecord] = []
        for _ in 0..<20 where fromA.count < 10 {
            fromA += try await a.poll(maxRecords: 10, timeout: .milliseconds(200))
        }
        if let firstHalf = fromA.first { try await a.commit(through: firstHalf) }
        await a.close()

        // B must end up with everything A did not commit.
        var fromB: [BusRecord] = []
        let deadline = ContinuousClock.now + .seconds(60)
        var union = Set(fromA.prefix(1).map(\.valueString))
        while union.count < total && ContinuousClock.now < deadline {
            let batch = try await b.poll(maxRecords: 100, timeout: .milliseconds(300))
            fromB += batch
            union.formUnion(batch.map(\.valueString))
            if !batch.isEmpty { try await b.commit(batch) }
        }
        await b.close()
        #expect(union.count == total, "lost \(total - union.count) records")
        #expect(!fromB.isEmpty)
    }

    @Test("replay by offset reads a topic again without a group", arguments: Backend.available)
    func replayByOffset(backend: Backend) async throws {
        let fixture = try await BusFixture.make(backend)
        defer { Task { await fixture.close() } }
        let topic = try await fixture.createTopic("replay", partitions: 1)
        let producer = try await fixture.bus.makeProducer()
        _ = try await producer.send((0..<10).map { OutgoingRecord(topic: topic, key: nil, value: "\($0)") })
        await producer.close()
        let replay = try await fixture.bus.makeReplay(topic: topic, from: .offset(4))
        let got = try await replay.collect(6, timeout: .seconds(20))
        try #require(got.map(\.valueString) == (4..<10).map { "\($0)" })
        await #expect(throws: BusError.self) { try await replay.commit(through: got[0]) }
        #expect(await replay.positions()[TopicPartition(topic, 0)] == 10)
        await replay.close()
    }

    @Test("replay by timestamp starts at the first record at or after the time",
          arguments: Backend.available.filter { $0 != .kafkaMock })
    func replayByTimestamp(backend: Backend) async throws {
        let fixture = try await BusFixture.make(backend)
        defer { Task { await fixture.close() } }
        let topic = try await fixture.createTopic("bytime", partitions: 2)
        let producer = try await fixture.bus.makeProducer()
        _ = try await producer.send((0..<6).map { OutgoingRecord(topic: topic, key: "k\($0)", value: "early-\($0)") })
        try await Task.sleep(for: .milliseconds(1200))
        let cut = Int64(Date().timeIntervalSince1970 * 1000)
        try await Task.sleep(for: .milliseconds(300))
        _ = try await producer.send((0..<6).map { OutgoingRecord(topic: topic, key: "k\($0)", value: "late-\($0)") })
        await producer.close()
        let replay = try await fixture.bus.makeReplay(topic: topic, from: .timestamp(cut))
        let got = try await replay.collect(6, timeout: .seconds(20))
        let extra = try await replay.poll(maxRecords: 10, timeout: .milliseconds(500))
        await replay.close()
        #expect(Set(got.map(\.valueString)) == Set((0..<6).map { "late-\($0)" }))
        #expect(extra.isEmpty)
        #expect(got.allSatisfy { $0.timestampMs >= cut })
    }

    @Test("a 50 MB value is chunked, reassembled and verified", arguments: Backend.available)
    func largeValue(backend: Backend) async throws {
        let fixture = try await BusFixture.make(backend)
        defer { Task { await fixture.close() } }
        let topic = try await fixture.createTopic("large", partitions: 2)
        // librdkafka's mock cluster keeps only about 5 MB per partition (older segments are dropped),
        // so it gets a 4 MB value; the embedded bus and the real broker carry the full 50 MB.
        // (Random bytes from the kernel: a per-word loop in a debug build holds a pool thread for seconds.)
        let megabytes = backend == .kafkaMock ? 4 : 50
        let value = [UInt8](try #require(FileHandle(forReadingAtPath: "/dev/urandom")).readData(ofLength: megabytes << 20))
        let producer = try await fixture.bus.makeProducer()
        let small = try await producer.send(OutgoingRecord(topic: topic, key: "ckpt", value: "before"))
        let report = try await producer.send(OutgoingRecord(topic: topic, key: Array("ckpt".utf8), value: value,
                                                           headers: [BusHeader("model", "video")]))
        _ = try await producer.send(OutgoingRecord(topic: topic, key: "ckpt", value: "after"))
        await producer.close()
        #expect(report.partition == small.partition)
        #expect(report.offset - small.offset == Int64(megabytes * 2))  // chunks of 512 KiB

        let consumer = try await fixture.bus.makeConsumer(group: fixture.group("large"), topics: [topic])
        let got = try await consumer.collect(3, timeout: .seconds(90))
        await consumer.close()
        try #require(got.count == 3)
        #expect(got.map(\.defect) == [nil, nil, nil])
        #expect(got[0].valueString == "before" && got[2].valueString == "after")
        #expect(got[1].value.count == value.count)
        #expect(got[1].value.withUnsafeBytes { a in value.withUnsafeBytes { b in memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 } })
        #expect(got[1].headers.string("model") == "video")
        #expect(!got[1].headers.contains { $0.name.hasPrefix("va-chunk") })
        #expect(got[1].offset == report.offset)
    }

    @Test("undecodable records are delivered as defects, not crashes", arguments: Backend.available)
    func malformedInput(backend: Backend) async throws {
        let fixture = try await BusFixture.make(backend)
        defer { Task { await fixture.close() } }
        let topic = try await fixture.createTopic("malformed", partitions: 1)
        // Write chunk records by hand, bypassing the chunker: bad headers, and a bad checksum.
        let raw = try await fixture.bus.transport.makeProducer()
        _ = try await raw.send([
            OutgoingRecord(topic: topic, key: nil, value: Array("x".utf8), headers: [BusHeader("va-chunk-id", "abc")]),
            OutgoingRecord(topic: topic, key: nil, value: Array("ab".utf8), headers: [
                BusHeader("va-chunk-id", "id1"), BusHeader("va-chunk-index", "0"), BusHeader("va-chunk-count", "2"),
                BusHeader("va-chunk-bytes", "4"), BusHeader("va-chunk-sha256", String(repeating: "0", count: 64)),
            ]),
            OutgoingRecord(topic: topic, key: nil, value: Array("cd".utf8), headers: [
                BusHeader("va-chunk-id", "id1"), BusHeader("va-chunk-index", "1"), BusHeader("va-chunk-count", "2"),
                BusHeader("va-chunk-bytes", "4"), BusHeader("va-chunk-sha256", String(repeating: "0", count: 64)),
            ]),
            OutgoingRecord(topic: topic, key: nil, value: Array("fine".utf8)),
        ])
        await raw.close()
        let consumer = try await fixture.bus.makeConsumer(group: fixture.group("bad"), topics: [topic])
        let got = try await consumer.collect(3)
        await consumer.close()
        try #require(got.count == 3)
        #expect(got[0].defect?.contains("malformed") == true)
        #expect(got[1].defect?.contains("sha256") == true)
        #expect(got[1].valueString == "abcd")
        #expect(got[2].defect == nil && got[2].valueString == "fine")
    }

    @Test("unknown topics and oversized values are refused with clear errors", arguments: Backend.available)
    func badRequests(backend: Backend) async throws {
        let fixture = try await BusFixture.make(backend, chunking: ChunkingPolicy(maxValueBytes: 1 << 20))
        defer { Task { await fixture.close() } }
        let producer = try await fixture.bus.makeProducer()
        let missing = fixture.topic("missing")
        await #expect(throws: BusError.unknownTopic(missing)) {
            _ = try await producer.send(OutgoingRecord(topic: missing, key: nil, value: "x"))
        }
        await #expect(throws: BusError.unknownTopic(missing)) {
            _ = try await fixture.bus.makeConsumer(group: fixture.group("missing"), topics: [missing])
        }
        let topic = try await fixture.createTopic("limits", partitions: 1)
        await #expect(throws: BusError.valueTooLarge(topic: topic, bytes: 2 << 20, limit: 1 << 20)) {
            _ = try await producer.send(OutgoingRecord(topic: topic, value: [UInt8](repeating: 1, count: 2 << 20)))
        }
        #expect(try await fixture.bus.createTopics([TopicConfig(name: topic, partitions: 1)]) == [.alreadyExists(topic)])
        await producer.close()
    }
}
