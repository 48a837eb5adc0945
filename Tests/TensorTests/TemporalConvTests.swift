import Tensor
import Testing

/// The stacked-tap temporal convolution against a direct sum over taps, on shapes that take each
/// of its paths: clips shorter than the kernel, single frames, frames split into column blocks
/// across the cores (7 frames), whole frames per core (a batch of clips), and 5-tap kernels.
@Suite("Temporal convolution")
struct TemporalConvTests {
    static let shapes: [(b: Int, f: Int, ci: Int, co: Int, s: Int, k: Int)] = [
        (1, 1, 2, 3, 4, 3), (2, 2, 3, 2, 5, 5), (1, 7, 32, 32, 64, 3), (3, 7, 16, 24, 36, 3), (2, 4, 8, 8, 9, 5),
        (1, 3, 40, 40, 100, 1),
    ]

    @Test(arguments: 0..<shapes.count)
    func agreesWithDirectSum(index: Int) {
        let c = Self.shapes[index]
        var rng = SeededRNG(seed: UInt64(index + 3))
        let x = Tensor.randn([c.b, c.f, c.ci, c.s], rng: &rng)
        let weight = Tensor.randn([c.co, c.ci, c.k], std: 0.3, rng: &rng)
        let bias = Tensor.randn([c.co], rng: &rng)
        let upstream = Tensor.randn([c.b, c.f, c.co, c.s], rng: &rng)
        for t in [x, weight, bias] { t.requiresGrad = true }
        let y = Tensor.temporalConv(x, weight: weight, bias: bias)
        (y * upstream).sum().backward()

        let (xv, wv, bv, gv) = (x.toArray(), weight.toArray(), bias.toArray(), upstream.toArray())
        var out = [Float](repeating: 0, count: c.b * c.f * c.co * c.s)
        var gx = [Float](repeating: 0, count: xv.count), gw = [Float](repeating: 0, count: wv.count)
        for b in 0..<c.b {
            for f in 0..<c.f {
                for o in 0..<c.co {
                    for p in 0..<c.s {
                        let at = ((b * c.f + f) * c.co + o) * c.s + p
                        var sum = bv[o]
                        for j in 0..<c.k {
                            let src = f + j - c.k / 2
                            guard src >= 0 && src < c.f else { continue }
                            for i in 0..<c.ci {
                                let xi = ((b * c.f + src) * c.ci + i) * c.s + p
                                let wi = (o * c.ci + i) * c.k + j
                                sum += wv[wi] * xv[xi]
                                gx[xi] += wv[wi] * gv[at]
                                gw[wi] += xv[xi] * gv[at]
                            }
                        }
                        out[at] = sum
                    }
                }
            }
        }
        for (name, got, want) in [("output", y.toArray(), out), ("input gradient", x.grad!.toArray(), gx),
                                  ("weight gradient", weight.grad!.toArray(), gw)] {
            let scale = max(1, want.map(abs).max() ?? 0)
            let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-5 * scale, "\(name) of \(c): differs by \(worst) (scale \(scale))")
        }
    }
}
