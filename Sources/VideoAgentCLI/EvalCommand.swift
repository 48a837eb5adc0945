import ArgumentParser
import Control
import Environments
import Evaluation
import Foundation
import Tensor
import VideoCritic
import VideoDiffusion

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure task success in the paper's protocol: plans executed by the plan follower on a task × camera × seed grid.",
        discussion: """
            Variants (--variants, comma-separated): oracle (the true demonstration of the same seed cut like a plan:
            the follower's own ceiling), oracle+replan (the same, and on every stall the expert's demonstration from the
            state reached: what replanning adds with true plans; built-in suite only), base (one plan from the plan model), refine (that plan refined K =
            --iterations times; every iteration 0…K is executed, for the success-against-iteration plot), replan
            (base plans, a new one after --stall-steps still steps, at most --max-replans) and refine+replan; with a
            judge (--critic): refine+critic (refine until the judge accepts, at most K times), select+critic (draw
            --candidates plans, execute the one the judge most expects to succeed: filtering), and each + replan.
            Writes OUT/episodes.jsonl (one line per episode; --resume continues from it; on the built-in suite with
            its shortfall: how far the scene ended from success, in metres), OUT/report.json,
            OUT/report.md (methods as rows, tasks as columns, 95 % Wilson intervals; failed episodes' median
            shortfall per task), OUT/iterations.png and OUT/strips.png (plans above, what happened below).
            """)

    @Option(help: "builtin (pure Swift tabletop suite) or metaworld (Python bridge).") var env: String = "builtin"
    @Option(help: "Comma-separated tasks, or all.") var tasks: String = "all"
    @Option(help: "Comma-separated cameras.") var cameras: String = "corner,corner2,corner3"
    @Option(help: "Seeds per task and camera.") var seeds: Int = 25
    @Option(help: "The first seed (held out from training: 5000 and up).") var seedStart: UInt64 = 5000
    @Option(help: "Comma-separated: oracle, oracle+replan, base, refine, replan, refine+replan, refine+critic, refine+critic+replan, select+critic, select+critic+replan.")
    var variants: String = "oracle,base,refine,replan,refine+replan"
    @OptionGroup(title: "The judge of the critic variants") var judge: JudgeOptions
    @Option(help: "Refinement iterations K of refine and refine+replan.") var iterations: Int = 4
    @Option(help: "Plans drawn for the judge to choose from in select+critic and select+critic+replan (5: the samplings of refine with K = 4).")
    var candidates: Int = 5
    @Option(help: "What the critic variants refine on: binary (the verdict alone) or descriptive (the critic's feedback category; needs a plan model from train --descriptive-feedback).")
    var feedback: String = "binary"
    @Option(help: ArgumentHelp("The plan model (default: the shipped one).", valueName: "PATH"))
    var planModel: String = "models/builtin-plan/model.safetensors"
    @Option(help: ArgumentHelp("The plan follower (default: the shipped one).", valueName: "PATH"))
    var follower: String = "models/builtin-follower/model.safetensors"
    @Option(help: "DDIM steps per plan.") var samplingSteps: Int = 10
    @Option(help: "Classifier-free guidance scale on the task when drawing plans (1 = off; more than 1 costs a second pass per step).")
    var guidance: Float = 1
    @Option(help: "New plans allowed per episode in the replan variants (paper: 5).") var maxReplans: Int = 5
    @Option(help: "Consecutive steps with the hand still (< 1 mm) that count as a stall (paper: 15).") var stallSteps: Int = 15
    @Option(help: "With no new plan left (every arm without replanning, or replans used up), follow the plan again from this many frames back on a stall or after holding its last frame for --stall-steps steps unsolved (0: hold still, the paper's rule).")
    var rewindFrames: Int = 4
    @Option(help: "Rewinds allowed per episode (with --rewind-frames).") var maxRewinds: Int = 3
    @Option(help: "Episodes run in lockstep, their plans sampled in one batch.") var batch: Int = 8
    @Option(help: "Move on to the next plan frame after at most this many steps on one (default: only when the follower judges it reached).")
    var maxStepsPerGoal: Int?
    @Option(help: "The probability at which the follower counts a plan frame as reached.") var reachThreshold: Float = 0.5
    @Option(help: "The follower averages its overlapping action chunks, the one made k steps ago weighing exp(-decay·k) (0: plain mean).")
    var ensembleDecay: Float = 0
    @Flag(help: "Send the newest action chunk's first action alone (no averaging of chunks).") var noEnsemble = false
    @Option(help: "The follower looks at a camera frame every this many steps (at most its chunk length, 4) and on each new plan frame; in between it acts from its chunks.")
    var frameEvery: Int = 1
    @Option(help: "Output directory.") var out: String
    @Flag(help: "Continue an interrupted run in --out.") var resume = false
    @Option(help: ArgumentHelp("Keep every plan executed without replanning, with its outcome: the critic's data.", valueName: "DIR"))
    var savePlans: String?
    @OptionGroup var environmentOptions: EnvironmentOptions

    func validate() throws {
        try OptionChecks.range(seeds, "--seeds", 1...100_000)
        guard seedStart <= UInt64.max - UInt64(seeds) else { throw ValidationError("--seed-start + --seeds runs past the largest seed") }
        try OptionChecks.range(iterations, "--iterations", 0...20)
        try OptionChecks.range(candidates, "--candidates", 1...64)
        try OptionChecks.range(samplingSteps, "--sampling-steps", 1...1000)
        try OptionChecks.finite(guidance, "--guidance", in: 0...100)
        try OptionChecks.range(maxReplans, "--max-replans", 0...100)
        try OptionChecks.range(stallSteps, "--stall-steps", 1...10_000)
        try OptionChecks.range(batch, "--batch", 1...256)
        try OptionChecks.range(rewindFrames, "--rewind-frames", 0...100)
        try OptionChecks.range(maxRewinds, "--max-rewinds", 0...100)
        guard ensembleDecay.isFinite, ensembleDecay >= 0 else {
            throw ValidationError("--ensemble-decay must be 0 or more (0 averages the overlapping chunks evenly), not \(ensembleDecay)")
        }
        do { _ = try Variant.parse(variants) } catch { throw ValidationError("--variants: \(error)") }
        guard ["binary", "descriptive"].contains(feedback) else {
            throw ValidationError("--feedback \(feedback): use binary (refine on the verdict) or descriptive (refine on the critic's category)")
        }
    }

    func run() throws {
        Console.lineBuffered()
        let chosen = try Variant.parse(variants)
        if chosen.contains(.oracleReplan) && env != "builtin" {
            throw ValidationError("oracle+replan sets the scene aside to let the expert demonstrate from each stall, which only the "
                + "built-in suite can do; use --env builtin, or drop oracle+replan from --variants")
        }
        let probe = try environmentOptions.make(env)
        let taskList = try CollectCommand.choose(tasks, from: probe.tasks.map(\.name), what: "task")
        let cameraList = try CollectCommand.choose(cameras, from: probe.cameras, what: "camera")
        let taskInfos = taskList.map { name in probe.tasks.first { $0.name == name }! }
        let environmentName = probe.name
        defer { probe.close() }
        guard FileManager.default.fileExists(atPath: follower) else {
            throw ValidationError("no follower at \(follower); train one with videoagent train-follower, or give --follower PATH")
        }
        let (loadedFollower, followerMetadata) = try PlanFollower.load(follower)
        try loadedFollower.prepare(probe)
        loadedFollower.maxStepsPerGoal = maxStepsPerGoal
        loadedFollower.reachThreshold = reachThreshold
        loadedFollower.ensembleDecay = noEnsemble ? nil : ensembleDecay
        try loadedFollower.look(every: frameEvery)
        let needsModel = chosen.contains { $0 != .oracle && $0 != .oracleReplan }
        if needsModel && !FileManager.default.fileExists(atPath: planModel) {
            throw ValidationError("no plan model at \(planModel); train one with videoagent train, or give --plan-model PATH")
        }
        let model = needsModel ? try PlanModel(path: planModel, steps: samplingSteps, guidance: guidance) : nil
        if feedback == "descriptive", let model, !model.model.config.refinesWithCategories {
            throw ValidationError("--feedback descriptive: \(planModel) refines without feedback categories; "
                + "train one with videoagent train --init-from \(planModel) --descriptive-feedback --critic PATH, or use --feedback binary")
        }
        if !resume && FileManager.default.fileExists(atPath: out + "/episodes.jsonl") {
            throw ValidationError("\(out) holds an earlier run; give --resume to continue it, or another --out")
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var settings = EvalSettings(tasks: taskInfos, cameras: cameraList,
                                    seeds: (0..<UInt64(seeds)).map { seedStart + $0 }, variants: chosen, iterations: iterations,
                                    replanRule: ReplanRule(stallSteps: stallSteps, maxReplans: maxReplans,
                                                           rewindFrames: rewindFrames, maxRewinds: maxRewinds), batch: batch,
                                    judge: try judge.judge())
        settings.descriptiveFeedback = feedback == "descriptive"
        settings.candidates = candidates
        print("eval: \(taskList.count) tasks × \(cameraList.count) cameras × \(seeds) seeds, arms \(settings.arms.joined(separator: ", "))")
        print("follower \(follower) (step \(followerMetadata["step"] ?? "?")); plan model \(needsModel ? planModel : "not needed"); "
            + "OpenBLAS kernels \(BLASKernels.chosen)")
        let options = environmentOptions
        let runner = try EvalRunner(settings: settings, follower: loadedFollower, planModel: model,
                                    resultsPath: out + "/episodes.jsonl", makeEnvironment: { try options.make(environmentName) },
                                    log: { print($0) })
        runner.savePlans = savePlans
        try runner.run()
        let report = EvalReport(results: runner.results, settings: settings, environment: environmentName)
        try report.write(to: out, kept: runner.kept)
        print(report.markdown)
        print("wrote \(out)/report.md, report.json" + (report.successByIteration.count > 1 ? ", iterations.png" : "") + " and strips.png")
    }
}
