import Environments

/// What a policy decides at one step.
public struct Decision: Sendable {
    public var action: [Float]
    /// The expert's action, when the driver knows it (training data).
    public var label: [Float]?
    /// The goal frame counts as reached: pursue the next one from the next step on.
    public var reachedGoal: Bool
    /// The policy will look at the camera frame of the next step (false: the environment may skip
    /// rendering it, ``EpisodeLoop/act(_:in:skippingFrames:)``).
    public var looksNext: Bool

    public init(action: [Float], label: [Float]? = nil, reachedGoal: Bool = false, looksNext: Bool = true) {
        self.action = action
        self.label = label
        self.reachedGoal = reachedGoal
        self.looksNext = looksNext
    }
}

/// Drives one ``EpisodeLoop`` to its end in one environment (a robot, a `collect` episode).
/// Drivers of many episodes at once (eval) step the same loop themselves.
public enum EpisodeRunner {
    /// - Parameters:
    ///   - plan: makes a plan from the loop's current observation (called when the loop asks).
    ///   - decide: the action for the loop's current state.
    public static func run(_ loop: EpisodeLoop, in environment: any Environment,
                           plan: (EpisodeLoop) throws -> VideoPlan,
                           decide: (EpisodeLoop) throws -> Decision) throws {
        while true {
            switch loop.phase {
            case .finished:
                return
            case .needsPlan:
                loop.receive(try plan(loop))
            case .acting:
                try loop.act(try decide(loop), in: environment)
            }
        }
    }
}
