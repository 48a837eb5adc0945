import Metrics

/// Counts damage found in embedded logs, for whatever metrics backend the process bootstrapped
/// (none by default; the stage services export Prometheus).
enum DamageMetrics {
    static func record(topic: String, partition: Int, lostRecords: Int64) {
        let dimensions = [("topic", topic), ("partition", String(partition))]
        Counter(label: "videoagent_bus_damage_found_total", dimensions: dimensions).increment()
        Counter(label: "videoagent_bus_damaged_records_total", dimensions: dimensions).increment(by: lostRecords)
    }
}
