import Foundation
import Environments
import Media

/// The evaluation's numbers: success per arm, task, camera, the hard subset and overall, each
/// with its Wilson interval; success against refinement iteration; speed.
public struct EvalReport: Codable, Sendable {
    public struct Arm: Codable, Sendable {
        public var arm: String
        /// What the paper's tables call it.
        public var method: String
        public var overall: SuccessRate
        public var hard: SuccessRate
        public var byTask: [String: SuccessRate]
        /// "task/camera" → rate.
        public var byTaskCamera: [String: SuccessRate]
        public var meanReplans: Double
        public var episodesPerMinute: Double
        /// Refinements per plan (the critic arms; for refine it is K, for base 0).
        public var meanIterations: Double?
        /// Per task, the median shortfall of the failed episodes (metres: how far their scenes ended
        /// from success, ``EpisodeResult/shortfall``); tasks without failures or without shortfalls are absent.
        public var failedShortfall: [String: Double]?
        /// Camera frames the follower looked at per step (1 unless `--frame-every` is above 1); nil
        /// in runs before frames were counted.
        public var framesPerStep: Double?
    }

    public var environment: String
    public var tasks: [String]
    public var hardTasks: [String]
    public var cameras: [String]
    public var seeds: String
    public var iterations: Int
    public var arms: [Arm]
    /// Overall success of the plan after 0…K refinements (when base/refine ran).
    public var successByIteration: [SuccessRate]

    /// The paper's MetaWorld numbers (11 tasks × 3 cameras × 25 seeds, overall), for reference only:
    /// another benchmark, controllers with privileged state (ground-truth depth and masks).
    public static let paperMetaWorld: [(method: String, success: Double)] = [
        ("AVDC (paper's base)", 19.6), ("AVDC-Replan", 43.1), ("VideoAgent", 22.3), ("VideoAgent-Online", 26.4),
        ("VideoAgent-Online-Replan", 50.0),
    ]

    public init(results: [EpisodeResult], settings: EvalSettings, environment: String) {
        self.environment = environment
        tasks = settings.tasks.map(\.name)
        hardTasks = settings.tasks.filter(\.isHard).map(\.name)
        cameras = settings.cameras
        seeds = "\(settings.seeds.first ?? 0)–\(settings.seeds.last ?? 0)"
        iterations = settings.iterations
        let hard = Set(hardTasks)
        func rate(_ chosen: [EpisodeResult]) -> SuccessRate { SuccessRate(successes: chosen.filter(\.success).count, trials: chosen.count) }
        arms = settings.arms.compactMap { arm in
            let mine = results.filter { $0.arm == arm }
            guard !mine.isEmpty else { return nil }
            var byTask: [String: SuccessRate] = [:], byTaskCamera: [String: SuccessRate] = [:]
            for task in settings.tasks.map(\.name) {
                byTask[task] = rate(mine.filter { $0.task == task })
                for camera in settings.cameras { byTaskCamera["\(task)/\(camera)"] = rate(mine.filter { $0.task == task && $0.camera == camera }) }
            }
            let seconds = mine.reduce(0) { $0 + $1.seconds }
            return Arm(arm: arm, method: Self.method(arm, iterations: settings.iterations, descriptive: settings.descriptiveFeedback,
                                                    candidates: settings.candidates), overall: rate(mine),
                       hard: rate(mine.filter { hard.contains($0.task) }), byTask: byTask, byTaskCamera: byTaskCamera,
                       meanReplans: Double(mine.reduce(0) { $0 + $1.replans }) / Double(mine.count),
                       episodesPerMinute: seconds > 0 ? 60 * Double(mine.count) / seconds : 0,
                       meanIterations: Self.meanIterations(arm, mine, settings.iterations),
                       failedShortfall: Self.failedShortfall(mine), framesPerStep: Self.framesPerStep(mine))
        }
        successByIteration = (0...settings.iterations).compactMap { i in
            let mine = results.filter { $0.arm == "iteration-\(i)" }
            return mine.isEmpty ? nil : rate(mine)
        }
    }

    static func framesPerStep(_ results: [EpisodeResult]) -> Double? {
        let counted = results.filter { $0.frames != nil }
        let steps = counted.reduce(0) { $0 + $1.steps }
        return counted.isEmpty || steps == 0 ? nil : Double(counted.reduce(0) { $0 + $1.frames! }) / Double(steps)
    }

    static func failedShortfall(_ results: [EpisodeResult]) -> [String: Double]? {
        var byTask: [String: [Double]] = [:]
        for result in results where !result.success {
            if let shortfall = result.shortfall { byTask[result.task, default: []].append(shortfall) }
        }
        return byTask.isEmpty ? nil : byTask.mapValues { values in
            let sorted = values.sorted(), n = sorted.count
            return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        }
    }

    static func meanIterations(_ arm: String, _ results: [EpisodeResult], _ k: Int) -> Double? {
        if arm.hasPrefix("iteration-") { return Double(arm.dropFirst("iteration-".count)) }
        if arm == "refine+replan" { return Double(k) }
        let counts = results.compactMap(\.iterations)
        return counts.isEmpty ? nil : counts.reduce(0, +) / Double(counts.count)
    }

    static func method(_ arm: String, iterations: Int, descriptive: Bool = false, candidates: Int = 5) -> String {
        let feedback = descriptive ? ", descriptive feedback" : ""
        switch arm {
        case "oracle": return "oracle (true demonstration as plan)"
        case "oracle+replan": return "oracle + replan (the expert's demonstration from each stall)"
        case "iteration-0": return "base"
        case "iteration-\(iterations)": return "refine (K = \(iterations))"
        case "replan": return "base + replan"
        case "refine+replan": return "refine + replan"
        case "refine+critic": return "refine until the critic accepts (K ≤ \(iterations)\(feedback))"
        case "refine+critic+replan": return "refine until the critic accepts\(feedback) + replan"
        case "select+critic": return "best of \(candidates) plans by the critic"
        case "select+critic+replan": return "best of \(candidates) plans by the critic + replan"
        default: return "refine, iteration \(arm.dropFirst("iteration-".count))"
        }
    }

    /// Methods as rows, tasks as columns (the paper's layout), then cameras, iterations, speed.
    public var markdown: String {
        func percent(_ r: SuccessRate?) -> String { r.map { String(format: "%.1f", 100 * $0.rate) } ?? "–" }
        var out = "# Evaluation: \(environment), \(tasks.count) tasks × \(cameras.count) cameras × seeds \(seeds)\n\n"
        out += "Task success in %, executed by the plan follower; overall and hard subset with 95 % Wilson intervals.\n\n"
        out += "| method | " + tasks.map { hardTasks.contains($0) ? "\($0) (hard)" : $0 }.joined(separator: " | ")
            + " | overall | hard subset |\n"
        out += "|---|" + String(repeating: "---|", count: tasks.count + 2) + "\n"
        for arm in arms {
            out += "| \(arm.method) | " + tasks.map { percent(arm.byTask[$0]) }.joined(separator: " | ")
                + " | \(arm.overall.text) | \(arm.hard.text) |\n"
        }
        out += "\nFor reference, the paper's MetaWorld numbers (another benchmark; its controllers use ground-truth depth "
            + "and object masks, ours only camera frames and proprioception):\n\n| method (paper) | overall |\n|---|---|\n"
        for (method, success) in Self.paperMetaWorld { out += "| \(method) | \(success) |\n" }
        out += "\n## By task and camera\n\n| method | task | " + cameras.joined(separator: " | ") + " |\n|---|---|"
            + String(repeating: "---|", count: cameras.count) + "\n"
        for arm in arms {
            for task in tasks {
                out += "| \(arm.method) | \(task) | " + cameras.map { camera in
                    arm.byTaskCamera["\(task)/\(camera)"].map { "\($0.successes)/\($0.trials)" } ?? "–"
                }.joined(separator: " | ") + " |\n"
            }
        }
        if arms.contains(where: { $0.failedShortfall != nil }) {
            out += "\n## How far failed episodes ended from success\n\nMedian over each task's failed episodes, in cm: the puck or "
                + "block from its spot (success within 3 cm), the drawer's or button's missing travel, the door handle's missing arc.\n\n"
                + "| method | " + tasks.joined(separator: " | ") + " |\n|---|" + String(repeating: "---|", count: tasks.count) + "\n"
            for arm in arms {
                out += "| \(arm.method) | " + tasks.map { task in
                    arm.failedShortfall?[task].map { String(format: "%.1f", 100 * $0) } ?? "–"
                }.joined(separator: " | ") + " |\n"
            }
        }
        if !successByIteration.isEmpty {
            out += "\n## Success against refinement iteration\n\n| iteration | success |\n|---|---|\n"
            for (i, rate) in successByIteration.enumerated() { out += "| \(i) | \(rate.text) |\n" }
        }
        out += "\n## Speed and compute\n\n| method | episodes per minute | mean replans | refinements per plan | camera frames per step |\n|---|---|---|---|---|\n"
        for arm in arms {
            out += "| \(arm.method) | " + String(format: "%.1f | %.2f | ", arm.episodesPerMinute, arm.meanReplans)
                + (arm.meanIterations.map { String(format: "%.2f", $0) } ?? "–") + " | "
                + (arm.framesPerStep.map { String(format: "%.2f", $0) } ?? "–") + " |\n"
        }
        return out
    }

    /// Writes report.json, report.md, iterations.png (when there is a curve) and strips.png.
    public func write(to directory: String, kept: [KeptEpisode]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: directory + "/report.json"))
        try markdown.write(toFile: directory + "/report.md", atomically: true, encoding: .utf8)
        if successByIteration.count > 1 {
            let chart = LineChart.draw(title: "success (%) against refinement iteration", xLabel: "iteration", series: [
                .init(name: "overall", color: (40, 90, 200), values: successByIteration.map { 100 * $0.rate }),
            ])
            try PNG.write(chart, to: directory + "/iterations.png")
        }
        if !kept.isEmpty {
            let rows = kept.flatMap { episode -> [(caption: String, frames: [RGBImage])] in
                let head = "\(episode.arm) \(episode.task) \(episode.camera) seed \(episode.seed) \(episode.success ? "ok" : "fail")"
                return [(head + ": plan", episode.plan), ("what happened", episode.frames)]
            }
            try PNG.write(ContactSheet.make(rows: rows, cell: 48, maxFrames: 8), to: directory + "/strips.png")
        }
    }
}
