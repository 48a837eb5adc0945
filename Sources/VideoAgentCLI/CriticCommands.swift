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
            accuracy, balanced accuracy, AUC and the confusion matrix (OUT/critic-report.md and .json).
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

    func validate() throws {
        try OptionChecks.range(steps, "--steps", 1...1_000_000)
        try OptionChecks.range(batch, "--batch", 2...1024)
        try OptionChecks.finite(learningRate, "--learning-rate", in: 1e-8...1)
        try OptionChecks.range(logEvery, "--log-every", 1...1_000_000)
    }

    func run() throws {
        Console.lineBuffered()
        let judged = try JudgedPlan.readAll(data)
        let config = CriticConfig(tasks: Array(Set(judged.map(\.plan.instruction))).sorted())
        let dataset = try CriticData(judged, config: config)
        print("\(dataset.count) judged plans (\(dataset.successCount) executed successfully), \(config.tasks.count) tasks")
        let trainer = CriticTrainer(config: config, learningRate: learningRate, seed: seed)
        trainer.batchSize = batch
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var log = "step,accept_bce,frames_bce,feedback_ce\n"
        var window: [CriticLosses] = []
        let started = Date()
        while trainer.step < steps {
            window.append(try trainer.trainStep(data: dataset))
            if trainer.step % logEvery == 0 || trainer.step == steps {
                let n = Float(window.count)
                let mean = { (f: (CriticLosses) -> Float) in window.map(f).reduce(0, +) / n }
                print(String(format: "step %d/%d  accept %.4f  frames %.4f  feedback %.4f  (%.0f s)", trainer.step, steps, mean(\.accept),
                             mean(\.frames), mean(\.feedback), Date().timeIntervalSince(started)))
                log += String(format: "%d,%.6f,%.6f,%.6f\n", trainer.step, mean(\.accept), mean(\.frames), mean(\.feedback))
                window.removeAll()
            }
        }
        try log.write(toFile: out + "/loss.csv", atomically: true, encoding: .utf8)
        var judge = trainer.judge
        // The threshold that balances errors best on the training plans (never on the held-out ones).
        let trainProbabilities = try judge.judge(judged.map { ($0.frames, $0.plan.instruction) }).map(\.acceptProbability)
        let outcomes = judged.map(\.plan.success)
        judge.threshold = stride(from: Float(0.05), through: 0.95, by: 0.05).max { a, b in
            JudgeScore(judge: "", probabilities: trainProbabilities, threshold: a, outcomes: outcomes).balancedAccuracy
                < JudgeScore(judge: "", probabilities: trainProbabilities, threshold: b, outcomes: outcomes).balancedAccuracy
        } ?? 0.5
        try judge.save(to: out + "/model.safetensors", extra: ["step": String(trainer.step)])
        print(String(format: "wrote %@/model.safetensors (threshold %.2f)", out, judge.threshold))
        guard let heldout else { return }
        let test = try JudgedPlan.readAll(heldout).filter { scoreOracle || $0.plan.arm != "oracle" }
        guard !test.isEmpty else { throw ValidationError("--heldout \(heldout) holds no plans the model drew (only oracle ones); add --score-oracle") }
        let truth = test.map(\.plan.success)
        var prior: [String: Float] = [:]
        for task in Set(judged.map(\.plan.task)) {
            let mine = judged.filter { $0.plan.task == task }
            prior[task] = Float(mine.filter(\.plan.success).count) / Float(mine.count)
        }
        let motion = MotionJudge()
        let scores = [
            JudgeScore(judge: "learned critic", probabilities: try judge.judge(test.map { ($0.frames, $0.plan.instruction) }).map(\.acceptProbability),
                       threshold: judge.threshold, outcomes: truth),
            JudgeScore(judge: "always accept", probabilities: test.map { _ in 1 }, threshold: 0.5, outcomes: truth),
            JudgeScore(judge: "motion rule (one hand-crafted feature)", probabilities: try test.map {
                try motion.judge(observation: $0.frames[0], plan: Array($0.frames.dropFirst()), task: $0.plan.instruction).acceptProbability
            }, threshold: 0.5, outcomes: truth),
            JudgeScore(judge: "task prior (training success rate)", probabilities: test.map { prior[$0.plan.task] ?? 0 },
                       threshold: judge.threshold, outcomes: truth),
        ]
        var md = "# Critic on held-out executed plans\n\n\(test.count) plans from \(heldout), \(truth.filter { $0 }.count) executed successfully.\n\n"
        md += "| judge | accuracy | balanced accuracy | AUC | TP | FP | TN | FN |\n|---|---|---|---|---|---|---|---|\n"
        for s in scores {
            md += String(format: "| %@ | %.3f | %.3f | %.3f | %d | %d | %d | %d |\n", s.judge, s.accuracy, s.balancedAccuracy, s.auc,
                         s.truePositives, s.falsePositives, s.trueNegatives, s.falseNegatives)
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
        let names = (try FileManager.default.contentsOfDirectory(atPath: frames)).filter { $0.hasSuffix(".png") && $0 != "strip.png" }.sorted()
        guard names.count >= 2 else { throw ValidationError("--frames \(frames) needs at least two PNGs: the observation and a plan") }
        let images = try names.map { try PNG.read(frames + "/" + $0) }
        if let odd = images.first(where: { $0.width != images[0].width || $0.height != images[0].height }) {
            throw ValidationError("--frames \(frames): frames of mixed sizes (\(odd.width)×\(odd.height) and \(images[0].width)×\(images[0].height))")
        }
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
