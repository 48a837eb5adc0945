import AgentKit
import Bus
import BusTestKit
import Foundation
import JSON
import Logging
import Messages
import Testing

@Suite("Agent kit")
struct AgentKitTests {
    private func bus() async throws -> MessageBus {
        let fixture = try await BusFixture.make(.embedded)
        _ = try await fixture.bus.createTopics(Topic.all.map { TopicConfig(name: $0, partitions: $0 == Topic.checkpoints ? 1 : 2) })
        return fixture.bus
    }

    private func request(_ n: Int) -> PlanRequest {
        let episode = "robot-1/ep-\(n)"
        return PlanRequest(envelope: Envelope(messageID: MessageID.first(episodeID: episode, purpose: "request-0"), episodeID: episode,
                                              parentID: nil, stage: .executor, instance: "test", timestampMs: 1),
                           robotID: "robot-1", task: "open the drawer", camera: "corner", step: 0, replan: 0, frame: "iVBORw0KGgo",
                           proprioception: [0, 0, 0, 1])
    }

    private func readAll(_ bus: MessageBus, _ topic: String) async throws -> [BusRecord] {
        let replay = try await bus.makeReplay(topic: topic, from: .beginning)
        var out: [BusRecord] = []
        while true {
            let batch = try await replay.poll(maxRecords: 100, timeout: .milliseconds(300))
            if batch.isEmpty { break }
            out += batch
        }
        await replay.close()
        return out
    }

    @Test("the stage loop handles, drops duplicates, dead-letters poison and failures, and commits after sending")
    func stageLoop() async throws {
        let bus = try await bus()
        let producer = try await bus.makeProducer()
        let good = request(1), failing = request(2)
        let encoder = JSONEncoder()
        for value in [Array(try encoder.encode(good)), Array("not json".utf8), Array(try encoder.encode(good)),
                      Array(try encoder.encode(failing))] {
            _ = try await producer.send(OutgoingRecord(topic: Topic.requests, key: Array("robot-1/ep".utf8), value: value))
        }
        let consumer = try await bus.makeConsumer(group: "planner", topics: [Topic.requests])
        var options = StageOptions()
        options.backoff = .milliseconds(1)
        var attempts = 0
        let loop = StageLoop<PlanRequest>(stage: .planner, instance: "test", consumer: consumer, producer: producer, options: options,
                                          logger: Logger(label: "test")) { request in
            if request.envelope.episodeID.hasSuffix("2") {
                attempts += 1
                throw CocoaError(.featureUnsupported)
            }
            return [StageOutput(topic: Topic.plans, key: request.envelope.episodeID, value: Array("plan".utf8))]
        }
        var total = StageProgress()
        for _ in 0..<20 where total.handled + total.duplicates + total.deadLettered < 4 {
            let p = try await loop.pass()
            total.handled += p.handled
            total.duplicates += p.duplicates
            total.deadLettered += p.deadLettered
        }
        #expect(total == StageProgress(handled: 1, duplicates: 1, deadLettered: 2, sent: 0))
        #expect(attempts >= options.attempts)  // its batch, then alone
        await consumer.close()
        let letters = try await readAll(bus, Topic.deadLetters).map { try JSONDecoder().decode(DeadLetter.self, from: Data($0.value)) }
        #expect(letters.count == 2)
        #expect(letters.contains { $0.error.contains("not a valid PlanRequest") && $0.attempts == 1 })
        #expect(letters.contains { $0.attempts == 3 && $0.sourceTopic == Topic.requests })
        #expect(try await readAll(bus, Topic.plans).count == 1)
        // Everything was committed: a new member of the group finds nothing left.
        let again = try await bus.makeConsumer(group: "planner", topics: [Topic.requests])
        #expect(try await again.poll(maxRecords: 10, timeout: .milliseconds(500)).isEmpty)
        await again.close()
    }

    @Test("checkpoints travel in chunks; a corrupt or truncated one is rejected and the newest good one is handed over")
    func checkpoints() async throws {
        let bus = try await bus()
        let producer = try await bus.makeProducer()
        let publisher = CheckpointPublisher(producer: producer, instance: "learner")
        let architecture = String(repeating: "a", count: 64)
        let file = (0..<(CheckpointMessage.chunkBytes * 2 + 1000)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let manifest = try await publisher.publish(model: "video", version: 1, file: file, architectureHash: architecture,
                                                   config: .object(["resolution": .number(32)]))
        #expect(manifest.chunkCount == 3)
        let subscriber = CheckpointSubscriber(model: "video", architectureHash: architecture,
                                              reader: try await bus.makeReplay(topic: Topic.checkpoints, from: .beginning),
                                              logger: Logger(label: "test"))
        let first = try await subscriber.poll(timeout: .milliseconds(500))
        #expect(first?.manifest.version == 1 && first?.file == file)

        // Version 2: a chunk lost (truncated). Version 3: bytes changed after hashing. Version 4: another architecture.
        let encoder = JSONEncoder()
        func envelope(_ purpose: String) -> Envelope {
            Envelope(messageID: MessageID.derive(parent: nil, stage: .learner, purpose: purpose), episodeID: "-", parentID: nil,
                     stage: .learner, instance: "evil", timestampMs: 1)
        }
        let bad: [CheckpointMessage] = [
            .chunk(CheckpointChunk(envelope: envelope("c2"), model: "video", version: 2, index: 0, data: Data([1, 2]).base64EncodedString())),
            .manifest(CheckpointManifest(envelope: envelope("m2"), model: "video", version: 2, architectureHash: architecture,
                                         sha256: String(repeating: "0", count: 64), bytes: 4, chunkCount: 2, config: .null)),
            .chunk(CheckpointChunk(envelope: envelope("c3"), model: "video", version: 3, index: 0, data: Data([9, 9]).base64EncodedString())),
            .manifest(CheckpointManifest(envelope: envelope("m3"), model: "video", version: 3, architectureHash: architecture,
                                         sha256: String(repeating: "0", count: 64), bytes: 2, chunkCount: 1, config: .null)),
        ]
        for message in bad {
            _ = try await producer.send(OutgoingRecord(topic: Topic.checkpoints, key: Array("video".utf8), value: Array(try encoder.encode(message))))
        }
        try await publisher.publish(model: "video", version: 4, file: [1, 2, 3], architectureHash: String(repeating: "b", count: 64),
                                    config: .null)
        #expect(try await subscriber.poll(timeout: .milliseconds(500)) == nil)
        #expect(subscriber.rejected.count == 3)
        #expect(subscriber.newestVersion == 1)
        try await publisher.publish(model: "video", version: 5, file: [7, 7, 7], architectureHash: architecture, config: .null)
        #expect(try await subscriber.poll(timeout: .milliseconds(500))?.manifest.version == 5)
    }

    @Test("a model slot swaps at the next read")
    func modelSlot() {
        let slot = ModelSlot("old", version: "video@1")
        let held = slot.current
        slot.install("new", version: "video@2")
        #expect(held.model == "old" && slot.current == ("new", "video@2"))
    }
}
