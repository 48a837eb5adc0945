// Built-in environment speed (not a test): expert episodes of every task on one core, with a
// 64×64 render every step, and the same episodes without looking at the frames' cost (rendered
// at 8×8) as the in-process reference. Run: swift run -c release bench-env
import Environments
import Foundation

let arguments = CommandLine.arguments
let episodes = arguments.firstIndex(of: "--episodes").map { Int(arguments[$0 + 1])! } ?? 20
let out = arguments.firstIndex(of: "--out").map { arguments[$0 + 1] } ?? "bench/results/env.json"

func measure(task: String, resolution: Int) throws -> (steps: Int, seconds: Double) {
    let env = TabletopEnvironment()
    let expert = env.makeDemonstrator()
    var steps = 0
    let start = ContinuousClock.now
    for seed in 0..<UInt64(episodes) {
        _ = try env.reset(task: task, seed: seed, camera: "corner", resolution: resolution)
        while true {
            let result = try env.step(try expert.action())
            steps += 1
            if result.terminated || result.truncated { break }
        }
    }
    let d = ContinuousClock.now - start
    return (steps, Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
}

var rows: [[String: Any]] = []
var totals = (steps: 0, seconds64: 0.0, seconds8: 0.0)
print("task            steps/s @64×64   steps/s @8×8   ratio")
for task in TabletopEnvironment().tasks.map(\.name) {
    let (steps, seconds64) = try measure(task: task, resolution: 64)
    let (_, seconds8) = try measure(task: task, resolution: 8)
    totals.steps += steps
    totals.seconds64 += seconds64
    totals.seconds8 += seconds8
    let (rate64, rate8) = (Double(steps) / seconds64, Double(steps) / seconds8)
    print(task.padding(toLength: 16, withPad: " ", startingAt: 0), String(format: "%14.0f %14.0f %7.2f", rate64, rate8, rate64 / rate8))
    rows.append(["task": task, "steps": steps, "steps_per_second_64": rate64, "steps_per_second_8": rate8])
}
let overall = Double(totals.steps) / totals.seconds64
print(String(format: "all tasks: %.0f steps/s with a 64×64 render every step (one core; target ≥ 2000)", overall))
let result: [String: Any] = ["episodes_per_task": episodes, "camera": "corner", "rows": rows,
                             "overall_steps_per_second_64": overall,
                             "overall_steps_per_second_8": Double(totals.steps) / totals.seconds8]
try JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: out))
