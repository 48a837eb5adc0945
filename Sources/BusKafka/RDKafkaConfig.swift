import Bus
import CRdKafka

/// An `rd_kafka_conf_t` under construction. `rd_kafka_new` takes ownership of it on success;
/// until then this type frees it.
final class RDKafkaConfig {
    private(set) var handle: OpaquePointer?

    init(_ settings: [String: String]) throws {
        handle = rd_kafka_conf_new()
        // Sorted so errors are reported in a stable order.
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) { try set(key, value) }
    }

    deinit { if let handle { rd_kafka_conf_destroy(handle) } }

    func set(_ key: String, _ value: String) throws {
        var errstr = [CChar](repeating: 0, count: 512)
        let result = rd_kafka_conf_set(handle, key, value, &errstr, errstr.count)
        guard result == RD_KAFKA_CONF_OK else {
            let message = String(cBuffer: errstr)
            throw BusError.invalidArgument("librdkafka setting \(key)=\(value): \(message)")
        }
    }

    /// Hands the handle to `rd_kafka_new`.
    func release() -> OpaquePointer? {
        defer { handle = nil }
        return handle
    }
}
