/// Errors a bus reports. Messages are written for the operator who reads them: what went wrong,
/// in the broker's words where there is a broker, and what to do about it.
public enum BusError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bus URL could not be understood.
    case invalidAddress(String)
    /// No broker answered, or the data directory cannot be opened.
    case unreachable(String)
    case unknownTopic(String)
    case topicAlreadyExists(String)
    case unknownPartition(TopicPartition)
    /// A value larger than the configured limit.
    case valueTooLarge(topic: String, bytes: Int, limit: Int)
    /// Stored data failed its checksum somewhere other than the tail.
    case corrupt(String)
    case invalidArgument(String)
    /// A broker or client error, carrying the broker's own words.
    case broker(code: Int, message: String)
    case timedOut(String)
    case closed

    public var description: String {
        switch self {
        case .invalidAddress(let detail): return "invalid bus address: \(detail)"
        case .unreachable(let detail): return "bus unreachable: \(detail)"
        case .unknownTopic(let topic):
            return "unknown topic '\(topic)': create it first (videoagent topics create --bus URL)"
        case .topicAlreadyExists(let topic): return "topic '\(topic)' already exists"
        case .unknownPartition(let tp): return "unknown partition \(tp)"
        case .valueTooLarge(let topic, let bytes, let limit):
            return "value of \(bytes) bytes for topic '\(topic)' exceeds the limit of \(limit) bytes"
        case .corrupt(let detail): return "corrupt data: \(detail)"
        case .invalidArgument(let detail): return "invalid argument: \(detail)"
        case .broker(let code, let message): return "broker error \(code): \(message)"
        case .timedOut(let detail): return "timed out: \(detail)"
        case .closed: return "the bus client is closed"
        }
    }
}
