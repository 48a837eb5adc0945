import ArgumentParser
import Foundation
import Media
import NN
import Tensor
import VideoCritic

struct TrainCriticCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-critic",
        abstract: "Train the learned plan judge on executed plans (eval --save-plans) and synthetic hallucinations.",
        discussion: """
            Labels follow the paper's online rule: a plan is good when the follower, executing it, succeeded. Each batch is a
            third executed successes, a third executed failures and a third hallucinations made from them (frames shuffled,
            nothing moving, a frame skipped ahead, another task's plan). With --heldout, the judge and three baselines —
            always accept, the motion rule, and the task's training success rate — are scored against the held-out outcomes:
            accuracy, balanced accuracy, AUC, within-task AUC and the confusion matrix (OUT/critic-report.md and .json), and
            every held-out plan's accept probability is written to OUT/heldout-judgements.csv.
            The last --validation-fraction of the training seeds is kept apart: the step with the best AUC there is kept,
            and every judge's threshold is chosen there. With --cross-fit each member keeps a different fold of the seeds
            apart instead, and thresholds are chosen on every training plan as judged by the member that did not see it.
            """)

    @Option(help: "Judged plans to train on (videoagent eval --save-plans DIR on training seeds); repeat for several folders.")
    var data: [String] = []
    @Option(help: "Judged plans of held-out seeds to score on.") var heldout: String?
    @Flag(help: "Also score the held-out oracle plans (true demonstrations); by default only plans the model drew are scored.")
    var scoreOracle = false
    @Option(help: "Output directory.") var out: String
    @Option(help: "Optimiser steps.") var steps: Int = 3000
    @Option(help: "Plans per step.") var batch: Int = 32
    @Option(help: "AdamW learning rate.") var learningRate: Float = 1e-3
    @Option(help: "Steps between progress lines.") var logEvery: Int = 100
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "The share of the training seeds (the last ones) kept apart to choose the step and the threshold.")
    var validationFraction: Float = 0.2
    @Flag(help: "Learn the tasks' success rates with the rest (the ablation) instead of starting the accept logit from them.")
    var learnBaseRates = false
    @Option(help: "Networks trained from seeds --seed, --seed + 1, …; they judge together (their logits averaged).")
    var members: Int = 1
    @Flag(help: "Keep a different fold of the training seeds apart from each member (needs --members ≥ 2) and choose the thresholds on every training plan, judged by the member that did not train on it (instead of on the last seeds alone).")
    var crossFit = false
    @Option(help: "Weight of a ranking loss on plans of one scene with different outcomes (0: off).") var pairWeight: Float = 0
    @Flag(help: "Choose a threshold per task (the one that maximises balanced accuracy over all plans) instead of one for all.")
    var taskThresholds = false
    @Option(help: "Learned keypoints per frame (0: none): a convolution shared by all frames and a spatial soft-argmax give each frame K points whose paths the network sees beside the stacked frames.")
    var keypoints: Int = 0
    @Option(help: ArgumentHelp("Score this existing critic (model.safetensors) on --heldout instead of training one.", valueName: "PATH"))
    var score: String?

    func validate() throws {
        try OptionChecks.range(steps, "--steps", 1...1_000_000)
        try OptionChecks.range(batch, "--batch", 2...1024)
        try OptionChecks.finite(learningRate, "--learning-rate", in: 1e-8...1)
        try OptionChecks.range(logEvery, "--log-every", 1...1_000_000)
        try OptionChecks.finite(validationFraction, "--validation-fraction", in: 0...0.5)
        try OptionChecks.range(members, "--members", 1...16)
        try OptionChecks.finite(pairWeight, "--pair-weight", in: 0...100)
        try OptionChecks.range(keypoints, "--keypoints", 0...64)
        if data.isEmpty { throw ValidationError("--data DIR is required: judged plans made by videoagent eval --save-plans DIR") }
        if crossFit && members < 2 { throw ValidationError("--cross-fit needs --members 2 or more: each member keeps a different fold of the seeds apart") }
        if score != nil && (crossFit || taskThresholds) {
            throw ValidationError("--score PATH scores a critic with its own thresholds; --cross-fit and --task-thresholds apply to training")
        }
        if score != nil && heldout == nil { throw ValidationError("--score PATH needs --heldout DIR: the judged plans to score it on") }
    }

    /// Trains one member; `save` is called whenever its validation AUC is the best so far (or once at
    /// the end without validation plans). Returns the step kept.
    private func trainMember(seed: UInt64, data: CriticData, validation: [(plan: JudgedPlan, frames: [RGBImage])],
                             member: Int, log: inout String, save: (CriticTrainer) throws -> Void) throws -> Int {
        let trainer = CriticTrainer(config: data.config, learningRate: learningRate, seed: seed)
        trainer.batchSize = batch
        trainer.pairWeight = pairWeight
        let validationOutcomes = validation.map(\.plan.success)
        let canValidate = validationOutcomes.contains(true) && validationOutcomes.contains(false)
        var window: [CriticLosses] = []
        let started = Date()
        var best: (auc: Double, step: Int)? = nil
        while trainer.step < steps {
            window.append(try trainer.trainStep(data: data))
            if trainer.step % logEvery == 0 || trainer.step == steps {
                let n = Float(window.count)
                let mean = { (f: (CriticLosses) -> Float) in window.map(f).reduce(0, +) / n }
                var line = String(format: "step %d/%d  accept %.4f  frames %.4f  feedback %.4f", trainer.step, steps, mean(\.accept),
                                  mean(\.frames), mean(\.feedback))
                if pairWeight > 0 { line += String(format: "  pairs %.4f", mean(\.pairs)) }
                var auc = ""
                if canValidate {
                    let p = try trainer.judge.judge(validation.map { ($0.frames, $0.plan.instruction) }).map(\.acceptProbability)
                    let score = JudgeScore(judge: "", probabilities: p, threshold: 0.5, outcomes: validationOutcomes)
                    auc = String(format: "%.4f", score.auc)
                    line += "  validation AUC " + auc
                    if best == nil || score.auc > best!.auc {
                        best = (score.auc, trainer.step)
                        try save(trainer)
                        line += " (best so far, saved)"
                    }
                }
                print(line + String(format: "  (%.0f s)", Date().timeIntervalSince(started)))
                log += String(format: "%d,%d,%.6f,%.6f,%.6f,%.6f,", member, trainer.step, mean(\.accept), mean(\.frames), mean(\.feedback),
                                     mean(\.pairs)) + auc + "\n"
                window.removeAll()
            }
        }
        guard let best else {
            try save(trainer)
            return trainer.step
        }
        print(String(format: "kept step %d (validation AUC %.3f)", best.step, best.auc))
        return best.step
    }

    func run() throws {
        Console.lineBuffered()
        let all = try data.flatMap { try JudgedPlan.readAll($0) }
        let seeds = Array(Set(all.map(\.plan.seed))).sorted()
        // The plans thresholds are chosen on: the kind that is scored (plans the model drew, unless --score-oracle).
        let judged = { (plans: [(plan: JudgedPlan, frames: [RGBImage])]) in plans.filter { scoreOracle || $0.plan.arm != "oracle" } }
        // Seeds kept apart from each member to choose its step: the last seeds of the training data, or with
        // --cross-fit a different fold of them for every member (never the held-out ones).
        // Only seeds with drawn plans count here, so that folders of oracle plans alone (more scenes whose executability
        // the critic can learn from) add training plans and never become the only validation plans.
        let drawn = judged(all)
        let drawnSeeds = drawn.isEmpty ? seeds : Array(Set(drawn.map(\.plan.seed))).sorted()
        let lastSeeds = Set(drawnSeeds.suffix(drawnSeeds.count < 2 ? 0 : max(1, Int((Float(drawnSeeds.count) * validationFraction).rounded()))))
        let folds = crossFit ? (0..<members).map { i in Set(seeds.enumerated().filter { $0.offset % members == i }.map(\.element)) }
                             : Array(repeating: lastSeeds, count: members)
        let fit = crossFit ? all : all.filter { !lastSeeds.contains($0.plan.seed) }
        // The drawn plans of the last seeds choose thresholds when they hold both outcomes (and no --cross-fit).
        let keptApart = judged(all.filter { lastSeeds.contains($0.plan.seed) })
        let chooseOnKeptApart = !crossFit && Set(keptApart.map(\.plan.success)).count == 2
        var config = CriticConfig.fitted(to: fit.map(\.plan))
        if learnBaseRates { config.taskLogOdds = nil }
        if keypoints > 0 { config.keypoints = keypoints }
        print("\(all.count) judged plans of \(seeds.count) seeds (\(all.filter(\.plan.success).count) executed successfully), \(config.tasks.count) tasks; "
              + (crossFit ? "\(members) folds of the seeds, each kept apart from one member to choose its step; thresholds chosen on every plan "
                            + "by the member that did not train on it"
                          : lastSeeds.isEmpty ? "no validation seeds"
                          : "seeds \(lastSeeds.sorted().map(String.init).joined(separator: ", ")) kept apart to choose the step and threshold"))
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var judge: LearnedJudge
        if let score {
            // An existing critic, scored with its own thresholds against the same baselines.
            judge = try LearnedJudge.load(score)
            print(String(format: "scoring %@ (%@, threshold %.2f%@); nothing is trained", score, judge.name, judge.threshold,
                         judge.taskThresholds.isEmpty ? "" : ", thresholds by task"))
        } else {
            var log = "member,step,accept_bce,frames_bce,feedback_ce,pair_loss,validation_auc\n"
            var kept: [(path: String, step: Int)] = []
            // With --cross-fit, every training plan judged by the member that did not train on it.
            var outOfFold: [(plan: JudgedPlan, probability: Float)] = []
            let shared = crossFit ? nil : try CriticData(fit, config: config)
            for member in 0..<members {
                if members > 1 { print("member \(member + 1) of \(members) (seed \(seed + UInt64(member)))") }
                let apart = all.filter { folds[member].contains($0.plan.seed) }
                let dataset = try shared ?? CriticData(all.filter { !folds[member].contains($0.plan.seed) }, config: config)
                if member == 0 || crossFit {
                    print("\(dataset.count) plans to learn from (\(dataset.successCount) executed successfully, \(dataset.pairCount) within-scene "
                          + "pairs with different outcomes), \(apart.count) kept apart")
                }
                let path = members == 1 ? out + "/model.safetensors" : out + "/members/\(member).safetensors"
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                let step = try trainMember(seed: seed + UInt64(member), data: dataset, validation: apart, member: member, log: &log,
                                           save: { trainer in try trainer.judge.save(to: path, extra: ["step": String(trainer.step)]) })
                kept.append((path, step))
                if crossFit {
                    let mine = judged(apart)
                    let p = try LearnedJudge.load(path).judge(mine.map { ($0.frames, $0.plan.instruction) }).map(\.acceptProbability)
                    outOfFold += zip(mine.map(\.plan), p).map { ($0, $1) }
                }
            }
            try log.write(toFile: out + "/loss.csv", atomically: true, encoding: .utf8)
            let steps = kept.map { String($0.step) }.joined(separator: ",")
            // The name a loaded critic gets (LearnedJudge.load), so the report reads the same either way.
            judge = LearnedJudge(members: try kept.map { try LearnedJudge.load($0.path).net },
                                 version: "learned@\(steps)" + (members > 1 ? "×\(members)" : ""))
            // Thresholds: on the out-of-fold judgements, else the kept-apart seeds, else the training plans.
            var chooser: (plans: [JudgedPlan], probabilities: [Float], what: String)
            if crossFit {
                chooser = (outOfFold.map(\.plan), outOfFold.map(\.probability), "every training plan, judged by the member that did not train on it")
            } else if chooseOnKeptApart {
                chooser = (keptApart.map(\.plan), try judge.judge(keptApart.map { ($0.frames, $0.plan.instruction) }).map(\.acceptProbability),
                           "the seeds kept apart")
            } else {
                let plans = judged(fit)
                chooser = (plans.map(\.plan), try judge.judge(plans.map { ($0.frames, $0.plan.instruction) }).map(\.acceptProbability),
                           "the training plans (no seeds kept apart with both outcomes)")
            }
            let outcomes = chooser.plans.map(\.success)
            judge.threshold = JudgeScore.bestThreshold(probabilities: chooser.probabilities, outcomes: outcomes)
            if taskThresholds {
                judge.taskThresholds = JudgeScore.bestTaskThresholds(probabilities: chooser.probabilities, outcomes: outcomes,
                                                                     tasks: chooser.plans.map(\.instruction), fallback: judge.threshold)
            }
            try judge.save(to: out + "/model.safetensors", extra: ["step": steps])
            let byTask = judge.taskThresholds.sorted { $0.key < $1.key }.map { String(format: "%@ %.2f", $0.key, $0.value) }
            print(String(format: "wrote %@/model.safetensors: %d member(s) kept at step(s) %@, threshold %.2f%@ (chosen on %@)", out, members,
                         steps, judge.threshold, byTask.isEmpty ? "" : "; by task: " + byTask.joined(separator: ", "), chooser.what))
        }
        guard let heldout else { return }
        let heldoutPlans = try JudgedPlan.readAll(heldout)
        let test = heldoutPlans.filter { scoreOracle || $0.plan.arm != "oracle" }
        guard !test.isEmpty else { throw ValidationError("--heldout \(heldout) holds no plans the model drew (only oracle ones); add --score-oracle") }
        let heldoutSeeds = Set(test.map(\.plan.seed))
        if !heldoutSeeds.isDisjoint(with: Set(seeds)) {
            print("warning: the held-out plans share seeds with the training plans; the scores below are not held-out")
        }
        let truth = test.map(\.plan.success), tasks = test.map(\.plan.task)
        var prior: [String: Float] = [:]
        for task in Set(fit.map(\.plan.task)) {
            let mine = fit.filter { $0.plan.task == task }
            prior[task] = Float(mine.filter(\.plan.success).count) / Float(mine.count)
        }
        let motion = MotionJudge()
        let motionProbability = { (plans: [(plan: JudgedPlan, frames: [RGBImage])]) in
            try plans.map { try motion.judge(observation: $0.frames[0], plan: Array($0.frames.dropFirst()), task: $0.plan.instruction).acceptProbability }
        }
        // The baselines' thresholds are chosen on the kept-apart seeds (all training seeds with --cross-fit).
        let baselineChooser = chooseOnKeptApart ? keptApart : judged(fit)
        let priorThreshold = JudgeScore.bestThreshold(probabilities: baselineChooser.map { prior[$0.plan.task] ?? 0 },
                                                      outcomes: baselineChooser.map(\.plan.success))
        let motionThreshold = JudgeScore.bestThreshold(probabilities: try motionProbability(baselineChooser),
                                                       outcomes: baselineChooser.map(\.plan.success))
        let learnedProbabilities = try judge.judge(test.map { ($0.frames, $0.plan.instruction) }).map(\.acceptProbability)
        // Every held-out judgement, for audits and for other thresholds than the ones chosen.
        var csv = "arm,task,camera,seed,success,accept_probability,accepted\n"
        for (plan, p) in zip(test.map(\.plan), learnedProbabilities) {
            csv += "\(plan.arm),\(plan.task),\(plan.camera),\(plan.seed),\(plan.success)," + String(format: "%.5f", p)
                + ",\(p >= judge.threshold(for: plan.instruction))\n"
        }
        try csv.write(toFile: out + "/heldout-judgements.csv", atomically: true, encoding: .utf8)
        var learned = [JudgeScore(judge: "learned critic", probabilities: learnedProbabilities, threshold: judge.threshold, outcomes: truth,
                                  tasks: tasks, thresholds: test.map { judge.threshold(for: $0.plan.instruction) })]
        if !judge.taskThresholds.isEmpty {
            // The same judge at its one common threshold, to show what the thresholds by task add.
            learned[0].taskThresholds = judge.taskThresholds
            learned.append(JudgeScore(judge: "learned critic, one threshold for all tasks", probabilities: learnedProbabilities,
                                      threshold: judge.threshold, outcomes: truth, tasks: tasks))
        }
        // How far thresholds alone could take this judge: thresholds by task chosen on the held-out plans
        // themselves. Not a score (it has seen the answers): a ceiling that only a better ranking can raise.
        let ceiling = JudgeScore.bestTaskThresholds(probabilities: learnedProbabilities, outcomes: truth,
                                                    tasks: test.map(\.plan.instruction), fallback: judge.threshold)
        var ceilingScore = JudgeScore(judge: "learned critic, thresholds by task chosen on these held-out plans (a ceiling, not a score)",
                                      probabilities: learnedProbabilities, threshold: judge.threshold, outcomes: truth, tasks: tasks,
                                      thresholds: test.map { ceiling[$0.plan.instruction]! })
        ceilingScore.taskThresholds = ceiling
        learned.append(ceilingScore)
        // How much of what is left is the follower's: the same, with thresholds also split by whether the true
        // demonstration, executed in the same scene, succeeded. No judge has that outcome; the row shows how far
        // knowing which scenes the follower can execute at all would take this ranking.
        let oracleOutcome = Dictionary(heldoutPlans.filter { $0.plan.arm == "oracle" }.map { ($0.plan.scene, $0.plan.success) },
                                       uniquingKeysWith: { first, _ in first })
        let groups = test.map { judged in
            oracleOutcome[judged.plan.scene].map { judged.plan.instruction + ($0 ? " | demonstration succeeds" : " | demonstration fails") }
        }
        if groups.allSatisfy({ $0 != nil }) {
            let keys = groups.map { $0! }
            let split = JudgeScore.bestTaskThresholds(probabilities: learnedProbabilities, outcomes: truth, tasks: keys, fallback: judge.threshold)
            var splitScore = JudgeScore(judge: "learned critic, thresholds by task and by whether the true demonstration succeeded in the scene, "
                                            + "chosen on these held-out plans (privileged, a ceiling)",
                                        probabilities: learnedProbabilities, threshold: judge.threshold, outcomes: truth, tasks: tasks,
                                        thresholds: keys.map { split[$0]! })
            splitScore.taskThresholds = split
            learned.append(splitScore)
        }
        let scores = learned + [
            JudgeScore(judge: "always accept", probabilities: test.map { _ in 1 }, threshold: 0.5, outcomes: truth, tasks: tasks),
            JudgeScore(judge: "motion rule (one hand-crafted feature)", probabilities: try motionProbability(test), threshold: motionThreshold,
                       outcomes: truth, tasks: tasks),
            JudgeScore(judge: "task prior (training success rate of the task)", probabilities: test.map { prior[$0.plan.task] ?? 0 },
                       threshold: priorThreshold, outcomes: truth, tasks: tasks),
        ]
        var md = "# Critic on held-out executed plans\n\n\(test.count) plans from \(heldout) (seeds \(heldoutSeeds.min()!)–\(heldoutSeeds.max()!)), "
        md += "\(truth.filter { $0 }.count) executed successfully. Thresholds were chosen on training seeds, never these.\n\n"
        md += "| judge | threshold | accuracy | balanced accuracy | AUC | within-task AUC | TP | FP | TN | FN |\n"
        md += "|---|---|---|---|---|---|---|---|---|---|\n"
        for s in scores {
            md += String(format: "| %@ | %@ | %.3f | %.3f | %.3f | %@ | %d | %d | %d | %d |\n", s.judge,
                         s.taskThresholds == nil ? String(format: "%.2f", s.threshold) : "by task", s.accuracy, s.balancedAccuracy,
                         s.auc, s.withinTaskAUC.map { String(format: "%.3f", $0) } ?? "–", s.truePositives, s.falsePositives,
                         s.trueNegatives, s.falseNegatives)
        }
        md += "\nWithin-task AUC: the AUC among the plans of one task, averaged over the tasks with both outcomes "
        md += "(how well a judge tells a good plan from a bad one for the same task; the task prior scores 0.5 there).\n"
        if !judge.taskThresholds.isEmpty {
            md += "\nThe learned critic's thresholds by task: "
            md += judge.taskThresholds.sorted { $0.key < $1.key }.map { String(format: "%@ %.2f", $0.key, $0.value) }.joined(separator: ", ") + ".\n"
        }
        try md.write(toFile: out + "/critic-report.md", atomically: true, encoding: .utf8)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(scores).write(to: URL(fileURLWithPath: out + "/critic-report.json"))
        print(md)
    }
}

struct CritiqueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "critique",
        abstract: "Judge a plan (a folder of PNG frames, the observation first) and print the verdict as JSON.")

    @OptionGroup var judgeOptions: JudgeOptions
    @Option(help: "A folder of PNG frames (frame_000.png … as generate writes them).") var frames: String
    @Option(help: "The task sentence.") var task: String

    func run() throws {
        let images = try PlanFolder.read(frames).images
        let judge = try judgeOptions.judge(fallback: "motion")!
        let verdict = try judge.judge(observation: images[0], plan: Array(images.dropFirst()), task: task)
        let json: [String: Any] = [
            "critic": judge.name, "accept": verdict.accept, "accept_probability": Double(verdict.acceptProbability),
            "frame_scores": verdict.frameScores.map(Double.init), "feedback_code": verdict.feedback.rawValue,
            "feedback": verdict.feedbackSentence,
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
    }
}
