import Foundation
import NN
import Tensor
import Testing

/// Outputs and gradients against PyTorch, from fixtures written by bench/nn/make_fixtures.py.
@Suite("Parity with PyTorch")
struct ParityTests {
    struct Fixture {
        let inputs: [String: Tensor]
        let tensors: [String: Tensor]
        let params: [String: Any]
        func input(_ name: String) -> Tensor { inputs[name]! }
    }

    static func load(_ name: String) throws -> Fixture {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "safetensors", subdirectory: "Fixtures"))
        let (tensors, metadata) = try Safetensors.read(url.path)
        var inputs: [String: Tensor] = [:]
        for (key, tensor) in tensors where key.hasPrefix("in.") {
            tensor.requiresGrad = true
            inputs[String(key.dropFirst(3))] = tensor
        }
        let params = (try? JSONSerialization.jsonObject(with: Data((metadata["params"] ?? "{}").utf8))) as? [String: Any] ?? [:]
        return Fixture(inputs: inputs, tensors: tensors, params: params)
    }

    /// Runs `op` on the fixture's inputs, back-propagates its upstream gradient, compares all.
    static func check(_ name: String, tolerance: Float = 1e-4, _ op: (Fixture) -> Tensor) throws {
        let fixture = try load(name)
        let out = op(fixture)
        compare(name + " output", out, fixture.tensors["out"]!, tolerance)
        out.backward(fixture.tensors["gout"]!)
        for (key, input) in fixture.inputs {
            guard let expected = fixture.tensors["grad.\(key)"] else { continue }
            guard let grad = input.grad else {
                Issue.record("\(name): no gradient for \(key)")
                continue
            }
            compare("\(name) gradient of \(key)", grad, expected, tolerance)
        }
    }

    static func compare(_ what: String, _ actual: Tensor, _ expected: Tensor, _ tolerance: Float) {
        guard actual.shape == expected.shape else {
            Issue.record("\(what): shape \(actual.shape), PyTorch \(expected.shape)")
            return
        }
        let (a, e) = (actual.toArray(), expected.toArray())
        var worst = (error: Float(0), index: 0)
        for i in a.indices {
            let error = abs(a[i] - e[i]) / (1 + abs(e[i]))
            if error > worst.error { worst = (error, i) }
        }
        #expect(worst.error <= tolerance, "\(what): element \(worst.index) is \(a[worst.index]), PyTorch \(e[worst.index])")
    }

    @Test func linearAndMatmul() throws {
        try Self.check("linear") { Tensor.linear($0.input("x"), weight: $0.input("weight"), bias: $0.input("bias")) }
        try Self.check("matmul_batched") { Tensor.matmul($0.input("a"), $0.input("b")) }
    }

    @Test func convolutions() throws {
        for name in ["conv2d_3x3", "conv2d_stride2", "conv2d_1x1"] {
            try Self.check(name) {
                Tensor.conv2d($0.input("x"), weight: $0.input("weight"), bias: $0.input("bias"),
                              stride: $0.params["stride"] as! Int, padding: $0.params["padding"] as! Int)
            }
        }
        try Self.check("temporal_conv") { Tensor.temporalConv($0.input("x"), weight: $0.input("weight"), bias: $0.input("bias")) }
    }

    @Test func normalisation() throws {
        try Self.check("group_norm") { Tensor.groupNorm($0.input("x"), groups: 2, weight: $0.input("weight"), bias: $0.input("bias")) }
        try Self.check("video_group_norm") {
            Tensor.videoGroupNorm($0.input("x"), groups: 2, weight: $0.input("weight"), bias: $0.input("bias"))
        }
        try Self.check("layer_norm") { Tensor.layerNorm($0.input("x"), weight: $0.input("weight"), bias: $0.input("bias")) }
    }

    @Test func activationsAndAttention() throws {
        try Self.check("silu") { $0.input("x").silu() }
        try Self.check("gelu") { $0.input("x").gelu() }
        try Self.check("softmax") { $0.input("x").softmax() }
        try Self.check("attention") { Tensor.scaledDotProductAttention(query: $0.input("q"), key: $0.input("k"), value: $0.input("v")) }
    }

    @Test func poolingEmbeddingAndArithmetic() throws {
        try Self.check("avg_pool2x") { $0.input("x").avgPool2x() }
        try Self.check("upsample2x") { $0.input("x").upsampleNearest2x() }
        try Self.check("embedding") { Tensor.embedding($0.input("table"), indices: $0.params["indices"] as! [Int]) }
        try Self.check("broadcast_arith") { f in
            let (a, b, c) = (f.input("a"), f.input("b"), f.input("c"))
            return (a + b) * c - a / (c.abs() + 1)
        }
    }

    @Test func losses() throws {
        try Self.check("mse") { Tensor.mseLoss($0.input("a"), $0.input("b")) }
        try Self.check("l1") { Tensor.l1Loss($0.input("a"), $0.input("b")) }
        try Self.check("bce_with_logits") { Tensor.bceWithLogitsLoss($0.input("x"), $0.input("t")) }
        try Self.check("cross_entropy") { Tensor.crossEntropyLoss($0.input("x"), labels: $0.params["labels"] as! [Int]) }
    }

    @Test("a UNet residual block composed of ops matches PyTorch end to end")
    func residualBlock() throws {
        try Self.check("resblock", tolerance: 2e-4) { f in
            let x = f.input("x")
            var h = Tensor.groupNorm(x, groups: 2, weight: f.input("n1w"), bias: f.input("n1b")).silu()
            h = Tensor.conv2d(h, weight: f.input("c1w"), bias: f.input("c1b"), padding: 1)
            let t = Tensor.linear(f.input("temb"), weight: f.input("tw"), bias: f.input("tb"))
            h = h + t.reshaped([t.shape[0], t.shape[1], 1, 1])
            // The second normalisation fused with its SiLU, as the UNets run it (the first unfused).
            h = Tensor.groupNorm(h, groups: 2, weight: f.input("n2w"), bias: f.input("n2b"), thenSiLU: true)
            h = Tensor.conv2d(h, weight: f.input("c2w"), bias: f.input("c2b"), padding: 1)
            return h + Tensor.conv2d(x, weight: f.input("sw"), bias: f.input("sb"))
        }
    }
}
