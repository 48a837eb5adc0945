import Foundation

/// One recorded episode, as `episode.json` stores it next to its frames.
///
/// `frames` PNGs are the observations before each action plus the last one, so there is one
/// more frame than actions; `proprioception[i]` belongs to `frame_i`.
///
/// Episodes not driven by the expert alone (exploration noise, a plan follower) also carry the
/// expert's action at each step (`labels`, training targets), and those driven by plans carry
/// the plans (`plan<r>_frame_<k>.png`) and the plan frame pursued at each step (`goals`).
public struct EpisodeRecord: Codable, Sendable, Equatable {
    public var environment: String
    public var task: String
    public var instruction: String
    public var camera: String
    public var seed: UInt64
    public var resolution: Int
    public var success: Bool
    public var steps: Int
    public var frameCount: Int
    public var actions: [[Float]]
    public var proprioception: [[Float]]
    /// What chose the actions: "expert", "expert+noise(0.30)", "follower(β=0.50)", …; nil means expert.
    public var policy: String?
    /// The expert's action at each step, when the actions sent were not the expert's.
    public var labels: [[Float]]?
    /// The plans the episode followed, in order.
    public var plans: [StoredPlan]?
    /// For each step, the index of the plan frame pursued in the plan in force then.
    public var goals: [Int]?
    /// For each frame, the simulator's key points of the scene (x, y, z in metres, point after point),
    /// when the collector could read them: training targets, never a policy's input.
    public var landmarks: [[Float]]?
    /// For an expert episode started from a state another policy reached (`collect --driver
    /// follower-branches`): the step of that policy's episode it starts from. Its frame 0 is that state.
    public var branchedAt: Int?
    /// Pixels of the wrist camera's frames (`wrist_000.png` …, one per frame), when the episode has them.
    public var wristResolution: Int?
    /// How far above the fingertips the wrist camera looked down from, metres; nil in datasets from
    /// before the height was an option (they used 0.10).
    public var wristHeight: Float?

    /// A plan as recorded with an episode: made at `step`, `frameCount` frames (observation first).
    public struct StoredPlan: Codable, Sendable, Equatable {
        public var step: Int
        public var frameCount: Int
        public var source: String

        public init(step: Int, frameCount: Int, source: String) {
            self.step = step
            self.frameCount = frameCount
            self.source = source
        }
    }

    /// The expert's action at each step (the actions themselves for expert episodes).
    public var expertActions: [[Float]] { labels ?? actions }

    /// The plan in force at `step` (index into `plans`).
    public func planIndex(atStep step: Int) -> Int? {
        plans?.lastIndex { $0.step <= step }
    }

    public init(environment: String, task: String, instruction: String, camera: String, seed: UInt64, resolution: Int,
                success: Bool, steps: Int, frameCount: Int, actions: [[Float]], proprioception: [[Float]],
                policy: String? = nil, labels: [[Float]]? = nil, plans: [StoredPlan]? = nil, goals: [Int]? = nil,
                landmarks: [[Float]]? = nil) {
        self.environment = environment
        self.task = task
        self.instruction = instruction
        self.camera = camera
        self.seed = seed
        self.resolution = resolution
        self.success = success
        self.steps = steps
        self.frameCount = frameCount
        self.actions = actions
        self.proprioception = proprioception
        self.policy = policy
        self.labels = labels
        self.plans = plans
        self.goals = goals
        self.landmarks = landmarks
    }

    /// The folder of an episode inside a dataset (branches of one seed side by side).
    public static func relativePath(task: String, camera: String, seed: UInt64, branchedAt: Int? = nil) -> String {
        "episodes/\(task)/\(camera)/seed-\(seed)" + (branchedAt.map { "-from-\($0)" } ?? "")
    }

    public static func frameName(_ index: Int) -> String {
        "frame_" + String(repeating: "0", count: max(0, 3 - String(index).count)) + String(index) + ".png"
    }

    /// The frames a plan made at frame `start` of an episode of `frameCount` frames shows, as a
    /// plan model is trained to draw them (AVDC): `start`, then `futureFrames` frames evenly spaced
    /// to the episode's last frame, so a plan always runs to the task's completion.
    public static func planIndices(start: Int, frameCount: Int, futureFrames: Int) -> [Int] {
        let last = frameCount - 1
        return (0...futureFrames).map { i in start + Int((Double(last - start) * Double(i) / Double(futureFrames)).rounded()) }
    }

    /// Wrist camera frame `index`.
    public static func wristFrameName(_ index: Int) -> String { "wrist_" + frameName(index).dropFirst("frame_".count) }

    /// Frame `index` of plan `plan`.
    public static func planFrameName(plan: Int, _ index: Int) -> String {
        "plan\(plan)_" + frameName(index)
    }
}

/// Expert success per task and camera, as `summary.json` stores it.
public struct CollectionSummary: Codable, Sendable {
    // Constants: the success rates are computed once from the counts (and written to the JSON
    // for readers), so nothing may change the counts afterwards.
    public struct Cell: Codable, Sendable {
        public let task: String
        public let camera: String
        public let isHard: Bool
        public let attempted: Int
        public let succeeded: Int
        public let successRate: Double
        public let meanSteps: Double

        enum CodingKeys: String, CodingKey {
            case task, camera, isHard = "is_hard", attempted, succeeded, successRate = "success_rate", meanSteps = "mean_steps"
        }

        public init(task: String, camera: String, isHard: Bool, attempted: Int, succeeded: Int, meanSteps: Double) {
            self.task = task
            self.camera = camera
            self.isHard = isHard
            self.attempted = attempted
            self.succeeded = succeeded
            successRate = attempted == 0 ? 0 : Double(succeeded) / Double(attempted)
            self.meanSteps = meanSteps
        }
    }

    public let environment: String
    public let resolution: Int
    public let seedStart: UInt64
    public let episodesPerCell: Int
    public let keptFailures: Bool
    public let cells: [Cell]
    public let overallSuccessRate: Double
    /// The same over the hard subset and over the rest, reported separately.
    public let hardSuccessRate: Double
    public let easySuccessRate: Double

    enum CodingKeys: String, CodingKey {
        case environment, resolution, seedStart = "seed_start", episodesPerCell = "episodes_per_cell"
        case keptFailures = "kept_failures", cells, overallSuccessRate = "overall_success_rate"
        case hardSuccessRate = "hard_success_rate", easySuccessRate = "easy_success_rate"
    }

    public init(environment: String, resolution: Int, seedStart: UInt64, episodesPerCell: Int, keptFailures: Bool, cells: [Cell]) {
        self.environment = environment
        self.resolution = resolution
        self.seedStart = seedStart
        self.episodesPerCell = episodesPerCell
        self.keptFailures = keptFailures
        self.cells = cells
        func rate(_ chosen: [Cell]) -> Double {
            let attempted = chosen.reduce(0) { $0 + $1.attempted }
            return attempted == 0 ? 0 : Double(chosen.reduce(0) { $0 + $1.succeeded }) / Double(attempted)
        }
        overallSuccessRate = rate(cells)
        hardSuccessRate = rate(cells.filter(\.isHard))
        easySuccessRate = rate(cells.filter { !$0.isHard })
    }
}
