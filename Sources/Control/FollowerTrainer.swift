import Foundation
import NN
import Tensor

/// Settings of a follower training run (stored in its checkpoints).
public struct FollowerTrainingOptions: Codable, Sendable, Equatable {
    public var batchSize = 64
    public var learningRate: Float = 1e-3
    public var weightDecay: Float = 1e-4
    public var gradientClip: Float = 1
    /// Weight of the "goal reached" loss next to the action loss.
    public var reachedWeight: Float = 0.5
    public var augmentation = FollowerData.Augmentation()
    public var seed: UInt64 = 0

    public init() {}
}

/// Losses of one step: the action chunk's mean squared error, the "reached" cross-entropy and
/// how often "reached" was right.
public struct FollowerLosses: Sendable {
    public var action: Float
    public var reached: Float
    public var reachedAccuracy: Float
}

/// Trains a ``FollowerNet`` by behaviour cloning of the expert's labels on ``FollowerData``
/// (hindsight goals on demonstrations, DAgger goals on follower-driven episodes).
public final class FollowerTrainer {
    public let net: FollowerNet
    public let options: FollowerTrainingOptions
    public private(set) var step = 0
    let optimizer: AdamW
    private var rng: SeededRNG

    public init(config: FollowerConfig, options: FollowerTrainingOptions) throws {
        net = try FollowerNet(config: config, seed: options.seed)
        self.options = options
        optimizer = AdamW(parameters: net.parameters(), learningRate: options.learningRate, weightDecay: options.weightDecay)
        rng = SeededRNG(seed: options.seed &+ 1)
    }

    public var follower: PlanFollower { PlanFollower(net: net) }

    public func trainStep(data: FollowerData) throws -> FollowerLosses {
        let batch = data.batch(size: options.batchSize, augmentation: options.augmentation, rng: &rng)
        net.zeroGrad()
        let (actions, logits) = net(frame: batch.frames, goals: batch.goals, proprioception: batch.proprioception)
        let actionLoss = ((actions - batch.actions).square() * batch.actionMask).sum() * (1 / max(1, batch.actionMask.sum().item))
        // Binary cross-entropy with logits, only where "reached" is known.
        let perSample = logits.relu() - logits * batch.reached + ((logits.abs() * -1).exp() + 1).log()
        let known = max(1, batch.reachedMask.sum().item)
        let reachedLoss = (perSample * batch.reachedMask).sum() * (1 / known)
        let loss = actionLoss + reachedLoss * options.reachedWeight
        guard loss.item.isFinite else { throw ControlError("follower training diverged at step \(step) (loss \(loss.item))") }
        loss.backward()
        let norm = clipGradientNorm(net.parameters(), maxNorm: options.gradientClip)
        guard norm.isFinite else { throw ControlError("follower training diverged at step \(step) (gradient norm \(norm))") }
        optimizer.update()
        step += 1
        let predicted = logits.toArray(), targets = batch.reached.toArray(), mask = batch.reachedMask.toArray()
        var right: Float = 0
        for i in predicted.indices where mask[i] > 0 && (predicted[i] > 0) == (targets[i] > 0.5) { right += 1 }
        return FollowerLosses(action: actionLoss.item, reached: reachedLoss.item, reachedAccuracy: right / known)
    }

    // MARK: - Checkpoints

    /// Writes `checkpoint.safetensors` (network, optimiser, step, settings) and the network alone as
    /// `model.safetensors`, the file `eval` and the executor load.
    public func save(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let metadata = [
            "format": "videoagent-follower-training-1", "step": String(step),
            "config": String(decoding: try encoder.encode(net.config), as: UTF8.self),
            "options": String(decoding: try encoder.encode(options), as: UTF8.self),
        ]
        let tensors = net.namedTensors().map { ("model." + $0.name, $0.tensor) } + optimizer.state().map { ("optimizer." + $0.name, $0.tensor) }
        try Safetensors.write(tensors, metadata: metadata, to: directory + "/checkpoint.safetensors")
        try follower.save(to: directory + "/model.safetensors", extra: ["step": String(step)])
    }

    /// Continues the run saved in `directory`.
    public static func resume(from directory: String) throws -> FollowerTrainer {
        let (tensors, metadata) = try Safetensors.read(directory + "/checkpoint.safetensors")
        let decoder = JSONDecoder()
        guard metadata["format"] == "videoagent-follower-training-1", let step = metadata["step"].flatMap({ Int($0) }),
              let config = metadata["config"].flatMap({ try? decoder.decode(FollowerConfig.self, from: Data($0.utf8)) }),
              let options = metadata["options"].flatMap({ try? decoder.decode(FollowerTrainingOptions.self, from: Data($0.utf8)) })
        else { throw ControlError("\(directory)/checkpoint.safetensors is not a follower training checkpoint") }
        let trainer = try FollowerTrainer(config: config, options: options)
        try trainer.net.load(Safetensors.tensors(tensors, under: "model."))
        try trainer.optimizer.load(state: Safetensors.tensors(tensors, under: "optimizer."))
        trainer.step = step
        trainer.rng = SeededRNG(seed: options.seed &+ UInt64(step) &+ 1)
        return trainer
    }
}
