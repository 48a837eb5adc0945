import Bus
import BusEmbedded
import BusTestKit
import Foundation
import Messages
import Testing

/// Micro models made by the project's own commands, shared by the stage tests of this process.
enum MicroModels {
    struct Paths: Sendable {
        let planModel: String
        let follower: String
    }

    static let paths: Paths = {
        let root = temporaryDirectory("micro-models")
        func run(_ arguments: [String]) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CLIProcess.binary)
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            try! process.run()
            process.waitUntilExit()
            precondition(process.terminationStatus == 0, "\(arguments) failed")
        }
        run(["collect", "--tasks", "button-press,drawer-open", "--cameras", "corner", "--episodes", "3", "--resolution", "16",
             "--out", root + "/data"])
        run(["train", "--data", root + "/data", "--out", root + "/plan", "--preset", "micro", "--steps", "6", "--batch", "4",
             "--refine-start", "1000", "--log-every", "6", "--checkpoint-every", "6"])
        run(["train-follower", "--data", root + "/data", "--out", root + "/follower", "--preset", "micro", "--steps", "6",
             "--batch", "8", "--log-every", "6", "--checkpoint-every", "6"])
        return Paths(planModel: root + "/plan/model.safetensors", follower: root + "/follower/model.safetensors")
    }()
}

/// The stages as separate processes on one bus, killed with SIGKILL in turn and restarted: no
/// episode is lost, none is executed twice, and poison messages go to the dead-letter topic.
@Suite("Stages under kill -9", .serialized, .timeLimit(.minutes(5)))
struct StageDrillTests {
    static let stages = ["executor", "planner", "critic", "refiner", "learner"]

    static func arguments(_ stage: String, bus: String, models: MicroModels.Paths) -> [String] {
        var arguments = ["serve", stage, "--bus", bus, "--instance", "drill-\(stage)", "--plan-model", models.planModel,
                         "--follower", models.follower, "--sampling-steps", "2", "--iterations", "1", "--learn-every", "1",
                         "--learn-steps", "2", "--max-steps", "100", "--max-replans", "1", "--stall-steps", "5"]
        if stage == "executor" {
            arguments += ["--robots", "robot-1,robot-2", "--tasks", "button-press,drawer-open", "--cameras", "corner",
                          "--episodes", "10", "--seed-start", "7000"]
        }
        return arguments
    }

    /// Values on a topic of the embedded bus at `directory`.
    static func values(_ directory: String, _ topic: String) async throws -> [[UInt8]] {
        let bus = MessageBus(transport: try EmbeddedTransport(directory: directory))
        let replay = try await bus.makeReplay(topic: topic, from: .beginning)
        var out: [[UInt8]] = []
        while true {
            let batch = try await replay.poll(maxRecords: 500, timeout: .milliseconds(300))
            if batch.isEmpty { break }
            out += batch.map(\.value)
        }
        await replay.close()
        return out
    }

    @Test("each stage killed with SIGKILL mid-run and restarted: every episode completes once; poison goes to dead letters")
    func killEachStage() async throws {
        let models = MicroModels.paths
        let directory = temporaryDirectory("drill")
        let bus = "embedded://" + directory
        let created = try await CLIProcess.run(["topics", "create", "--bus", bus])
        #expect(created.status == 0, "\(created.stderr)")
        // A poison message on every input topic.
        for topic in [Topic.requests, Topic.plans, Topic.critiques, Topic.approved, Topic.trajectories] {
            let produced = try await CLIProcess.run(["bus", "produce", "--bus", bus, "--topic", topic, "--no-validate"],
                                                    stdin: "poison/ep-1\tthis is not a message\n")
            #expect(produced.status == 0, "\(produced.stderr)")
        }
        var running: [String: CLIProcess.Running] = [:]
        for stage in Self.stages { running[stage] = try CLIProcess.Running(Self.arguments(stage, bus: bus, models: models)) }
        // Kill each stage in turn once the run is under way, and start it again.
        var killed: [String] = []
        for stage in Self.stages {
            try await Task.sleep(for: .milliseconds(1000))
            guard let process = running[stage], process.isRunning else { continue }
            process.kill()
            _ = await process.finish(timeout: .seconds(10))
            killed.append(stage)
            running[stage] = try CLIProcess.Running(Self.arguments(stage, bus: bus, models: models))
        }
        let executor = await running["executor"]!.finish(timeout: .seconds(240))
        for (stage, process) in running where stage != "executor" {
            process.terminate()
            _ = await process.finish(timeout: .seconds(20))
        }
        #expect(executor.status == 0, "executor: \(executor.stderr.suffix(2000))")
        #expect(killed.count == Self.stages.count, "killed \(killed)")

        let trajectories = try await Self.values(directory, Topic.trajectories).compactMap {
            try? JSONDecoder().decode(Trajectory.self, from: Data($0))
        }
        let episodes = trajectories.map(\.envelope.episodeID)
        let expected = Set((0..<10).flatMap { i in ["robot-1", "robot-2"].map { "\($0)/ep-\(String(format: "%06d", i))" } })
        #expect(Set(episodes) == expected, "lost: \(expected.subtracting(episodes).sorted())")
        #expect(episodes.count == Set(episodes).count, "executed twice: \(episodes.count - Set(episodes).count)")
        #expect(trajectories.allSatisfy { $0.robotID == $0.envelope.episodeID.split(separator: "/").first.map(String.init) })

        let letters = try await Self.values(directory, Topic.deadLetters).compactMap {
            try? JSONDecoder().decode(DeadLetter.self, from: Data($0))
        }
        for topic in [Topic.requests, Topic.plans, Topic.critiques, Topic.approved, Topic.trajectories] {
            #expect(letters.contains { $0.sourceTopic == topic }, "no dead letter for the poison on \(topic); letters: \(letters.map(\.sourceTopic))")
        }
    }
}
