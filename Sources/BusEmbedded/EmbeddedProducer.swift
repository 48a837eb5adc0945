import Blocking
import Bus
import Checksum
import Synchronization

/// Appends to partition logs. A keyed record goes to Kafka's murmur2 partition for its key; an
/// unkeyed one to the next partition in turn.
final class EmbeddedProducer: RawProducer {
    private let transport: EmbeddedTransport
    private let roundRobin = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)

    init(transport: EmbeddedTransport) { self.transport = transport }

    func send(_ records: [OutgoingRecord]) async throws -> [DeliveryReport] {
        guard !closed.load(ordering: .relaxed) else { throw BusError.closed }
        // Group by partition, keeping each partition's order and each record's place in the batch.
        var byPartition: [TopicPartition: [(index: Int, record: OutgoingRecord)]] = [:]
        for (index, record) in records.enumerated() {
            let count = try transport.metadata(record.topic).partitions
            let partition: Int
            if let explicit = record.partition {
                guard explicit >= 0 && explicit < count else {
                    throw BusError.unknownPartition(TopicPartition(record.topic, explicit))
                }
                partition = explicit
            } else if let key = record.key {
                partition = Murmur2.partition(for: key, partitions: count)
            } else {
                partition = roundRobin.wrappingAdd(1, ordering: .relaxed).oldValue % count
            }
            byPartition[TopicPartition(record.topic, partition), default: []].append((index, record))
        }
        // Every record is checked before any partition is written, so a refusal writes nothing.
        for (tp, entries) in byPartition {
            let log = try transport.log(tp)
            for entry in entries { try log.checkSize(entry.record) }
        }
        var reports = [DeliveryReport?](repeating: nil, count: records.count)
        for (tp, entries) in byPartition {
            let log = try transport.log(tp)
            let batch = entries.map(\.record)
            let offsets = try await Blocking.run { try log.append(batch) }
            for (i, entry) in entries.enumerated() {
                reports[entry.index] = DeliveryReport(topic: tp.topic, partition: tp.partition, offset: offsets[i])
            }
        }
        transport.notifier.bump()
        return reports.map { $0! }
    }

    func close() async { closed.store(true, ordering: .relaxed) }
}
