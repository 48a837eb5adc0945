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
            accuracy, balanced accuracy, AUC, within-task AUC and the confusion matrix (OUT/critic-report.md and .json).
            The last --validation-fraction of the training seeds is kept apart: the step with the best AUC there is kept,
            and every judge's threshold is chosen there.
            """)

    @Option(help: "Judged plans to train on (videoagent eval --save-plans DIR on training seeds).") var data: String
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
    @Option(help: ArgumentHelp("Score this existing critic (model.safetensors) on --heldout instead of training one.", valueName: "PATH"))
    var score: String?

    func validate() throws {
        try OptionChecks.range(steps, "--steps", 1...1_000_000)
        try OptionChecks.range(batch, "--batch", 2...1024)
        try OptionChecks.finite(learningRate, "--learning-rate", in: 1e-8...1)
        try OptionChecks.range(logEvery, "--log-every", 1...1_000_000)
        try OptionChecks.finite(validationFraction, "--validation-fraction", in: 0...0.5)
        try OptionChecks.range(members, "--members", 1...16)
        if score != nil && heldout == nil { throw ValidationError("--score PATH needs --heldout DIR: the judged plans to score it on") }
    }

    /// Trains one member; `save` is called whenever its validation AUC is the best so far (or once at
    /// the end without validation plans). Returns the step kept.
    private func trainMember(seed: UInt64, data: CriticData, validation: [(plan: JudgedPlan, frames: [RGBImage])],
                             member: Int, log: inout String, save: (CriticTrainer) throws -> Void) throws -> Int {
        let trainer = CriticTrainer(config: data.config, learningRate: learningRate, seed: seed)
        trainer.batchSize = batch
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
                log += String(format: "%d,%d,%.6f,%.6f,%.6f,", member, trainer.step, mean(\.accept), mean(\.frames), mean(\.feedback)) + auc + "\n"
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
        let all = try JudgedPlan.readAll(data)
        // The last seeds of the training data choose the step and the threshold (never the held-out ones).
        let seeds = Array(Set(all.map(\.plan.seed))).sorted()
        let validationSeeds = Set(seeds.suffix(seeds.count < 2 ? 0 : max(1, Int((Float(seeds.count) * validationFraction).rounded()))))
        let fit = all.filter { !validationSeeds.contains($0.plan.seed) }
        let validation = all.filter { validationSeeds.contains($0.plan.seed) }
        var config = CriticConfig.fitted(to: fit.map(\.plan))
        if learnBaseRates { config.taskLogOdds = nil }
        let dataset = try CriticData(fit, config: config)
        print("\(dataset.count) judged plans to learn from (\(dataset.successCount) executed successfully), \(config.tasks.count) tasks; "
              + (validation.isEmpty ? "no validation seeds" : "\(validation.count) plans of seeds \(validationSeeds.sorted().map(String.init).joined(separator: ", ")) to choose the step and threshold"))
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let validationOutcomes = validation.map(\.plan.success)
        let canValidate = validationOutcomes.contains(true) && validationOutcomes.contains(false)
        // Every judge's threshold is chosen the same way: on the validation plans (or the training ones).
        let chooser = canValidate ? validation : fit
        func choosingThreshold(_ judge: LearnedJudge) throws -> LearnedJudge {
            var judge = judge
            let p = try judge.judge(chooser.map { ($0.frames, $0.plan.instruction) }).map(\.acceptProbability)
            judge.threshold = JudgeScore.bestThreshold(probabilities: p, outcomes: chooser.map(\.plan.success))
            return judge
        }
        var judge: LearnedJudge
        if let score {
            // An existing critic, scored with its own threshold against the same baselines.
            judge = try LearnedJudge.load(score)
            print(String(format: "scoring %@ (%@, threshold %.2f); nothing is trained", score, judge.name, judge.threshold))
        } else {
            var log = "member,step,accept_bce,frames_bce,feedback_ce,validation_auc\n"
            var kept: [(path: String, step: Int)] = []
            for member in 0..<members {
                if members > 1 { print("member \(member + 1) of \(members) (seed \(seed + UInt64(member)))") }
                let path = members == 1 ? out + "/model.safetensors" : out + "/members/\(member).safetensors"
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                let step = try trainMember(seed: seed + UInt64(member), data: dataset, validation: validation,
                                           member: member, log: &log, save: { trainer in
                                               try choosingThreshold(trainer.judge).save(to: path, extra: ["step": String(trainer.step)])
                                           })
                kept.append((path, step))
            }
            try log.write(toFile: out + "/loss.csv", atomically: true, encoding: .utf8)
            let steps = kept.map { String($0.step) }.joined(separator: ",")
            // The name a loaded critic gets (LearnedJudge.load), so the report reads the same either way.
            judge = try choosingThreshold(LearnedJudge(members: kept.map { try LearnedJudge.load($0.path).net },
                                                       version: "learned@\(steps)" + (members > 1 ? "×\(members)" : "")))
            try judge.save(to: out + "/model.safetensors", extra: ["step": steps])
            print(String(format: "wrote %@/model.safetensors: %d member(s) kept at step(s) %@ (threshold %.2f, chosen on the %@)", out, members, steps,
                         judge.threshold, canValidate ? "validation seeds" : "training plans: no validation seeds with both outcomes"))
        }
        guard let heldout else { return }
        let test = try JudgedPlan.readAll(heldout).filter { scoreOracle || $0.plan.arm != "oracle" }
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
        let priorThreshold = JudgeScore.bestThreshold(probabilities: chooser.map { prior[$0.plan.task] ?? 0 }, outcomes: chooser.map(\.plan.success))
        let motionThreshold = JudgeScore.bestThreshold(probabilities: try motionProbability(chooser), outcomes: chooser.map(\.plan.success))
        let scores = [
            JudgeScore(judge: "learned critic", probabilities: try judge.judge(test.map { ($0.frames, $0.plan.instruction) }).map(\.acceptProbability),
                       threshold: judge.threshold, outcomes: truth, tasks: tasks),
            JudgeScore(judge: "always accept", probabilities: test.map { _ in 1 }, threshold: 0.5, outcomes: truth, tasks: tasks),
            JudgeScore(judge: "motion rule (one hand-crafted feature)", probabilities: try motionProbability(test), threshold: motionThreshold,
                       outcomes: truth, tasks: tasks),
            JudgeScore(judge: "task prior (training success rate of the task)", probabilities: test.map { prior[$0.plan.task] ?? 0 },
                       threshold: priorThreshold, outcomes: truth, tasks: tasks),
        ]
        var md = "# Critic on held-out executed plans\n\n\(test.count) plans from \(heldout) (seeds \(heldoutSeeds.min()!)–\(heldoutSeeds.max()!)), "
        md += "\(truth.filter { $0 }.count) executed successfully. Thresholds were chosen on "
        md += canValidate ? "the validation seeds of the training data.\n\n" : "the training plans.\n\n"
        md += "| judge | threshold | accuracy | balanced accuracy | AUC | within-task AUC | TP | FP | TN | FN |\n"
        md += "|---|---|---|---|---|---|---|---|---|---|\n"
        for s in scores {
            md += String(format: "| %@ | %.2f | %.3f | %.3f | %.3f | %@ | %d | %d | %d | %d |\n", s.judge, s.threshold, s.accuracy, s.balancedAccuracy,
                         s.auc, s.withinTaskAUC.map { String(format: "%.3f", $0) } ?? "–", s.truePositives, s.falsePositives,
                         s.trueNegatives, s.falseNegatives)
        }
        md += "\nWithin-task AUC: the AUC among the plans of one task, averaged over the tasks with both outcomes "
        md += "(how well a judge tells a good plan from a bad one for the same task; the task prior scores 0.5 there).\n"
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
