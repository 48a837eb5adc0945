import Dataset
import Environments
import Foundation
import Media
import SeededRandom

/// Records episodes for training: the scripted expert's demonstrations, the expert with
/// exploration noise (off-path states, labelled with the expert's clean action), and episodes
/// driven by a plan follower on true demonstration plans with the expert labelling every state
/// it reaches (DAgger: the follower learns to recover from its own mistakes).
///
/// The expert is used here, at training time only; nothing here is reachable from a policy.
public struct Collector {
    /// Draws a plan from a frame (at the plan resolution) and a task's instruction: a plan model.
    public typealias Planner = (RGBImage, String) throws -> VideoPlan

    /// Who chooses the actions sent.
    public enum Driver {
        case expert
        /// The expert's action plus Gaussian noise of this standard deviation (per component).
        case noisyExpert(sigma: Float)
        /// The follower, on the true demonstration of the same seed cut like a plan; with
        /// probability `beta` a step sends the expert's action instead.
        case follower(PlanFollower, beta: Float)
        /// The expert acts, while a plan drawn by the plan model from the frame at a random early
        /// step is recorded as the plan "followed", its frames paced over the rest of the episode:
        /// the follower learns what generated plans (blurry, imperfect) look like next to the
        /// states they stand for.
        case expertWithModelPlans(planner: Planner)

        public var name: String {
            switch self {
            case .expert: return "expert"
            case .noisyExpert(let sigma): return String(format: "expert+noise(%.2f)", sigma)
            case .follower(_, let beta): return String(format: "follower(beta=%.2f)", beta)
            case .expertWithModelPlans: return "expert+model-plans"
            }
        }
    }

    public let environment: any DemonstrableEnvironment
    public let demonstrator: any Demonstrator
    /// Labels the states of noisy and follower-driven episodes: the expert with `teacherSlack`.
    public let teacher: any Demonstrator
    public let resolution: Int
    /// Resolution and length of the true demonstration plans given to a follower.
    public let planResolution: Int
    public let futureFrames: Int

    /// The slack of the teacher that labels noisy and follower-driven episodes: the follower's aim
    /// is about a centimetre, so a teacher that insists on millimetres would teach it to hover.
    public static let teacherSlack: Float = 0.008

    public init(environment: any DemonstrableEnvironment, resolution: Int, planResolution: Int = 32, futureFrames: Int = 7) {
        self.environment = environment
        demonstrator = environment.makeDemonstrator()
        teacher = environment.makeDemonstrator(slack: Self.teacherSlack)
        self.resolution = resolution
        self.planResolution = planResolution
        self.futureFrames = futureFrames
    }

    private func taskInfo(_ task: String) throws -> TaskInfo {
        guard let info = environment.tasks.first(where: { $0.name == task }) else {
            throw EnvironmentError.unknownTask(task, known: environment.tasks.map(\.name))
        }
        return info
    }

    /// Plays one episode with `driver`.
    public func play(task: String, camera: String, seed: UInt64, driver: Driver = .expert) throws -> EpisodeLoop {
        let info = try taskInfo(task)
        if case .expertWithModelPlans(let planner) = driver {
            return try expertWithModelPlan(info, camera: camera, seed: seed, planner: planner)
        }
        var oracle: VideoPlan?
        if case .follower = driver { oracle = try demonstrationPlan(task: task, camera: camera, seed: seed) }
        let first = try environment.reset(task: task, seed: seed, camera: camera, resolution: resolution)
        let loop = EpisodeLoop(task: info, seed: seed, camera: camera, first: first, planned: oracle != nil)
        var rng = SeededRNG(seed: seed ^ 0x5EED_C011_EC70_0001)
        try EpisodeRunner.run(loop, in: environment, plan: { _ in oracle! }, decide: { loop in
            try noteLandmarks(loop)
            if case .expert = driver {
                let expert = try demonstrator.action()
                return Decision(action: expert, label: expert)
            }
            let expert = try teacher.action()
            switch driver {
            case .expert:
                return Decision(action: expert, label: expert)
            case .noisyExpert(let sigma):
                let noisy = expert.map { min(max($0 + sigma * rng.normal(), -1), 1) }
                return Decision(action: noisy, label: expert)
            case .follower(let follower, let beta):
                let decision = follower.decide([loop])[0]
                let action = rng.uniform() < beta ? expert : decision.action
                return Decision(action: action, label: expert, reachedGoal: decision.reachedGoal)
            case .expertWithModelPlans:
                preconditionFailure("played by expertWithModelPlan")
            }
        })
        try noteLandmarks(loop)
        return loop
    }

    /// The simulator's key points of the scene for the loop's latest frame, when it has them.
    private func noteLandmarks(_ loop: EpisodeLoop) throws {
        if let points = try demonstrator.landmarks() { loop.note(landmarks: points) }
    }

    /// The expert's episode with a model plan recorded from a random step in its first half; the
    /// goal at each later step is the plan frame the expert's own pace reaches next.
    private func expertWithModelPlan(_ info: TaskInfo, camera: String, seed: UInt64,
                                     planner: Planner) throws -> EpisodeLoop {
        let demonstration = try play(task: info.name, camera: camera, seed: seed, driver: .expert)
        guard demonstration.success else { return demonstration }
        var rng = SeededRNG(seed: seed ^ 0x9_1A25)
        let start = Int(rng.next() % UInt64(max(1, demonstration.steps / 2)))
        let plan = try planner(demonstration.frames[start].resized(width: planResolution, height: planResolution), info.instruction)
        // Replay the same episode (it is deterministic), recording the plan from `start` on.
        let first = try environment.reset(task: info.name, seed: seed, camera: camera, resolution: resolution)
        let loop = EpisodeLoop(task: info, seed: seed, camera: camera, first: first, planned: false)
        let indices = EpisodeRecord.planIndices(start: start, frameCount: demonstration.frames.count, futureFrames: plan.lastIndex)
        for (t, action) in demonstration.actions.enumerated() {
            if t == start { loop.adopt(plan) }
            if t >= start {
                let k = indices.indices.dropFirst().first { indices[$0] > t } ?? plan.lastIndex
                loop.pursue(k)
            }
            try noteLandmarks(loop)
            loop.record(action: action, label: action, result: try environment.step(action))
        }
        try noteLandmarks(loop)
        return loop
    }

    /// The follower executes the true demonstration of this seed cut like a plan (as `eval`'s
    /// oracle); every `every` steps — when its hand has moved at least `minimumMove` metres or its
    /// gripper changed since the last branch — the expert plays on from the state it reached, to the
    /// end, in a branch; then the follower goes on from where it was.
    ///
    /// The branches are expert demonstrations that start where the follower goes astray: cut in
    /// hindsight like any demonstration, each pairs a plan frame with the actions that reach it
    /// *from there*, so goal and action agree (DAgger's labels on the follower's own states do not:
    /// the expert acts for the task, whatever plan frame the follower pursues).
    ///
    /// With a `planner` the follower executes the plan it draws from the first frame (given at the
    /// plan resolution, with the task's instruction) instead of the true demonstration — as eval's
    /// `base` — so the branches start from the states that drawn, imperfect plans lead to.
    public func followerBranches(task: String, camera: String, seed: UInt64, follower: PlanFollower, every: Int,
                                 minimumMove: Float = 0.01, planner: Planner? = nil)
        throws -> (followed: EpisodeLoop, branches: [(step: Int, loop: EpisodeLoop)])
    {
        precondition(every >= 1, "branch every 1 step or more")
        let info = try taskInfo(task)
        let oracle = planner == nil ? try demonstrationPlan(task: task, camera: camera, seed: seed) : nil
        let first = try environment.reset(task: task, seed: seed, camera: camera, resolution: resolution)
        let plan = try oracle ?? planner!(first.frame.resized(width: planResolution, height: planResolution), info.instruction)
        let loop = EpisodeLoop(task: info, seed: seed, camera: camera, first: first, planned: true)
        var branches: [(step: Int, loop: EpisodeLoop)] = []
        var lastBranch: [Float]?
        try EpisodeRunner.run(loop, in: environment, plan: { _ in plan }, decide: { loop in
            let here = loop.observation.proprioception
            if loop.steps % every == 0, lastBranch.map({ Self.moved(from: $0, to: here) >= minimumMove }) ?? true {
                lastBranch = here
                branches.append((loop.steps, try expertBranch(from: loop)))
            }
            let decision = follower.decide([loop])[0]
            return Decision(action: decision.action, reachedGoal: decision.reachedGoal)
        })
        return (loop, branches)
    }

    /// The expert plays on from `loop`'s current state to the end, in a branch (the state is put
    /// back afterwards): an expert demonstration that starts where the loop stands.
    private func expertBranch(from loop: EpisodeLoop) throws -> EpisodeLoop {
        try environment.branch {
            let expert = EpisodeLoop(task: loop.task, seed: loop.seed, camera: loop.camera, first: loop.observation, planned: false)
            try EpisodeRunner.run(expert, in: environment, plan: { _ in preconditionFailure("an expert branch has no plan") },
                                  decide: { expert in
                                      try noteLandmarks(expert)
                                      let action = try demonstrator.action()
                                      return Decision(action: action, label: action)
                                  })
            try noteLandmarks(expert)
            return expert
        }
    }

    /// The plan a perfect plan model would draw from `loop`'s current state: the expert's
    /// demonstration from there (in a branch; the state is put back), cut like a plan. Eval's
    /// `oracle+replan` hands it over on every replan, so it measures what replanning can add
    /// to the follower when plans are true. Built-in suite only (it branches).
    public func demonstrationPlan(from loop: EpisodeLoop) throws -> VideoPlan {
        let demonstration = try expertBranch(from: loop)
        let indices = EpisodeRecord.planIndices(start: 0, frameCount: demonstration.frames.count, futureFrames: futureFrames)
        return VideoPlan(frames: indices.map { demonstration.frames[$0].resized(width: planResolution, height: planResolution) },
                         source: demonstration.success ? "oracle (expert demonstration from here)"
                             : "oracle (expert demonstration from here, which failed)")
    }

    /// How far the hand moved between two proprioception readings, or 1 when the gripper changed.
    private static func moved(from a: [Float], to b: [Float]) -> Float {
        if abs(a[3] - b[3]) > 0.05 { return 1 }
        return handDistance(a, b)
    }

    /// The expert's demonstration for this seed, cut like a plan made at its first frame:
    /// the plan a perfect plan model would draw (the `oracle` of eval, and DAgger's plans).
    public func demonstrationPlan(task: String, camera: String, seed: UInt64) throws -> VideoPlan {
        let demonstration = try play(task: task, camera: camera, seed: seed, driver: .expert)
        guard demonstration.success else {
            throw ControlError("the expert failed \(task) on seed \(seed) (\(camera)); there is no demonstration to cut a plan from")
        }
        let indices = EpisodeRecord.planIndices(start: 0, frameCount: demonstration.frames.count, futureFrames: futureFrames)
        return VideoPlan(frames: indices.map { demonstration.frames[$0].resized(width: planResolution, height: planResolution) },
                         source: "oracle (expert demonstration)")
    }
}
