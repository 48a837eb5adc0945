import Environments
import NN
import Tensor

/// The shape of a plan follower (stored in its checkpoint).
public struct FollowerConfig: Codable, Sendable, Equatable {
    /// Camera frames the follower sees (square), pixels.
    public var resolution = 64
    /// Plan frames it is given (the plan model's resolution); `resolution` is 1×, 2× or 4× this.
    public var planResolution = 32
    /// Actions predicted per decision; the first is executed, the rest shape the training.
    public var chunk = 4
    /// Channels of the first convolution (the second and third have twice as many).
    public var width = 32
    public var hidden = 256
    /// Reads the hand of the pursued plan frame and the next one with a ``HandEstimator`` and gives
    /// the estimates (and their difference to the robot's own hand) to the policy.
    public var handEstimate = true
    /// Key points of the scene the policy's hidden layer also predicts (relative to the hand) during
    /// training: an auxiliary target that makes it locate the puck, handle or block precisely. Acting
    /// ignores the prediction. 0 = no such head (the default: with it the follower scored higher but
    /// followed other tasks' plans less, see the follower's model card).
    public var landmarks = 0
    /// Pixels of the wrist camera's frames the follower also sees (``WristEncoder``); 0 = no wrist camera.
    public var wrist = 0
    /// How far above the fingertips that camera looks down from, metres (``WristCamera/defaultHeight``
    /// for followers saved before the height was an option).
    public var wristHeight = WristCamera.defaultHeight

    public init(resolution: Int = 64, planResolution: Int = 32, chunk: Int = 4, width: Int = 32, hidden: Int = 256,
                handEstimate: Bool = true, landmarks: Int = 0, wrist: Int = 0, wristHeight: Float = WristCamera.defaultHeight) {
        self.resolution = resolution
        self.planResolution = planResolution
        self.chunk = chunk
        self.width = width
        self.hidden = hidden
        self.handEstimate = handEstimate
        self.landmarks = landmarks
        self.wrist = wrist
        self.wristHeight = wristHeight
    }

    enum CodingKeys: String, CodingKey { case resolution, planResolution, chunk, width, hidden, handEstimate, landmarks, wrist, wristHeight }

    public init(from decoder: any Decoder) throws {
        // Followers saved before the hand estimator existed have none.
        let c = try decoder.container(keyedBy: CodingKeys.self)
        resolution = try c.decode(Int.self, forKey: .resolution)
        planResolution = try c.decode(Int.self, forKey: .planResolution)
        chunk = try c.decode(Int.self, forKey: .chunk)
        width = try c.decode(Int.self, forKey: .width)
        hidden = try c.decode(Int.self, forKey: .hidden)
        handEstimate = try c.decodeIfPresent(Bool.self, forKey: .handEstimate) ?? false
        landmarks = try c.decodeIfPresent(Int.self, forKey: .landmarks) ?? 0
        wrist = try c.decodeIfPresent(Int.self, forKey: .wrist) ?? 0
        wristHeight = try c.decodeIfPresent(Float.self, forKey: .wristHeight) ?? WristCamera.defaultHeight
    }

    /// A small configuration for tests.
    public static let micro = FollowerConfig(resolution: 32, planResolution: 16, chunk: 2, width: 8, hidden: 64, landmarks: 3)

    public func validate() throws {
        guard [1, 2, 4].contains(where: { resolution == $0 * planResolution }) else {
            throw ControlError("the follower's resolution \(resolution) must be 1×, 2× or 4× its plan resolution \(planResolution)")
        }
        guard resolution % 4 == 0, chunk >= 1, width >= 1, hidden >= 1, landmarks >= 0 else { throw ControlError("invalid follower configuration \(self)") }
        guard wrist == 0 || (wrist >= 8 && wrist % 4 == 0) else {
            throw ControlError("the follower's wrist camera resolution \(wrist) must be 0 (none) or a multiple of 4 from 8 pixels")
        }
        guard WristCamera.heights.contains(wristHeight) else {
            throw ControlError("the follower's wrist camera height \(wristHeight) m must be \(WristCamera.heights.lowerBound) to "
                + "\(WristCamera.heights.upperBound) m")
        }
    }
}

/// The plan follower's network: a goal-conditioned policy.
///
/// Input: the current camera frame, the plan frame pursued and the one after it (both on the
/// frame's channels, early fusion, so differences are seen pixel by pixel), and the robot's
/// proprioception. Convolutions → spatial soft-argmax keypoints → MLP → an action chunk
/// (chunk × 4, tanh) and the logit of "this goal frame is reached". With ``FollowerConfig/handEstimate``
/// a ``HandEstimator`` reads the hand in both plan frames; its estimates (not its gradients: it
/// learns from proprioception labels alone) join the MLP's input with their difference to the
/// robot's own hand. With ``FollowerConfig/wrist`` a ``WristEncoder`` reads the wrist camera's frame;
/// its keypoints enter the first hidden layer through a layer of their own that starts at zero, so a
/// follower trained without a wrist camera can be given one and go on from exactly where it was.
public final class FollowerNet: Module {
    public let config: FollowerConfig
    let conv1: Conv2d
    let norm1: GroupNorm
    let conv2: Conv2d
    let norm2: GroupNorm
    let conv3: Conv2d
    let keypoints = SpatialSoftmax()
    let fc1: Linear
    let fc2: Linear
    let actionHead: Linear
    let reachedHead: Linear
    let landmarkHead: Linear?
    let hand: HandEstimator?
    let wrist: WristEncoder?

    public init(config: FollowerConfig, seed: UInt64 = 0) throws {
        try config.validate()
        self.config = config
        var rng = SeededRNG(seed: seed)
        let w = config.width
        conv1 = Conv2d(9, w, kernel: 3, stride: 2, rng: &rng)
        norm1 = GroupNorm(groups: min(8, w), channels: w)
        conv2 = Conv2d(w, 2 * w, kernel: 3, stride: 2, rng: &rng)
        norm2 = GroupNorm(groups: min(8, 2 * w), channels: 2 * w)
        conv3 = Conv2d(2 * w, 2 * w, kernel: 3, stride: 1, rng: &rng)
        fc1 = Linear(4 * w + 4 + (config.handEstimate ? 12 : 0), config.hidden, rng: &rng)
        fc2 = Linear(config.hidden, config.hidden, rng: &rng)
        actionHead = Linear(config.hidden, config.chunk * 4, rng: &rng)
        reachedHead = Linear(config.hidden, 1, rng: &rng)
        hand = config.handEstimate ? HandEstimator(width: max(8, w / 2), hidden: config.hidden / 2, rng: &rng) : nil
        landmarkHead = config.landmarks > 0 ? Linear(config.hidden, 3 * config.landmarks, rng: &rng) : nil
        // Made last, so a follower without one draws the same initial weights as before.
        wrist = config.wrist > 0 ? WristEncoder(width: max(8, w / 2), hidden: config.hidden, rng: &rng) : nil
    }

    /// - Parameters:
    ///   - frame: (B, 3, R, R) in [−1, 1].
    ///   - goals: (B, 6, P, P) in [−1, 1]: the goal frame and the next plan frame.
    ///   - proprioception: (B, 4), normalised by ``FollowerInput/proprioception(_:)``.
    ///   - wrist: (B, 3, W, W) in [−1, 1], the wrist camera's frames, for a follower that has one.
    /// - Returns: actions (B, chunk, 4) in [−1, 1], reached logits (B), with a hand estimator the
    ///   hands it reads in the goal frame and the next one (B, 8), and with a landmark head the scene's
    ///   key points relative to the hand (B, 3 × landmarks), else nil.
    public func callAsFunction(frame: Tensor, goals: Tensor, proprioception: Tensor, wrist wristFrames: Tensor? = nil)
        -> (actions: Tensor, reached: Tensor, hands: Tensor?, landmarks: Tensor?)
    {
        precondition((wrist == nil) == (wristFrames == nil), "a follower with a wrist camera needs its frames, one without none")
        let b = frame.shape[0]
        // (B, 6, P, P) is, in memory, (2B, 3, P, P): each sample's goal frame, then its next frame.
        let hands = hand.map { $0(goals.reshaped([2 * b, 3, config.planResolution, config.planResolution])).reshaped([b, 8]) }
        var upsampled = goals
        for _ in 0..<(config.resolution / config.planResolution).trailingZeroBitCount { upsampled = upsampled.upsampleNearest2x() }
        var x = Tensor.concat([frame, upsampled], axis: 1)  // (B, 9, R, R)
        x = norm1(conv1(x)).relu()  // (B, w, R/2, R/2)
        x = norm2(conv2(x)).relu()  // (B, 2w, R/4, R/4)
        x = keypoints(conv3(x))  // (B, 4w): (x, y) of 2w keypoints
        var h = Tensor.concat([x, proprioception], axis: 1)  // (B, 4w + 4)
        if let hands {
            let estimates = hands.detached()
            let goalHand = estimates.slice(axis: 1, start: 0, length: 4)
            h = Tensor.concat([h, estimates, goalHand - proprioception], axis: 1)  // (B, 4w + 16)
        }
        h = fc1(h)
        if let wrist, let wristFrames { h = h + wrist(wristFrames) }
        h = h.relu()
        let landmarks = landmarkHead.map { $0(h) }
        h = fc2(h).relu()
        let actions = actionHead(h).tanh().reshaped([b, config.chunk, 4])
        return (actions, reachedHead(h).reshaped([b]), hands, landmarks)
    }
}

/// Reads the wrist camera's frame: three convolutions → spatial soft-argmax keypoints (where the
/// puck, handle or block lies relative to the fingertips, with sub-pixel precision) → a contribution
/// to the policy's first hidden layer. That last layer starts at zero: added to a trained follower,
/// it changes nothing until training finds a use for it.
public final class WristEncoder: Module {
    let conv1: Conv2d
    let norm1: GroupNorm
    let conv2: Conv2d
    let norm2: GroupNorm
    let conv3: Conv2d
    let keypoints = SpatialSoftmax()
    let output: Linear

    public init(width: Int, hidden: Int, rng: inout SeededRNG) {
        conv1 = Conv2d(3, width, kernel: 3, stride: 2, rng: &rng)
        norm1 = GroupNorm(groups: min(8, width), channels: width)
        conv2 = Conv2d(width, 2 * width, kernel: 3, stride: 2, rng: &rng)
        norm2 = GroupNorm(groups: min(8, 2 * width), channels: 2 * width)
        conv3 = Conv2d(2 * width, 2 * width, kernel: 3, stride: 1, rng: &rng)
        output = Linear(4 * width, hidden, rng: &rng)
        for tensor in [output.weight] + (output.bias.map { [$0] } ?? []) {
            tensor.withMutableValues { $0.update(repeating: 0) }
        }
    }

    /// (B, 3, W, W) frames in [−1, 1] → (B, hidden), added to the policy's first hidden layer.
    public func callAsFunction(_ frames: Tensor) -> Tensor {
        var x = norm1(conv1(frames)).relu()
        x = norm2(conv2(x)).relu()
        return output(keypoints(conv3(x)))
    }
}

/// How observations become the follower's inputs, in one place for acting and for training.
public enum FollowerInput {
    /// Hand position (metres, about ±0.4) scaled to about ±1.6, gripper opening 0…1 to −1…1.
    public static func proprioception(_ p: [Float]) -> [Float] {
        [p[0] * positionScale, p[1] * positionScale, p[2] * positionScale, (p.count > 3 ? p[3] : 1) * 2 - 1]
    }

    /// Scaled units per metre of hand position.
    public static let positionScale: Float = 4
}

public struct ControlError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
