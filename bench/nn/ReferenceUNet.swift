// The reference network of the NN benchmark (issue: "a 2D UNet, 27 input channels, 24 output
// channels, widths (64, 128, 256), two residual blocks per level"). bench/nn/torch_unet.py defines
// the same network with the same parameter names, so both load one safetensors file.
import NN
import Tensor

/// GroupNorm(8) → SiLU → conv3×3 → + Linear(time) → GroupNorm(8) → SiLU → conv3×3, plus a 1×1
/// skip conv when the widths differ.
final class ResBlock: Module {
    let norm1: GroupNorm
    let conv1: Conv2d
    let time: Linear
    let norm2: GroupNorm
    let conv2: Conv2d
    let skip: Conv2d?

    init(_ cin: Int, _ cout: Int, timeDim: Int, rng: inout SeededRNG) {
        norm1 = GroupNorm(groups: 8, channels: cin)
        conv1 = Conv2d(cin, cout, kernel: 3, rng: &rng)
        time = Linear(timeDim, cout, rng: &rng)
        norm2 = GroupNorm(groups: 8, channels: cout)
        conv2 = Conv2d(cout, cout, kernel: 3, rng: &rng)
        skip = cin == cout ? nil : Conv2d(cin, cout, kernel: 1, rng: &rng)
    }

    func callAsFunction(_ x: Tensor, _ t: Tensor) -> Tensor {
        var h = conv1(norm1(x, thenSiLU: true))  // (B, Co, H, W)
        let shift = time(t)  // (B, Co)
        h = h + shift.reshaped([shift.shape[0], shift.shape[1], 1, 1])
        h = conv2(norm2(h, thenSiLU: true))
        return h + (skip.map { $0(x) } ?? x)
    }
}

final class Level: Module {
    let res: [ResBlock]
    init(_ res: [ResBlock]) { self.res = res }
}

final class ReferenceUNet: Module {
    let timeEmbed1: Linear
    let timeEmbed2: Linear
    let convIn: Conv2d
    let down: [Level]
    let mid: ResBlock
    let up: [Level]
    let convOut: Conv2d
    let widths = [64, 128, 256]
    let timeDim = 256

    init(inChannels: Int = 27, outChannels: Int = 24, rng: inout SeededRNG) {
        timeEmbed1 = Linear(timeDim, timeDim, rng: &rng)
        timeEmbed2 = Linear(timeDim, timeDim, rng: &rng)
        convIn = Conv2d(inChannels, widths[0], kernel: 3, rng: &rng)
        var downLevels: [Level] = []
        var channels = widths[0]
        for width in widths {
            downLevels.append(Level([ResBlock(channels, width, timeDim: timeDim, rng: &rng),
                                     ResBlock(width, width, timeDim: timeDim, rng: &rng)]))
            channels = width
        }
        down = downLevels
        mid = ResBlock(channels, channels, timeDim: timeDim, rng: &rng)
        var upLevels: [Level] = []
        for width in widths.reversed() {
            upLevels.append(Level([ResBlock(channels + width, width, timeDim: timeDim, rng: &rng),
                                   ResBlock(width, width, timeDim: timeDim, rng: &rng)]))
            channels = width
        }
        up = upLevels
        convOut = Conv2d(widths[0], outChannels, kernel: 3, rng: &rng)
    }

    /// x (B, 27, H, W), timesteps (B) → (B, 24, H, W).
    func callAsFunction(_ x: Tensor, timesteps: [Float]) -> Tensor {
        let t = timeEmbed2(timeEmbed1(sinusoidalEmbedding(timesteps, dimension: timeDim)).silu())  // (B, 256)
        var h = convIn(x)
        var skips: [Tensor] = []
        for (i, level) in down.enumerated() {
            for block in level.res { h = block(h, t) }
            skips.append(h)
            if i < down.count - 1 { h = h.avgPool2x() }
        }
        h = mid(h, t)
        for (i, level) in up.enumerated() {
            h = Tensor.concat([h, skips.removeLast()], axis: 1)
            for block in level.res { h = block(h, t) }
            if i < up.count - 1 { h = h.upsampleNearest2x() }
        }
        return convOut(h.silu())
    }
}
