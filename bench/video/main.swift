// Plan model speed (not a test), at the default configuration: one training step, a plan with
// 10 and 20 DDIM steps, one refinement iteration. Reference in the same run: one forward pass.
// Run: swift run -c release bench-video [--batch 8] [--out bench/results/video.json]
// Profiling: --plan-only (sampling only), --profile-forward N (N batch-1 forwards, e.g. under perf record).
import Foundation
import NN
import Tensor
import VideoDiffusion
import VideoTestKit

BLASKernels.startAgainIfOutdated()

let arguments = CommandLine.arguments
func option(_ name: String, _ fallback: String) -> String {
    arguments.firstIndex(of: name).map { arguments[$0 + 1] } ?? fallback
}
let batch = Int(option("--batch", "8"))!
let repeats = Int(option("--repeats", "5"))!
let out = option("--out", "bench/results/video.json")
let widths = option("--widths", "").split(separator: ",").compactMap { Int($0) }

var config = VideoModelConfig.standard(tasks: ["press the button", "open the drawer"])
if !widths.isEmpty { config.widths = widths }
let model = try VideoUNet(config: config)
var options = TrainingOptions()
options.batchSize = batch
let trainer = try VideoTrainer(config: config, options: options)
print("plan model: \(model.parameterCount) parameters, \(config.resolution)×\(config.resolution), widths \(config.widths)")

func seconds(_ body: () -> Void) -> Double {
    let start = ContinuousClock.now
    body()
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

var rng = SeededRNG(seed: 1)
let r = config.resolution
let observation = Tensor.randn([1, 3, r, r], rng: &rng).clamped(-1, 1)
let noisy = Tensor.randn([1, config.futureFrames, 3, r, r], rng: &rng)
let forward = median((0..<repeats * 2).map { _ in
    seconds { _ = withoutGrad { model(noisy: noisy, observation: observation, selfCondition: nil, timesteps: [50], tasks: [1], feedback: [0]) } }
})
if let loops = arguments.firstIndex(of: "--profile-forward").map({ Int(arguments[$0 + 1])! }) {  // for perf: batch-1 forwards only
    for _ in 0..<loops { _ = withoutGrad { model(noisy: noisy, observation: observation, selfCondition: nil, timesteps: [50], tasks: [1], feedback: [0]) } }
    print(String(format: "forward batch 1: %.4f s (median)", forward))
    exit(0)
}
var results: [String: Double] = ["forward_batch1_seconds": forward]
for steps in [10, 20] {
    let sampler = PlanSampler(model: model, steps: steps)
    results["plan_ddim\(steps)_seconds"] = median((0..<repeats).map { _ in
        seconds { _ = sampler.sample(observation: observation, previous: nil, tasks: [1], rng: &rng) }
    })
}
// Throughput: eight plans sampled in one batch (eval and the planner stage batch episodes).
let observations = Tensor.randn([8, 3, r, r], rng: &rng).clamped(-1, 1)
let batched = PlanSampler(model: model, steps: 10)
results["plan_ddim10_batch8_seconds"] = median((0..<repeats).map { _ in
    seconds { _ = batched.sample(observation: observations, previous: nil, tasks: Array(repeating: 1, count: 8), rng: &rng) }
})
let sampler = PlanSampler(model: model, steps: 10)
let base = sampler.sample(observation: observation, previous: nil, tasks: [1], rng: &rng)
results["refine_iteration_ddim10_seconds"] = median((0..<repeats).map { _ in
    seconds { _ = sampler.sample(observation: observation, previous: base, tasks: [1], rng: &rng) }
})

if arguments.contains("--plan-only") {  // for profiling the sampler alone
    print(results)
    exit(0)
}

// A training step on synthetic clips (the data's content does not change the cost).
let clips = try SyntheticClips.make(config: config, episodes: 4)
_ = try trainer.trainStep(clips: clips)
results["train_step_batch\(batch)_seconds"] = median((0..<repeats).map { _ in seconds { _ = try! trainer.trainStep(clips: clips) } })
for (name, value) in results.sorted(by: { $0.key < $1.key }) {
    print(name.padding(toLength: 36, withPad: " ", startingAt: 0), String(format: "%.4f s  (%.1f× a forward pass)", value, value / forward))
}
var json: [String: Any] = results
json["parameters"] = model.parameterCount
json["config"] = ["resolution": config.resolution, "widths": config.widths, "blocks_per_level": config.blocksPerLevel]
try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: out))
