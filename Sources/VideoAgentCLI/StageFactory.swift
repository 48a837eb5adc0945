import AgentKit
import ArgumentParser
import Blocking
import Bus
import Control
import CriticStage
import Environments
import ExecutorStage
import Foundation
import Logging
import Messages
import PlannerStage
import RefinerStage
import VideoCritic
import VideoDiffusion

/// Builds the stage services from command-line settings: the one place that wires models,
/// judges and environments into the stages (which know none of each other).
enum StageFactory {
    static var defaultInstance: String { "\(ProcessInfo.processInfo.hostName)/\(ProcessInfo.processInfo.processIdentifier)" }

    /// A plan model that follows the checkpoints topic, starting from the file at `path`.
    static func hotSwappedPlanModel(bus: MessageBus, path: String, logger: Logger) async throws -> HotSwappedModel<VideoUNet> {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("no plan model at \(path); train one with videoagent train, or give --plan-model PATH")
        }
        let (model, metadata) = try VideoCheckpoint.load(path)
        let slot = ModelSlot(model, version: "video@0 (\((path as NSString).lastPathComponent), step \(metadata["step"] ?? "?"))")
        let subscriber = CheckpointSubscriber(model: "video", architectureHash: model.config.architectureHash,
                                              reader: try await bus.makeReplay(topic: Topic.checkpoints, from: .beginning),
                                              logger: logger)
        let swap = HotSwappedModel(slot: slot, subscriber: subscriber) { bytes in
            let (loaded, _) = try VideoCheckpoint.load(bytes: bytes)
            guard loaded.config.architectureHash == model.config.architectureHash else {
                throw ValidationError("checkpoint architecture differs from the served model's")
            }
            return loaded
        }
        // Catch up with versions published before this stage started.
        try await swap.refresh(timeout: .milliseconds(300))
        return swap
    }

    static func planner(bus: MessageBus, instance: String, planModel: String, samplingSteps: Int, logger: Logger) async throws
        -> PlannerService
    {
        let swap = try await hotSwappedPlanModel(bus: bus, path: planModel, logger: logger)
        let logic = PlannerLogic(model: swap.slot, instance: instance)
        logic.samplingSteps = samplingSteps
        return PlannerService(bus: bus, logic: logic, swap: swap, logger: logger)
    }

    static func refiner(bus: MessageBus, instance: String, planModel: String, samplingSteps: Int, iterations: Int, logger: Logger)
        async throws -> RefinerService
    {
        let swap = try await hotSwappedPlanModel(bus: bus, path: planModel, logger: logger)
        let logic = RefinerLogic(model: swap.slot, instance: instance)
        logic.samplingSteps = samplingSteps
        logic.iterations = iterations
        return RefinerService(bus: bus, logic: logic, swap: swap, logger: logger)
    }

    /// The critic with its judge (``JudgeOptions``).
    static func critic(bus: MessageBus, instance: String, judge: any PlanJudge, logger: Logger) throws -> CriticService {
        return CriticService(bus: bus, logic: CriticLogic(judge: judge, instance: instance), logger: logger)
    }

    /// The episodes of a task × camera × seed grid, in the order the robots will deal them out.
    static func schedule(environment: any Environment, tasks: String, cameras: String, episodes: Int, seedStart: UInt64) throws
        -> [ScheduledEpisode]
    {
        let taskList = try CollectCommand.choose(tasks, from: environment.tasks.map(\.name), what: "task")
        let cameraList = try CollectCommand.choose(cameras, from: environment.cameras, what: "camera")
        var out: [ScheduledEpisode] = []
        for i in 0..<episodes {
            for task in taskList {
                for camera in cameraList {
                    out.append(ScheduledEpisode(task: environment.tasks.first { $0.name == task }!, camera: camera, seed: seedStart + UInt64(i)))
                }
            }
        }
        return out
    }

    static func executor(bus: MessageBus, instance: String, followerPath: String, robots: [String],
                         environments: EnvironmentOptions, env: String, schedule: [ScheduledEpisode], rule: ReplanRule,
                         frameEvery: Int = 1, logger: Logger) throws -> ExecutorService {
        guard FileManager.default.fileExists(atPath: followerPath) else {
            throw ValidationError("no follower at \(followerPath); train one with videoagent train-follower, or give --follower PATH")
        }
        let (follower, _) = try PlanFollower.load(followerPath)
        try follower.look(every: frameEvery)
        let made = try robots.map { robot in
            let environment = try environments.make(env)
            try follower.prepare(environment)
            return (id: robot, environment: environment as any Environment)
        }
        return ExecutorService(bus: bus, instance: instance, follower: follower, robots: made, schedule: schedule,
                               environmentName: made.first?.environment.name ?? env, rule: rule, logger: logger)
    }
}
