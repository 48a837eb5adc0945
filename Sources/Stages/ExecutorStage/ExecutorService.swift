import AgentKit
import Bus
import Control
import Environments
import Foundation
import Logging
import Media
import Messages

/// One episode an executor is to run.
public struct ScheduledEpisode: Sendable, Equatable {
    public var task: TaskInfo
    public var camera: String
    public var seed: UInt64

    public init(task: TaskInfo, camera: String, seed: UInt64) {
        self.task = task
        self.camera = camera
        self.seed = seed
    }
}

/// A robot: its live environment (which only this executor has), the episodes it is to run,
/// and the one in progress.
final class Robot {
    let id: String
    let environment: any Environment
    let schedule: [ScheduledEpisode]
    var next = 0
    var loop: EpisodeLoop?
    var episodeID = ""
    /// The request whose approved plan the robot waits for.
    var waitingFor: String?
    var lastMessageID: String?
    var planIDs: [String] = []
    var modelVersions: [String] = []

    init(id: String, environment: any Environment, schedule: [ScheduledEpisode]) {
        self.id = id
        self.environment = environment
        self.schedule = schedule
    }
}

/// What an executor did, for progress lines and reports.
public struct ExecutedEpisode: Sendable {
    public var episodeID: String
    public var robotID: String
    public var task: String
    public var camera: String
    public var seed: UInt64
    public var success: Bool
    public var steps: Int
    public var replans: Int
    public var modelVersions: [String]
    public var trajectoryID: String

    /// The versions of the episode's plans, each once, in order.
    public var distinctModelVersions: [String] {
        modelVersions.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
    }
}

/// The executor: owns live environments (one per robot), asks for plans, executes approved
/// plans with the plan follower, asks again on a stall, and publishes each episode's trajectory
/// with the environment's own success flag.
///
/// Its state lives on the bus: at start it reads the trajectories topic for its robots' finished
/// episodes (never run twice) and the approved topic from its beginning (plans already answered), so after a
/// kill -9 it restarts an unfinished episode from its seed and goes on. Episode ids and request
/// ids are deterministic, so a restarted request is the same request. Routing: every executor
/// reads the whole approved topic and takes the plans whose robot id is one of its own (robot
/// ids are unique across executors).
public final class ExecutorService: @unchecked Sendable {
    // Used from the service's one task.
    public let instance: String
    let bus: MessageBus
    let follower: PlanFollower
    let robots: [Robot]
    let environmentName: String
    let resolution: Int
    let rule: ReplanRule
    let logger: Logger
    private var finished: Set<String> = []
    private var approved: [String: ApprovedPlan] = [:]
    public private(set) var executed: [ExecutedEpisode] = []
    /// Trajectories this executor found already published for an episode it was about to run.
    public private(set) var skippedAsDone = 0

    public init(bus: MessageBus, instance: String, follower: PlanFollower, robots: [(id: String, environment: any Environment)],
                schedule: [ScheduledEpisode], environmentName: String, rule: ReplanRule, logger: Logger) {
        self.bus = bus
        self.instance = instance
        self.follower = follower
        // Episodes are dealt round-robin to the robots.
        self.robots = robots.enumerated().map { r, robot in
            Robot(id: robot.id, environment: robot.environment,
                  schedule: schedule.enumerated().filter { $0.offset % robots.count == r }.map(\.element))
        }
        self.environmentName = environmentName
        resolution = follower.config.resolution
        self.rule = rule
        self.logger = logger
    }

    /// The episode id of a robot's n-th scheduled episode.
    static func episodeID(robot: String, index: Int) -> String { "\(robot)/ep-\(String(format: "%06d", index))" }

    /// Runs every scheduled episode, then returns. `progress` hears of each finished episode.
    public func run(progress: @escaping (ExecutedEpisode) -> Void = { _ in }) async throws {
        let mine = Set(robots.map(\.id))
        try await readFinishedEpisodes(mine)
        let producer = try await bus.makeProducer()
        // Approved plans from the beginning: plans answered before a restart are found again,
        // and nothing published while this executor starts is missed.
        let plans = try await bus.makeReplay(topic: Topic.approved, from: .beginning)
        defer { Task { await producer.close(); await plans.close() } }
        while true {
            try Task.checkCancellation()
            var idle = true
            for robot in robots where robot.loop == nil {
                if try start(robot) { idle = false }
            }
            // Requests for robots that need a plan.
            var requests: [OutgoingRecord] = []
            for robot in robots {
                guard let loop = robot.loop, loop.phase == .needsPlan, robot.waitingFor == nil else { continue }
                let request = try makeRequest(robot, loop)
                robot.waitingFor = request.envelope.messageID
                if approved[request.envelope.messageID] == nil {
                    requests.append(OutgoingRecord(topic: Topic.requests, key: Array(robot.episodeID.utf8),
                                                   value: Array(try JSONEncoder().encode(request))))
                }
            }
            if !requests.isEmpty { _ = try await producer.send(requests) }
            // Approved plans, for any robot of this executor.
            let waiting = robots.contains { $0.waitingFor != nil }
            var letters: [OutgoingRecord] = []
            for record in try await plans.poll(maxRecords: 64, timeout: waiting ? .milliseconds(20) : .zero) {
                let plan: ApprovedPlan
                do {
                    if let defect = record.defect { throw StageError("undecodable record: \(defect)") }
                    plan = try JSONDecoder().decode(ApprovedPlan.self, from: Data(record.value))
                } catch {
                    // Every executor reads every approved plan: the one that owns no robot of the key
                    // still reports it, so a poison message is never lost from sight.
                    letters.append(try StageOutput.deadLetter(record, error: "not a valid ApprovedPlan: \(StageLoop<ApprovedPlan>.describe(error))",
                                                              stage: .executor, instance: instance, attempts: 1).record)
                    continue
                }
                if mine.contains(plan.robotID) { approved[plan.requestID] = plan }
            }
            if !letters.isEmpty { _ = try await producer.send(letters) }
            for robot in robots {
                guard let request = robot.waitingFor, let plan = approved[request], let loop = robot.loop else { continue }
                let frames = try plan.frames.map { try PNG.decode(base64: $0) }
                loop.receive(VideoPlan(frames: frames, source: "\(plan.envelope.modelVersion), iteration \(plan.iteration)"))
                robot.waitingFor = nil
                robot.lastMessageID = plan.envelope.messageID
                robot.planIDs.append(plan.planID)
                robot.modelVersions.append(plan.envelope.modelVersion)
                idle = false
            }
            // One step for every acting robot, decided in one batch.
            let acting = robots.filter { $0.loop?.phase == .acting }
            if !acting.isEmpty {
                idle = false
                // Every frame is rendered: the trajectory's frames are what the learner learns from.
                for (robot, decision) in zip(acting, follower.decide(acting.map { $0.loop! })) {
                    try robot.loop!.act(decision, in: robot.environment)
                }
            }
            var trajectories: [OutgoingRecord] = []
            var done: [ExecutedEpisode] = []
            for robot in robots {
                guard let loop = robot.loop, loop.phase == .finished else { continue }
                let (record, episode) = try trajectory(robot, loop)
                trajectories.append(record)
                done.append(episode)
            }
            if !trajectories.isEmpty {
                _ = try await producer.send(trajectories)
                for episode in done {
                    finished.insert(episode.episodeID)
                    executed.append(episode)
                    progress(episode)
                }
                for robot in robots where robot.loop?.phase == .finished { robot.loop = nil }
            }
            if robots.allSatisfy({ $0.loop == nil && $0.next >= $0.schedule.count }) { return }
            if idle && !waiting { try await Task.sleep(for: .milliseconds(5)) }
        }
    }

    /// The episodes of this executor's robots that already have a trajectory.
    private func readFinishedEpisodes(_ mine: Set<String>) async throws {
        let replay = try await bus.makeReplay(topic: Topic.trajectories, from: .beginning)
        defer { Task { await replay.close() } }
        while true {
            let records = try await replay.poll(maxRecords: 256, timeout: .milliseconds(200))
            if records.isEmpty { break }
            for record in records {
                if let trajectory = try? JSONDecoder().decode(Trajectory.self, from: Data(record.value)), mine.contains(trajectory.robotID) {
                    finished.insert(trajectory.envelope.episodeID)
                }
            }
        }
    }

    /// Starts the robot's next episode that has no trajectory yet; false when none is left.
    private func start(_ robot: Robot) throws -> Bool {
        while robot.next < robot.schedule.count {
            let index = robot.next
            let episode = robot.schedule[index]
            robot.next += 1
            let id = Self.episodeID(robot: robot.id, index: index)
            if finished.contains(id) {
                skippedAsDone += 1
                continue
            }
            let first = try robot.environment.reset(task: episode.task.name, seed: episode.seed, camera: episode.camera,
                                                    resolution: resolution)
            robot.loop = EpisodeLoop(task: episode.task, seed: episode.seed, camera: episode.camera, first: first,
                                     rule: rule.measuringStalls(over: follower.frameEvery), planned: true)
            robot.episodeID = id
            robot.lastMessageID = nil
            robot.planIDs = []
            robot.modelVersions = []
            return true
        }
        return false
    }

    private func makeRequest(_ robot: Robot, _ loop: EpisodeLoop) throws -> PlanRequest {
        let purpose = "request-\(loop.replans)"
        let id = robot.lastMessageID.map { MessageID.derive(parent: $0, stage: .executor, purpose: purpose) }
            ?? MessageID.first(episodeID: robot.episodeID, purpose: purpose)
        return PlanRequest(
            envelope: Envelope(messageID: id, episodeID: robot.episodeID, parentID: robot.lastMessageID, stage: .executor,
                               instance: instance, modelVersion: "none", timestampMs: Int64(Date().timeIntervalSince1970 * 1000)),
            robotID: robot.id, task: loop.task.instruction, camera: loop.camera, step: loop.steps, replan: loop.replans,
            frame: try PNG.base64(loop.observation.frame), proprioception: loop.observation.proprioception)
    }

    private func trajectory(_ robot: Robot, _ loop: EpisodeLoop) throws -> (OutgoingRecord, ExecutedEpisode) {
        let id = MessageID.derive(parent: robot.lastMessageID, stage: .executor, purpose: "trajectory/\(robot.episodeID)")
        let message = Trajectory(
            envelope: Envelope(messageID: id, episodeID: robot.episodeID, parentID: robot.lastMessageID, stage: .executor,
                               instance: instance, modelVersion: robot.modelVersions.last ?? "none",
                               timestampMs: Int64(Date().timeIntervalSince1970 * 1000)),
            robotID: robot.id, environment: environmentName, task: loop.task.instruction, camera: loop.camera, seed: loop.seed,
            success: loop.success, steps: loop.steps, frames: try loop.frames.map(PNG.base64), actions: loop.actions,
            proprioception: loop.proprioception, planIDs: robot.planIDs)
        let episode = ExecutedEpisode(episodeID: robot.episodeID, robotID: robot.id, task: loop.task.name, camera: loop.camera,
                                      seed: loop.seed, success: loop.success, steps: loop.steps, replans: loop.replans,
                                      modelVersions: robot.modelVersions, trajectoryID: id)
        return (OutgoingRecord(topic: Topic.trajectories, key: Array(robot.episodeID.utf8), value: Array(try JSONEncoder().encode(message))),
                episode)
    }
}
