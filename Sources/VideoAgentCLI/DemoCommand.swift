import ArgumentParser
import Bus
import BusEmbedded
import CriticStage
import Environments
import ExecutorStage
import Foundation
import LearnerStage
import Media
import Messages
import PlannerStage
import RefinerStage
import TopicCatalog
import VideoDiffusion

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "All five stages in one process on an embedded bus: robots ask for plans, plans are critiqued, refined, executed, and learned from.",
        discussion: """
            Starts a planner, a critic, a refiner and a learner, and an executor with --robots robots that run one
            episode of every task (× --cameras, × --episodes seeds). Prints each episode as it ends and each model
            version the learner publishes, then writes OUT/report.md (episodes, success per task, model versions)
            and OUT/strips.png (each episode's approved plan above what the robot did). The bus stays in OUT/bus:
            replay it, or trace an episode with videoagent audit EPISODE --bus embedded://OUT/bus.
            """)

    @Option(help: "Robots (the executor's live environments).") var robots: Int = 2
    @Option(help: "Output directory (its bus is started afresh).") var out: String = "data/demo"
    @OptionGroup var stageOptions: StageOptionGroup
    @OptionGroup var common: CommonOptions

    func validate() throws { try OptionChecks.range(robots, "--robots", 1...64) }

    func run() async throws {
        LogSetup.bootstrapped
        Console.lineBuffered()
        let options = stageOptions
        let logger = common.logger("videoagent.demo")
        let busDirectory = out + "/bus"
        try? FileManager.default.removeItem(atPath: busDirectory)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let catalog = try common.catalog()
        let bus = MessageBus(transport: try EmbeddedTransport(directory: busDirectory, settings: ["fsync": "never"], logger: logger))
        defer { Task { await bus.close() } }
        _ = try await bus.createTopics(catalog.specs.map(\.topicConfig))
        let probe = try options.environmentOptions.make(options.env)
        let schedule = try StageFactory.schedule(environment: probe, tasks: options.tasks, cameras: options.cameras,
                                                 episodes: options.episodes, seedStart: options.seedStart)
        probe.close()
        print("demo: \(robots) robot(s), \(schedule.count) episode(s), bus embedded://\(busDirectory)")
        let planner = try await StageFactory.planner(bus: bus, instance: "demo/planner", planModel: options.planModel,
                                                     samplingSteps: options.samplingSteps, logger: logger)
        let refiner = try await StageFactory.refiner(bus: bus, instance: "demo/refiner", planModel: options.planModel,
                                                     samplingSteps: options.samplingSteps, iterations: options.iterations, logger: logger)
        let critic = try StageFactory.critic(bus: bus, instance: "demo/critic", judge: try options.judge.judge(fallback: JudgeOptions.shippedOrMotion)!, logger: logger)
        let (model, _) = try VideoCheckpoint.load(options.planModel)
        let learner = LearnerService(bus: bus, instance: "demo/learner", model: model, logger: logger)
        learner.every = options.learnEvery
        learner.steps = options.learnSteps
        let executor = try StageFactory.executor(bus: bus, instance: "demo/executor", followerPath: options.follower,
                                                 robots: (1...robots).map { "robot-\($0)" }, environments: options.environmentOptions,
                                                 env: options.env, schedule: schedule, rule: options.rule,
                                                 frameEvery: options.frameEvery, logger: logger)
        let started = Date()
        let services = [
            Task { try await planner.run() }, Task { try await critic.run() }, Task { try await refiner.run() },
            Task {
                try await learner.run { event in
                    print(String(format: "  learner published video@%d (finetuned on %d successful episodes, loss %.4f, %.0f s)",
                                 event.version, event.episodes, event.loss, event.seconds))
                }
            },
        ]
        var done = 0
        try await executor.run { episode in
            done += 1
            print(String(format: "[%d/%d] %@ %@ %@: %@ in %d steps, %d replan(s), plans by %@ (%.0f s)", done, schedule.count,
                         episode.episodeID, episode.task, episode.camera, episode.success ? "success" : "failure", episode.steps,
                         episode.replans, episode.distinctModelVersions.joined(separator: ", "), Date().timeIntervalSince(started)))
        }
        for service in services { service.cancel() }
        for service in services { _ = await service.result }
        let report = try await DemoReport.make(bus: bus, executed: executor.executed)
        try report.markdown.write(toFile: out + "/report.md", atomically: true, encoding: .utf8)
        if let strips = report.strips { try PNG.write(strips, to: out + "/strips.png") }
        print(report.summary)
        print("wrote \(out)/report.md and strips.png; trace an episode: videoagent audit \(executor.executed.first?.episodeID ?? "EPISODE") --bus embedded://\(busDirectory)")
    }
}

/// The demo's report: what each episode did, from the executor's record and the topics.
struct DemoReport {
    var markdown: String
    var summary: String
    var strips: RGBImage?

    static func make(bus: MessageBus, executed: [ExecutedEpisode]) async throws -> DemoReport {
        // The first approved plan of each episode, for the strips.
        var plans: [String: [RGBImage]] = [:]
        var versions: Set<String> = []
        let replay = try await bus.makeReplay(topic: Topic.approved, from: .beginning)
        while true {
            let records = try await replay.poll(maxRecords: 256, timeout: .milliseconds(200))
            if records.isEmpty { break }
            for record in records {
                guard let plan = try? JSONDecoder().decode(ApprovedPlan.self, from: Data(record.value)) else { continue }
                versions.insert(plan.envelope.modelVersion)
                if plans[plan.envelope.episodeID] == nil { plans[plan.envelope.episodeID] = try plan.frames.map { try PNG.decode(base64: $0) } }
            }
        }
        await replay.close()
        var frames: [String: [RGBImage]] = [:]
        let trajectories = try await bus.makeReplay(topic: Topic.trajectories, from: .beginning)
        while true {
            let records = try await trajectories.poll(maxRecords: 64, timeout: .milliseconds(200))
            if records.isEmpty { break }
            for record in records {
                guard let trajectory = try? JSONDecoder().decode(Trajectory.self, from: Data(record.value)) else { continue }
                let picks = (0..<8).map { $0 * (trajectory.frames.count - 1) / 7 }
                frames[trajectory.envelope.episodeID] = try picks.map { try PNG.decode(base64: trajectory.frames[$0]) }
            }
        }
        await trajectories.close()
        var md = "# VideoAgent demo\n\n| episode | task | camera | seed | outcome | steps | replans | plans by |\n|---|---|---|---|---|---|---|---|\n"
        for e in executed {
            md += "| \(e.episodeID) | \(e.task) | \(e.camera) | \(e.seed) | \(e.success ? "success" : "failure") | \(e.steps) | \(e.replans) | "
                + "\(e.distinctModelVersions.joined(separator: ", ")) |\n"
        }
        md += "\n## Success per task\n\n| task | success |\n|---|---|\n"
        var lines: [String] = []
        for task in Array(Set(executed.map(\.task))).sorted() {
            let mine = executed.filter { $0.task == task }
            md += "| \(task) | \(mine.filter(\.success).count)/\(mine.count) |\n"
            lines.append("\(task) \(mine.filter(\.success).count)/\(mine.count)")
        }
        md += "\n## Model versions that made approved plans\n\n" + versions.sorted().map { "- \($0)\n" }.joined()
        let rows = executed.flatMap { e -> [(caption: String, frames: [RGBImage])] in
            guard let plan = plans[e.episodeID], let seen = frames[e.episodeID] else { return [] }
            return [("\(e.episodeID) \(e.task): approved plan", plan), (e.success ? "what happened: success" : "what happened: failure", seen)]
        }
        let successes = executed.filter(\.success).count
        return DemoReport(markdown: md,
                          summary: "demo: \(successes)/\(executed.count) episodes succeeded (\(lines.joined(separator: ", "))); "
                              + "model versions: \(versions.sorted().joined(separator: ", "))",
                          strips: rows.isEmpty ? nil : ContactSheet.make(rows: rows, cell: 48, maxFrames: 8))
    }
}
