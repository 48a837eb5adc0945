import ArgumentParser
import Foundation
import NN
import Tensor
import VideoCritic
import VideoDiffusion

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the plan model (video diffusion + self-conditioning-consistency refinement) on collected demonstrations.",
        discussion: """
            Writes OUT/checkpoint.safetensors (everything needed to resume), OUT/model.safetensors (the averaged weights,
            for generate/refine/quality/demo), OUT/loss.csv and OUT/data-path (the dataset, for --resume). --resume continues from OUT.
            """)

    @Option(help: "Dataset from videoagent collect (not needed with --resume).") var data: String?
    @Option(help: "Output directory.") var out: String
    @Flag(help: "Continue the run in --out.") var resume = false
    @Option(help: ArgumentHelp("Start from another run's checkpoint (its weights, optimiser and step) with this command's λ and refinement settings: the ablation's shared base.", valueName: "DIR"))
    var forkFrom: String?
    @Option(help: ArgumentHelp("Start from a plan model's weights (model.safetensors) with a fresh optimiser at step 0: finetuning, e.g. the shipped models/builtin-plan.", valueName: "MODEL"))
    var initFrom: String?
    @Flag(help: "Refine conditioned on the --critic's feedback category (the paper's descriptive feedback): each refinement pair is judged and trained under its category; 30 % stay plain refinement.")
    var descriptiveFeedback = false
    @OptionGroup var judgeOptions: JudgeOptions
    @Option(help: "Size preset: standard (32 px, widths 32,64,128) or micro (16 px, for tests).") var preset: String = "standard"
    @Option(help: ArgumentHelp("Total optimiser steps (default: \(Self.defaultSteps) for a new run; with --resume, the total the run was started with).",
                               valueName: "N"))
    var steps: Int?
    @Option(help: "Clips per step.") var batch: Int = 8
    @Option(help: "AdamW learning rate.") var learningRate: Float = 2e-4
    @Option(name: .customLong("lambda"), help: "Consistency-term weight λ (0: the ablation without it).") var consistency: Float = 0.5
    @Option(help: "Step at which refinement pairs are first generated.") var refineStart: Int?
    @Option(help: "Steps between regenerations of the refinement pairs (each new checkpoint's own plans).") var refineEvery: Int?
    @Option(help: "Clips per regeneration.") var poolSize: Int = 64
    @Option(help: "DDIM steps for generating the refinement pairs.") var poolSteps: Int = 10
    @Option(help: "Steps between checkpoints.") var checkpointEvery: Int = 250
    @Option(help: "Steps between progress lines.") var logEvery: Int = 10
    @Option(help: "Random seed.") var seed: UInt64 = 0

    func validate() throws {
        guard resume || data != nil else { throw ValidationError("give --data DIR (a dataset from videoagent collect), or --resume") }
        guard [resume, forkFrom != nil, initFrom != nil].filter({ $0 }).count <= 1 else {
            throw ValidationError("give only one of --resume, --fork-from and --init-from")
        }
        if descriptiveFeedback {
            guard judgeOptions.critic != nil else {
                throw ValidationError("--descriptive-feedback needs --critic PATH (a critic from videoagent train-critic, e.g. models/builtin-critic/model.safetensors), motion or vlm")
            }
            guard forkFrom == nil else {
                throw ValidationError("--descriptive-feedback cannot --fork-from a binary run (its optimiser has no rows for the new codes); use --init-from RUN/model.safetensors")
            }
        } else if judgeOptions.critic != nil {
            throw ValidationError("--critic only applies with --descriptive-feedback")
        }
        if let initFrom, !FileManager.default.fileExists(atPath: initFrom) {
            throw ValidationError("--init-from \(initFrom): no such file; give a plan model (model.safetensors from videoagent train)")
        }
        guard ["standard", "micro"].contains(preset) else { throw ValidationError("--preset must be standard or micro") }
        guard (steps ?? 1) >= 1, batch >= 2 else { throw ValidationError("--steps must be ≥ 1 and --batch ≥ 2") }
        try OptionChecks.finite(consistency, "--lambda", in: 0...1000)
        try OptionChecks.finite(learningRate, "--learning-rate", in: 1e-8...1)
        try OptionChecks.range(logEvery, "--log-every", 1...1_000_000)
        try OptionChecks.range(checkpointEvery, "--checkpoint-every", 1...1_000_000)
        try OptionChecks.range(poolSize, "--pool-size", 1...100_000)
        try OptionChecks.range(poolSteps, "--pool-steps", 1...1000)
        if let refineStart { try OptionChecks.range(refineStart, "--refine-start", 0...10_000_000) }
        if let refineEvery { try OptionChecks.range(refineEvery, "--refine-every", 1...10_000_000) }
    }

    func run() throws {
        Console.lineBuffered()
        let trainer: VideoTrainer
        if let forkFrom {
            trainer = try VideoTrainer.resume(from: forkFrom) { [steps] options in
                options.totalSteps = steps ?? Self.defaultSteps
                options.consistencyWeight = consistency
                if let refineStart { options.refineStart = refineStart }
                if let refineEvery { options.refineEvery = refineEvery }
                options.poolSize = poolSize
                options.poolSamplingSteps = poolSteps
            }
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            print("forked from \(forkFrom) at step \(trainer.step) with λ = \(consistency)")
        } else if resume {
            trainer = try VideoTrainer.resume(from: out) { [steps] options in
                if let steps { options.totalSteps = steps }
            }
            guard trainer.options.totalSteps != nil else {
                throw ValidationError("\(out)/checkpoint.safetensors does not record its total steps (written by an older build): give --steps N")
            }
            print("resuming at step \(trainer.step) of \(trainer.options.totalSteps!) from \(out)/checkpoint.safetensors")
        } else if let initFrom {
            var (weights, metadata) = try VideoCheckpoint.load(initFrom)
            if descriptiveFeedback && !weights.config.refinesWithCategories {
                weights = try weights.extendingFeedbackCodes(to: Self.descriptiveCodes)
            }
            trainer = try VideoTrainer(startingFrom: weights, options: makeOptions(refineStartDefault: 0))
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            print("starting from \(initFrom) (its step \(metadata["step"] ?? "?")) with a fresh optimiser")
        } else {
            let tasks = try ClipSet.taskSentences(in: data!)
            var config = preset == "micro" ? VideoModelConfig.micro(tasks: tasks) : VideoModelConfig.standard(tasks: tasks)
            if descriptiveFeedback { config.feedbackCodes = Self.descriptiveCodes }
            trainer = try VideoTrainer(config: config, options: makeOptions(refineStartDefault: (steps ?? Self.defaultSteps) / 3))
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        }
        if trainer.config.refinesWithCategories {
            guard descriptiveFeedback, let judge = try judgeOptions.judge() else {
                throw ValidationError("\(out) trains refinement conditioned on critic categories: give --descriptive-feedback --critic PATH again")
            }
            trainer.feedbackLabeler = Self.labeler(judge: judge, step: { [trainer] in trainer.step })
            print("refinement pairs are judged by \(judge.name) and trained under its feedback category")
        } else if descriptiveFeedback {
            throw ValidationError("\(out) is a binary refiner; start descriptive training with --init-from \(out)/model.safetensors")
        }
        let dataDirectory = data ?? (try? String(contentsOfFile: out + "/data-path", encoding: .utf8)) ?? ""
        try dataDirectory.write(toFile: out + "/data-path", atomically: true, encoding: .utf8)
        print("loading clips from \(dataDirectory) at \(trainer.config.resolution)×\(trainer.config.resolution)…")
        let clips = try ClipSet(directory: dataDirectory, resolution: trainer.config.resolution, futureFrames: trainer.config.futureFrames)
        print("\(clips.episodes.count) episodes, \(clips.taskSentences.count) tasks; model \(trainer.model.parameterCount) parameters; "
            + "λ = \(trainer.options.consistencyWeight); refinement pairs from step \(trainer.options.refineStart)")
        let logPath = out + "/loss.csv"
        if !FileManager.default.fileExists(atPath: logPath) {
            try "step,total,generation,refinement,consistency,seconds_per_step\n".write(toFile: logPath, atomically: true, encoding: .utf8)
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        var window: [StepLosses] = []
        var windowStart = Date()
        let steps = trainer.options.totalSteps ?? Self.defaultSteps
        let startStep = trainer.step
        let started = Date()
        while trainer.step < steps {
            window.append(try trainer.trainStep(clips: clips))
            if trainer.step % logEvery == 0 || trainer.step == steps {
                let n = Float(window.count)
                let mean = { (f: (StepLosses) -> Float) in window.map(f).reduce(0, +) / n }
                let perStep = Date().timeIntervalSince(windowStart) / Double(window.count)
                let done = trainer.step - startStep
                let eta = Date().timeIntervalSince(started) / Double(done) * Double(steps - trainer.step)
                print(String(format: "step %d/%d  loss %.4f (generation %.4f, refinement %.4f, consistency %.4f)  %.2f s/step  ETA %@",
                             trainer.step, steps, mean(\.total), mean(\.generation), mean(\.refinement), mean(\.consistency),
                             perStep, Self.duration(eta)))
                log.write(Data(String(format: "%d,%.6f,%.6f,%.6f,%.6f,%.4f\n", trainer.step, mean(\.total), mean(\.generation),
                                      mean(\.refinement), mean(\.consistency), perStep).utf8))
                window.removeAll()
                windowStart = Date()
            }
            if trainer.step % checkpointEvery == 0 || trainer.step == steps {
                try trainer.save(to: out)
                print("checkpoint at step \(trainer.step): \(out)/model.safetensors")
            }
        }
        try log.close()
    }

    static let defaultSteps = 3000

    /// generate, refine, then refine under each category a critic can name except "ok".
    static let descriptiveCodes = VideoModelConfig.descriptiveFeedbackCodes(
        categories: FeedbackCategory.allCases.filter { $0 != .ok }.map(\.rawValue))

    func makeOptions(refineStartDefault: Int) -> TrainingOptions {
        var options = TrainingOptions()
        options.seed = seed
        options.batchSize = batch
        options.learningRate = learningRate
        options.consistencyWeight = consistency
        options.refineStart = refineStart ?? refineStartDefault
        let total = steps ?? Self.defaultSteps
        options.totalSteps = total
        options.refineEvery = refineEvery ?? max(1, total / 6)
        options.poolSize = poolSize
        options.poolSamplingSteps = poolSteps
        return options
    }

    /// The judge's category for each of the trainer's own plans (nil where it accepts).
    static func labeler(judge: any PlanJudge, step: @escaping () -> Int) -> FeedbackLabeler {
        FeedbackLabeler(report: { counts in
            let text = counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print("refinement pairs at step \(step()): \(text)")
        }, categorize: { observations, plans, tasks in
            // Observations (B, 3, H, W) as one-frame plans, so PlanFrames converts both.
            let frames = PlanFrames.rows(observations.reshaped([observations.shape[0], 1] + Array(observations.shape[1...])))
            return try judge.judge(tasks.indices.map { row in ([frames[row][0]] + PlanFrames.images(plans, row: row), tasks[row]) })
                .map { $0.accept ? nil : $0.feedback.rawValue }
        })
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.isFinite ? seconds : 0)
        return s >= 3600 ? "\(s / 3600)h\(String(format: "%02d", s % 3600 / 60))m" : "\(s / 60)m\(String(format: "%02d", s % 60))s"
    }
}

/// Options shared by commands that load a plan model and sample from it.
