import Tensor
import Testing

/// A finite-difference check of every differentiable op.
@Suite("Gradients by finite differences")
struct GradientTests {
    var rng = SeededRNG(seed: 7)

    mutating func r(_ shape: [Int], scale: Float = 1) -> Tensor { Tensor.randn(shape, std: scale, rng: &rng) }

    @Test mutating func arithmeticWithBroadcasting() {
        let (a, b, c) = (r([2, 3, 4]), r([3, 1]), r([4]))
        checkGradients("add", [a, b]) { $0[0] + $0[1] }
        checkGradients("sub", [a, c]) { $0[0] - $0[1] }
        checkGradients("mul", [a, b]) { $0[0] * $0[1] }
        let positive = r([1, 4]).abs().shifted(1)
        checkGradients("div", [a, positive]) { $0[0] / $0[1] }
        checkGradients("scale and shift", [a]) { ($0[0] * 3 + 2).scaled(0.5) }
        checkGradients("expand", [b]) { $0[0].expand(to: [2, 3, 5]) }
    }

    @Test mutating func unaryFunctions() {
        let x = r([3, 5], scale: 1.5)
        checkGradients("silu", [x]) { $0[0].silu() }
        checkGradients("gelu", [x]) { $0[0].gelu() }
        checkGradients("sigmoid", [x]) { $0[0].sigmoid() }
        checkGradients("tanh", [x]) { $0[0].tanh() }
        checkGradients("exp", [x]) { $0[0].exp() }
        checkGradients("square", [x]) { $0[0].square() }
        let positive = r([3, 5]).abs().shifted(0.5)
        checkGradients("log", [positive]) { $0[0].log() }
        checkGradients("sqrt", [positive]) { $0[0].sqrt() }
    }

    @Test mutating func reductionsAndShapes() {
        let x = r([2, 3, 4])
        checkGradients("sum", [x]) { $0[0].sum() }
        checkGradients("mean", [x]) { $0[0].mean() }
        checkGradients("sum over axes", [x]) { $0[0].sum(axes: [0, 2]) }
        checkGradients("mean keeping dims", [x]) { $0[0].mean(axes: [1], keepingDimensions: true) }
        checkGradients("reshape", [x]) { $0[0].reshaped([4, -1]) }
        checkGradients("permute", [x]) { $0[0].permuted([2, 0, 1]) }
        let y = r([2, 5, 4])
        checkGradients("concat", [x, y]) { Tensor.concat([$0[0], $0[1]], axis: 1) }
        checkGradients("split", [y]) { $0[0].split([2, 3], axis: 1)[1] }
        checkGradients("slice", [y]) { $0[0].slice(axis: 2, start: 1, length: 2) }
        checkGradients("stack", [x, r([2, 3, 4])]) { Tensor.stack([$0[0], $0[1]]) }
    }

    @Test mutating func matrixProducts() {
        checkGradients("matmul", [r([3, 4]), r([4, 5])]) { Tensor.matmul($0[0], $0[1]) }
        checkGradients("matmul batched, transposed", [r([2, 4, 3]), r([2, 5, 4])]) {
            Tensor.matmul($0[0], $0[1], transposeA: true, transposeB: true)
        }
        checkGradients("matmul with a shared matrix", [r([2, 3, 4]), r([4, 5])]) { Tensor.matmul($0[0], $0[1]) }
        checkGradients("linear", [r([2, 3, 5]), r([4, 5]), r([4])]) { Tensor.linear($0[0], weight: $0[1], bias: $0[2]) }
    }

    @Test mutating func convolutions() {
        checkGradients("conv2d 3×3", [r([2, 3, 5, 4]), r([4, 3, 3, 3], scale: 0.5), r([4])]) {
            Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], padding: 1)
        }
        checkGradients("conv2d stride 2", [r([2, 2, 6, 5]), r([3, 2, 3, 3], scale: 0.5), r([3])]) {
            Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1)
        }
        checkGradients("conv2d 1×1", [r([3, 4, 3, 3]), r([2, 4, 1, 1]), r([2])]) {
            Tensor.conv2d($0[0], weight: $0[1], bias: $0[2])
        }
        checkGradients("conv2d batch of one", [r([1, 2, 4, 4]), r([3, 2, 3, 3], scale: 0.5), r([3])]) {
            Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], padding: 1)
        }
        checkGradients("temporal conv", [r([2, 5, 3, 2, 2]), r([4, 3, 3], scale: 0.5), r([4])]) {
            Tensor.temporalConv($0[0], weight: $0[1], bias: $0[2])
        }
    }

    @Test mutating func normalisation() {
        checkGradients("group norm", [r([2, 6, 3, 3], scale: 2), r([6]), r([6])]) {
            Tensor.groupNorm($0[0], groups: 3, weight: $0[1], bias: $0[2])
        }
        checkGradients("group norm then SiLU, fused", [r([2, 6, 3, 3], scale: 2), r([6]), r([6])]) {
            Tensor.groupNorm($0[0], groups: 3, weight: $0[1], bias: $0[2], thenSiLU: true)
        }
        checkGradients("video group norm then SiLU, fused", [r([2, 3, 4, 2, 2], scale: 2), r([4]), r([4])]) {
            Tensor.videoGroupNorm($0[0], groups: 2, weight: $0[1], bias: $0[2], thenSiLU: true)
        }
        checkGradients("video group norm", [r([2, 3, 4, 2, 2], scale: 2), r([4]), r([4])]) {
            Tensor.videoGroupNorm($0[0], groups: 2, weight: $0[1], bias: $0[2])
        }
        checkGradients("layer norm", [r([3, 6], scale: 2), r([6]), r([6])]) {
            Tensor.layerNorm($0[0], weight: $0[1], bias: $0[2])
        }
    }

    @Test mutating func attentionAndSoftmax() {
        checkGradients("softmax", [r([3, 5])]) { $0[0].softmax() }
        checkGradients("log softmax", [r([3, 5])]) { $0[0].logSoftmax() }
        checkGradients("attention", [r([2, 3, 4]), r([2, 5, 4]), r([2, 5, 2])]) {
            Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2])
        }
    }

    @Test mutating func poolingAndLookup() {
        checkGradients("avg pool 2×", [r([2, 3, 4, 6])]) { $0[0].avgPool2x() }
        checkGradients("nearest upsample 2×", [r([2, 3, 2, 3])]) { $0[0].upsampleNearest2x() }
        checkGradients("embedding", [r([5, 3])]) { Tensor.embedding($0[0], indices: [4, 0, 4, 2]) }
    }

    @Test mutating func losses() {
        let (a, b) = (r([3, 4]), r([3, 4]))
        checkGradients("mse", [a, b]) { Tensor.mseLoss($0[0], $0[1]) }
        checkGradients("l1", [a, b]) { Tensor.l1Loss($0[0], $0[1]) }
        let targets = Tensor.uniform([3, 4], low: 0, high: 1, rng: &rng)
        checkGradients("bce with logits", [a, targets]) { Tensor.bceWithLogitsLoss($0[0], $0[1]) }
        checkGradients("cross entropy", [r([3, 5])]) { Tensor.crossEntropyLoss($0[0], labels: [1, 4, 0]) }
    }
}
