import BusTestKit
import Foundation
import Messages
import Testing

/// The deployment the stages exist for, as separate processes over a real Kafka-protocol broker:
/// two executors with two robots each, two planners, a critic, a refiner and a learner.
@Suite("Stages over Kafka", .serialized, .timeLimit(.minutes(6)))
struct StageTopologyTests {
    @Test("every requested episode completes at the robot that asked, and a model published mid-run is served without restart",
          .enabled(if: Backend.available.contains(.kafkaBroker)))
    func fleet() async throws {
        let models = MicroModels.paths
        let bus = "kafka://" + (Backend.brokerAddress ?? "127.0.0.1:9092")
        let run = UUID().uuidString.prefix(6).lowercased()
        let created = try await CLIProcess.run(["topics", "create", "--bus", bus])
        #expect(created.status == 0, "\(created.stderr)")
        func serve(_ stage: String, _ name: String, _ extra: [String] = []) throws -> CLIProcess.Running {
            try CLIProcess.Running(["serve", stage, "--bus", bus, "--instance", "\(name)-\(run)", "--plan-model", models.planModel,
                                    "--follower", models.follower, "--sampling-steps", "2", "--iterations", "1", "--learn-every", "1000",
                                    "--max-steps", "60", "--max-replans", "1", "--stall-steps", "5"] + extra)
        }
        // Planners log each model swap at notice level.
        let planners = [try serve("planner", "planner-a", ["--log-level", "notice"]), try serve("planner", "planner-b", ["--log-level", "notice"])]
        let services = planners + [try serve("critic", "critic"), try serve("refiner", "refiner"), try serve("learner", "learner")]
        func executor(_ i: Int, _ name: String) throws -> CLIProcess.Running {
            try serve("executor", "executor-\(name)", ["--robots", "\(run)-robot-\(2 * i + 1),\(run)-robot-\(2 * i + 2)",
                                                   "--tasks", "button-press,drawer-open", "--episodes", "3",
                                                   "--seed-start", String(8000 + 100 * i)])
        }
        // Executor a runs from the start; a new model is rolled out while it runs; executor b starts once
        // both planners serve the new model (so its plans must carry the new version, whatever the load).
        let first = try executor(0, "a")
        try await Task.sleep(for: .seconds(8))
        let published = try await CLIProcess.run(["publish-model", "--bus", bus, "--plan-model", models.planModel])
        #expect(published.status == 0, "\(published.stderr)")
        let version = try #require(published.stdout.split(separator: " ").dropFirst().first.map { String($0.dropLast()) })
        let deadline = ContinuousClock.now + .seconds(90)
        while !planners.allSatisfy({ $0.stderrSoFar.contains("planner now serves \(version)") }) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(planners.allSatisfy { $0.stderrSoFar.contains("planner now serves \(version)") }, "the planners never served \(version)")
        let executors = [first, try executor(1, "b")]
        let results = await executors.asyncMap { await $0.finish(timeout: .seconds(240)) }
        for service in services { service.terminate() }
        for service in services { _ = await service.finish(timeout: .seconds(20)) }
        for (i, result) in results.enumerated() { #expect(result.status == 0, "executor \(i): \(result.stderr.suffix(1500))") }

        // Every scheduled episode has one trajectory, published by the executor that owns its robot.
        let trajectories = try await Self.read(bus, Topic.trajectories, as: Trajectory.self).filter { $0.robotID.hasPrefix(run) }
        let expected = Set((1...4).flatMap { r in (0..<3).map { "\(run)-robot-\(r)/ep-\(String(format: "%06d", $0))" } })
        #expect(Set(trajectories.map(\.envelope.episodeID)) == expected)
        #expect(trajectories.count == expected.count, "duplicate executions")
        for trajectory in trajectories {
            let robot = Int(trajectory.robotID.split(separator: "-").last!)!
            #expect(trajectory.envelope.instance == "executor-\(robot <= 2 ? "a" : "b")-\(run)", "\(trajectory.robotID) ran elsewhere")
        }
        // Plans made after the roll-out carry the new version.
        let plans = try await Self.read(bus, Topic.plans, as: PlanMessage.self).filter { $0.robotID.hasPrefix(run) }
        #expect(plans.contains { $0.envelope.modelVersion == version }, "no plan by \(version): \(Set(plans.map(\.envelope.modelVersion)))")
        let late = plans.filter { $0.iteration == 0 && ($0.robotID.hasSuffix("-robot-3") || $0.robotID.hasSuffix("-robot-4")) }
        #expect(!late.isEmpty && late.allSatisfy { $0.envelope.modelVersion == version },
                "plans for executor b, started after the roll-out: \(Set(late.map(\.envelope.modelVersion)))")
        #expect(Set(plans.filter { $0.iteration == 0 }.map(\.envelope.instance)).count >= 1)
    }

    static func read<T: Decodable>(_ bus: String, _ topic: String, as type: T.Type) async throws -> [T] {
        let replay = try await CLIProcess.run(["bus", "replay", "--bus", bus, "--topic", topic, "--from-offset", "0", "--idle-exit", "3"])
        return replay.lines.compactMap { line in
            let fields = line.split(separator: "\t", maxSplits: 3, omittingEmptySubsequences: false)
            guard fields.count == 4 else { return nil }
            let value = fields[3].replacingOccurrences(of: "\\\\", with: "\\")
            return try? JSONDecoder().decode(T.self, from: Data(value.utf8))
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
