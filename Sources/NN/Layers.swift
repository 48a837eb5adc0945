import Tensor

/// y = x·Wᵀ + b over the last dimension. weight (out, in), bias (out).
public final class Linear: UnaryLayer {
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, rng: inout SeededRNG) {
        weight = Initializer.pytorchDefault([outFeatures, inFeatures], fanIn: inFeatures, rng: &rng)
        self.bias = bias ? Initializer.pytorchDefault([outFeatures], fanIn: inFeatures, rng: &rng) : nil
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { Tensor.linear(x, weight: weight, bias: bias) }
}

/// 2-D convolution of (N, Ci, H, W). weight (Co, Ci, k, k), bias (Co).
public final class Conv2d: UnaryLayer {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int
    public let padding: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int? = nil,
                bias: Bool = true, rng: inout SeededRNG) {
        let fanIn = inChannels * kernel * kernel
        weight = Initializer.pytorchDefault([outChannels, inChannels, kernel, kernel], fanIn: fanIn, rng: &rng)
        self.bias = bias ? Initializer.pytorchDefault([outChannels], fanIn: fanIn, rng: &rng) : nil
        self.stride = stride
        self.padding = padding ?? kernel / 2
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        Tensor.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding)
    }
}

/// Convolution along the frame axis of a video (B, F, C, …), "same" padding. weight (Co, Ci, k).
public final class TemporalConv: UnaryLayer {
    public let weight: Tensor
    public let bias: Tensor?

    /// - Parameter identity: start as the identity (centre tap = I, others 0), as video models
    ///   initialised from image models do, so the temporal path begins by changing nothing.
    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int = 3, identity: Bool = false, rng: inout SeededRNG) {
        let fanIn = inChannels * kernel
        if identity {
            precondition(inChannels == outChannels, "an identity temporal conv needs equal channel counts")
            let w = Tensor.zeros([outChannels, inChannels, kernel], requiresGrad: true)
            w.withMutableValues { v in for c in 0..<outChannels { v[(c * inChannels + c) * kernel + kernel / 2] = 1 } }
            weight = w
            bias = Initializer.zeros([outChannels])
        } else {
            weight = Initializer.pytorchDefault([outChannels, inChannels, kernel], fanIn: fanIn, rng: &rng)
            bias = Initializer.pytorchDefault([outChannels], fanIn: fanIn, rng: &rng)
        }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { Tensor.temporalConv(x, weight: weight, bias: bias) }
}

/// Group normalisation of (N, C, …) with a learned per-channel scale and shift.
public final class GroupNorm: UnaryLayer {
    public let weight: Tensor
    public let bias: Tensor
    public let groups: Int
    public let eps: Float

    public init(groups: Int, channels: Int, eps: Float = 1e-5) {
        precondition(channels % groups == 0, "GroupNorm: \(channels) channels do not split into \(groups) groups")
        weight = Initializer.ones([channels])
        bias = Initializer.zeros([channels])
        self.groups = groups
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        Tensor.groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps)
    }

    /// silu(norm(x)) in one pass.
    public func callAsFunction(_ x: Tensor, thenSiLU: Bool) -> Tensor {
        Tensor.groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps, thenSiLU: thenSiLU)
    }
}

/// Layer normalisation over the last dimension with a learned scale and shift.
public final class LayerNorm: UnaryLayer {
    public let weight: Tensor
    public let bias: Tensor
    public let eps: Float

    public init(_ features: Int, eps: Float = 1e-5) {
        weight = Initializer.ones([features])
        bias = Initializer.zeros([features])
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { Tensor.layerNorm(x, weight: weight, bias: bias, eps: eps) }
}

/// A learned table of vectors looked up by index. weight (count, dimension), initialised N(0, 1)
/// as PyTorch's Embedding.
public final class Embedding: Module {
    public let weight: Tensor

    public init(count: Int, dimension: Int, rng: inout SeededRNG) {
        weight = Initializer.normal([count, dimension], std: 1, rng: &rng)
    }

    public func callAsFunction(_ indices: [Int]) -> Tensor { Tensor.embedding(weight, indices: indices) }
}

/// Group normalisation of a video (B, F, C, …) with statistics over all frames, as a 3-D
/// GroupNorm over (C, F, H, W) would compute them; learned per-channel scale and shift.
public final class VideoGroupNorm: UnaryLayer {
    public let weight: Tensor
    public let bias: Tensor
    public let groups: Int

    public init(groups: Int, channels: Int) {
        precondition(channels % groups == 0, "VideoGroupNorm: \(channels) channels do not split into \(groups) groups")
        weight = Initializer.ones([channels])
        bias = Initializer.zeros([channels])
        self.groups = groups
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        Tensor.videoGroupNorm(x, groups: groups, weight: weight, bias: bias)
    }

    /// silu(norm(x)) in one pass.
    public func callAsFunction(_ x: Tensor, thenSiLU: Bool) -> Tensor {
        Tensor.videoGroupNorm(x, groups: groups, weight: weight, bias: bias, thenSiLU: thenSiLU)
    }
}

/// A factorised (2+1)-D convolution of a video (B, F, C, H, W): a k×k convolution of every frame,
/// then a convolution along the frames (started as the identity, so a new temporal path
/// changes nothing until it learns to).
public final class Conv2Plus1D: UnaryLayer {
    public let spatial: Conv2d
    public let temporal: TemporalConv

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int = 3, temporalKernel: Int = 3, rng: inout SeededRNG) {
        spatial = Conv2d(inChannels, outChannels, kernel: kernel, rng: &rng)
        temporal = TemporalConv(outChannels, outChannels, kernel: temporalKernel, identity: true, rng: &rng)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (b, f) = (x.shape[0], x.shape[1])
        let frames = spatial(x.reshaped([b * f] + Array(x.shape[2...])))  // (B·F, Co, H, W)
        return temporal(frames.reshaped([b, f] + Array(frames.shape[1...])))  // (B, F, Co, H, W)
    }
}
