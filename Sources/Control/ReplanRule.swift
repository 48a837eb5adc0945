/// When an episode asks for a new plan (AVDC's replanning, which VideoAgent's best numbers use):
/// the hand has stayed still for a while, or the plan is used up without success.
public struct ReplanRule: Sendable, Codable, Equatable {
    /// A step moving the hand less than this (metres) counts as still (paper: 0.001).
    public var stallDistance: Float
    /// Consecutive still steps that count as a stall (paper: 15). Consecutive, not cumulative as in
    /// AVDC's code: a closed-loop follower stands still briefly and often (closing the fingers).
    public var stallSteps: Int
    /// New plans allowed after the first (paper: 5; 0 turns replanning off).
    public var maxReplans: Int
    /// Also replan when the follower has reached the plan's last frame and the task is not done.
    public var replanWhenPlanEnds: Bool
    /// With no new plan left to ask for, go back this many plan frames and follow the plan again from
    /// there (0: hold the last frame) — on a stall, or (with ``replanWhenPlanEnds``) when the follower
    /// has held the plan's last frame for ``stallSteps`` steps and the task is not done. A follower that
    /// misses a handle or a grasp goes through the plan's frames all the same and then circles at the
    /// last one; a second pass is a second attempt. `eval` and the stages use 4 (docs/control.md: it raised
    /// the held-out oracle from 69.6 to 73.1 %); the rule's own default is 0, the paper's rule.
    public var rewindFrames: Int
    /// Rewinds allowed per episode.
    public var maxRewinds: Int
    /// Steps over which the hand's movement is measured: a step counts as still when the hand is within
    /// `stallSpan × stallDistance` of where it was `stallSpan` steps before. 1 (the paper's rule) for a
    /// follower that decides every step; a follower that looks only every K steps (``PlanFollower/frameEvery``)
    /// sways through a K-step cycle while it holds a frame — 1 to 5 mm a step, back where it was K steps
    /// later — and is never still step by step, so its stalls are measured over K
    /// (``measuringStalls(over:)``).
    public var stallSpan: Int

    public init(stallDistance: Float = 0.001, stallSteps: Int = 15, maxReplans: Int = 0, replanWhenPlanEnds: Bool = true,
                rewindFrames: Int = 0, maxRewinds: Int = 0, stallSpan: Int = 1) {
        self.stallDistance = stallDistance
        self.stallSteps = stallSteps
        self.maxReplans = maxReplans
        self.replanWhenPlanEnds = replanWhenPlanEnds
        self.rewindFrames = rewindFrames
        self.maxRewinds = maxRewinds
        self.stallSpan = stallSpan
    }

    enum CodingKeys: String, CodingKey { case stallDistance, stallSteps, maxReplans, replanWhenPlanEnds, rewindFrames, maxRewinds, stallSpan }

    public init(from decoder: any Decoder) throws {
        // Rules saved before stall spans existed measured every step.
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(stallDistance: try c.decode(Float.self, forKey: .stallDistance), stallSteps: try c.decode(Int.self, forKey: .stallSteps),
                  maxReplans: try c.decode(Int.self, forKey: .maxReplans),
                  replanWhenPlanEnds: try c.decode(Bool.self, forKey: .replanWhenPlanEnds),
                  rewindFrames: try c.decode(Int.self, forKey: .rewindFrames), maxRewinds: try c.decode(Int.self, forKey: .maxRewinds),
                  stallSpan: try c.decodeIfPresent(Int.self, forKey: .stallSpan) ?? 1)
    }

    /// The same rule with stalls measured over `span` steps: a follower's ``PlanFollower/frameEvery``
    /// (applied where episodes are paired with their follower: eval's runner and the executor).
    public func measuringStalls(over span: Int) -> ReplanRule {
        var rule = self
        rule.stallSpan = max(1, span)
        return rule
    }

    /// The same rule for an arm that follows one plan: no new plans, rewinds as they are.
    public var withoutReplanning: ReplanRule {
        var rule = self
        rule.maxReplans = 0
        return rule
    }

    /// No replanning: one plan per episode.
    public static let none = ReplanRule(maxReplans: 0)
    /// The paper's setting: 15 still steps under 1 mm, at most 5 replans.
    public static let paper = ReplanRule(maxReplans: 5)
}
