import Control
import Dataset
import Environments
import Foundation
import Media
import SeededRandom
import VideoCritic

/// The ways an episode gets its plans, as in the paper's tables.
public enum Variant: String, CaseIterable, Sendable, Codable {
    /// The true demonstration of the same seed cut like a plan: the follower's own ceiling.
    case oracle
    /// The same, and on every stall the expert's demonstration from the state reached: the
    /// ceiling of replanning with true plans (built-in suite only; it sets the state aside).
    case oracleReplan = "oracle+replan"
    /// One plan from the plan model.
    case base
    /// That plan refined K times (self-conditioning consistency).
    case refine
    /// Base plans, a new one on every stall (at most R).
    case replan
    /// Refined plans, a new one on every stall.
    case refineReplan = "refine+replan"
    /// Refined until the critic accepts, at most K times (the paper's rule).
    case refineCritic = "refine+critic"
    /// The same, with a new plan on every stall.
    case refineCriticReplan = "refine+critic+replan"
    /// Filtering: N base plans drawn, the one the critic most expects to succeed executed.
    case selectCritic = "select+critic"
    /// The same, with a new (selected) plan on every stall.
    case selectCriticReplan = "select+critic+replan"

    /// The arms that ask a judge.
    public var needsJudge: Bool { [.refineCritic, .refineCriticReplan, .selectCritic, .selectCriticReplan].contains(self) }

    public static func parse(_ list: String) throws -> [Variant] {
        let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw ControlError("no variant given; use some of \(allCases.map(\.rawValue).joined(separator: ","))") }
        return try names.map { name in
            guard let variant = Variant(rawValue: name) else {
                throw ControlError("unknown variant '\(name)'; use some of \(allCases.map(\.rawValue).joined(separator: ","))")
            }
            return variant
        }
    }
}

/// One executed episode of the evaluation.
public struct EpisodeResult: Codable, Sendable, Equatable {
    /// `oracle`, `iteration-i` (the plan after i refinements: base is 0, refine is K), `replan`,
    /// `refine+replan`.
    public var arm: String
    public var task: String
    public var camera: String
    public var seed: UInt64
    public var success: Bool
    public var steps: Int
    public var replans: Int
    /// Times the plan was followed again from an earlier frame after a stall (`--rewind-frames`);
    /// absent in runs before rewinds existed.
    public var rewinds: Int?
    public var seconds: Double
    /// Refinements per plan made (the critic arms: the compute spent), averaged over the episode's plans.
    public var iterations: Double?
    /// How far the scene ended from success, metres (``Demonstrator/shortfall()``: 0 when it
    /// succeeded); nil where the environment cannot say (MetaWorld) and in runs before it existed.
    public var shortfall: Double?
    /// Camera frames the follower looked at (`--frame-every`); absent in runs before it was counted.
    public var frames: Int?
}

/// What to evaluate.
public struct EvalSettings: Sendable {
    public var tasks: [TaskInfo]
    public var cameras: [String]
    public var seeds: [UInt64]
    public var variants: [Variant]
    /// Refinement iterations K of `refine` and `refine+replan`.
    public var iterations: Int
    /// Plans drawn per choice in the select arms (5: the samplings of one plan refined 4 times).
    public var candidates = 5
    public var replanRule: ReplanRule
    /// Episodes run in lockstep (their plans sampled in one batch).
    public var batch: Int
    /// The judge of the critic arms.
    public var judge: (any PlanJudge)?
    /// Whether the critic arms refine conditioned on the judge's feedback category (descriptive)
    /// or on the verdict alone (binary).
    public var descriptiveFeedback = false

    public init(tasks: [TaskInfo], cameras: [String], seeds: [UInt64], variants: [Variant], iterations: Int,
                replanRule: ReplanRule = .paper, batch: Int = 8, judge: (any PlanJudge)? = nil) {
        self.tasks = tasks
        self.cameras = cameras
        self.seeds = seeds
        self.variants = variants
        self.iterations = iterations
        self.replanRule = replanRule
        self.batch = batch
        self.judge = judge
    }

    /// The arms that run, in report order.
    public var arms: [String] {
        var out: [String] = []
        if variants.contains(.oracle) { out.append("oracle") }
        if variants.contains(.oracleReplan) { out.append("oracle+replan") }
        if variants.contains(.base) || variants.contains(.refine) {
            out += (0...(variants.contains(.refine) ? iterations : 0)).map { "iteration-\($0)" }
        }
        // The other variants are one arm each, named as the variant.
        let single: [Variant] = [.replan, .refineReplan, .refineCritic, .refineCriticReplan, .selectCritic, .selectCriticReplan]
        return out + single.filter(variants.contains).map(\.rawValue)
    }
}

/// A few executed episodes kept for the report's frame strips.
public struct KeptEpisode: Sendable {
    public var arm: String
    public var task: String
    public var camera: String
    public var seed: UInt64
    public var success: Bool
    public var plan: [RGBImage]
    public var frames: [RGBImage]
}

/// Runs the evaluation grid: every arm on every task × camera × seed, episodes in lockstep
/// batches, results appended to a file as each batch ends (so a run resumes where it stopped).
public final class EvalRunner {
    public typealias EnvironmentFactory = () throws -> any DemonstrableEnvironment

    let settings: EvalSettings
    let follower: PlanFollower
    let planModel: PlanModel?
    let makeEnvironment: EnvironmentFactory
    let resultsPath: String
    let log: (String) -> Void
    /// When set, every plan executed without replanning is kept here with its outcome (the critic's data).
    public var savePlans: String?
    private var environments: [any DemonstrableEnvironment] = []
    public private(set) var results: [EpisodeResult] = []
    public private(set) var kept: [KeptEpisode] = []

    public init(settings: EvalSettings, follower: PlanFollower, planModel: PlanModel?, resultsPath: String,
                makeEnvironment: @escaping EnvironmentFactory, log: @escaping (String) -> Void) throws {
        self.settings = settings
        self.follower = follower
        self.planModel = planModel
        self.makeEnvironment = makeEnvironment
        self.resultsPath = resultsPath
        self.log = log
        if let planModel {
            guard planModel.resolution == follower.config.planResolution else {
                throw ControlError("the plan model draws \(planModel.resolution)-pixel plans but the follower takes "
                    + "\(follower.config.planResolution)-pixel plans; use a follower trained for this plan model")
            }
            try planModel.checkTasks(settings.tasks.map(\.instruction))
        } else if settings.variants.contains(where: { $0 != .oracle && $0 != .oracleReplan }) {
            throw ControlError("variants other than oracle need a plan model (--plan-model PATH)")
        }
        if settings.judge == nil && settings.variants.contains(where: \.needsJudge) {
            throw ControlError("the critic variants need a judge (--critic PATH from train-critic, --critic motion, or --critic vlm)")
        }
        if let data = FileManager.default.contents(atPath: resultsPath) {
            let decoder = JSONDecoder()
            results = try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
                try decoder.decode(EpisodeResult.self, from: Data($0.utf8))
            }
        }
    }

    private struct Cell: Hashable { let task: String, camera: String, seed: UInt64 }

    public func run() throws {
        let done = Set(results.map { "\($0.arm)|\($0.task)|\($0.camera)|\($0.seed)" })
        func isDone(_ arm: String, _ c: Cell) -> Bool { done.contains("\(arm)|\(c.task)|\(c.camera)|\(c.seed)") }
        let cells = settings.tasks.flatMap { task in
            settings.cameras.flatMap { camera in settings.seeds.map { Cell(task: task.name, camera: camera, seed: $0) } }
        }
        let arms = settings.arms
        let iterationArms = arms.filter { $0.hasPrefix("iteration-") }
        // The cheap arms first: a run cut short still has its baselines.
        let groups: [[String]] = arms.filter { $0 == "oracle" }.map { [$0] } + (iterationArms.isEmpty ? [] : [iterationArms])
            + arms.filter { $0 != "oracle" && !$0.hasPrefix("iteration-") }.map { [$0] }
        let total = cells.count * arms.count
        var finished = results.count
        var finishedHere = 0
        let started = Date()
        for group in groups {
            let todo = cells.filter { cell in group.contains { !isDone($0, cell) } }
            for start in stride(from: 0, to: todo.count, by: settings.batch) {
                let chunk = Array(todo[start..<min(start + settings.batch, todo.count)])
                let t0 = Date()
                let outcome = try run(group, chunk)
                try append(outcome)
                finished += outcome.count
                finishedHere += outcome.count
                let rate = Double(outcome.filter(\.success).count) / Double(max(1, outcome.count))
                let elapsed = Date().timeIntervalSince(started)
                let perEpisode = Date().timeIntervalSince(t0) / Double(max(1, outcome.count))
                let place = Set(chunk.map { "\($0.task)/\($0.camera)" }).sorted().joined(separator: ", ")
                log(String(format: "[%d/%d] %@ %@ (%d episodes): %.0f%% success, %.2f s/episode, ETA %@",
                           finished, total, group.count > 1 ? "iterations 0–\(group.count - 1)" : group[0], place,
                           chunk.count, 100 * rate, perEpisode,
                           Self.duration(elapsed / Double(finishedHere) * Double(total - finished))))
            }
        }
    }

    private func append(_ outcome: [EpisodeResult]) throws {
        results += outcome
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var text = ""
        for result in outcome { text += String(decoding: try encoder.encode(result), as: UTF8.self) + "\n" }
        if !FileManager.default.fileExists(atPath: resultsPath) { _ = FileManager.default.createFile(atPath: resultsPath, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: resultsPath))
        defer { try? handle.close() }
        handle.seekToEndOfFile()
        handle.write(Data(text.utf8))
    }

    /// Runs `arms` (one arm, or the iteration arms sharing their samples) on `cells`.
    private func run(_ arms: [String], _ cells: [Cell]) throws -> [EpisodeResult] {
        while environments.count < cells.count {
            let environment = try makeEnvironment()
            try follower.prepare(environment)
            environments.append(environment)
        }
        let info = Dictionary(uniqueKeysWithValues: settings.tasks.map { ($0.name, $0) })
        // Sampling noise depends on the seed and the arm only, so a resumed run draws the same plans.
        let armCode = arms[0].utf8.reduce(UInt64(0)) { $0 &* 31 &+ UInt64($1) }
        var rng = SeededRNG(seed: cells[0].seed &* 0x9E37_79B9_7F4A_7C15 ^ armCode)
        switch arms[0] {
        case "oracle":
            let demonstrating = Date()
            let plans = try cells.enumerated().map { i, cell in
                try Collector(environment: environments[i], resolution: follower.config.resolution,
                              planResolution: follower.config.planResolution)
                    .demonstrationPlan(task: cell.task, camera: cell.camera, seed: cell.seed)
            }
            return try execute("oracle", cells, info, rule: settings.replanRule.withoutReplanning, first: plans, planner: nil,
                               planningSeconds: Date().timeIntervalSince(demonstrating) / Double(cells.count))
        case "oracle+replan":
            // One collector (and expert) per episode's environment, found again by the episode's cell on each replan.
            let collectors = Dictionary(uniqueKeysWithValues: cells.enumerated().map { i, cell in
                (cell, Collector(environment: environments[i], resolution: follower.config.resolution,
                                 planResolution: follower.config.planResolution))
            })
            let plans = try cells.map { try collectors[$0]!.demonstrationPlan(task: $0.task, camera: $0.camera, seed: $0.seed) }
            return try execute("oracle+replan", cells, info, rule: settings.replanRule, first: plans) { loops in
                try loops.map { try collectors[Cell(task: $0.task.name, camera: $0.camera, seed: $0.seed)]!.demonstrationPlan(from: $0) }
            }
        case "refine+critic", "refine+critic+replan":
            var made: [String: [Int]] = [:]  // episode → refinements of each of its plans
            let judge = settings.judge!
            let results = try execute(arms[0], cells, info, rule: rule(replanning: arms[0].hasSuffix("+replan")), first: nil) { loops in
                let planned = try self.planModel!.plansWithCritic(observations: loops.map(\.observation.frame),
                                                                  tasks: loops.map(\.task.instruction),
                                                                  iterations: self.settings.iterations, judge: judge,
                                                                  descriptive: self.settings.descriptiveFeedback, rng: &rng)
                for (loop, p) in zip(loops, planned) { made["\(loop.task.name)|\(loop.camera)|\(loop.seed)", default: []].append(p.iterations) }
                return planned.map(\.plan)
            }
            return results.map { result in
                var result = result
                let counts = made["\(result.task)|\(result.camera)|\(result.seed)"] ?? []
                result.iterations = counts.isEmpty ? nil : Double(counts.reduce(0, +)) / Double(counts.count)
                return result
            }
        case "select+critic", "select+critic+replan":
            let judge = settings.judge!
            return try execute(arms[0], cells, info, rule: rule(replanning: arms[0].hasSuffix("+replan")), first: nil) { loops in
                try self.planModel!.plansBySelection(observations: loops.map(\.observation.frame), tasks: loops.map(\.task.instruction),
                                                     candidates: self.settings.candidates, judge: judge, rng: &rng)
            }
        case "replan", "refine+replan":
            let iterations = arms[0] == "replan" ? 0 : settings.iterations
            return try execute(arms[0], cells, info, rule: settings.replanRule, first: nil) { loops in
                try self.planModel!.plans(observations: loops.map(\.observation.frame), tasks: loops.map(\.task.instruction),
                                          iterations: iterations, rng: &rng).map { $0.last! }
            }
        default:
            // One sampling gives every iteration's plan; each is executed from the same start.
            let sampling = Date()
            let firsts = try cells.enumerated().map { i, cell in
                try environments[i].reset(task: cell.task, seed: cell.seed, camera: cell.camera, resolution: follower.config.resolution).frame
            }
            let plans = try planModel!.plans(observations: firsts, tasks: cells.map { info[$0.task]!.instruction },
                                             iterations: arms.count - 1, rng: &rng)
            // Every iteration costs one sampling: iteration i's plans took i + 1 of the arms.count samplings.
            let perSampling = Date().timeIntervalSince(sampling) / Double(arms.count * cells.count)
            return try arms.enumerated().flatMap { i, arm in
                try execute(arm, cells, info, rule: settings.replanRule.withoutReplanning, first: plans.map { $0[i] }, planner: nil,
                            planningSeconds: perSampling * Double(i + 1))
            }
        }
    }

    /// The replan rule of an arm that replans, or the same rule with no new plan allowed.
    private func rule(replanning: Bool) -> ReplanRule {
        replanning ? settings.replanRule : settings.replanRule.withoutReplanning
    }

    /// Runs episodes in lockstep: the follower decides for all acting episodes at once, and
    /// episodes that ask for a plan get theirs from one call of `planner`.
    /// `planningSeconds`: per episode, time spent before on plans it was handed (`first`), so the
    /// report's episodes per minute count the planning an arm needs, not only its execution.
    private func execute(_ arm: String, _ cells: [Cell], _ info: [String: TaskInfo], rule: ReplanRule, first: [VideoPlan]?,
                         planner: (([EpisodeLoop]) throws -> [VideoPlan])?, planningSeconds: Double = 0) throws -> [EpisodeResult] {
        let t0 = Date()
        let loops = try cells.enumerated().map { i, cell in
            let observation = try environments[i].reset(task: cell.task, seed: cell.seed, camera: cell.camera,
                                                        resolution: follower.config.resolution)
            let loop = EpisodeLoop(task: info[cell.task]!, seed: cell.seed, camera: cell.camera, first: observation,
                                   rule: rule.measuringStalls(over: follower.frameEvery), planned: true)
            if let first { loop.receive(first[i]) }
            return loop
        }
        while true {
            let waiting = loops.indices.filter { loops[$0].phase == .needsPlan }
            if !waiting.isEmpty {
                guard let planner else { throw ControlError("\(arm): an episode asked for a new plan but this arm does not replan") }
                for (i, plan) in zip(waiting, try planner(waiting.map { loops[$0] })) { loops[i].receive(plan) }
            }
            let acting = loops.indices.filter { loops[$0].phase == .acting }
            if acting.isEmpty { break }
            // A follower that looks only every few steps lets the environments skip the other frames.
            for (i, decision) in zip(acting, follower.decide(acting.map { loops[$0] })) {
                try loops[i].act(decision, in: environments[i], skippingFrames: follower.frameEvery > 1)
            }
        }
        let seconds = Date().timeIntervalSince(t0) / Double(cells.count) + planningSeconds
        // Read off the simulator after the episode, for the report only: the follower has finished.
        let shortfalls = try loops.indices.map { try environments[$0].makeDemonstrator().shortfall().map(Double.init) }
        for loop in loops { keep(arm, loop) }
        if let savePlans, planner == nil || rule.maxReplans == 0 {
            for loop in loops {
                guard let plan = loop.plans.first?.plan else { continue }
                try JudgedPlan(task: loop.task.name, instruction: loop.task.instruction, camera: loop.camera, seed: loop.seed, arm: arm,
                               success: loop.success, steps: loop.steps).write(frames: plan.frames, to: savePlans)
            }
        }
        return zip(loops, shortfalls).map { loop, shortfall in
            EpisodeResult(arm: arm, task: loop.task.name, camera: loop.camera, seed: loop.seed, success: loop.success,
                          steps: loop.steps, replans: loop.replans, rewinds: loop.rewinds, seconds: seconds, iterations: nil,
                          shortfall: shortfall, frames: loop.followerFrames)
        }
    }

    /// Keeps the first success and the first failure of each arm and task for the strips.
    private func keep(_ arm: String, _ loop: EpisodeLoop) {
        guard !kept.contains(where: { $0.arm == arm && $0.task == loop.task.name && $0.success == loop.success }),
              let plan = loop.plans.first?.plan
        else { return }
        let picks = (0..<plan.frames.count).map { $0 * (loop.frames.count - 1) / max(1, plan.frames.count - 1) }
        kept.append(KeptEpisode(arm: arm, task: loop.task.name, camera: loop.camera, seed: loop.seed, success: loop.success,
                                plan: plan.frames, frames: picks.map { loop.frames[$0] }))
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.isFinite ? max(0, seconds) : 0)
        return s >= 3600 ? "\(s / 3600)h\(String(format: "%02d", s % 3600 / 60))m" : "\(s / 60)m\(String(format: "%02d", s % 60))s"
    }
}
