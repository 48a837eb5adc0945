import NN
import Tensor
import Testing

@Suite("Optimizers")
struct OptimizerTests {
    @Test("AdamW matches the update worked out by hand")
    func adamWStep() {
        let p = Tensor(shape: [2], values: [1, -1], requiresGrad: true)
        let optimizer = AdamW(parameters: [p], learningRate: 0.1, weightDecay: 0.01)
        (p * Tensor(shape: [2], values: [3, 4])).sum().backward()  // grad = (3, 4)
        optimizer.update()
        // Step 1: m̂ = g, v̂ = g², so the step is lr·g/(|g| + eps) = lr·sign(g); decay first.
        let expected: [Float] = [1 * (1 - 0.001) - 0.1 * 3 / (3 + 1e-8), -1 * (1 - 0.001) - 0.1 * 4 / (4 + 1e-8)]
        #expect(zip(p.toArray(), expected).allSatisfy { abs($0 - $1) < 1e-6 })
        p.zeroGrad()
        (p * Tensor(shape: [2], values: [3, 4])).sum().backward()
        optimizer.update()
        // Step 2 with the same gradient: bias-corrected moments are still g and g².
        let second: [Float] = [expected[0] * (1 - 0.001) - 0.1, expected[1] * (1 - 0.001) - 0.1]
        #expect(zip(p.toArray(), second).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test("a small network learns XOR")
    func tinyModelConverges() {
        var rng = SeededRNG(seed: 3)
        let first = Linear(2, 16, rng: &rng), second = Linear(16, 1, rng: &rng)
        let parameters = first.parameters() + second.parameters()
        let optimizer = AdamW(parameters: parameters, learningRate: 0.05, weightDecay: 0)
        let x = Tensor(shape: [4, 2], values: [0, 0, 0, 1, 1, 0, 1, 1])
        let y = Tensor(shape: [4, 1], values: [0, 1, 1, 0])
        var losses: [Float] = []
        for _ in 0..<300 {
            for p in parameters { p.zeroGrad() }
            let loss = Tensor.bceWithLogitsLoss(second(first(x).tanh()), y)
            loss.backward()
            clipGradientNorm(parameters, maxNorm: 5)
            optimizer.update()
            losses.append(loss.item)
        }
        #expect(losses.last! < 0.05, "XOR loss went from \(losses.first!) to \(losses.last!)")
        let predictions = withoutGrad { second(first(x).tanh()).sigmoid().toArray() }
        #expect(predictions.map { $0 > 0.5 } == [false, true, true, false])
    }

    @Test("gradient clipping scales the global norm down to the limit and reports it")
    func clipping() {
        let a = Tensor(shape: [2], values: [0, 0], requiresGrad: true)
        let b = Tensor(shape: [1], values: [0], requiresGrad: true)
        ((a * Tensor(shape: [2], values: [3, 0])).sum() + (b * Tensor(shape: [1], values: [4])).sum()).backward()
        let norm = clipGradientNorm([a, b], maxNorm: 1)
        #expect(abs(norm - 5) < 1e-5)
        #expect(abs(a.grad!.toArray()[0] - 0.6) < 1e-4 && abs(b.grad!.toArray()[0] - 0.8) < 1e-4)
    }

    @Test("EMA follows the parameters at the given rate")
    func ema() {
        let p = Tensor(shape: [1], values: [0], requiresGrad: true)
        let average = EMA(parameters: [p], decay: 0.9)
        p.withMutableValues { $0[0] = 10 }
        average.update()
        #expect(abs(average.shadow[0].item - 1) < 1e-6)
        average.update()
        #expect(abs(average.shadow[0].item - 1.9) < 1e-5)
        let copy = Tensor.zeros([1])
        average.copy(into: [copy])
        #expect(abs(copy.item - 1.9) < 1e-5)
    }

    @Test("optimizer state round-trips, so a resumed run continues exactly")
    func resume() throws {
        func run(steps: Int, restartAt: Int?) throws -> [Float] {
            var rng = SeededRNG(seed: 9)
            var layer = Linear(3, 2, rng: &rng)
            var optimizer = AdamW(parameters: layer.parameters(), learningRate: 0.01)
            let x = Tensor.randn([4, 3], rng: &rng)
            for step in 0..<steps {
                if step == restartAt {
                    let saved = layer.namedTensors().map { ($0.name, $0.tensor.copy()) }
                    let state = Dictionary(uniqueKeysWithValues: optimizer.state().map { ($0.name, $0.tensor.copy()) })
                    var fresh = SeededRNG(seed: 100)
                    layer = Linear(3, 2, rng: &fresh)
                    try layer.load(Dictionary(uniqueKeysWithValues: saved))
                    optimizer = AdamW(parameters: layer.parameters(), learningRate: 0.01)
                    try optimizer.load(state: state)
                }
                layer.zeroGrad()
                layer(x).square().mean().backward()
                optimizer.update()
            }
            return layer.parameters().flatMap { $0.toArray() }
        }
        #expect(try run(steps: 10, restartAt: nil) == run(steps: 10, restartAt: 5))
    }
}
