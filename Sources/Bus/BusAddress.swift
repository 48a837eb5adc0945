/// A parsed bus URL: `embedded://DIR` or `kafka://HOST:PORT[,HOST:PORT…][?librdkafka.key=value&…]`.
///
/// Query items are passed through as backend settings: for Kafka, any librdkafka property
/// (`security.protocol`, `sasl.mechanisms`, `ssl.ca.location`, …); for the embedded bus, its own
/// options (`fsync=always|never`).
public struct BusAddress: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable { case embedded, kafka }

    public var kind: Kind
    /// The directory (embedded) or the comma-separated bootstrap servers (Kafka).
    public var location: String
    public var settings: [String: String]

    public init(kind: Kind, location: String, settings: [String: String] = [:]) {
        self.kind = kind
        self.location = location
        self.settings = settings
    }

    public init(parsing text: String) throws {
        guard let schemeEnd = text.firstRange(of: "://") else {
            throw BusError.invalidAddress(
                "'\(text)' has no scheme; use embedded://DIR (e.g. embedded://./data/bus) or kafka://HOST:PORT")
        }
        let scheme = String(text[..<schemeEnd.lowerBound]).lowercased()
        guard let kind = Kind(rawValue: scheme) else {
            throw BusError.invalidAddress("unknown scheme '\(scheme)://' in '\(text)'; use embedded:// or kafka://")
        }
        var rest = String(text[schemeEnd.upperBound...])
        var settings: [String: String] = [:]
        if let q = rest.firstIndex(of: "?") {
            let query = rest[rest.index(after: q)...]
            rest = String(rest[..<q])
            for item in query.split(separator: "&") where !item.isEmpty {
                guard let eq = item.firstIndex(of: "=") else {
                    throw BusError.invalidAddress("setting '\(item)' in '\(text)' needs the form key=value")
                }
                settings[String(item[..<eq])] = String(item[item.index(after: eq)...]).removingPercentEscapes
            }
        }
        guard !rest.isEmpty else {
            throw BusError.invalidAddress(kind == .embedded
                ? "'\(text)' names no directory; use embedded://DIR, e.g. embedded://./data/bus"
                : "'\(text)' names no broker; use kafka://HOST:PORT[,HOST:PORT]")
        }
        if kind == .kafka {
            for server in rest.split(separator: ",") {
                guard let colon = server.lastIndex(of: ":"), let port = Int(server[server.index(after: colon)...]),
                      colon != server.startIndex
                else {
                    throw BusError.invalidAddress("broker '\(server)' in '\(text)' needs the form HOST:PORT")
                }
                guard (1...65535).contains(port) else {
                    throw BusError.invalidAddress("broker '\(server)' in '\(text)': port \(port) is not between 1 and 65535")
                }
            }
        }
        self.init(kind: kind, location: rest, settings: settings)
    }

    /// The URL without settings (settings may hold credentials).
    public var description: String { "\(kind.rawValue)://\(location)" }
}

extension String {
    fileprivate var removingPercentEscapes: String {
        var bytes: [UInt8] = []
        var iterator = Array(utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let h = iterator.next(), let l = iterator.next(),
               let value = UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16) {
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
