import Bus
import CRdKafka
import Logging

/// librdkafka's in-process mock cluster, for tests and trying things without a broker: brokers on
/// loopback ports that speak the Kafka protocol, and fault injection (brokers down, request errors).
///
/// It does not answer offsets-for-times (replay by timestamp needs a real broker).
public final class KafkaMockCluster: @unchecked Sendable {
    private let owner: RDKafkaClient
    private let cluster: OpaquePointer
    public let bootstrapServers: String

    public init(brokers: Int = 3, logger: Logger = Logger(label: "videoagent.kafka.mock")) throws {
        owner = try RDKafkaClient(kind: .producer, settings: ["bootstrap.servers": "", "log_level": "3"], logger: logger)
        guard let cluster = rd_kafka_mock_cluster_new(owner.handle, Int32(brokers)) else {
            throw BusError.unreachable("librdkafka could not start a mock cluster")
        }
        self.cluster = cluster
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    deinit { rd_kafka_mock_cluster_destroy(cluster) }

    /// The `kafka://` URL of the cluster.
    public var address: BusAddress { BusAddress(kind: .kafka, location: bootstrapServers) }

    /// Creates a topic directly in the mock (no admin request).
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) throws {
        let code = rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(replicationFactor))
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else { throw BusError.broker(code: Int(code.rawValue), message: "mock topic") }
    }

    /// Creates topics the way an admin request would, for a transport connected to this mock.
    /// The mock stores no topic settings; they are accepted and dropped.
    func createTopics(_ topics: [TopicConfig], client: RDKafkaClient, timeoutMs: Int32) throws -> [TopicCreationResult] {
        let existing = Set(try client.topics(timeoutMs: timeoutMs).filter { $0.partitions > 0 }.map(\.name))
        return try topics.map { topic in
            if existing.contains(topic.name) { return .alreadyExists(topic.name) }
            try createTopic(topic.name, partitions: topic.partitions, replicationFactor: min(topic.replicationFactor, 3))
            return .created(topic.name)
        }
    }

    /// Takes broker `id` (1-based) down: its connections close and it refuses new ones.
    public func setBrokerDown(_ id: Int) { _ = rd_kafka_mock_broker_set_down(cluster, Int32(id)) }
    public func setBrokerUp(_ id: Int) { _ = rd_kafka_mock_broker_set_up(cluster, Int32(id)) }

    /// Kafka protocol API keys used with ``pushRequestErrors(api:codes:)``.
    public enum API: Int16 { case produce = 0, fetch = 1, offsetCommit = 8, joinGroup = 11, heartbeat = 12 }

    /// The next requests of `api` (any broker) fail with these Kafka error codes, in order.
    public func pushRequestErrors(api: API, codes: [Int32]) {
        let errors = codes.map { rd_kafka_resp_err_t($0) }
        errors.withUnsafeBufferPointer {
            rd_kafka_mock_push_request_errors_array(cluster, api.rawValue, $0.count, $0.baseAddress)
        }
    }

    /// Kafka error codes worth injecting.
    public enum ErrorCode {
        public static let notLeaderForPartition: Int32 = 6
        public static let requestTimedOut: Int32 = 7
        public static let notEnoughReplicas: Int32 = 19
        public static let coordinatorNotAvailable: Int32 = 15
    }
}
