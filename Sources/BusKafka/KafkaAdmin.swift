import Bus
import CRdKafka

/// Kafka admin requests (create topics, describe configs) over librdkafka's admin API. Blocking:
/// call off the cooperative pool.
enum KafkaAdmin {
    static func createTopics(_ topics: [TopicConfig], client: RDKafkaClient, timeoutMs: Int32) throws
        -> [TopicCreationResult]
    {
        guard !topics.isEmpty else { return [] }
        var newTopics: [OpaquePointer?] = []
        defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
        for topic in topics {
            var errstr = [CChar](repeating: 0, count: 512)
            guard let newTopic = rd_kafka_NewTopic_new(topic.name, Int32(topic.partitions), Int32(topic.replicationFactor),
                                                       &errstr, errstr.count)
            else { throw BusError.invalidArgument("topic \(topic.name): " + String(cBuffer: errstr)) }
            newTopics.append(newTopic)
            for (key, value) in topic.settings.sorted(by: { $0.key < $1.key }) {
                let code = rd_kafka_NewTopic_set_config(newTopic, key, value)
                guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    throw client.error(code, "topic \(topic.name) setting \(key)=\(value)")
                }
            }
        }
        let event = try request(client: client, timeoutMs: timeoutMs, expecting: RD_KAFKA_EVENT_CREATETOPICS_RESULT) {
            options, queue in
            newTopics.withUnsafeMutableBufferPointer { buffer in
                rd_kafka_CreateTopics(client.handle, buffer.baseAddress, buffer.count, options, queue)
            }
        }
        defer { rd_kafka_event_destroy(event) }
        var count = 0
        guard let result = rd_kafka_event_CreateTopics_result(event),
              let list = rd_kafka_CreateTopics_result_topics(result, &count)
        else { throw BusError.broker(code: -1, message: "create topics: no result") }
        var outcome: [String: TopicCreationResult] = [:]
        for i in 0..<count {
            let entry = list[i]
            let name = String(cString: rd_kafka_topic_result_name(entry))
            let code = rd_kafka_topic_result_error(entry)
            switch code {
            case RD_KAFKA_RESP_ERR_NO_ERROR: outcome[name] = .created(name)
            case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS: outcome[name] = .alreadyExists(name)
            default:
                let text = rd_kafka_topic_result_error_string(entry).map { String(cString: $0) } ?? RDKafkaClient.message(code)
                throw BusError.broker(code: Int(code.rawValue), message: "create topic \(name): \(text)")
            }
        }
        return topics.map { outcome[$0.name] ?? .created($0.name) }
    }

    static func describeTopics(_ names: [String]?, client: RDKafkaClient, timeoutMs: Int32, withSettings: Bool = true)
        throws -> [TopicDescription]
    {
        let all = try client.topics(timeoutMs: timeoutMs)
        let wanted = names ?? all.map(\.name).sorted()
        return try wanted.map { name in
            guard let topic = all.first(where: { $0.name == name }), topic.error == RD_KAFKA_RESP_ERR_NO_ERROR,
                  topic.partitions > 0
            else { throw BusError.unknownTopic(name) }
            let partitions = try (0..<topic.partitions).map { p in
                let (low, high) = try client.watermarks(TopicPartition(name, p), timeoutMs: timeoutMs)
                return PartitionDescription(partition: p, startOffset: low, endOffset: high)
            }
            let settings = withSettings ? (try? configs(of: name, client: client, timeoutMs: timeoutMs)) ?? [:] : [:]
            return TopicDescription(name: name, partitions: partitions, settings: settings)
        }
    }

    /// The topic's settings that differ from the broker's defaults.
    static func configs(of topic: String, client: RDKafkaClient, timeoutMs: Int32) throws -> [String: String] {
        var resources: [OpaquePointer?] = [rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic)]
        defer { rd_kafka_ConfigResource_destroy_array(&resources, resources.count) }
        let event = try request(client: client, timeoutMs: timeoutMs, expecting: RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT) {
            options, queue in
            resources.withUnsafeMutableBufferPointer { buffer in
                rd_kafka_DescribeConfigs(client.handle, buffer.baseAddress, buffer.count, options, queue)
            }
        }
        defer { rd_kafka_event_destroy(event) }
        var count = 0
        guard let result = rd_kafka_event_DescribeConfigs_result(event),
              let described = rd_kafka_DescribeConfigs_result_resources(result, &count), count > 0
        else { return [:] }
        let resource = described[0]
        let code = rd_kafka_ConfigResource_error(resource)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else { throw client.error(code, "describe configs of \(topic)") }
        var entryCount = 0
        guard let entries = rd_kafka_ConfigResource_configs(resource, &entryCount) else { return [:] }
        var settings: [String: String] = [:]
        for i in 0..<entryCount {
            let entry = entries[i]
            guard rd_kafka_ConfigEntry_is_default(entry) == 0, let value = rd_kafka_ConfigEntry_value(entry) else { continue }
            settings[String(cString: rd_kafka_ConfigEntry_name(entry))] = String(cString: value)
        }
        return settings
    }

    /// Issues an admin request on a private queue and waits for its result event.
    private static func request(client: RDKafkaClient, timeoutMs: Int32, expecting type: Int32,
                                _ issue: (OpaquePointer?, OpaquePointer?) -> Void) throws -> OpaquePointer {
        guard let queue = rd_kafka_queue_new(client.handle) else { throw BusError.broker(code: -1, message: "no queue") }
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(client.handle, RD_KAFKA_ADMIN_OP_ANY)
        defer { rd_kafka_AdminOptions_destroy(options) }
        var errstr = [CChar](repeating: 0, count: 256)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeoutMs, &errstr, errstr.count)
        issue(options, queue)
        guard let event = rd_kafka_queue_poll(queue, timeoutMs + 1000) else {
            throw BusError.timedOut("admin request got no answer within \(timeoutMs) ms")
        }
        let code = rd_kafka_event_error(event)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            let text = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? RDKafkaClient.message(code)
            rd_kafka_event_destroy(event)
            throw BusError.broker(code: Int(code.rawValue), message: "admin request: \(text)")
        }
        guard rd_kafka_event_type(event) == type else {
            rd_kafka_event_destroy(event)
            throw BusError.broker(code: -1, message: "admin request: unexpected event type")
        }
        return event
    }
}
