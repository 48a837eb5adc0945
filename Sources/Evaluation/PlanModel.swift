import Control
import VideoCritic
import Media
import SeededRandom
import Tensor
import VideoDiffusion

/// The plan model as the evaluation uses it: plans for many episodes in one batch, each refined
/// `iterations` times, every iteration kept.
public final class PlanModel {
    public let model: VideoUNet
    public let sampler: PlanSampler
    public let label: String

    public init(path: String, steps: Int = 10, guidance: Float = 1) throws {
        let (model, metadata) = try VideoCheckpoint.load(path)
        self.model = model
        sampler = PlanSampler(model: model, steps: steps, guidance: guidance)
        label = "plan model step \(metadata["step"] ?? "?")"
    }

    public var resolution: Int { model.config.resolution }

    /// Checks the model knows each task sentence; the error names the ones it knows.
    public func checkTasks(_ instructions: [String]) throws {
        for instruction in instructions { _ = try model.config.taskIndex(instruction) }
    }

    /// For each observation (any size) and task sentence: the base plan and its refinements,
    /// `iterations + 1` plans in order, each with the observation as its first frame.
    /// The paper's refinement rule: refine each plan until `judge` accepts it or `iterations`
    /// refinements were made. Returns each final plan and how many refinements it took.
    /// `descriptive`: each refinement is conditioned on the judge's feedback category (a model
    /// trained with `train --descriptive-feedback`), else plain refinement (binary feedback).
    public func plansWithCritic(observations: [RGBImage], tasks: [String], iterations: Int, judge: any PlanJudge,
                                descriptive: Bool = false, rng: inout SeededRNG) throws -> [(plan: VideoPlan, iterations: Int)] {
        if descriptive && !model.config.refinesWithCategories {
            throw VideoModelError("this plan model refines without feedback categories (its codes: "
                + model.config.feedbackCodes.joined(separator: ", ") + "); use binary feedback, or a model from "
                + "videoagent train --descriptive-feedback --critic PATH")
        }
        guard !observations.isEmpty else { return [] }
        let side = resolution, f = model.config.futureFrames
        let small = observations.map { $0.resized(width: side, height: side) }
        let taskIndices = try tasks.map { try model.config.taskIndex($0) }
        func tensor(_ rows: [Int]) -> Tensor {
            Tensor(shape: [rows.count, 3, side, side], values: rows.flatMap { small[$0].planarSigned() })
        }
        var current = PlanFrames.rows(sampler.sample(observation: tensor(Array(small.indices)), previous: nil, tasks: taskIndices, rng: &rng))
        var used = [Int](repeating: 0, count: small.count)
        var codes = [Int](repeating: VideoModelConfig.plainRefineCode, count: small.count)
        func rejected(_ rows: [Int]) throws -> [Int] {
            let verdicts = try judge.judge(rows.map { ([small[$0]] + current[$0], tasks[$0]) })
            if descriptive {
                for (row, verdict) in zip(rows, verdicts) { codes[row] = model.config.refineCode(category: verdict.feedback.rawValue) }
            }
            return zip(rows, verdicts).filter { !$0.1.accept }.map(\.0)
        }
        var pending = try rejected(Array(small.indices))
        var i = 0
        while !pending.isEmpty && i < iterations {
            i += 1
            let previous = Tensor(shape: [pending.count, f, 3, side, side], values: pending.flatMap { current[$0].flatMap { $0.planarSigned() } })
            let refined = PlanFrames.rows(sampler.sample(observation: tensor(pending), previous: previous,
                                                         tasks: pending.map { taskIndices[$0] }, feedback: pending.map { codes[$0] },
                                                         rng: &rng))
            for (k, row) in pending.enumerated() {
                current[row] = refined[k]
                used[row] = i
            }
            pending = try rejected(pending)
        }
        return small.indices.map { row in
            (VideoPlan(frames: [small[row]] + current[row], source: "\(label), critic \(judge.name), iteration \(used[row])"), used[row])
        }
    }

    /// Filtering: for each observation and task, `candidates` base plans drawn independently (in
    /// one batch), and the one `judge` most expects to succeed.
    public func plansBySelection(observations: [RGBImage], tasks: [String], candidates: Int, judge: any PlanJudge,
                                 rng: inout SeededRNG) throws -> [VideoPlan] {
        guard !observations.isEmpty else { return [] }
        let n = max(1, candidates)
        // Row r · n + c is candidate c of episode r.
        let drawn = try plans(observations: observations.flatMap { Array(repeating: $0, count: n) },
                              tasks: tasks.flatMap { Array(repeating: $0, count: n) }, iterations: 0, rng: &rng).map { $0[0] }
        return try observations.indices.map { r in
            let mine = Array(drawn[(r * n)..<((r + 1) * n)])
            let pick = try judge.best(of: mine.map { Array($0.frames.dropFirst()) }, observation: mine[0].frames[0], task: tasks[r])
            var plan = mine[pick.index]
            plan.source += ", best of \(n) by critic \(judge.name) (accept \((pick.probabilities[pick.index] * 100).rounded() / 100))"
            return plan
        }
    }

    public func plans(observations: [RGBImage], tasks: [String], iterations: Int, rng: inout SeededRNG) throws -> [[VideoPlan]] {
        guard !observations.isEmpty else { return [] }
        let side = resolution
        let small = observations.map { $0.resized(width: side, height: side) }
        let observation = Tensor(shape: [small.count, 3, side, side], values: small.flatMap { $0.planarSigned() })
        let taskIndices = try tasks.map { try model.config.taskIndex($0) }
        let iterationsOut = sampler.planAndRefine(observation: observation, tasks: taskIndices, iterations: iterations, rng: &rng)
        return small.indices.map { row in
            iterationsOut.enumerated().map { i, plan in
                VideoPlan(frames: [small[row]] + PlanFrames.images(plan, row: row), source: "\(label), iteration \(i)")
            }
        }
    }
}
