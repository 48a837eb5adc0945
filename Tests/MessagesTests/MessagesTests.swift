import Foundation
import JSON
import Messages
import Testing
import TopicCatalog

/// The message types and the topic specs describe the same values: every type encodes to a value
/// its topic's schema accepts, and every example in a spec decodes into its type.
@Suite("Messages")
struct MessagesTests {
    nonisolated(unsafe) static let catalog = try! TopicCatalog(directory: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("topics").path)

    static let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

    static func envelope(_ stage: Stage, parent: String? = nil) -> Envelope {
        Envelope(messageID: MessageID.derive(parent: parent, stage: stage, purpose: "test"), episodeID: "robot-1/ep-000001",
                 parentID: parent, stage: stage, instance: "host/1", modelVersion: "video@2", timestampMs: 1_795_600_000_000)
    }

    /// One value of every type, with the topic it travels on.
    static let samples: [(topic: String, value: any Encodable & Sendable)] = {
        let request = PlanRequest(envelope: envelope(.executor), robotID: "robot-1", task: "open the drawer", camera: "corner",
                                  step: 0, replan: 0, frame: png, proprioception: [0.1, -0.2, 0.3, 1])
        let id = request.envelope.messageID
        return [
            (Topic.requests, request),
            (Topic.plans, PlanMessage(envelope: envelope(.planner, parent: id), requestID: id, robotID: "robot-1", task: "open the drawer",
                                      iteration: 0, frames: [png, png], feedback: nil, samplerSteps: 10, guidance: 1)),
            (Topic.critiques, Critique(envelope: envelope(.critic, parent: id), planID: id, requestID: id, robotID: "robot-1", task: "open the drawer",
                                       iteration: 1, accept: false, score: 0.25, frameScores: [1, 0.5], feedbackCode: "no_contact",
                                       feedback: "the gripper never reaches the handle", critic: "learned@1", frames: [png, png])),
            (Topic.approved, ApprovedPlan(envelope: envelope(.refiner, parent: id), planID: id, requestID: id, robotID: "robot-1",
                                          task: "open the drawer", iteration: 4, accepted: false, score: 0.4, frames: [png, png])),
            (Topic.trajectories, Trajectory(envelope: envelope(.executor, parent: id), robotID: "robot-1", environment: "builtin",
                                            task: "open the drawer", camera: "corner", seed: 5000, success: true, steps: 1,
                                            frames: [png, png], actions: [[0, 1, 0, -1]], proprioception: [[0, 0, 0, 1], [0, 0.02, 0, 1]],
                                            planIDs: [id])),
            (Topic.checkpoints, CheckpointMessage.manifest(CheckpointManifest(
                envelope: envelope(.learner), model: "video", version: 2, architectureHash: String(repeating: "a", count: 64),
                sha256: String(repeating: "b", count: 64), bytes: 10, chunkCount: 1,
                config: .object(["resolution": .number(32)]), metrics: ["loss": 0.1]))),
            (Topic.checkpoints, CheckpointMessage.chunk(CheckpointChunk(envelope: envelope(.learner), model: "video", version: 2,
                                                                        index: 0, data: "AAECAw=="))),
            (Topic.deadLetters, DeadLetter(sourceTopic: Topic.plans, sourcePartition: 1, sourceOffset: 7, key: nil,
                                           valueBase64: "bm90IGpzb24=", error: "not valid JSON", stage: "critic", instance: "host/1",
                                           attempts: 3, failedAtMs: 1_795_600_000_000)),
        ]
    }()

    @Test("every message type encodes to a value its topic's schema accepts")
    func encodedValuesValidate() throws {
        let encoder = JSONEncoder()
        for (topic, value) in Self.samples {
            let spec = try #require(Self.catalog.spec(topic), "no spec for \(topic)")
            let bytes = Array(try encoder.encode(value))
            #expect(spec.violations(of: bytes) == [], "\(type(of: value)) on \(topic): \(String(decoding: bytes, as: UTF8.self))")
        }
        #expect(Set(Self.samples.map(\.topic)) == Set(Topic.all))
    }

    @Test("every example in the specs decodes into its type and encodes back to the same value")
    func examplesDecode() throws {
        let decoders: [String: (Data) throws -> any Encodable] = [
            Topic.requests: { try JSONDecoder().decode(PlanRequest.self, from: $0) },
            Topic.plans: { try JSONDecoder().decode(PlanMessage.self, from: $0) },
            Topic.critiques: { try JSONDecoder().decode(Critique.self, from: $0) },
            Topic.approved: { try JSONDecoder().decode(ApprovedPlan.self, from: $0) },
            Topic.trajectories: { try JSONDecoder().decode(Trajectory.self, from: $0) },
            Topic.checkpoints: { try JSONDecoder().decode(CheckpointMessage.self, from: $0) },
            Topic.deadLetters: { try JSONDecoder().decode(DeadLetter.self, from: $0) },
        ]
        var decoded = 0
        for topic in Topic.all {
            let spec = try #require(Self.catalog.spec(topic))
            for example in spec.examples {
                let data = try JSONEncoder().encode(example)
                let value = try decoders[topic]!(data)
                // An optional member may be written as null or left out: the same value.
                let again = Self.withoutNulls(try JSONParser.parse(Array(try JSONEncoder().encode(value))))
                let original = Self.withoutNulls(try JSONParser.parse(Array(data)))
                #expect(again.isIdentical(to: original), "\(topic) example changed in a round trip: \(again) vs \(original)")
                decoded += 1
            }
        }
        #expect(decoded >= Topic.all.count)
    }

    static func withoutNulls(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let members): return .object(members.filter { $0.value != .null }.mapValues(withoutNulls))
        case .array(let items): return .array(items.map(withoutNulls))
        default: return value
        }
    }

    @Test("message ids are deterministic: the same input handled the same way gives the same id")
    func deterministicIDs() {
        let a = MessageID.derive(parent: "00ff", stage: .planner, purpose: "plan/iteration-0")
        #expect(a == MessageID.derive(parent: "00ff", stage: .planner, purpose: "plan/iteration-0"))
        #expect(a != MessageID.derive(parent: "00ff", stage: .refiner, purpose: "plan/iteration-0"))
        #expect(a != MessageID.derive(parent: "00fe", stage: .planner, purpose: "plan/iteration-0"))
        #expect(a.count == 32 && a.allSatisfy(\.isHexDigit))
    }

    @Test("a full checkpoint chunk, with a long instance name, fits the checkpoints topic's value limit")
    func fullChunkFits() throws {
        let limit = try #require(Self.catalog.valueLimits[Topic.checkpoints])
        var envelope = Self.envelope(.learner)
        envelope.instance = String(repeating: "learner-host.example.org/", count: 10)
        let data = Data((0..<CheckpointMessage.chunkBytes).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }).base64EncodedString()
        let chunk = CheckpointMessage.chunk(CheckpointChunk(envelope: envelope, model: "video", version: 123_456, index: 999, data: data))
        let bytes = try JSONEncoder().encode(chunk).count
        #expect(bytes <= limit, "a full chunk is \(bytes) bytes; the topic accepts \(limit)")
    }

    @Test("an envelope of another schema version is refused")
    func schemaVersion() throws {
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(Self.envelope(.planner))) as! [String: Any]
        json["schema_version"] = 2
        #expect(throws: DecodingError.self) { _ = try JSONDecoder().decode(Envelope.self, from: JSONSerialization.data(withJSONObject: json)) }
    }
}
