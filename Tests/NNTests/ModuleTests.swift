import Foundation
import NN
import Tensor
import Testing

final class Block: Module {
    let norm = GroupNorm(groups: 2, channels: 4)
    let conv: Conv2d
    init(rng: inout SeededRNG) { conv = Conv2d(4, 4, kernel: 3, rng: &rng) }
}

final class Net: Module {
    let embed: Linear
    let blocks: [Block]
    let head: Linear?
    let scale = Tensor(shape: [1], values: [2])  // a buffer: saved, not trained
    init(seed: UInt64) {
        var rng = SeededRNG(seed: seed)
        embed = Linear(3, 4, rng: &rng)
        blocks = [Block(rng: &rng), Block(rng: &rng)]
        head = Linear(4, 2, bias: false, rng: &rng)
    }
}

@Suite("Modules and checkpoints")
struct ModuleTests {
    @Test("parameters are named by property path, as PyTorch's state_dict")
    func naming() {
        let net = Net(seed: 1)
        let names = net.namedParameters().map(\.name)
        #expect(names == [
            "embed.weight", "embed.bias",
            "blocks.0.norm.weight", "blocks.0.norm.bias", "blocks.0.conv.weight", "blocks.0.conv.bias",
            "blocks.1.norm.weight", "blocks.1.norm.bias", "blocks.1.conv.weight", "blocks.1.conv.bias",
            "head.weight",
        ])
        #expect(net.namedTensors().map(\.name).last == "scale")
        #expect(net.parameterCount == 3 * 4 + 4 + 2 * (4 + 4 + 4 * 4 * 9 + 4) + 4 * 2)
    }

    @Test("the same seed builds the same model")
    func determinism() {
        let (a, b, c) = (Net(seed: 5), Net(seed: 5), Net(seed: 6))
        #expect(a.parameters().map { $0.toArray() } == b.parameters().map { $0.toArray() })
        #expect(a.parameters()[0].toArray() != c.parameters()[0].toArray())
    }

    @Test("a checkpoint round trip restores every tensor exactly, with metadata")
    func roundTrip() throws {
        let path = NSTemporaryDirectory() + "nn-\(UUID().uuidString).safetensors"
        let source = Net(seed: 1)
        try source.save(to: path, metadata: ["config": "{\"width\": 4}"])
        let target = Net(seed: 2)
        let metadata = try target.load(from: path)
        #expect(metadata["config"] == "{\"width\": 4}")
        for ((name, a), (_, b)) in zip(source.namedTensors(), target.namedTensors()) {
            #expect(a.toArray() == b.toArray(), "\(name)")
        }
    }

    @Test("loading a checkpoint that does not fit names every missing, extra and misshapen tensor")
    func mismatches() throws {
        let path = NSTemporaryDirectory() + "nn-\(UUID().uuidString).safetensors"
        var rng = SeededRNG(seed: 1)
        try Safetensors.write([("embed.weight", Tensor.randn([5, 3], rng: &rng)), ("bogus", Tensor.zeros([1]))], to: path)
        let error = #expect(throws: SafetensorsError.self) { try Net(seed: 1).load(from: path) }
        let text = error?.description ?? ""
        #expect(text.contains("embed.weight has shape [5, 3] in the file, [4, 3] in the model"))
        #expect(text.contains("missing tensor embed.bias"))
        #expect(text.contains("unexpected tensors: bogus"))
        try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: SafetensorsError.self) { try Net(seed: 1).load(from: path) }
    }

    @Test("the file layout is safetensors: header length, JSON header, little-endian data")
    func fileLayout() throws {
        let bytes = try Safetensors.encode([("a", Tensor(shape: [2], values: [1, -2]))], metadata: ["k": "v"])
        let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8
        #expect(headerLength % 8 == 0)
        let header = String(decoding: bytes[8..<(8 + headerLength)], as: UTF8.self)
        #expect(header.contains("\"dtype\":\"F32\"") && header.contains("\"data_offsets\":[0,8]"))
        #expect(header.contains("\"__metadata__\":{\"k\":\"v\"}"))
        #expect(Array(bytes.suffix(8)) == [0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0])  // 1.0, -2.0
    }
}
