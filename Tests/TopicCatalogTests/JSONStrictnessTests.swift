import Testing
import JSON
import TopicCatalog

/// The strict JSON reader and the schema keywords whose string comparison must be by code point.
@Suite("Strict JSON")
struct JSONStrictnessTests {
    private func parse(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    @Test("well-formed documents parse to the values they spell")
    func wellFormed() throws {
        let value = try parse(#" {"a": [1, -2.5e3, true, false, null], "b": "x\u00e9\ud83d\ude00\n"} "#)
        #expect(value["a"] == .array([.number(1), .number(-2500), .bool(true), .bool(false), .null]))
        #expect(value["b"]?.stringValue == "xé😀\n")
    }

    @Test("what a lenient decoder accepts silently is an error here", arguments: [
        #"{"a": 1, "a": 2}"#,  // duplicate member
        "{\"\u{e9}\": 1, \"e\u{301}\": 2}",  // names equal only up to normalisation
        #"{"a": 1,}"#, "[1,]", "01", "1.", ".5", "+1", "1e", "NaN", "1e999",
        #""\ud800""#, #""\udc00""#, "\"tab\there\"", #""\x41""#, "[1] 2", "",
        String(repeating: "[", count: 300) + String(repeating: "]", count: 300),
    ])
    func rejected(text: String) {
        #expect(throws: JSONParser.Failure.self) { try parse(text) }
    }

    @Test("invalid UTF-8 is rejected, not replaced")
    func invalidUTF8() {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xE2, 0x82]] {
            #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(bytes) }
        }
    }

    @Test("const and enum compare strings by code points")
    func codePointEquality() throws {
        let schema = JSONSchema(try parse("{\"properties\": {\"c\": {\"const\": \"\u{e9}\"}, \"e\": {\"enum\": [\"\u{e9}\"]}}}"))
        #expect(schema.violations(of: try parse("{\"c\": \"\u{e9}\", \"e\": \"\u{e9}\"}")) == [])
        #expect(schema.violations(of: try parse("{\"c\": \"e\u{301}\", \"e\": \"e\u{301}\"}")).count == 2)
    }

    @Test("$ref pointers unescape ~0, ~1 and percent escapes, and allow empty tokens and array indices")
    func refPointers() throws {
        let schema = JSONSchema(try parse(#"""
            {"$defs": {"a/b": {"type": "integer"}, "c~d": {"type": "string"}, "": {"type": "boolean"},
                       "p%q": {"type": "null"}, "wrap": {"allOf": [{"type": "array"}]}},
             "properties": {"slash": {"$ref": "#/$defs/a~1b"}, "tilde": {"$ref": "#/$defs/c~0d"},
                            "empty": {"$ref": "#/$defs/"}, "percent": {"$ref": "#/$defs/p%25q"},
                            "index": {"$ref": "#/$defs/wrap/allOf/0"}}}
            """#))
        #expect(schema.selfCheck() == [])
        #expect(schema.violations(of: try parse(#"{"slash": 1, "tilde": "x", "empty": true, "percent": null, "index": []}"#)) == [])
        #expect(schema.violations(of: try parse(#"{"slash": "1", "tilde": 2, "empty": 0, "percent": 1, "index": {}}"#)).count == 5)
    }
}
