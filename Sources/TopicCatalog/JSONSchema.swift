import JSON
import Foundation

/// A validator for the part of JSON Schema (2020-12) that topic specs use: `type`, `properties`,
/// `required`, `additionalProperties`, `items`, `enum`, `const`, numeric and length bounds,
/// `pattern`, `minItems`/`maxItems`, `allOf`/`anyOf`/`oneOf`, and `$ref` to `#/$defs/…` in the same
/// document or `NAME#/$defs/…` in a shared document of the catalog. Unknown keywords
/// (`description`, `title`, `examples`, `format`, …) are annotations and are ignored.
public struct JSONSchema: Sendable {
    public let root: JSONValue
    /// Shared documents `$ref` may name (`common#/$defs/envelope`).
    public let documents: [String: JSONValue]

    public init(_ root: JSONValue, documents: [String: JSONValue] = [:]) {
        self.root = root
        self.documents = documents
    }

    /// Every way `value` breaks the schema, each as "path: problem"; empty when it conforms.
    public func violations(of value: JSONValue) -> [String] {
        var out: [String] = []
        check(value, against: root, document: root, path: "$", into: &out, depth: 0)
        return out
    }

    /// Problems with the schema itself (unresolvable `$ref`s, malformed keywords).
    public func selfCheck() -> [String] {
        var out: [String] = []
        walk(root, document: root, path: "#", into: &out)
        return out
    }

    private func walk(_ schema: JSONValue, document: JSONValue, path: String, into out: inout [String]) {
        guard case .object(let keywords) = schema else {
            if case .bool = schema { return }
            out.append("\(path): a schema must be an object or a boolean")
            return
        }
        if let ref = keywords["$ref"] {
            if let text = ref.stringValue {
                if resolve(text, in: document) == nil { out.append("\(path): $ref '\(text)' does not resolve") }
            } else {
                out.append("\(path): $ref must be a string")
            }
        }
        if let pattern = keywords["pattern"]?.stringValue, (try? Regex(pattern)) == nil {
            out.append("\(path): pattern '\(pattern)' is not a valid regular expression")
        }
        for (key, child) in keywords["properties"]?.objectValue ?? [:] {
            walk(child, document: document, path: "\(path)/properties/\(key)", into: &out)
        }
        for (key, child) in keywords["$defs"]?.objectValue ?? [:] {
            walk(child, document: document, path: "\(path)/$defs/\(key)", into: &out)
        }
        for key in ["items", "additionalProperties"] {
            if let child = keywords[key] { walk(child, document: document, path: "\(path)/\(key)", into: &out) }
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            for (i, child) in (keywords[key]?.arrayValue ?? []).enumerated() {
                walk(child, document: document, path: "\(path)/\(key)/\(i)", into: &out)
            }
        }
    }

    private func resolve(_ ref: String, in document: JSONValue) -> (schema: JSONValue, document: JSONValue)? {
        let parts = ref.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
        let name = String(parts[0])
        guard let target = name.isEmpty ? document : documents[name] else { return nil }
        let pointer = parts.count > 1 ? Self.percentDecoded(String(parts[1])) : ""
        guard let pointer else { return nil }
        if pointer.isEmpty { return (target, target) }
        guard pointer.hasPrefix("/") else { return nil }
        var node = target
        // RFC 6901: tokens may be empty; "~1" is "/" and "~0" is "~" (in that order).
        for token in pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let key = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            switch node {
            case .object(let members):
                guard let next = members.first(where: { $0.key.unicodeScalars.elementsEqual(key.unicodeScalars) })?.value
                else { return nil }
                node = next
            case .array(let items):
                guard let index = Int(key), index >= 0, index < items.count, key == String(index) else { return nil }
                node = items[index]
            default: return nil
            }
        }
        return (node, target)
    }

    /// A URI fragment with its %XX escapes decoded (nil when an escape is malformed).
    static func percentDecoded(_ text: String) -> String? {
        guard text.contains("%") else { return text }
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next(), let low = iterator.next(),
                  let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            else { return nil }
            bytes.append(value)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private func check(_ value: JSONValue, against schema: JSONValue, document: JSONValue, path: String,
                       into out: inout [String], depth: Int) {
        guard depth < 64 else {
            out.append("\(path): schema nesting too deep (a $ref cycle?)")
            return
        }
        switch schema {
        case .bool(true): return
        case .bool(false):
            out.append("\(path): not allowed here")
            return
        case .object: break
        default: return
        }
        let k = schema.objectValue!
        if let ref = k["$ref"]?.stringValue {
            guard let (target, targetDocument) = resolve(ref, in: document) else {
                out.append("\(path): schema $ref '\(ref)' does not resolve")
                return
            }
            check(value, against: target, document: targetDocument, path: path, into: &out, depth: depth + 1)
        }
        if let type = k["type"] {
            let allowed = type.arrayValue?.compactMap(\.stringValue) ?? [type.stringValue].compactMap { $0 }
            let actual = value.typeName
            let matches = allowed.contains(actual) || (actual == "integer" && allowed.contains("number"))
            if !matches {
                out.append("\(path): expected \(allowed.joined(separator: " or ")), got \(actual)")
                return
            }
        }
        if let options = k["enum"]?.arrayValue, !options.contains(where: { $0.isIdentical(to: value) }) {
            out.append("\(path): \(value) is not one of \(options.map(\.description).joined(separator: ", "))")
        }
        if let constant = k["const"], !constant.isIdentical(to: value) {
            out.append("\(path): expected \(constant), got \(value)")
        }
        switch value {
        case .number(let n):
            if let min = k["minimum"]?.numberValue, n < min { out.append("\(path): \(n) is below the minimum \(min)") }
            if let max = k["maximum"]?.numberValue, n > max { out.append("\(path): \(n) is above the maximum \(max)") }
            if let min = k["exclusiveMinimum"]?.numberValue, n <= min { out.append("\(path): \(n) must be above \(min)") }
            if let max = k["exclusiveMaximum"]?.numberValue, n >= max { out.append("\(path): \(n) must be below \(max)") }
        case .string(let s):
            if let min = k["minLength"]?.intValue, s.count < min { out.append("\(path): shorter than \(min) characters") }
            if let max = k["maxLength"]?.intValue, s.count > max { out.append("\(path): longer than \(max) characters") }
            if let pattern = k["pattern"]?.stringValue, let regex = try? Regex(pattern), (try? regex.firstMatch(in: s)) == nil {
                out.append("\(path): does not match the pattern \(pattern)")
            }
        case .array(let items):
            if let min = k["minItems"]?.intValue, items.count < min { out.append("\(path): fewer than \(min) items") }
            if let max = k["maxItems"]?.intValue, items.count > max { out.append("\(path): more than \(max) items") }
            if let itemSchema = k["items"] {
                for (i, item) in items.enumerated() {
                    check(item, against: itemSchema, document: document, path: "\(path)[\(i)]", into: &out, depth: depth + 1)
                }
            }
        case .object(let members):
            for name in k["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where members[name] == nil {
                out.append("\(path): missing required member '\(name)'")
            }
            let properties = k["properties"]?.objectValue ?? [:]
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                if let propertySchema = properties[name] {
                    check(member, against: propertySchema, document: document, path: "\(path).\(name)", into: &out,
                          depth: depth + 1)
                } else if let extra = k["additionalProperties"] {
                    if case .bool(false) = extra {
                        out.append("\(path): unexpected member '\(name)'")
                    } else {
                        check(member, against: extra, document: document, path: "\(path).\(name)", into: &out,
                              depth: depth + 1)
                    }
                }
            }
        default: break
        }
        for sub in k["allOf"]?.arrayValue ?? [] {
            check(value, against: sub, document: document, path: path, into: &out, depth: depth + 1)
        }
        if let options = k["anyOf"]?.arrayValue {
            let passing = options.filter { option in
                var scratch: [String] = []
                check(value, against: option, document: document, path: path, into: &scratch, depth: depth + 1)
                return scratch.isEmpty
            }
            if passing.isEmpty { out.append("\(path): matches none of the anyOf alternatives") }
        }
        if let options = k["oneOf"]?.arrayValue {
            var failures: [[String]] = []
            for option in options {
                var scratch: [String] = []
                check(value, against: option, document: document, path: path, into: &scratch, depth: depth + 1)
                failures.append(scratch)
            }
            let passing = failures.filter(\.isEmpty).count
            if passing == 0 {
                let closest = failures.min(by: { $0.count < $1.count }) ?? []
                out.append("\(path): matches none of the oneOf alternatives (closest: \(closest.joined(separator: "; ")))")
            } else if passing > 1 {
                out.append("\(path): matches \(passing) oneOf alternatives, exactly one is allowed")
            }
        }
    }
}
