// Bus throughput: raw librdkafka (the reference, same process, same settings), the Kafka bus and
// the embedded bus (fsync on every batch), producing acknowledged records and reading them back.
// Not a test: run with scripts/bench-bus.sh, which starts a broker.
import ArgumentParser
import Bus
import BusEmbedded
import BusKafka
import CRdKafka
import Foundation
import Logging
import Synchronization

struct Row: Encodable {
    var path: String
    var operation: String
    var valueBytes: Int
    var messages: Int
    var seconds: Double
    var messagesPerSecond: Double { Double(messages) / seconds }
    var megabytesPerSecond: Double { Double(messages * valueBytes) / seconds / 1_000_000 }

    enum CodingKeys: String, CodingKey { case path, operation, valueBytes, messages, seconds, messagesPerSecond, megabytesPerSecond }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(path, forKey: .path)
        try c.encode(operation, forKey: .operation)
        try c.encode(valueBytes, forKey: .valueBytes)
        try c.encode(messages, forKey: .messages)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(messagesPerSecond, forKey: .messagesPerSecond)
        try c.encode(megabytesPerSecond, forKey: .megabytesPerSecond)
    }
}

@main
struct BenchBus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-bus",
                                                    abstract: "Throughput of raw librdkafka, the Kafka bus and the embedded bus.")

    @Option(help: "The broker, HOST:PORT.") var broker: String
    @Option(help: "Messages of 1 KB.") var smallMessages = 50_000
    @Option(help: "Messages of 100 KB.") var largeMessages = 1_000
    @Option(help: "Records per bus send (the bus awaits each batch's acknowledgements).") var batch = 1_000
    @Option(help: "Bus sends in flight at once.") var inFlight = 4
    @Option(help: "Repetitions; the best of them is reported.") var repeats = 2
    @Option(help: "Where to write the JSON results.") var out = "bench/results/bus.json"

    /// The producer settings the Kafka bus uses, applied to the raw client too.
    static let producerSettings = [
        "enable.idempotence": "true", "acks": "all", "partitioner": "murmur2_random", "message.timeout.ms": "120000",
        "client.id": "videoagent",
    ]

    func run() async throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        var rows: [Row] = []
        let cases = [(1024, smallMessages), (100 * 1024, largeMessages)]
        for (size, count) in cases {
            var value = [UInt8](repeating: 0, count: size)
            for i in value.indices { value[i] = UInt8(truncatingIfNeeded: i &* 31) }
            let kafka = MessageBus(transport: try await KafkaTransport(bootstrapServers: broker, logger: logger))
            let directory = NSTemporaryDirectory() + "bench-bus-\(UUID().uuidString.prefix(8))"
            let embedded = MessageBus(transport: try EmbeddedTransport(directory: directory, settings: ["fsync": "always"],
                                                                       logger: logger))
            for _ in 0..<repeats {
                let rawTopic = try await makeTopic(kafka, "raw", size)
                rows.append(try rawProduce(topic: rawTopic, value: value, count: count))
                rows.append(try rawConsume(topic: rawTopic, value: value, count: count))
                let busTopic = try await makeTopic(kafka, "bus", size)
                rows.append(try await busProduce(kafka, "kafka bus", topic: busTopic, value: value, count: count))
                rows.append(try await busConsume(kafka, "kafka bus", topic: busTopic, value: value, count: count))
                let embeddedTopic = try await makeTopic(embedded, "embedded", size)
                rows.append(try await busProduce(embedded, "embedded bus", topic: embeddedTopic, value: value, count: count))
                rows.append(try await busConsume(embedded, "embedded bus", topic: embeddedTopic, value: value, count: count))
            }
            await kafka.close()
            await embedded.close()
            try? FileManager.default.removeItem(atPath: directory)
        }
        report(rows)
    }

    func makeTopic(_ bus: MessageBus, _ name: String, _ size: Int) async throws -> String {
        let topic = "bench.\(name).\(size).\(UUID().uuidString.prefix(6).lowercased())"
        _ = try await bus.createTopics([TopicConfig(name: topic, partitions: 3, settings: ["max.message.bytes": "1048588"])])
        for _ in 0..<100 {
            if let d = try? await bus.describeTopics([topic]).first, d.partitions.count == 3 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return topic
    }

    func busProduce(_ bus: MessageBus, _ path: String, topic: String, value: [UInt8], count: Int) async throws -> Row {
        let producer = try await bus.makeProducer()
        let perBatch = max(1, min(batch, (4 << 20) / value.count))
        let clock = ContinuousClock()
        let started = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            var sent = 0
            var running = 0
            while sent < count {
                if running == inFlight {
                    try await group.next()
                    running -= 1
                }
                let n = min(perBatch, count - sent)
                let base = sent
                group.addTask {
                    let records = (0..<n).map { OutgoingRecord(topic: topic, key: Array("key-\((base + $0) % 64)".utf8), value: value) }
                    _ = try await producer.send(records)
                }
                running += 1
                sent += n
            }
            try await group.waitForAll()
        }
        let seconds = (clock.now - started).seconds
        await producer.close()
        return Row(path: path, operation: "produce", valueBytes: value.count, messages: count, seconds: seconds)
    }

    func busConsume(_ bus: MessageBus, _ path: String, topic: String, value: [UInt8], count: Int) async throws -> Row {
        let clock = ContinuousClock()
        let started = clock.now
        let reader = try await bus.makeReplay(topic: topic, from: .beginning)
        var got = 0
        var bytes = 0
        while got < count {
            let records = try await reader.poll(maxRecords: 1000, timeout: .seconds(5))
            guard !records.isEmpty else { throw BenchError("bus consume stalled at \(got) of \(count)") }
            got += records.count
            bytes += records.reduce(0) { $0 + $1.value.count }
        }
        let seconds = (clock.now - started).seconds
        await reader.close()
        precondition(bytes == count * value.count)
        return Row(path: path, operation: "consume", valueBytes: value.count, messages: count, seconds: seconds)
    }

    // MARK: - Raw librdkafka, the reference

    func rawProduce(topic: String, value: [UInt8], count: Int) throws -> Row {
        let handle = try RawClient(type: RD_KAFKA_PRODUCER, settings: Self.producerSettings.merging(["bootstrap.servers": broker]) { a, _ in a })
        guard let rkt = rd_kafka_topic_new(handle.rk, topic, nil) else { throw BenchError("raw topic handle") }
        defer { rd_kafka_topic_destroy(rkt) }
        let clock = ContinuousClock()
        let started = clock.now
        for i in 0..<count {
            let key = Array("key-\(i % 64)".utf8)
            while true {
                let status: Int32 = value.withUnsafeBytes { v in
                    key.withUnsafeBytes { k in
                        rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, UnsafeMutableRawPointer(mutating: v.baseAddress),
                                         v.count, k.baseAddress, k.count, nil)
                    }
                }
                if status == 0 { break }
                let code = rd_kafka_last_error()
                guard code == RD_KAFKA_RESP_ERR__QUEUE_FULL else { throw BenchError("raw produce: \(code)") }
                rd_kafka_poll(handle.rk, 1)
            }
            rd_kafka_poll(handle.rk, 0)
        }
        while rd_kafka_flush(handle.rk, 1000) == RD_KAFKA_RESP_ERR__TIMED_OUT {}
        let seconds = (clock.now - started).seconds
        let (delivered, failed) = (handle.counts.delivered.load(ordering: .relaxed), handle.counts.failed.load(ordering: .relaxed))
        guard delivered == count, failed == 0 else { throw BenchError("raw produce: \(delivered) delivered, \(failed) failed") }
        return Row(path: "raw librdkafka", operation: "produce", valueBytes: value.count, messages: count, seconds: seconds)
    }

    func rawConsume(topic: String, value: [UInt8], count: Int) throws -> Row {
        let handle = try RawClient(type: RD_KAFKA_CONSUMER, settings: [
            "bootstrap.servers": broker, "group.id": "bench-raw-\(UUID().uuidString.prefix(6))", "enable.auto.commit": "false",
            "enable.auto.offset.store": "false", "client.id": "videoagent",
        ])
        rd_kafka_poll_set_consumer(handle.rk)
        let list = rd_kafka_topic_partition_list_new(3)
        for p in 0..<3 { rd_kafka_topic_partition_list_add(list, topic, Int32(p))?.pointee.offset = Int64(RD_KAFKA_OFFSET_BEGINNING) }
        rd_kafka_assign(handle.rk, list)
        rd_kafka_topic_partition_list_destroy(list)
        let clock = ContinuousClock()
        let started = clock.now
        var got = 0
        var bytes = 0
        var idle = 0
        while got < count {
            guard let message = rd_kafka_consumer_poll(handle.rk, 100) else {
                idle += 1
                if idle > 50 { throw BenchError("raw consume stalled at \(got)") }
                continue
            }
            idle = 0
            if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                // Copy out, as the bus does, so both pay for owning the bytes.
                let copy = Array(UnsafeRawBufferPointer(start: message.pointee.payload, count: message.pointee.len))
                bytes += copy.count
                got += 1
            }
            rd_kafka_message_destroy(message)
        }
        let seconds = (clock.now - started).seconds
        rd_kafka_consumer_close(handle.rk)
        precondition(bytes == count * value.count)
        return Row(path: "raw librdkafka", operation: "consume", valueBytes: value.count, messages: count, seconds: seconds)
    }

    // MARK: - Report

    func report(_ rows: [Row]) {
        // Best of the repetitions for each path, operation and size.
        var best: [String: Row] = [:]
        for row in rows {
            let key = "\(row.path)|\(row.operation)|\(row.valueBytes)"
            if best[key].map({ row.seconds < $0.seconds }) ?? true { best[key] = row }
        }
        let ordered = best.values.sorted { ($0.valueBytes, $0.operation, $0.path) < ($1.valueBytes, $1.operation, $1.path) }
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        print(pad("value", 8) + pad("operation", 10) + pad("path", 16) + pad("messages/s", 13) + pad("MB/s", 9) + "vs raw")
        var ratios: [String: Double] = [:]
        for row in ordered {
            let raw = best["raw librdkafka|\(row.operation)|\(row.valueBytes)"]
            let ratio = raw.map { row.messagesPerSecond / $0.messagesPerSecond }
            if row.path == "kafka bus", let ratio { ratios["\(row.operation) \(row.valueBytes / 1024) KB"] = ratio }
            print(pad("\(row.valueBytes / 1024) KB", 8) + pad(row.operation, 10) + pad(row.path, 16)
                  + pad(String(format: "%.0f", row.messagesPerSecond), 13) + pad(String(format: "%.1f", row.megabytesPerSecond), 9)
                  + (ratio.map { String(format: "%.2f", $0) } ?? "-"))
        }
        struct Output: Encodable {
            var date: String
            var broker: String
            var librdkafka: String
            var rows: [Row]
            var kafkaBusOverRaw: [String: Double]
        }
        let output = Output(date: ISO8601DateFormatter().string(from: Date()), broker: broker,
                            librdkafka: String(cString: rd_kafka_version_str()), rows: ordered, kafkaBusOverRaw: ratios)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if let data = try? encoder.encode(output) {
            try? FileManager.default.createDirectory(atPath: (out as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if FileManager.default.createFile(atPath: out, contents: data) {
                print("wrote \(out)")
            } else {
                print("could not write \(out)")
            }
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Delivery reports counted by the raw client's callback.
final class DeliveryCounts: Sendable {
    let delivered = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
}

/// A bare librdkafka client for the reference measurements.
final class RawClient {
    let rk: OpaquePointer
    let counts = DeliveryCounts()

    init(type: rd_kafka_type_t, settings: [String: String]) throws {
        let conf = rd_kafka_conf_new()
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in settings where rd_kafka_conf_set(conf, key, value, &errstr, errstr.count) != RD_KAFKA_CONF_OK {
            throw BenchError("\(key): \(String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(counts).toOpaque())
        if type == RD_KAFKA_PRODUCER { setDeliveryCallback(conf) }
        guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else { throw BenchError(String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) }
        self.rk = rk
    }

    deinit { rd_kafka_destroy(rk) }
}

private func setDeliveryCallback(_ conf: OpaquePointer?) {
    rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
        guard let message, let opaque else { return }
        let counts = Unmanaged<DeliveryCounts>.fromOpaque(opaque).takeUnretainedValue()
        if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            counts.delivered.add(1, ordering: .relaxed)
        } else {
            counts.failed.add(1, ordering: .relaxed)
        }
    }
}
