import Tensor
import Testing

@Suite("Tensor basics")
struct TensorBasicsTests {
    @Test("broadcasting follows NumPy's rules")
    func broadcasting() {
        let a = Tensor(shape: [2, 1, 3], values: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [4, 1], values: [10, 20, 30, 40])
        let c = a + b
        #expect(c.shape == [2, 4, 3])
        #expect(Array(c.toArray().prefix(6)) == [11, 12, 13, 21, 22, 23])
        #expect((a * Tensor(scalar: 2)).toArray() == [2, 4, 6, 8, 10, 12])
    }

    @Test("the same seed gives the same random tensors")
    func seededRandomness() {
        var r1 = SeededRNG(seed: 11), r2 = SeededRNG(seed: 11), r3 = SeededRNG(seed: 12)
        let (a, b, c) = (Tensor.randn([100], rng: &r1), Tensor.randn([100], rng: &r2), Tensor.randn([100], rng: &r3))
        #expect(a.toArray() == b.toArray())
        #expect(a.toArray() != c.toArray())
        let values = a.toArray()
        let mean = values.reduce(0, +) / 100
        #expect(abs(mean) < 0.35)
    }

    @Test("no graph is recorded without gradients, and gradients accumulate over calls")
    func gradMode() {
        let x = Tensor(shape: [2], values: [1, 2], requiresGrad: true)
        let y = withoutGrad { x.square().sum() }
        #expect(!y.requiresGrad)
        x.square().sum().backward()
        x.square().sum().backward()
        #expect(x.grad?.toArray() == [4, 8])
        x.zeroGrad()
        #expect(x.grad == nil)
    }

    @Test("a tensor used twice receives both gradients")
    func reuse() {
        let x = Tensor(shape: [1], values: [3], requiresGrad: true)
        (x * x + x).sum().backward()  // d/dx (x² + x) = 2x + 1
        #expect(x.grad?.item == 7)
    }

    @Test("permute and concat move values where they belong")
    func shapes() {
        let x = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        #expect(x.permuted([1, 0]).toArray() == [1, 4, 2, 5, 3, 6])
        #expect(Tensor.concat([x, x], axis: 1).toArray() == [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6])
        #expect(x.slice(axis: 1, start: 1, length: 2).toArray() == [2, 3, 5, 6])
        var rng = SeededRNG(seed: 1)
        let big = Tensor.uniform([3, 40, 50, 7], low: 0, high: 1, rng: &rng)
        let back = big.permuted([2, 0, 3, 1]).permuted([1, 3, 0, 2])
        #expect(back.toArray() == big.toArray())
    }
}
