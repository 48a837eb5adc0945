import Bus

/// The operator's line format, `partition<TAB>offset<TAB>key<TAB>value` on output and
/// `key<TAB>value` on input. Tabs, newlines, carriage returns and backslashes inside keys and
/// values are written as \t, \n, \r and \\ so every record is exactly one line, and bytes that
/// are not UTF-8 as \xHH so no byte is replaced; an empty key means "no key".
enum RecordLine {
    static func escape(_ bytes: [UInt8]) -> String {
        var out = ""
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            guard let (scalar, length) = decodeScalar(bytes, at: i) else {
                // Not UTF-8: the byte itself, so the line can be produced back unchanged.
                out += "\\x" + (bytes[i] < 16 ? "0" : "") + String(bytes[i], radix: 16)
                i += 1
                continue
            }
            switch scalar {
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.unicodeScalars.append(scalar)
            }
            i += length
        }
        return out
    }

    /// The UTF-8 scalar at `i` (shortest form, no surrogates) and its length; nil when invalid.
    private static func decodeScalar(_ bytes: [UInt8], at i: Int) -> (Unicode.Scalar, Int)? {
        let lead = bytes[i]
        if lead < 0x80 { return (Unicode.Scalar(lead), 1) }
        let (count, minimum): (Int, UInt32)
        switch lead {
        case 0xC2...0xDF: (count, minimum) = (2, 0x80)
        case 0xE0...0xEF: (count, minimum) = (3, 0x800)
        case 0xF0...0xF4: (count, minimum) = (4, 0x10000)
        default: return nil
        }
        guard i + count <= bytes.count else { return nil }
        var value = UInt32(lead) & (0xFF >> (count + 1))
        for k in 1..<count {
            guard bytes[i + k] & 0xC0 == 0x80 else { return nil }
            value = value << 6 | UInt32(bytes[i + k] & 0x3F)
        }
        guard value >= minimum, let scalar = Unicode.Scalar(value) else { return nil }
        return (scalar, count)
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
            case UInt8(ascii: "x"):
                guard let high = iterator.next(), let low = iterator.next(),
                      let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                else { throw LineError("\\x needs two hex digits, e.g. \\xff") }
                out.append(value)
            case let other:
                let shown = other.map { String(UnicodeScalar($0)) } ?? "end of line"
                throw LineError("unknown escape '\\\(shown)'; use \\t, \\n, \\r, \\\\ or \\xHH")
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
