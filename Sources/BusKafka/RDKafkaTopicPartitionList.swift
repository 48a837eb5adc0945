import Bus
import CRdKafka

/// An `rd_kafka_topic_partition_list_t`, owned (created here) or borrowed (handed to a callback).
final class RDKafkaTopicPartitionList {
    let handle: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    private let owned: Bool

    init(_ entries: [(TopicPartition, Int64)]) {
        handle = rd_kafka_topic_partition_list_new(Int32(max(1, entries.count)))
        owned = true
        for (tp, offset) in entries {
            let element = rd_kafka_topic_partition_list_add(handle, tp.topic, Int32(tp.partition))
            element?.pointee.offset = offset
        }
    }

    private init(borrowed handle: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        self.handle = handle
        owned = false
    }

    deinit { if owned { rd_kafka_topic_partition_list_destroy(handle) } }

    /// The partitions of a list librdkafka lends to a callback.
    static func borrowing(_ pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> [TopicPartition] {
        guard let pointer else { return [] }
        let list = RDKafkaTopicPartitionList(borrowed: pointer)
        return list.entries.map(\.0)
    }

    var entries: [(TopicPartition, Int64, rd_kafka_resp_err_t)] {
        let list = handle.pointee
        return UnsafeBufferPointer(start: list.elems, count: Int(list.cnt)).map {
            (TopicPartition(String(cString: $0.topic), Int($0.partition)), $0.offset, $0.err)
        }
    }
}
