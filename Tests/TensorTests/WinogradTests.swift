import Tensor
import Testing

/// The Winograd F(2×2, 3×3) path against im2col, the reference, on shapes that exercise its edges:
/// odd sizes (tiles half outside the image), one row or column, batches split over the cores,
/// channel counts that make many chunks.
@Suite("Winograd 3×3 convolution")
struct WinogradTests {
    static let shapes: [(n: Int, ci: Int, co: Int, h: Int, w: Int)] = [
        (1, 1, 1, 1, 1), (1, 3, 2, 1, 7), (2, 3, 4, 5, 4), (3, 5, 7, 7, 9), (1, 16, 8, 32, 32),
        (4, 8, 16, 17, 6), (2, 64, 32, 16, 16), (16, 64, 64, 8, 8),
        (8, 64, 48, 32, 32),  // transforms beyond one chunk: chunks spread over the cores
    ]

    @Test(arguments: 0..<shapes.count)
    func agreesWithIm2colForwardAndBackward(index: Int) {
        let s = Self.shapes[index]
        var rng = SeededRNG(seed: UInt64(index + 11))
        let x = Tensor.randn([s.n, s.ci, s.h, s.w], rng: &rng)
        let weight = Tensor.randn([s.co, s.ci, 3, 3], std: 0.3, rng: &rng)
        let bias = Tensor.randn([s.co], rng: &rng)
        let upstream = Tensor.randn([s.n, s.co, s.h, s.w], rng: &rng)
        var results: [[[Float]]] = []
        for algorithm in [ConvolutionAlgorithm.winograd(tile: 2), .winograd(tile: 4), .im2col] {
            let (xv, wv, bv) = (x.detached(), weight.detached(), bias.detached())
            for t in [xv, wv, bv] { t.requiresGrad = true }
            let y = Tensor.conv2d(xv, weight: wv, bias: bv, padding: 1, algorithm: algorithm)
            (y * upstream).sum().backward()
            results.append([y.toArray(), xv.grad!.toArray(), wv.grad!.toArray(), bv.grad!.toArray()])
        }
        for (part, name) in ["output", "input gradient", "weight gradient", "bias gradient"].enumerated() {
            for (tile, result) in zip([2, 4], results) {
                let (a, b) = (result[part], results[2][part])
                let scale = max(1, b.map(abs).max() ?? 0)
                let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
                #expect(worst <= 1e-5 * scale, "F(\(tile)) \(name) of \(s): differs by \(worst) (scale \(scale))")
            }
        }
    }

    @Test func automaticChoosesWinogradWhereItPays() {
        // Same results whichever path `automatic` picks: a small input (im2col) and a batch with
        // enough tiles for the Winograd forward but not its backward.
        var rng = SeededRNG(seed: 5)
        for shape in [[1, 4, 6, 6], [2, 4, 16, 16], [4, 4, 32, 32]] {
            let x = Tensor.randn(shape, rng: &rng)
            let w = Tensor.randn([3, 4, 3, 3], std: 0.3, rng: &rng)
            let a = Tensor.conv2d(x, weight: w, bias: nil, padding: 1).toArray()
            let b = Tensor.conv2d(x, weight: w, bias: nil, padding: 1, algorithm: .im2col).toArray()
            let scale = max(1, b.map(abs).max() ?? 0)
            let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-5 * scale, "\(shape): differs by \(worst) (scale \(scale))")
        }
    }

    @Test func cachedWeightTransformFollowsInPlaceUpdates() {
        // Sampling reuses the transformed weights; an optimizer step must invalidate them.
        var rng = SeededRNG(seed: 9)
        let x = Tensor.randn([1, 2, 5, 5], rng: &rng)
        let w = Tensor.randn([2, 2, 3, 3], rng: &rng)
        let before = Tensor.conv2d(x, weight: w, bias: nil, padding: 1, algorithm: .winograd(tile: 4)).toArray()
        w.withMutableValues { values in for i in values.indices { values[i] *= 2 } }
        let after = Tensor.conv2d(x, weight: w, bias: nil, padding: 1, algorithm: .winograd(tile: 4)).toArray()
        #expect(zip(before, after).allSatisfy { abs(2 * $0 - $1) <= 1e-5 * max(1, abs($1)) })
    }

    @Test(arguments: [2, 4])
    func finiteDifferences(tile: Int) {
        var rng = SeededRNG(seed: 3)
        checkGradients("winograd F(\(tile)) conv2d 3×3", [Tensor.randn([2, 3, 5, 6], rng: &rng),
                                                         Tensor.randn([4, 3, 3, 3], std: 0.5, rng: &rng),
                                                         Tensor.randn([4], rng: &rng)]) {
            Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], padding: 1, algorithm: .winograd(tile: tile))
        }
    }
}
