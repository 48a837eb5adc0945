import Bus

/// The operator's line format, `partition<TAB>offset<TAB>key<TAB>value` on output and
/// `key<TAB>value` on input. Tabs, newlines, carriage returns and backslashes inside keys and
/// values are written as \t, \n, \r and \\ so every record is exactly one line; an empty key
/// means "no key".
enum RecordLine {
    static func escape(_ bytes: [UInt8]) -> String {
        var out = ""
        out.reserveCapacity(bytes.count)
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func unescape(_ text: Substring) throws -> [UInt8] {
        var out: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                continue
            }
            switch iterator.next() {
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "t"): out.append(UInt8(ascii: "\t"))
            case UInt8(ascii: "n"): out.append(UInt8(ascii: "\n"))
            case UInt8(ascii: "r"): out.append(UInt8(ascii: "\r"))
            case let other:
                let shown = other.map { String(UnicodeScalar($0)) } ?? "end of line"
                throw LineError("unknown escape '\\\(shown)'; use \\t, \\n, \\r or \\\\")
            }
        }
        return out
    }

    static func format(_ record: BusRecord) -> String {
        "\(record.partition)\t\(record.offset)\t\(escape(record.key ?? []))\t\(escape(record.value))"
    }

    /// Parses `key<TAB>value` into a key (nil when empty) and a value.
    static func parseInput(_ line: Substring) throws -> (key: [UInt8]?, value: [UInt8]) {
        guard let tab = line.firstIndex(of: "\t") else {
            throw LineError("expected key<TAB>value (use an empty key for none: <TAB>value)")
        }
        let key = try unescape(line[..<tab])
        let value = try unescape(line[line.index(after: tab)...])
        return (key.isEmpty ? nil : key, value)
    }

    struct LineError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
