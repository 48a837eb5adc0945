import Bus
import Foundation
import Testing
import JSON
import TopicCatalog

@Suite("Topic catalog")
struct TopicCatalogTests {
    static let topicsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("topics").path

    private func catalog() throws -> TopicCatalog { try TopicCatalog(directory: Self.topicsDirectory) }

    private func json(_ text: String) throws -> JSONValue { try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) }

    @Test("the repository's specs load, resolve, and their examples validate")
    func repositorySpecs() throws {
        let catalog = try catalog()
        #expect(catalog.problems() == [])
        let names = Set(catalog.specs.map(\.name))
        for entity in ["requests", "plans", "critiques", "approved", "trajectories", "checkpoints", "deadletter"] {
            #expect(names.contains("videoagent.\(entity).v1"))
        }
        let checkpoints = try #require(catalog.spec("videoagent.checkpoints.v1"))
        #expect(checkpoints.partitions == 1)
        #expect(checkpoints.topicConfig.settings["retention.ms"] == "-1")
        // Above the chunk size the bus splits values, so the broker's record limit stays at 1 MiB.
        let trajectories = try #require(catalog.spec("videoagent.trajectories.v1"))
        #expect(trajectories.topicConfig.settings["max.message.bytes"] == String(TopicSpec.brokerRecordLimit))
        #expect(catalog.valueLimits["videoagent.trajectories.v1"] == 64 << 20)
    }

    @Test("a value that breaks the schema is reported with the path of each problem")
    func violations() throws {
        let spec = try #require(try catalog().spec("videoagent.critiques.v1"))
        var example = try #require(spec.examples.first?.objectValue)
        #expect(spec.violations(of: Array(try JSONEncoder().encode(JSONValue.object(example)))) == [])
        example["score"] = .number(1.5)
        example["accept"] = .string("yes")
        example["bogus"] = .null
        var envelope = try #require(example["envelope"]?.objectValue)
        envelope["stage"] = .string("janitor")
        envelope["message_id"] = nil
        example["envelope"] = .object(envelope)
        let problems = spec.violations(of: Array(try JSONEncoder().encode(JSONValue.object(example))))
        #expect(problems.contains("$.score: 1.5 is above the maximum 1.0"))
        #expect(problems.contains("$.accept: expected boolean, got string"))
        #expect(problems.contains("$: unexpected member 'bogus'"))
        #expect(problems.contains("$.envelope: missing required member 'message_id'"))
        #expect(problems.contains { $0.hasPrefix("$.envelope.stage: \"janitor\" is not one of") })
        #expect(spec.violations(of: Array("{oops".utf8)).first?.hasPrefix("not valid JSON") == true)
    }

    @Test("oneOf picks exactly one alternative (checkpoint manifests and chunks)")
    func oneOf() throws {
        let spec = try #require(try catalog().spec("videoagent.checkpoints.v1"))
        for example in spec.examples { #expect(spec.schema.violations(of: example) == []) }
        var chunk = try #require(spec.examples.first?.objectValue)
        chunk["kind"] = .string("manifest")
        let problems = spec.schema.violations(of: .object(chunk))
        #expect(problems.count == 1)
        #expect(problems.first?.contains("none of the oneOf alternatives") == true)
    }

    @Test("schema keywords: types, bounds, patterns, refs, anyOf")
    func keywords() throws {
        let schema = JSONSchema(try json("""
            {"type": "object", "required": ["n"], "properties": {
              "n": {"type": "integer", "minimum": 0, "exclusiveMaximum": 10},
              "s": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 4},
              "a": {"type": "array", "items": {"$ref": "#/$defs/small"}, "minItems": 1},
              "u": {"anyOf": [{"type": "null"}, {"type": "boolean"}]}
            }, "$defs": {"small": {"type": "number", "maximum": 1}}}
            """))
        #expect(schema.violations(of: try json(#"{"n": 3, "s": "abc", "a": [0.5], "u": null}"#)) == [])
        #expect(schema.violations(of: try json(#"{"n": 3.5}"#)) == ["$.n: expected integer, got number"])
        #expect(schema.violations(of: try json(#"{"n": 10}"#)) == ["$.n: 10.0 must be below 10.0"])
        #expect(schema.violations(of: try json(#"{"n": 1, "s": "ABCDE"}"#)).count == 2)
        #expect(schema.violations(of: try json(#"{"n": 1, "a": [2]}"#)) == ["$.a[0]: 2.0 is above the maximum 1.0"])
        #expect(schema.violations(of: try json(#"{"n": 1, "a": []}"#)) == ["$.a: fewer than 1 items"])
        #expect(schema.violations(of: try json(#"{"n": 1, "u": 3}"#)) == ["$.u: matches none of the anyOf alternatives"])
        #expect(JSONSchema(try json(##"{"$ref": "#/$defs/missing"}"##)).selfCheck() == ["#: $ref '#/$defs/missing' does not resolve"])
    }

    @Test("a broken spec file is refused with the file and the field named")
    func brokenSpec() throws {
        let directory = NSTemporaryDirectory() + "videoagent-specs-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "name: a.b\npartitions: two\n".write(toFile: directory + "/a.b.yaml", atomically: true, encoding: .utf8)
        let error = #expect(throws: CatalogError.self) { try TopicCatalog(directory: directory) }
        #expect(error?.description.contains("a.b.yaml: 'partitions' must be a positive integer") == true)
        try "name: other\n".write(toFile: directory + "/a.b.yaml", atomically: true, encoding: .utf8)
        let misnamed = #expect(throws: CatalogError.self) { try TopicCatalog(directory: directory) }
        #expect(misnamed?.description.contains("must be called other.yaml") == true)
    }
}
