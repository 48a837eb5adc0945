import Bus
import BusEmbedded
import BusKafka
import Foundation
import Logging

/// The backends the behavioural bus suite runs against.
public enum Backend: String, CaseIterable, Sendable, CustomStringConvertible {
    case embedded
    /// librdkafka's in-process mock cluster.
    case kafkaMock
    /// A real Kafka-protocol broker at `VIDEOAGENT_TEST_KAFKA` (started by scripts/test).
    case kafkaBroker

    public var description: String { rawValue }

    /// The real broker's bootstrap address, when the test script started one.
    public static var brokerAddress: String? {
        ProcessInfo.processInfo.environment["VIDEOAGENT_TEST_KAFKA"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Backends to test: all of them in CI (a missing broker must fail, not skip), otherwise the
    /// real broker only when one is configured.
    /// `VIDEOAGENT_TEST_BACKENDS=embedded,kafkaMock` narrows the list while debugging.
    public static var available: [Backend] {
        let environment = ProcessInfo.processInfo.environment
        let ci = environment["CI"] == "true"
        let chosen = environment["VIDEOAGENT_TEST_BACKENDS"].map { Set($0.split(separator: ",").map(String.init)) }
        return allCases.filter { ($0 != .kafkaBroker || brokerAddress != nil || ci) && chosen?.contains($0.rawValue) ?? true }
    }

    public var isKafka: Bool { self != .embedded }
}

/// A fresh bus for one test, with unique topic names and cleanup.
public final class BusFixture: Sendable {
    public let backend: Backend
    public let bus: MessageBus
    public let mock: KafkaMockCluster?
    public let directory: String?
    private let suffix = String(UUID().uuidString.prefix(8)).lowercased()

    private init(backend: Backend, bus: MessageBus, mock: KafkaMockCluster?, directory: String?) {
        self.backend = backend
        self.bus = bus
        self.mock = mock
        self.directory = directory
    }

    public static func make(_ backend: Backend, chunking: ChunkingPolicy = ChunkingPolicy(),
                            kafkaSettings: [String: String] = [:]) async throws -> BusFixture {
        var logger = Logger(label: "test.bus")
        logger.logLevel = ProcessInfo.processInfo.environment["VIDEOAGENT_TEST_LOG"] == nil ? .error : .debug
        switch backend {
        case .embedded:
            let directory = temporaryDirectory("bus")
            let transport = try EmbeddedTransport(directory: directory, settings: ["fsync": "never"], logger: logger)
            return BusFixture(backend: backend, bus: MessageBus(transport: transport, chunking: chunking), mock: nil,
                              directory: directory)
        case .kafkaMock:
            let mock = try KafkaMockCluster(brokers: 3, logger: logger)
            let transport = try await KafkaTransport(mock: mock,
                                                     settings: kafkaTestSettings.merging(kafkaSettings) { $1 },
                                                     logger: logger)
            return BusFixture(backend: backend, bus: MessageBus(transport: transport, chunking: chunking), mock: mock,
                              directory: nil)
        case .kafkaBroker:
            guard let address = Backend.brokerAddress else {
                throw BusError.unreachable("VIDEOAGENT_TEST_KAFKA is not set; run the tests through scripts/test, which starts a broker")
            }
            let transport = try await KafkaTransport(bootstrapServers: address,
                                                     settings: kafkaTestSettings.merging(kafkaSettings) { $1 },
                                                     logger: logger)
            return BusFixture(backend: backend, bus: MessageBus(transport: transport, chunking: chunking), mock: nil,
                              directory: nil)
        }
    }

    /// Faster group rebalances and retries than production defaults, so tests stay short.
    static let kafkaTestSettings = [
        "topic.metadata.refresh.interval.ms": "1000",
        "reconnect.backoff.max.ms": "500",
        "retry.backoff.ms": "50",
    ]

    /// A topic name unique to this fixture.
    public func topic(_ name: String) -> String { "test.\(name).\(suffix)" }

    /// Creates a unique topic and returns its name.
    @discardableResult
    public func createTopic(_ name: String, partitions: Int, settings: [String: String] = [:]) async throws -> String {
        let topic = topic(name)
        let results = try await bus.createTopics([TopicConfig(name: topic, partitions: partitions, settings: settings)])
        guard results == [.created(topic)] else { throw BusError.invalidArgument("topic \(topic) not created: \(results)") }
        if backend.isKafka { try await waitForTopic(topic, partitions: partitions) }
        return topic
    }

    /// Kafka creates topics asynchronously; wait until every partition has a leader.
    private func waitForTopic(_ topic: String, partitions: Int) async throws {
        for _ in 0..<100 {
            if let d = try? await bus.describeTopics([topic]).first, d.partitions.count == partitions { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BusError.timedOut("topic \(topic) did not appear")
    }

    public func group(_ name: String) -> String { "test-\(name)-\(suffix)" }

    public func close() async {
        await bus.close()
        if let directory { try? FileManager.default.removeItem(atPath: directory) }
    }
}

/// A new empty directory under the system temporary directory.
public func temporaryDirectory(_ prefix: String) -> String {
    let path = NSTemporaryDirectory() + "videoagent-\(prefix)-\(UUID().uuidString.prefix(8))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

extension BusConsumer {
    /// Polls until `count` records arrived or `timeout` passed; commits each batch when `commit`.
    public func collect(_ count: Int, timeout: Duration = .seconds(30), commit: Bool = true) async throws -> [BusRecord] {
        var records: [BusRecord] = []
        let deadline = ContinuousClock.now + timeout
        while records.count < count && ContinuousClock.now < deadline {
            let batch = try await poll(maxRecords: count - records.count, timeout: .milliseconds(200))
            records += batch
            if commit && !batch.isEmpty && group != nil { try await self.commit(batch) }
        }
        return records
    }
}
