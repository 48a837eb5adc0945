import Dataset
import Environments
import Media

/// One episode as the agent lives it: observe, get a plan when one is needed, act, watch for a
/// stall and ask for a new plan — the same loop for `collect`, `eval` and the executor service.
///
/// It holds no environment: a driver steps the environment (``act(_:in:skippingFrames:)``) and the
/// step is recorded here, so a driver can run many episodes in lockstep and sample their plans in one batch.
public final class EpisodeLoop {
    public enum Phase: Equatable, Sendable {
        /// The driver must hand over a plan made from ``observation`` (``receive(_:)``).
        case needsPlan
        /// The driver must choose an action and report the step (``record(action:label:result:)``).
        case acting
        case finished
    }

    public enum End: String, Sendable, Codable {
        case success
        /// The environment ended the episode without success.
        case failed
        /// The step limit was reached.
        case stepLimit = "step-limit"
    }

    public let task: TaskInfo
    public let seed: UInt64
    public let camera: String
    public let rule: ReplanRule
    public private(set) var phase: Phase
    public private(set) var observation: Observation
    /// The plan being followed and the index of the plan frame pursued.
    public private(set) var plan: VideoPlan?
    public private(set) var goal = 1
    /// Steps spent on the current goal frame.
    public private(set) var stepsOnGoal = 0
    /// New plans made after the first.
    public private(set) var replans = 0
    /// Times the plan was followed again from an earlier frame (``ReplanRule/rewindFrames``).
    public private(set) var rewinds = 0
    public private(set) var end: End?

    // What happened, for the episode's record.
    public private(set) var frames: [RGBImage]
    /// The wrist camera's frames, one per frame, when the environment has one attached.
    public private(set) var wristFrames: [RGBImage]
    public private(set) var proprioception: [[Float]]
    public private(set) var actions: [[Float]] = []
    /// The expert's action at each step, when the driver knows it (training data).
    public private(set) var labels: [[Float]] = []
    public private(set) var goals: [Int] = []
    public private(set) var plans: [(step: Int, plan: VideoPlan)] = []
    /// The scene's key points at each frame, when a collector reads them from the simulator
    /// (training targets; ``note(landmarks:)``).
    public private(set) var landmarks: [[Float]] = []
    private var stillSteps = 0
    /// The follower's recent action chunks for this episode (its temporal ensemble).
    var recentChunks = ChunkEnsemble()
    /// Camera frames the follower looked at (its network's runs; fewer than the steps with
    /// ``PlanFollower/frameEvery`` above 1).
    public internal(set) var followerFrames = 0

    /// - Parameter planned: episodes that follow plans start by asking for one; expert episodes act at once.
    public init(task: TaskInfo, seed: UInt64, camera: String, first: Observation, rule: ReplanRule = .none, planned: Bool) {
        self.task = task
        self.seed = seed
        self.camera = camera
        self.rule = rule
        observation = first
        frames = [first.frame]
        wristFrames = first.wrist.map { [$0] } ?? []
        proprioception = [first.proprioception]
        phase = planned ? .needsPlan : .acting
    }

    public var steps: Int { actions.count }
    public var success: Bool { end == .success }

    /// The plan frames the follower looks at now: the goal and the one after it (the last frame
    /// stands in for frames past the end).
    public var goalFrames: (RGBImage, RGBImage)? {
        guard let plan else { return nil }
        let k = min(goal, plan.lastIndex)
        return (plan.frames[k], plan.frames[min(k + 1, plan.lastIndex)])
    }

    /// Starts following `plan` from its first future frame.
    public func receive(_ plan: VideoPlan) {
        precondition(phase == .needsPlan, "receive(_:) is for an episode that asked for a plan")
        self.plan = plan
        plans.append((steps, plan))
        goal = 1
        stepsOnGoal = 0
        stillSteps = 0
        phase = .acting
    }

    /// Records `plan` as followed from now on without asking for it (a collector pairing an
    /// expert's episode with a plan it did not follow).
    public func adopt(_ plan: VideoPlan) {
        self.plan = plan
        plans.append((steps, plan))
        goal = 1
        stepsOnGoal = 0
    }

    /// Sets the plan frame pursued (a collector pacing a plan by the expert's clock).
    public func pursue(_ goal: Int) {
        self.goal = max(1, min(goal, plan?.lastIndex ?? 1))
    }

    /// The follower judged the goal frame reached: pursue the next one. Past the last frame the
    /// plan is used up: a new one is asked for when the rule allows; with none left, once the last
    /// frame has been held for a stall's length (``ReplanRule/stallSteps``) and the episode goes on,
    /// the plan is rewound (``ReplanRule/rewindFrames``) while rewinds are left; else the last frame is held.
    public func goalReached() {
        guard phase == .acting, let plan else { return }
        if goal < plan.lastIndex {
            goal += 1
            stepsOnGoal = 0
        } else if rule.replanWhenPlanEnds && replans < rule.maxReplans {
            askForNewPlan()
        } else if rule.replanWhenPlanEnds && stepsOnGoal >= rule.stallSteps && canRewind {
            rewind()
        }
    }

    private var canRewind: Bool { rule.rewindFrames > 0 && rewinds < rule.maxRewinds }

    /// Notes the scene's key points for the latest frame (a collector, from the simulator).
    public func note(landmarks points: [Float]) {
        precondition(landmarks.count < frames.count, "note(landmarks:) once per frame")
        landmarks.append(points)
    }

    /// Sends the decision's action to `environment`, records what came back and moves on to the next
    /// plan frame when the decision says so. With `skippingFrames`, a step the policy will not look at
    /// goes without a rendered frame (its record repeats the last one) — unless the step turned the
    /// episode to a new plan, plan frame or rewind, or ended it (the record keeps how it ended), where
    /// a frame is rendered after all.
    public func act(_ decision: Decision, in environment: any Environment, skippingFrames: Bool = false) throws {
        let before = (plans.count, goal, rewinds, phase)
        let result = try environment.step(decision.action, frame: !skippingFrames || decision.looksNext)
        record(action: decision.action, label: decision.label, result: result)
        if decision.reachedGoal { goalReached() }
        if !result.rendered && (plans.count, goal, rewinds, phase) != before {
            let fresh = try environment.render()
            observation = fresh
            frames[frames.count - 1] = fresh.frame
            if let wrist = fresh.wrist, wristFrames.count == frames.count { wristFrames[wristFrames.count - 1] = wrist }
        }
    }

    /// Records one step: the action sent, the expert's action when known, and what came back.
    public func record(action: [Float], label: [Float]? = nil, result: StepResult) {
        precondition(phase == .acting, "record(action:label:result:) is for an acting episode")
        actions.append(action)
        if let label { labels.append(label) }
        goals.append(plan == nil ? 0 : goal)
        stepsOnGoal += 1
        observation = result.observation
        frames.append(result.observation.frame)
        if let wrist = result.observation.wrist { wristFrames.append(wrist) }
        proprioception.append(result.observation.proprioception)
        if result.success {
            finish(.success)
        } else if result.terminated {
            finish(.failed)
        } else if result.truncated {
            finish(.stepLimit)
        } else if plan != nil {
            // Measured against where the hand was `stallSpan` steps ago (the step before, by default).
            let span = max(1, rule.stallSpan)
            let moved = handDistance(proprioception[max(0, proprioception.count - 1 - span)], result.observation.proprioception)
            stillSteps = moved < rule.stallDistance * Float(span) ? stillSteps + 1 : 0
            if stillSteps >= rule.stallSteps {
                if replans < rule.maxReplans {
                    askForNewPlan()
                } else if canRewind {
                    rewind()
                }
            }
        }
    }

    /// Follows the plan again from ``ReplanRule/rewindFrames`` frames back, with a fresh chunk ensemble
    /// (the chunks predicted while standing still or circling at the last frame would keep the hand there).
    private func rewind() {
        rewinds += 1
        goal = max(1, goal - rule.rewindFrames)
        stepsOnGoal = 0
        stillSteps = 0
        recentChunks = ChunkEnsemble()
    }

    private func askForNewPlan() {
        replans += 1
        phase = .needsPlan
    }

    private func finish(_ end: End) {
        self.end = end
        phase = .finished
    }

    /// The episode as a dataset record, with its frames and its plans' frames (its wrist frames are ``wristFrames``).
    public func record(environment: String, resolution: Int, policy: String) -> (EpisodeRecord, [RGBImage], [[RGBImage]]) {
        var record = EpisodeRecord(
            environment: environment, task: task.name, instruction: task.instruction, camera: camera, seed: seed,
            resolution: resolution, success: success, steps: steps, frameCount: frames.count, actions: actions,
            proprioception: proprioception, policy: policy, labels: labels.count == steps && labels != actions ? labels : nil,
            plans: plans.isEmpty ? nil : plans.map { .init(step: $0.step, frameCount: $0.plan.frames.count, source: $0.plan.source) },
            goals: plans.isEmpty ? nil : goals, landmarks: landmarks.count == frames.count ? landmarks : nil)
        if wristFrames.count == frames.count, let first = wristFrames.first { record.wristResolution = first.width }
        return (record, frames, plans.map(\.plan.frames))
    }
}
