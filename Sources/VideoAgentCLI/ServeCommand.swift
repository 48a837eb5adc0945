import ArgumentParser
import Bus
import Control
import CriticStage
import PlannerStage
import RefinerStage
import Dispatch
import Environments
import ExecutorStage
import Foundation
import LearnerStage
import Messages
import TopicCatalog
import VideoDiffusion

/// Options of the stages that serve the plan model, and of the executor.
struct StageOptionGroup: ParsableArguments {
    @Option(help: ArgumentHelp("The plan model served until the learner publishes a newer one.", valueName: "PATH"))
    var planModel: String = "models/builtin-plan/model.safetensors"
    @Option(help: "DDIM steps per plan.") var samplingSteps: Int = 10
    @Option(help: "Refinements K before the refiner approves a plan the critic keeps rejecting (paper: 4).") var iterations: Int = 4
    @Option(help: ArgumentHelp("The plan follower the executor runs.", valueName: "PATH"))
    var follower: String = "models/builtin-follower/model.safetensors"
    @Option(help: "builtin or metaworld (the executor's environments).") var env: String = "builtin"
    @Option(help: "Comma-separated tasks the executor runs, or all.") var tasks: String = "all"
    @Option(help: "Comma-separated cameras.") var cameras: String = "corner"
    @Option(help: "Episodes per task and camera.") var episodes: Int = 1
    @Option(help: "Seed of the first episode.") var seedStart: UInt64 = 9000
    @Option(help: "New plans allowed per episode (paper: 5).") var maxReplans: Int = 5
    @Option(help: "Consecutive still steps that count as a stall (paper: 15).") var stallSteps: Int = 15
    @Option(help: "With no new plan left, follow the plan again from this many frames back on a stall or after holding its last frame for --stall-steps steps unsolved (0: hold still, the paper's rule).")
    var rewindFrames: Int = 4
    @Option(help: "Rewinds allowed per episode (with --rewind-frames).") var maxRewinds: Int = 3
    @Option(help: "The follower looks at a camera frame every this many steps (at most its chunk length, 4) and on each new plan frame; in between it acts from its chunks.")
    var frameEvery: Int = 1
    @OptionGroup var judge: JudgeOptions
    @Option(help: "New successful episodes between the learner's checkpoints.") var learnEvery: Int = 8
    @Option(help: "Finetuning steps per checkpoint.") var learnSteps: Int = 50
    @OptionGroup var environmentOptions: EnvironmentOptions

    func validate() throws {
        try OptionChecks.range(samplingSteps, "--sampling-steps", 1...1000)
        try OptionChecks.range(iterations, "--iterations", 0...16)
        try OptionChecks.range(episodes, "--episodes", 1...100_000)
        try OptionChecks.range(maxReplans, "--max-replans", 0...100)
        try OptionChecks.range(stallSteps, "--stall-steps", 1...10_000)
        try OptionChecks.range(rewindFrames, "--rewind-frames", 0...100)
        try OptionChecks.range(maxRewinds, "--max-rewinds", 0...100)
        try OptionChecks.range(learnEvery, "--learn-every", 1...100_000)
        try OptionChecks.range(learnSteps, "--learn-steps", 1...1_000_000)
    }

    var rule: ReplanRule { ReplanRule(stallSteps: stallSteps, maxReplans: maxReplans, rewindFrames: rewindFrames, maxRewinds: maxRewinds) }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run one stage as a service on the bus: planner, critic, refiner, executor or learner.",
        discussion: """
            Run as many of each as you like: planners, critics and refiners share their topic's partitions as a
            consumer group; each executor owns the robots named by --robots (ids unique across executors) and
            runs its share of the task × camera × seed grid; the learner publishes checkpoints that planners
            and refiners load while serving. Every stage resumes from the bus after a restart (kill -9
            included). SIGINT or SIGTERM stops a stage after the message in hand.
            """)

    @Argument(help: "planner, critic, refiner, executor or learner.") var stage: String
    @OptionGroup var bus: BusOptions
    @Option(help: "This process's name in messages (default: host/pid).") var instance: String?
    @Option(help: "The executor's robots, comma-separated ids unique across executors.") var robots: String = "robot-1"
    @OptionGroup var stageOptions: StageOptionGroup

    func validate() throws {
        guard ["planner", "critic", "refiner", "executor", "learner"].contains(stage) else {
            throw ValidationError("unknown stage '\(stage)'; use planner, critic, refiner, executor or learner")
        }
    }

    func run() async throws {
        LogSetup.bootstrapped
        Console.lineBuffered()
        let logger = bus.common.logger("videoagent.\(stage)")
        let name = instance ?? StageFactory.defaultInstance
        let options = stageOptions
        let catalog = try bus.common.catalog()
        try await using(try await bus.open(catalog: catalog, create: true)) { messageBus in
            _ = try await messageBus.createTopics(catalog.specs.map(\.topicConfig))
            let work = Task {
                switch stage {
                case "planner":
                    try await StageFactory.planner(bus: messageBus, instance: name, planModel: options.planModel,
                                                   samplingSteps: options.samplingSteps, logger: logger).run()
                case "critic":
                    try await StageFactory.critic(bus: messageBus, instance: name, judge: try options.judge.judge(fallback: JudgeOptions.shippedOrMotion)!, logger: logger).run()
                case "refiner":
                    try await StageFactory.refiner(bus: messageBus, instance: name, planModel: options.planModel,
                                                   samplingSteps: options.samplingSteps, iterations: options.iterations,
                                                   logger: logger).run()
                case "executor":
                    let probe = try options.environmentOptions.make(options.env)
                    let schedule = try StageFactory.schedule(environment: probe, tasks: options.tasks, cameras: options.cameras,
                                                             episodes: options.episodes, seedStart: options.seedStart)
                    probe.close()
                    let executor = try StageFactory.executor(
                        bus: messageBus, instance: name, followerPath: options.follower,
                        robots: robots.split(separator: ",").map(String.init), environments: options.environmentOptions,
                        env: options.env, schedule: schedule, rule: options.rule, frameEvery: options.frameEvery, logger: logger)
                    try await executor.run { episode in
                        print("\(episode.episodeID) \(episode.task) \(episode.camera) seed \(episode.seed): "
                            + "\(episode.success ? "success" : "failure") in \(episode.steps) steps, \(episode.replans) replan(s), "
                            + "models \(episode.distinctModelVersions.joined(separator: ", "))")
                    }
                    print("executor \(name): all \(schedule.count / max(1, 1)) scheduled episodes of its robots are done")
                default:
                    let (model, _) = try VideoCheckpoint.load(options.planModel)
                    let learner = LearnerService(bus: messageBus, instance: name, model: model, logger: logger)
                    learner.every = options.learnEvery
                    learner.steps = options.learnSteps
                    try await learner.run { event in
                        print(String(format: "published video@%d: finetuned on %d successful episodes, loss %.4f (%.0f s)",
                                     event.version, event.episodes, event.loss, event.seconds))
                    }
                }
            }
            let stop = ShutdownSignals { work.cancel() }
            defer { stop.cancel() }
            do {
                try await work.value
            } catch is CancellationError {
                print("\(stage) \(name) stopped")
            }
        }
    }
}

/// Calls `handler` on SIGINT or SIGTERM (instead of dying), for a graceful stop.
final class ShutdownSignals {
    private let sources: [any DispatchSourceSignal]

    init(_ handler: @escaping @Sendable () -> Void) {
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: handler)
            source.resume()
            return source
        }
    }

    func cancel() { for source in sources { source.cancel() } }
}
