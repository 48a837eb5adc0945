// NN core benchmark (not a test): the reference UNet's AdamW training step and forward pass, in
// this project's NN core. scripts/bench-nn.sh runs it next to PyTorch and writes the comparison.
import Foundation
import NN
import Tensor

BLASKernels.startAgainIfOutdated()

struct Measurement: Codable {
    var name: String
    var seconds: [Double]
    var median: Double { seconds.sorted()[seconds.count / 2] }
}

let arguments = CommandLine.arguments
func option(_ name: String, _ fallback: String) -> String {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return fallback }
    return arguments[i + 1]
}
let repeats = Int(option("--repeats", "5"))!
let outPath = option("--out", "bench/results/nn-swift.json")
let weightsPath = option("--weights", "bench/results/unet-weights.safetensors")

var rng = SeededRNG(seed: 0)
let model = ReferenceUNet(rng: &rng)
print("reference UNet: \(model.parameterCount) parameters, \(Parallelism.workers) workers")
// The same initial weights for PyTorch, and a parity probe: input and output of one forward.
try model.save(to: weightsPath)
let probe = Tensor.randn([2, 27, 32, 32], rng: &rng)
let probeOut = withoutGrad { model(probe, timesteps: [3, 71]) }
try Safetensors.write([("x", probe), ("out", probeOut)], metadata: ["timesteps": "3,71"],
                      to: weightsPath.replacingOccurrences(of: ".safetensors", with: "-probe.safetensors"))

func time(_ body: () -> Void) -> Double {
    let start = ContinuousClock.now
    body()
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

// --conv-layers: every 3×3 convolution shape of the reference UNet, Winograd against im2col.
if arguments.contains("--conv-layers") {
    let shapes = [(27, 64, 32), (64, 64, 32), (64, 128, 16), (128, 128, 16), (128, 256, 8), (256, 256, 8),
                  (512, 256, 8), (384, 128, 16), (192, 64, 32), (64, 24, 32)]
    // --conv-shape CI,CO,SIZE,BATCH: only that shape (for profiling one layer).
    let only = option("--conv-shape", "").split(separator: ",").compactMap { Int($0) }
    for batch in only.count == 4 ? [only[3]] : [16, 1] {
        for (ci, co, size) in only.count == 4 ? [(only[0], only[1], only[2])] : shapes {
            let x = Tensor.randn([batch, ci, size, size], rng: &rng)
            let w = Tensor.randn([co, ci, 3, 3], std: 0.05, rng: &rng)
            x.requiresGrad = true
            w.requiresGrad = true
            var row = "b\(batch) \(ci)→\(co) @\(size) fwd / fwd+bwd ms:"
            for algorithm in [ConvolutionAlgorithm.im2col, .winograd(tile: 2), .winograd(tile: 4), .automatic] {
                var forward: [Double] = [], step: [Double] = []
                for _ in 0..<(repeats + 1) {
                    forward.append(time { _ = withoutGrad { Tensor.conv2d(x, weight: w, bias: nil, padding: 1, algorithm: algorithm) } })
                    step.append(time {
                        x.zeroGrad()
                        w.zeroGrad()
                        Tensor.conv2d(x, weight: w, bias: nil, padding: 1, algorithm: algorithm).sum().backward()
                    })
                }
                let median = { (v: [Double]) in v.dropFirst().sorted()[(v.count - 1) / 2] * 1000 }
                let name = switch algorithm {
                case .im2col: "im2col"
                case .winograd(let tile): "F\(tile)"
                case .automatic: "auto"
                }
                row += String(format: "  %@ %.2f / %.2f", name, median(forward), median(step))
            }
            print(row)
        }
    }
    exit(0)
}

var results: [Measurement] = []
let forwardOnly = arguments.contains("--forward-only")
let optimizer = AdamW(parameters: model.parameters(), learningRate: 1e-4)
for (size, batch) in forwardOnly ? [] : [(32, 16), (64, 8)] {
    let x = Tensor.randn([batch, 27, size, size], rng: &rng)
    let target = Tensor.randn([batch, 24, size, size], rng: &rng)
    let timesteps = (0..<batch).map { Float($0 * 7 % 100) }
    var seconds: [Double] = []
    for step in 0..<(repeats + 1) {
        let s = time {
            model.zeroGrad()
            let loss = Tensor.mseLoss(model(x, timesteps: timesteps), target)
            loss.backward()
            optimizer.update()
        }
        if step > 0 { seconds.append(s) }  // the first step pays for first-touch allocations
    }
    results.append(Measurement(name: "train step \(size)x\(size) batch \(batch)", seconds: seconds))
    print(results.last!.name, String(format: "%.3f s", results.last!.median))
}
for size in [32, 64] {
    let x = Tensor.randn([1, 27, size, size], rng: &rng)
    var seconds: [Double] = []
    for step in 0..<(repeats * (forwardOnly ? 20 : 2) + 1) {
        let s = time { _ = withoutGrad { model(x, timesteps: [50]) } }
        if step > 0 { seconds.append(s) }
    }
    results.append(Measurement(name: "forward \(size)x\(size) batch 1", seconds: seconds))
    print(results.last!.name, String(format: "%.4f s", results.last!.median))
}
let encoder = JSONEncoder()
encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
try encoder.encode(results.map { ["name": $0.name, "median_seconds": String($0.median)] }).write(to: URL(fileURLWithPath: outPath))
print("wrote \(outPath)")
