import Environments
import Foundation
import Media
import NN
import Tensor

/// Turns a video plan into actions: the learned, closed-loop, goal-conditioned follower.
///
/// At run time it sees only what a real robot has — the camera frame, its own proprioception and
/// the plan — never the environment, its simulator state or its scripted expert (it holds
/// nothing but its network). It gets no task sentence: the plan says what to do.
public final class PlanFollower {
    public let net: FollowerNet
    /// The goal frame counts as reached above this probability.
    public var reachThreshold: Float
    /// When set, a goal frame also counts as reached after this many steps on it (a pace that
    /// keeps the follower moving through the plan when its own judgement hesitates).
    public var maxStepsPerGoal: Int?
    /// The action sent is a weighted mean of what the last chunks predicted for this step
    /// (temporal ensembling, as in ACT): the prediction made k steps ago weighs exp(−decay·k).
    /// 0, the default, is the plain mean (chosen on validation seeds: see the model card); nil
    /// sends the newest chunk's first action alone.
    public var ensembleDecay: Float? = 0
    /// The follower looks at a fresh camera frame — and runs its network — only every `frameEvery`
    /// steps (at most its chunk length), and whenever it moved on to another plan frame or plan; in
    /// between it sends what its recent chunks predicted for the step, open loop. 1, the default,
    /// decides every step. Frames cost far more than steps in MetaWorld (a 64 px frame ~110 ms, a step
    /// 0.4 ms): a driver may let the environment skip the frames it will not look at
    /// (``Decision/looksNext``, ``EpisodeLoop/act(_:in:skippingFrames:)``).
    public private(set) var frameEvery = 1

    /// Sets ``frameEvery`` (`--frame-every`; 1 to the chunk length), or says which values this follower allows.
    public func look(every steps: Int) throws {
        guard (1...config.chunk).contains(steps) else {
            throw ControlError("--frame-every \(steps): the follower predicts \(config.chunk) actions at a time, so it needs a frame "
                + "every 1 to \(config.chunk) steps")
        }
        frameEvery = steps
    }

    public init(net: FollowerNet, reachThreshold: Float = 0.5) {
        self.net = net
        self.reachThreshold = reachThreshold
    }

    public var config: FollowerConfig { net.config }

    /// Attaches the wrist camera this follower was trained with (none: takes any away), or says
    /// why `environment` cannot run it.
    public func prepare(_ environment: any Environment) throws {
        try environment.attachWristCamera(resolution: config.wrist, height: config.wristHeight)
    }

    /// Decisions for episodes that are acting, in one batch: the network runs on those that need a
    /// fresh frame (``frameEvery``); the others carry on with their recent chunks.
    public func decide(_ loops: [EpisodeLoop]) -> [Decision] {
        let looking = loops.indices.filter { needsFrame(loops[$0]) }
        let fresh = decideFromFrames(looking.map { loops[$0] })
        var decisions = [Decision?](repeating: nil, count: loops.count)
        for (i, decision) in zip(looking, fresh) { decisions[i] = decision }
        return loops.indices.map { i in
            var decision = decisions[i] ?? Decision(action: loops[i].recentChunks.carryOn(step: loops[i].steps, plan: loops[i].plans.count,
                                                                                        decay: ensembleDecay))
            // The next step needs a frame when this one moves on to the next plan frame or the chunk's turn is up.
            let lastLook = loops[i].recentChunks.newest?.step ?? loops[i].steps
            decision.looksNext = decision.reachedGoal || loops[i].steps + 1 - lastLook >= frameEvery
            return decision
        }
    }

    /// A fresh frame is due: none seen for this plan and plan frame yet, or `frameEvery` steps since the last.
    private func needsFrame(_ loop: EpisodeLoop) -> Bool {
        guard frameEvery > 1, let last = loop.recentChunks.newest, last.plan == loop.plans.count, last.goal == loop.goal else { return true }
        return loop.steps - last.step >= frameEvery
    }

    private func decideFromFrames(_ loops: [EpisodeLoop]) -> [Decision] {
        guard !loops.isEmpty else { return [] }
        let inputs = loops.map { loop -> (frame: RGBImage, goal: RGBImage, next: RGBImage, proprioception: [Float]) in
            guard let (goal, next) = loop.goalFrames else { preconditionFailure("an episode follows no plan yet") }
            return (loop.observation.frame, goal, next, loop.observation.proprioception)
        }
        var wrist: Tensor?
        if config.wrist > 0 {
            // Checked when the environment is set up (``prepare(_:)``): an observation without one is a driver's bug.
            wrist = Self.frames(loops.map { loop in
                guard let frame = loop.observation.wrist else { preconditionFailure("this follower needs the wrist camera's frames") }
                return frame
            }, side: config.wrist)
        }
        let (actions, reached, _, _) = withoutGrad {
            net(frame: Self.frames(inputs.map(\.frame), side: config.resolution),
                goals: Self.goalPairs(inputs.map { ($0.goal, $0.next) }, side: config.planResolution),
                proprioception: Tensor(shape: [loops.count, 4], values: inputs.flatMap { FollowerInput.proprioception($0.proprioception) }),
                wrist: wrist)
        }
        for loop in loops { loop.followerFrames += 1 }
        let actionValues = actions.toArray(), logits = reached.toArray()
        let stride = config.chunk * 4
        return (0..<loops.count).map { i in
            let chunk = (0..<config.chunk).map { k in Array(actionValues[(i * stride + k * 4)..<(i * stride + k * 4 + 4)]) }
            return Decision(action: ensembled(chunk, for: loops[i]),
                            reachedGoal: 1 / (1 + exp(-logits[i])) > reachThreshold
                                || maxStepsPerGoal.map { loops[i].stepsOnGoal + 1 >= $0 } ?? false)
        }
    }

    /// The action for this step: the chunk's first, or the ensemble of the episode's recent chunks
    /// (kept with the episode, so the follower itself still holds nothing but its network).
    private func ensembled(_ chunk: [[Float]], for loop: EpisodeLoop) -> [Float] {
        loop.recentChunks.action(step: loop.steps, plan: loop.plans.count, goal: loop.goal, chunk: chunk, decay: ensembleDecay)
    }

    /// (B, 3, side, side) in [−1, 1].
    static func frames(_ images: [RGBImage], side: Int) -> Tensor {
        Tensor(shape: [images.count, 3, side, side], values: images.flatMap { $0.resized(width: side, height: side).planarSigned() })
    }

    /// (B, 6, side, side): each goal frame and the plan frame after it, on channels.
    static func goalPairs(_ pairs: [(RGBImage, RGBImage)], side: Int) -> Tensor {
        Tensor(shape: [pairs.count, 6, side, side], values: pairs.flatMap {
            $0.0.resized(width: side, height: side).planarSigned() + $0.1.resized(width: side, height: side).planarSigned()
        })
    }

    // MARK: - Checkpoints

    /// Saves the network with its configuration (safetensors; metadata `config`, `format`).
    public func save(to path: String, extra: [String: String] = [:]) throws {
        var metadata = extra
        metadata["format"] = "videoagent-follower-1"
        metadata["config"] = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        try net.save(to: path, metadata: metadata)
    }

    /// Loads a follower saved by ``save(to:extra:)`` (or a training checkpoint's `model.safetensors`).
    public static func load(_ path: String) throws -> (PlanFollower, metadata: [String: String]) {
        let (tensors, metadata) = try Safetensors.read(path)
        guard metadata["format"] == "videoagent-follower-1", let text = metadata["config"],
              let config = try? JSONDecoder().decode(FollowerConfig.self, from: Data(text.utf8))
        else {
            throw ControlError("\(path) is not a plan follower (no videoagent-follower-1 metadata); train one with "
                + "videoagent train-follower")
        }
        let net = try FollowerNet(config: config)
        try net.load(tensors)
        return (PlanFollower(net: net), metadata)
    }
}

/// Temporal ensembling of action chunks: every step the follower predicts the next `chunk`
/// actions; the action sent at step t averages the predictions for t made at t, t − 1, …, the one
/// made k steps ago weighing exp(−decay·k). Chunks made for an earlier plan are dropped.
/// Measured on validation seeds 4000–4009 (oracle plans): success 35.0 % with the newest chunk
/// alone, 44.4 % with the plain mean (decay 0), 43.9 % at 0.1, 40.0 % at 1.
/// With no decay (nil) the newest chunk's action for the step is sent alone.
struct ChunkEnsemble {
    /// The step, plan and plan frame a chunk was predicted at, and its actions.
    struct Chunk {
        let step: Int, plan: Int, goal: Int
        let actions: [[Float]]
    }
    private var chunks: [Chunk] = []

    var newest: Chunk? { chunks.last }

    /// Adds the chunk just predicted at `step` and returns the action to send.
    mutating func action(step: Int, plan: Int, goal: Int, chunk: [[Float]], decay: Float?) -> [Float] {
        drop(before: step, plan: plan)
        chunks.removeAll { $0.step >= step }
        chunks.append(Chunk(step: step, plan: plan, goal: goal, actions: chunk))
        return mean(step: step, decay: decay)
    }

    /// The action for `step` from the chunks predicted before it, without a new one (no frame this step).
    mutating func carryOn(step: Int, plan: Int, decay: Float?) -> [Float] {
        drop(before: step, plan: plan)
        precondition(!chunks.isEmpty, "a follower carries on only from a chunk that still covers the step")
        return mean(step: step, decay: decay)
    }

    /// Forgets chunks that end before `step` or were made for another plan.
    private mutating func drop(before step: Int, plan: Int) {
        chunks.removeAll { step - $0.step >= $0.actions.count || $0.plan != plan }
    }

    private func mean(step: Int, decay: Float?) -> [Float] {
        guard let decay else {
            let last = chunks[chunks.count - 1]
            return last.actions[step - last.step]
        }
        var sum = [Float](repeating: 0, count: chunks[0].actions[0].count), total: Float = 0
        for chunk in chunks {
            let weight = exp(-decay * Float(step - chunk.step))
            for j in sum.indices { sum[j] += weight * chunk.actions[step - chunk.step][j] }
            total += weight
        }
        return sum.map { $0 / total }
    }
}
