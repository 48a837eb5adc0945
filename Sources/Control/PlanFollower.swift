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

    public init(net: FollowerNet, reachThreshold: Float = 0.5) {
        self.net = net
        self.reachThreshold = reachThreshold
    }

    public var config: FollowerConfig { net.config }

    /// Decisions for episodes that are acting, in one batch.
    public func decide(_ loops: [EpisodeLoop]) -> [Decision] {
        guard !loops.isEmpty else { return [] }
        let inputs = loops.map { loop -> (frame: RGBImage, goal: RGBImage, next: RGBImage, proprioception: [Float]) in
            guard let (goal, next) = loop.goalFrames else { preconditionFailure("an episode follows no plan yet") }
            return (loop.observation.frame, goal, next, loop.observation.proprioception)
        }
        let (actions, reached, _, _) = withoutGrad {
            net(frame: Self.frames(inputs.map(\.frame), side: config.resolution),
                goals: Self.goalPairs(inputs.map { ($0.goal, $0.next) }, side: config.planResolution),
                proprioception: Tensor(shape: [loops.count, 4], values: inputs.flatMap { FollowerInput.proprioception($0.proprioception) }))
        }
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
        guard let decay = ensembleDecay else { return chunk[0] }
        return loop.recentChunks.action(step: loop.steps, plan: loop.plans.count, chunk: chunk, decay: decay)
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
struct ChunkEnsemble {
    private var chunks: [(step: Int, plan: Int, actions: [[Float]])] = []

    mutating func action(step: Int, plan: Int, chunk: [[Float]], decay: Float) -> [Float] {
        chunks.removeAll { step - $0.step >= $0.actions.count || $0.step >= step || $0.plan != plan }
        chunks.append((step, plan, chunk))
        var sum = [Float](repeating: 0, count: chunk[0].count), total: Float = 0
        for (made, _, actions) in chunks {
            let weight = exp(-decay * Float(step - made))
            for j in sum.indices { sum[j] += weight * actions[step - made][j] }
            total += weight
        }
        return sum.map { $0 / total }
    }
}
