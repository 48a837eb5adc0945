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
    /// Weight of the hand estimator's loss (its own parameters only: its estimates enter the policy detached).
    public var handWeight: Float = 1
    /// Weight of the auxiliary landmark loss (scene key points relative to the hand).
    public var landmarkWeight: Float = 1
    public var augmentation = FollowerData.Augmentation()
    public var seed: UInt64 = 0
    /// The saved follower is the exponential moving average of the weights (steadier than the last step).
    public var emaDecay: Float = 0.999
    /// The learning rate falls along a cosine to this fraction of itself at `totalSteps`.
    public var finalLearningRate: Float = 0.05
    public var totalSteps = 10_000

    public init() {}

    enum CodingKeys: String, CodingKey {
        case batchSize, learningRate, weightDecay, gradientClip, reachedWeight, handWeight, landmarkWeight, augmentation, seed, emaDecay,
             finalLearningRate, totalSteps
    }

    public init(from decoder: any Decoder) throws {
        // Checkpoints written before the average and the schedule existed read with today's defaults.
        let c = try decoder.container(keyedBy: CodingKeys.self)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        learningRate = try c.decode(Float.self, forKey: .learningRate)
        weightDecay = try c.decode(Float.self, forKey: .weightDecay)
        gradientClip = try c.decode(Float.self, forKey: .gradientClip)
        reachedWeight = try c.decode(Float.self, forKey: .reachedWeight)
        handWeight = try c.decodeIfPresent(Float.self, forKey: .handWeight) ?? 1
        landmarkWeight = try c.decodeIfPresent(Float.self, forKey: .landmarkWeight) ?? 1
        augmentation = try c.decode(FollowerData.Augmentation.self, forKey: .augmentation)
        seed = try c.decode(UInt64.self, forKey: .seed)
        emaDecay = try c.decodeIfPresent(Float.self, forKey: .emaDecay) ?? 0
        finalLearningRate = try c.decodeIfPresent(Float.self, forKey: .finalLearningRate) ?? 1
        totalSteps = try c.decodeIfPresent(Int.self, forKey: .totalSteps) ?? Int.max
    }

    /// Where the learning-rate schedule ends; nil for checkpoints saved before runs had one (constant rate).
    public var scheduleEnd: Int? { totalSteps > 0 && totalSteps != Int.max ? totalSteps : nil }

    /// The learning rate at `step`.
    func learningRate(at step: Int) -> Float {
        guard let totalSteps = scheduleEnd else { return learningRate }
        let progress = min(1, Float(step) / Float(totalSteps))
        return learningRate * (finalLearningRate + (1 - finalLearningRate) * 0.5 * (1 + cosf(.pi * progress)))
    }
}

/// Losses of one step: the action chunk's mean squared error, the "reached" cross-entropy,
/// how often "reached" was right, the hand estimator's mean error in centimetres (0 without one)
/// and the landmark head's (0 without one or without landmarks in the batch).
public struct FollowerLosses: Sendable {
    public var action: Float
    public var reached: Float
    public var reachedAccuracy: Float
    public var handCentimetres: Float = 0
    public var landmarkCentimetres: Float = 0
    /// Seconds this step spent cutting its batch (decoding the stored frames), of the step's whole time.
    public var batchSeconds: Double = 0
}

/// Trains a ``FollowerNet`` by behaviour cloning of the expert's labels on ``FollowerData``
/// (hindsight goals on demonstrations, DAgger goals on follower-driven episodes).
public final class FollowerTrainer {
    public let net: FollowerNet
    public let options: FollowerTrainingOptions
    public private(set) var step = 0
    let optimizer: AdamW
    let average: EMA
    private var rng: SeededRNG

    public init(config: FollowerConfig, options: FollowerTrainingOptions) throws {
        net = try FollowerNet(config: config, seed: options.seed)
        self.options = options
        optimizer = AdamW(parameters: net.parameters(), learningRate: options.learningRate, weightDecay: options.weightDecay)
        average = EMA(parameters: net.parameters(), decay: options.emaDecay)
        rng = SeededRNG(seed: options.seed &+ 1)
    }

    /// Starts a new run from a saved follower's weights (fine-tuning, or training longer than a
    /// finished run's schedule allowed): the network and its average begin there, the optimiser
    /// and the learning-rate schedule start afresh.
    ///
    /// With `wrist` (pixels) a follower trained without a wrist camera gets one: its ``WristEncoder``
    /// starts fresh, its output at zero, so the follower begins acting exactly as the one it starts from.
    /// With `landmarks` (points) a follower without a landmark head gets one, fresh; it only adds a loss,
    /// so the actions are unchanged too. With `wristHeight` (metres) the wrist camera is moved: the
    /// weights stay and learn the new view from data collected there.
    public convenience init(startingFrom follower: PlanFollower, options: FollowerTrainingOptions, wrist: Int? = nil,
                            landmarks: Int? = nil, wristHeight: Float? = nil) throws {
        var config = follower.net.config
        if let wrist, wrist != config.wrist {
            guard config.wrist == 0 else {
                throw ControlError("the follower already has a \(config.wrist)-pixel wrist camera; fine-tune it without --wrist")
            }
            config.wrist = wrist
        }
        if let wristHeight {
            guard config.wrist > 0 else { throw ControlError("the follower has no wrist camera to move; give it one with --wrist") }
            config.wristHeight = wristHeight
        }
        if let landmarks, landmarks != config.landmarks {
            guard config.landmarks == 0 else {
                throw ControlError("the follower already has a landmark head for \(config.landmarks) points; fine-tune it without --landmarks")
            }
            config.landmarks = landmarks
        }
        try self.init(config: config, options: options)
        var tensors = Dictionary(uniqueKeysWithValues: follower.net.namedTensors().map { ($0.name, $0.tensor) })
        // Parts the saved follower lacks start as initialised: a wrist encoder adds nothing until trained,
        // a landmark head only adds a loss.
        for (name, tensor) in net.namedTensors() where tensors[name] == nil && (name.hasPrefix("wrist.") || name.hasPrefix("landmarkHead.")) {
            tensors[name] = tensor
        }
        try net.load(tensors)
        average.reset(to: net.parameters())
    }

    /// The follower being trained (its current weights).
    public var follower: PlanFollower { PlanFollower(net: net) }

    /// The follower with the averaged weights: what is saved and shipped.
    public func averagedFollower() throws -> PlanFollower {
        let copy = try FollowerNet(config: net.config)
        try copy.load(weightsOf: net)
        if options.emaDecay > 0 { average.copy(into: copy.parameters()) }
        return PlanFollower(net: copy)
    }

    public func trainStep(data: FollowerData) throws -> FollowerLosses {
        let cutStart = DispatchTime.now().uptimeNanoseconds
        let batch = try data.batch(size: options.batchSize, augmentation: options.augmentation, rng: &rng)
        let batchSeconds = Double(DispatchTime.now().uptimeNanoseconds - cutStart) / 1e9
        net.zeroGrad()
        let (actions, logits, hands, landmarks) = net(frame: batch.frames, goals: batch.goals, proprioception: batch.proprioception,
                                                      wrist: batch.wrist)
        let actionLoss = ((actions - batch.actions).square() * batch.actionMask).sum() * (1 / max(1, batch.actionMask.sum().item))
        // Binary cross-entropy with logits, only where "reached" is known.
        let perSample = logits.relu() - logits * batch.reached + ((logits.abs() * -1).exp() + 1).log()
        let known = max(1, batch.reachedMask.sum().item)
        let reachedLoss = (perSample * batch.reachedMask).sum() * (1 / known)
        var loss = actionLoss + reachedLoss * options.reachedWeight
        var handCentimetres: Float = 0
        if let hands {
            let errors = (hands - batch.hands).square() * batch.handMask
            let handLoss = errors.sum() * (1 / max(1, batch.handMask.sum().item))
            loss = loss + handLoss * options.handWeight
            handCentimetres = Self.meanPositionError(errors.detached(), mask: batch.handMask, stride: 4)
        }
        var landmarkCentimetres: Float = 0
        if let landmarks, batch.landmarkMask.sum().item > 0 {
            let errors = (landmarks - batch.landmarks).square() * batch.landmarkMask
            loss = loss + errors.sum() * (options.landmarkWeight / batch.landmarkMask.sum().item)
            landmarkCentimetres = Self.meanPositionError(errors.detached(), mask: batch.landmarkMask, stride: 3)
        }
        guard loss.item.isFinite else { throw ControlError("follower training diverged at step \(step) (loss \(loss.item))") }
        loss.backward()
        let norm = clipGradientNorm(net.parameters(), maxNorm: options.gradientClip)
        guard norm.isFinite else { throw ControlError("follower training diverged at step \(step) (gradient norm \(norm))") }
        optimizer.learningRate = options.learningRate(at: step)
        optimizer.update()
        if options.emaDecay > 0 { average.update() }
        step += 1
        let predicted = logits.toArray(), targets = batch.reached.toArray(), mask = batch.reachedMask.toArray()
        var right: Float = 0
        for i in predicted.indices where mask[i] > 0 && (predicted[i] > 0) == (targets[i] > 0.5) { right += 1 }
        return FollowerLosses(action: actionLoss.item, reached: reachedLoss.item, reachedAccuracy: right / known,
                              handCentimetres: handCentimetres, landmarkCentimetres: landmarkCentimetres, batchSeconds: batchSeconds)
    }

    /// Mean distance between estimated and true positions, in centimetres, from squared errors in
    /// ``FollowerInput/proprioception(_:)`` units (metres × 4): a point's x, y, z start every `stride`
    /// values (4 for hands, whose 4th value is the opening; 3 for landmarks).
    static func meanPositionError(_ squaredErrors: Tensor, mask: Tensor, stride pointStride: Int) -> Float {
        let e = squaredErrors.toArray(), m = mask.toArray()
        var total: Float = 0, count: Float = 0
        for row in stride(from: 0, to: e.count, by: pointStride) where m[row] > 0 {
            total += (e[row] + e[row + 1] + e[row + 2]).squareRoot() / FollowerInput.positionScale * 100
            count += 1
        }
        return count > 0 ? total / count : 0
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
        var tensors = net.namedTensors().map { ("model." + $0.name, $0.tensor) } + optimizer.state().map { ("optimizer." + $0.name, $0.tensor) }
        tensors += zip(net.namedParameters(), average.shadow).map { ("ema." + $0.0.name, $0.1) }
        try Safetensors.write(tensors, metadata: metadata, to: directory + "/checkpoint.safetensors")
        try averagedFollower().save(to: directory + "/model.safetensors", extra: ["step": String(step)])
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
        let averaged = Safetensors.tensors(tensors, under: "ema.")
        for ((name, _), shadow) in zip(trainer.net.namedParameters(), trainer.average.shadow) {
            // A checkpoint without an average starts it from the weights.
            let source = averaged[name] ?? trainer.net.namedTensors().first { $0.name == name }!.tensor
            source.withValues { src in shadow.withMutableValues { _ = $0.update(fromContentsOf: src) } }
        }
        trainer.step = step
        trainer.rng = SeededRNG(seed: options.seed &+ UInt64(step) &+ 1)
        return trainer
    }
}
