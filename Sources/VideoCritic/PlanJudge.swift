import Media

/// What a judge found wrong with a plan, with the sentence a refiner (or a person) reads.
public enum FeedbackCategory: String, CaseIterable, Codable, Sendable {
    case ok
    case noMotion = "no_motion"
    case sceneJumps = "scene_jumps"
    case noContact = "no_contact"
    case incomplete
    case objectTeleports = "object_teleports"
    case wrongTask = "wrong_task"

    /// At most 20 words, as the paper's descriptive prompt asks.
    public var sentence: String {
        switch self {
        case .ok: return "the plan looks plausible and completes the task"
        case .noMotion: return "nothing moves: the plan repeats the first frame"
        case .sceneJumps: return "the scene changes between frames instead of moving smoothly"
        case .noContact: return "the gripper never reaches the object it has to move"
        case .incomplete: return "the plan does not finish the task"
        case .objectTeleports: return "an object moves without being touched"
        case .wrongTask: return "the plan does a different task than the one asked"
        }
    }
}

/// A judge's verdict on a plan.
public struct PlanVerdict: Sendable, Equatable {
    /// Probability that executing the plan succeeds.
    public var acceptProbability: Float
    /// The decision at the judge's threshold.
    public var accept: Bool
    /// Plausibility of each future frame, 0…1.
    public var frameScores: [Float]
    public var feedback: FeedbackCategory
    /// The judge's own words when it gave some (a vision-language model); else the category's sentence.
    public var sentence: String?

    public init(acceptProbability: Float, accept: Bool, frameScores: [Float], feedback: FeedbackCategory, sentence: String? = nil) {
        self.acceptProbability = acceptProbability
        self.accept = accept
        self.frameScores = frameScores
        self.feedback = feedback
        self.sentence = sentence
    }

    /// What to tell a refiner.
    public var feedbackSentence: String { sentence ?? feedback.sentence }
}

/// Judges video plans: the observation, every frame of the plan (the last one too, which the
/// paper's code never showed its judge), and the task sentence.
public protocol PlanJudge: Sendable {
    /// For reports and the critique's `critic` field ("motion-heuristic", "learned@3", "gpt-4o").
    var name: String { get }
    /// - Parameter plan: the plan's future frames (without the observation).
    func judge(observation: RGBImage, plan: [RGBImage], task: String) throws -> PlanVerdict
    /// Verdicts for many plans at once, each given with its observation as the first frame. A judge
    /// that can batch (the learned one: one network pass) answers them together; the default
    /// judges one plan at a time.
    func judge(_ plans: [(frames: [RGBImage], task: String)]) throws -> [PlanVerdict]
}

/// The stand-in judge until a learned one is trained: a rule on how the frames change. It
/// rejects a plan in which nothing moves, or whose frames jump (one change far larger than the
/// others); it knows nothing of the task. Its accuracy is not claimed; the learned judge is
/// measured against it as the hand-crafted baseline.
public struct MotionJudge: PlanJudge {
    public let name = "motion-heuristic"
    /// Mean absolute change (0…1 per channel) between the first and the last frame below which
    /// nothing is said to move.
    public var minimumMotion: Float = 0.004
    /// A step change this many times the median step change is a jump.
    public var jumpRatio: Float = 6

    public init() {}

    public func judge(observation: RGBImage, plan: [RGBImage], task: String) throws -> PlanVerdict {
        let frames = [observation] + plan.map { $0.resized(width: observation.width, height: observation.height) }
        let steps = (1..<frames.count).map { Self.change(frames[$0 - 1], frames[$0]) }
        let total = Self.change(frames[0], frames[frames.count - 1])
        let median = steps.sorted()[steps.count / 2]
        let scores = steps.map { step in median > 0 ? min(1, max(0, 1 - (step / median - 1) / jumpRatio)) : 1 }
        if total < minimumMotion {
            return PlanVerdict(acceptProbability: 0.1, accept: false, frameScores: scores, feedback: .noMotion)
        }
        if let worst = steps.max(), median > 0, worst > jumpRatio * median {
            return PlanVerdict(acceptProbability: 0.3, accept: false, frameScores: scores, feedback: .sceneJumps)
        }
        return PlanVerdict(acceptProbability: 0.7, accept: true, frameScores: scores, feedback: .ok)
    }

    /// Mean absolute difference of two equally sized images, 0…1.
    static func change(_ a: RGBImage, _ b: RGBImage) -> Float {
        var sum = 0
        for i in a.pixels.indices { sum += abs(Int(a.pixels[i]) - Int(b.pixels[i])) }
        return Float(sum) / Float(max(1, a.pixels.count)) / 255
    }
}

extension PlanJudge {
    public func judge(_ plans: [(frames: [RGBImage], task: String)]) throws -> [PlanVerdict] {
        try plans.map { try judge(observation: $0.frames[0], plan: Array($0.frames.dropFirst()), task: $0.task) }
    }

    /// Filtering by the judge: of several candidate plans for one observation and task, the one
    /// it most expects to succeed (the first on a tie), with every candidate's accept probability.
    /// - Parameter candidates: each candidate's future frames (without the observation).
    public func best(of candidates: [[RGBImage]], observation: RGBImage, task: String) throws -> (index: Int, probabilities: [Float]) {
        guard !candidates.isEmpty else { throw CriticError("no candidate plans to choose from") }
        let probabilities = try judge(candidates.map { ([observation] + $0, task) }).map(\.acceptProbability)
        var index = 0
        for (i, p) in probabilities.enumerated() where p > probabilities[index] { index = i }
        return (index, probabilities)
    }
}
