import Foundation
import NN
import Tensor

// Axes: B batch, F frames (the futureFrames being generated), C channels, H/W height/width.
// Videos are frame-major, (B, F, C, H, W), so per-frame 2-D convolutions are a free reshape.

/// A residual block of the video UNet: VideoGroupNorm → SiLU → (2+1)-D conv → + time/task
/// embedding → VideoGroupNorm → SiLU → (2+1)-D conv, plus a 1×1 skip when widths differ.
final class VideoResBlock: Module {
    let norm1: VideoGroupNorm
    let conv1: Conv2Plus1D
    let embedding: Linear
    let norm2: VideoGroupNorm
    let conv2: Conv2Plus1D
    let skip: Conv2d?

    init(_ cin: Int, _ cout: Int, config: VideoModelConfig, rng: inout SeededRNG) {
        norm1 = VideoGroupNorm(groups: config.groups, channels: cin)
        conv1 = Conv2Plus1D(cin, cout, rng: &rng)
        embedding = Linear(config.timeDimension, cout, rng: &rng)
        norm2 = VideoGroupNorm(groups: config.groups, channels: cout)
        conv2 = Conv2Plus1D(cout, cout, rng: &rng)
        skip = cin == cout ? nil : Conv2d(cin, cout, kernel: 1, rng: &rng)
    }

    /// x (B, F, Ci, H, W), e (B, D) → (B, F, Co, H, W)
    func callAsFunction(_ x: Tensor, _ e: Tensor) -> Tensor {
        var h = conv1(norm1(x, thenSiLU: true))
        let shift = embedding(e)  // (B, Co)
        h = h + shift.reshaped([shift.shape[0], 1, shift.shape[1], 1, 1])
        h = conv2(norm2(h, thenSiLU: true))
        guard let skip else { return h + x }
        let (b, f) = (x.shape[0], x.shape[1])
        let s = skip(x.reshaped([b * f] + Array(x.shape[2...])))  // (B·F, Co, H, W)
        return h + s.reshaped([b, f] + Array(s.shape[1...]))
    }
}

final class VideoLevel: Module {
    let blocks: [VideoResBlock]
    init(_ blocks: [VideoResBlock]) { self.blocks = blocks }
}

/// The plan model: a (2+1)-D UNet that predicts v for every future frame from the noisy frames,
/// the observation (concatenated on channels to every frame) and a self-condition (the previous
/// plan's frames when refining, zeros when generating). The time step, the task and the feedback
/// code enter through one embedding added inside every block.
public final class VideoUNet: Module {
    public let config: VideoModelConfig
    let timeEmbed1: Linear
    let timeEmbed2: Linear
    let taskEmbedding: Embedding
    let feedbackEmbedding: Embedding
    let convIn: Conv2Plus1D
    let down: [VideoLevel]
    let mid: VideoResBlock
    let up: [VideoLevel]
    let normOut: VideoGroupNorm
    let convOut: Conv2d

    /// Input channels per frame: noisy (3) + observation (3) + self-condition (3).
    static let inputChannels = 9

    public init(config: VideoModelConfig, seed: UInt64 = 0) throws {
        try config.validate()
        self.config = config
        var rng = SeededRNG(seed: seed)
        let d = config.timeDimension
        timeEmbed1 = Linear(d, d, rng: &rng)
        timeEmbed2 = Linear(d, d, rng: &rng)
        taskEmbedding = Embedding(count: config.tasks.count + 1, dimension: d, rng: &rng)
        feedbackEmbedding = Embedding(count: config.feedbackCodes.count, dimension: d, rng: &rng)
        // Small embedding tables: N(0, 1) rows would swamp the time embedding at the start.
        for table in [taskEmbedding.weight, feedbackEmbedding.weight] { table.withMutableValues { for i in $0.indices { $0[i] *= 0.1 } } }
        convIn = Conv2Plus1D(Self.inputChannels, config.widths[0], rng: &rng)
        var levels: [VideoLevel] = []
        var channels = config.widths[0]
        var skipChannels: [Int] = []
        for width in config.widths {
            var blocks: [VideoResBlock] = []
            for _ in 0..<config.blocksPerLevel {
                blocks.append(VideoResBlock(channels, width, config: config, rng: &rng))
                channels = width
            }
            skipChannels.append(channels)
            levels.append(VideoLevel(blocks))
        }
        down = levels
        mid = VideoResBlock(channels, channels, config: config, rng: &rng)
        levels = []
        for width in config.widths.reversed() {
            var blocks = [VideoResBlock(channels + skipChannels.removeLast(), width, config: config, rng: &rng)]
            for _ in 1..<(config.blocksPerLevel + 1) { blocks.append(VideoResBlock(width, width, config: config, rng: &rng)) }
            channels = width
            levels.append(VideoLevel(blocks))
        }
        up = levels
        normOut = VideoGroupNorm(groups: config.groups, channels: channels)
        convOut = Conv2d(channels, 3, kernel: 3, rng: &rng)
        // The output layer starts at zero: the first predictions are v = 0, a calm start.
        convOut.weight.withMutableValues { for i in $0.indices { $0[i] = 0 } }
    }

    /// Predicts v.
    /// - Parameters:
    ///   - noisy: x_t (B, F, 3, H, W) in [−1, 1] scale.
    ///   - observation: the current frame (B, 3, H, W).
    ///   - selfCondition: the previous plan's future frames (B, F, 3, H, W), or nil to generate.
    ///   - timesteps: diffusion step per sample.
    ///   - tasks: task index per sample (0 = no task, for guidance).
    ///   - feedback: feedback code per sample (0 = generate, 1 = refine, …).
    public func callAsFunction(noisy: Tensor, observation: Tensor, selfCondition: Tensor?, timesteps: [Int], tasks: [Int],
                               feedback: [Int]) -> Tensor {
        let (b, f) = (noisy.shape[0], noisy.shape[1])
        let (h, w) = (noisy.shape[3], noisy.shape[4])
        let observed = observation.reshaped([b, 1, 3, h, w]).expand(to: [b, f, 3, h, w])
        let condition = selfCondition ?? Tensor.zeros([b, f, 3, h, w])
        var x = Tensor.concat([noisy, observed, condition], axis: 2)  // (B, F, 9, H, W)
        let time = sinusoidalEmbedding(timesteps.map(Float.init), dimension: config.timeDimension)
        let e = (timeEmbed2(timeEmbed1(time).silu()) + taskEmbedding(tasks) + feedbackEmbedding(feedback)).silu()  // (B, D)
        x = convIn(x)
        var skips: [Tensor] = []
        for (i, level) in down.enumerated() {
            for block in level.blocks { x = block(x, e) }
            skips.append(x)
            if i < down.count - 1 { x = x.avgPool2x() }
        }
        x = mid(x, e)
        for (i, level) in up.enumerated() {
            x = Tensor.concat([x, skips.removeLast()], axis: 2)
            for block in level.blocks { x = block(x, e) }
            if i < up.count - 1 { x = x.upsampleNearest2x() }
        }
        x = normOut(x, thenSiLU: true)
        let out = convOut(x.reshaped([b * f] + Array(x.shape[2...])))  // (B·F, 3, H, W)
        return out.reshaped([b, f, 3, h, w])
    }

    /// A copy that knows `codes`, which must extend this model's feedback codes: every weight is
    /// kept and each new code starts as plain refinement, so the copy behaves exactly like this
    /// model until it is trained on the new codes (descriptive feedback starts from a binary refiner).
    public func extendingFeedbackCodes(to codes: [String]) throws -> VideoUNet {
        let old = config.feedbackCodes
        guard codes.count >= old.count, Array(codes.prefix(old.count)) == old else {
            throw VideoModelError("feedback codes \(codes) do not extend the model's \(old)")
        }
        var widened = config
        widened.feedbackCodes = codes
        let copy = try VideoUNet(config: widened)
        var tensors = Dictionary(uniqueKeysWithValues: namedTensors().map { ($0.name, $0.tensor) })
        let d = config.timeDimension
        var rows = feedbackEmbedding.weight.toArray()
        let plain = Array(rows[(VideoModelConfig.plainRefineCode * d)..<((VideoModelConfig.plainRefineCode + 1) * d)])
        for _ in old.count..<codes.count { rows += plain }
        tensors["feedbackEmbedding.weight"] = Tensor(shape: [codes.count, d], values: rows)
        try copy.load(tensors)
        return copy
    }
}
