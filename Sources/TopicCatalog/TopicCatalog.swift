import JSON
import Bus
import Foundation
import Yams

/// The topic specs of a directory (`topics/` in the repository): one `<topic>.yaml` per topic and
/// shared schema documents `<name>.schema.yaml`, which specs reference as `<name>#/$defs/…`.
public struct TopicCatalog: Sendable {
    public let directory: String
    public let specs: [TopicSpec]
    public let sharedDocuments: [String: JSONValue]

    public init(directory: String) throws {
        self.directory = directory
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".yaml") }.sorted()
        } catch {
            throw CatalogError("cannot read the topic specs in \(directory): \(error.localizedDescription)")
        }
        var shared: [String: JSONValue] = [:]
        var documents: [(file: String, value: JSONValue)] = []
        for name in names {
            let path = directory + "/" + name
            let value = try Self.loadYAML(path)
            if name.hasSuffix(".schema.yaml") {
                shared[String(name.dropLast(".schema.yaml".count))] = value
            } else {
                documents.append((path, value))
            }
        }
        guard !documents.isEmpty else { throw CatalogError("\(directory) holds no topic specs (<topic>.yaml files)") }
        sharedDocuments = shared
        specs = try documents.map { try Self.spec(from: $0.value, file: $0.file, shared: shared) }
        var seen: Set<String> = []
        for spec in specs where !seen.insert(spec.name).inserted {
            throw CatalogError("two specs define the topic \(spec.name)")
        }
    }

    public func spec(_ topic: String) -> TopicSpec? { specs.first { $0.name == topic } }

    /// Spec problems: schemas that do not resolve, examples that do not validate.
    public func problems() -> [String] {
        var out: [String] = []
        for spec in specs {
            let file = (spec.file as NSString).lastPathComponent
            out += spec.schema.selfCheck().map { "\(file): value schema \($0)" }
            if spec.examples.isEmpty { out.append("\(file): no examples (add at least one valid value)") }
            for (i, example) in spec.examples.enumerated() {
                out += spec.schema.violations(of: example).map { "\(file): example \(i): \($0)" }
            }
        }
        for (name, document) in sharedDocuments.sorted(by: { $0.key < $1.key }) {
            out += JSONSchema(document, documents: sharedDocuments).selfCheck().map { "\(name).schema.yaml: \($0)" }
        }
        return out
    }

    /// Per-topic value limits for the bus's producer.
    public var valueLimits: [String: Int] {
        Dictionary(uniqueKeysWithValues: specs.map { ($0.name, $0.maxMessageBytes) })
    }

    static func loadYAML(_ path: String) throws -> JSONValue {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CatalogError("cannot read \(path): \(error.localizedDescription)")
        }
        do {
            return try YAMLDecoder().decode(JSONValue.self, from: text)
        } catch {
            throw CatalogError("\(path) is not valid YAML: \(error)")
        }
    }

    static func spec(from document: JSONValue, file: String, shared: [String: JSONValue]) throws -> TopicSpec {
        func field<T>(_ key: String, _ read: (JSONValue) -> T?, _ expected: String) throws -> T {
            guard let raw = document[key] else { throw CatalogError("\(file): missing '\(key)' (\(expected))") }
            guard let value = read(raw) else { throw CatalogError("\(file): '\(key)' must be \(expected), not \(raw)") }
            return value
        }
        let name: String = try field("name", \.stringValue, "the topic name")
        let expectedFile = name + ".yaml"
        guard (file as NSString).lastPathComponent == expectedFile else {
            throw CatalogError("\(file): defines topic \(name), so the file must be called \(expectedFile)")
        }
        let partitions: Int = try field("partitions", \.intValue, "a positive integer")
        guard partitions >= 1 else { throw CatalogError("\(file): partitions must be at least 1") }
        let cleanup: String = try field("cleanup_policy", \.stringValue, "delete or compact")
        guard ["delete", "compact"].contains(cleanup) else {
            throw CatalogError("\(file): cleanup_policy must be delete or compact, not \(cleanup)")
        }
        let maxBytes: Int = try field("max_message_bytes", \.intValue, "a number of bytes")
        guard maxBytes >= 1024 else { throw CatalogError("\(file): max_message_bytes must be at least 1024") }
        let value: JSONValue = try field("value", { $0.objectValue == nil ? nil : $0 }, "a JSON Schema object")
        return TopicSpec(
            name: name,
            summary: document["description"]?.stringValue ?? "",
            partitions: partitions,
            replicationFactor: document["replication_factor"]?.intValue ?? 1,
            cleanupPolicy: cleanup,
            retentionMs: Int64(try field("retention_ms", \.intValue, "milliseconds, -1 for ever")),
            retentionBytes: Int64(try field("retention_bytes", \.intValue, "bytes per partition, -1 for no limit")),
            maxMessageBytes: maxBytes,
            key: try field("key", \.stringValue, "a description of the record key"),
            schema: JSONSchema(value, documents: shared),
            examples: document["examples"]?.arrayValue ?? [],
            file: file)
    }
}

/// A problem with the topic specs, worded for the person editing them.
public struct CatalogError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
