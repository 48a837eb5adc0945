import AgentKit
import ArgumentParser
import Bus
import Foundation
import JSON
import Messages
import TopicCatalog
import VideoDiffusion

struct PublishModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish-model",
        abstract: "Roll a plan model out to running planners and refiners: publish it on the checkpoints topic.",
        discussion: """
            The file goes out in chunks with a manifest (sha256, architecture hash); stages load it only when it is
            whole and fits the model they serve, and keep serving the old one otherwise. The version is the newest on
            the topic plus one, unless --version is given.
            """)

    @OptionGroup var bus: BusOptions
    @Option(help: ArgumentHelp("The plan model to publish.", valueName: "PATH")) var planModel: String
    @Option(help: "The version number (default: the newest on the topic + 1).") var version: Int?
    @Option(help: "This process's name in messages (default: host/pid).") var instance: String?

    func run() async throws {
        LogSetup.bootstrapped
        guard FileManager.default.fileExists(atPath: planModel) else { throw ValidationError("no plan model at \(planModel)") }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: planModel)))
        let (model, metadata) = try VideoCheckpoint.load(bytes: bytes)
        let manifest = try await using(try await bus.open()) { messageBus in
            var newest = 0
            let replay = try await messageBus.makeReplay(topic: Topic.checkpoints, from: .beginning)
            while true {
                let records = try await replay.poll(maxRecords: 256, timeout: .milliseconds(300))
                if records.isEmpty { break }
                for record in records {
                    if case .manifest(let m)? = try? JSONDecoder().decode(CheckpointMessage.self, from: Data(record.value)), m.model == "video" {
                        newest = max(newest, m.version)
                    }
                }
            }
            await replay.close()
            return try await using(try await messageBus.makeProducer()) { producer in
                try await CheckpointPublisher(producer: producer, instance: instance ?? StageFactory.defaultInstance).publish(
                    model: "video", version: version ?? newest + 1, file: bytes, architectureHash: model.config.architectureHash,
                    config: .object(["resolution": .number(Double(model.config.resolution)), "step": .string(metadata["step"] ?? "?")]))
            }
        }
        print("published video@\(manifest.version): \(manifest.bytes) bytes in \(manifest.chunkCount) chunk(s), sha256 \(manifest.sha256.prefix(16))…")
    }
}
