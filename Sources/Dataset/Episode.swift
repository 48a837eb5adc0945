import Foundation

/// One recorded episode, as `episode.json` stores it next to its frames.
///
/// `frames` PNGs are the observations before each action plus the last one, so there is one
/// more frame than actions; `proprioception[i]` belongs to `frame_i`.
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

    public init(environment: String, task: String, instruction: String, camera: String, seed: UInt64, resolution: Int,
                success: Bool, steps: Int, frameCount: Int, actions: [[Float]], proprioception: [[Float]]) {
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
    }

    /// The folder of an episode inside a dataset.
    public static func relativePath(task: String, camera: String, seed: UInt64) -> String {
        "episodes/\(task)/\(camera)/seed-\(seed)"
    }

    public static func frameName(_ index: Int) -> String {
        "frame_" + String(repeating: "0", count: max(0, 3 - String(index).count)) + String(index) + ".png"
    }
}

/// Expert success per task and camera, as `summary.json` stores it.
public struct CollectionSummary: Codable, Sendable {
    public struct Cell: Codable, Sendable {
        public var task: String
        public var camera: String
        public var isHard: Bool
        public var attempted: Int
        public var succeeded: Int
        public var successRate: Double { attempted == 0 ? 0 : Double(succeeded) / Double(attempted) }
        public var meanSteps: Double

        enum CodingKeys: String, CodingKey { case task, camera, isHard = "is_hard", attempted, succeeded, successRate = "success_rate", meanSteps = "mean_steps" }
        public init(task: String, camera: String, isHard: Bool, attempted: Int, succeeded: Int, meanSteps: Double) {
            self.task = task
            self.camera = camera
            self.isHard = isHard
            self.attempted = attempted
            self.succeeded = succeeded
            self.meanSteps = meanSteps
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            task = try c.decode(String.self, forKey: .task)
            camera = try c.decode(String.self, forKey: .camera)
            isHard = try c.decode(Bool.self, forKey: .isHard)
            attempted = try c.decode(Int.self, forKey: .attempted)
            succeeded = try c.decode(Int.self, forKey: .succeeded)
            meanSteps = try c.decode(Double.self, forKey: .meanSteps)
        }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(task, forKey: .task)
            try c.encode(camera, forKey: .camera)
            try c.encode(isHard, forKey: .isHard)
            try c.encode(attempted, forKey: .attempted)
            try c.encode(succeeded, forKey: .succeeded)
            try c.encode(successRate, forKey: .successRate)
            try c.encode(meanSteps, forKey: .meanSteps)
        }
    }

    public var environment: String
    public var resolution: Int
    public var seedStart: UInt64
    public var episodesPerCell: Int
    public var keptFailures: Bool
    public var cells: [Cell]
    public var overallSuccessRate: Double {
        let a = cells.reduce(0) { $0 + $1.attempted }
        return a == 0 ? 0 : Double(cells.reduce(0) { $0 + $1.succeeded }) / Double(a)
    }

    enum CodingKeys: String, CodingKey {
        case environment, resolution, seedStart = "seed_start", episodesPerCell = "episodes_per_cell"
        case keptFailures = "kept_failures", cells, overallSuccessRate = "overall_success_rate"
    }
    public init(environment: String, resolution: Int, seedStart: UInt64, episodesPerCell: Int, keptFailures: Bool, cells: [Cell]) {
        self.environment = environment
        self.resolution = resolution
        self.seedStart = seedStart
        self.episodesPerCell = episodesPerCell
        self.keptFailures = keptFailures
        self.cells = cells
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        environment = try c.decode(String.self, forKey: .environment)
        resolution = try c.decode(Int.self, forKey: .resolution)
        seedStart = try c.decode(UInt64.self, forKey: .seedStart)
        episodesPerCell = try c.decode(Int.self, forKey: .episodesPerCell)
        keptFailures = try c.decode(Bool.self, forKey: .keptFailures)
        cells = try c.decode([Cell].self, forKey: .cells)
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(environment, forKey: .environment)
        try c.encode(resolution, forKey: .resolution)
        try c.encode(seedStart, forKey: .seedStart)
        try c.encode(episodesPerCell, forKey: .episodesPerCell)
        try c.encode(keptFailures, forKey: .keptFailures)
        try c.encode(cells, forKey: .cells)
        try c.encode(overallSuccessRate, forKey: .overallSuccessRate)
    }
}
