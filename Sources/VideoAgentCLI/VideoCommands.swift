import ArgumentParser
import Foundation
import Media
import NN
import Tensor
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
    @Option(help: "Size preset: standard (32 px, widths 32,64,128) or micro (16 px, for tests).") var preset: String = "standard"
    @Option(help: "Total optimiser steps.") var steps: Int = 3000
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
        guard !(resume && forkFrom != nil) else { throw ValidationError("give only one of --resume and --fork-from") }
        guard ["standard", "micro"].contains(preset) else { throw ValidationError("--preset must be standard or micro") }
        guard steps >= 1, batch >= 2 else { throw ValidationError("--steps must be ≥ 1 and --batch ≥ 2") }
        guard consistency >= 0 else { throw ValidationError("--lambda must be ≥ 0") }
    }

    func run() throws {
        Console.lineBuffered()
        let trainer: VideoTrainer
        if let forkFrom {
            trainer = try VideoTrainer.resume(from: forkFrom) { options in
                options.consistencyWeight = consistency
                if let refineStart { options.refineStart = refineStart }
                if let refineEvery { options.refineEvery = refineEvery }
                options.poolSize = poolSize
                options.poolSamplingSteps = poolSteps
            }
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            print("forked from \(forkFrom) at step \(trainer.step) with λ = \(consistency)")
        } else if resume {
            trainer = try VideoTrainer.resume(from: out)
            print("resuming at step \(trainer.step) from \(out)/checkpoint.safetensors")
        } else {
            let tasks = try ClipSet.taskSentences(in: data!)
            let config = preset == "micro" ? VideoModelConfig.micro(tasks: tasks) : VideoModelConfig.standard(tasks: tasks)
            var options = TrainingOptions()
            options.seed = seed
            options.batchSize = batch
            options.learningRate = learningRate
            options.consistencyWeight = consistency
            options.refineStart = refineStart ?? steps / 3
            options.refineEvery = refineEvery ?? max(1, steps / 6)
            options.poolSize = poolSize
            options.poolSamplingSteps = poolSteps
            trainer = try VideoTrainer(config: config, options: options)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
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

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.isFinite ? seconds : 0)
        return s >= 3600 ? "\(s / 3600)h\(String(format: "%02d", s % 3600 / 60))m" : "\(s / 60)m\(String(format: "%02d", s % 60))s"
    }
}

/// Options shared by commands that load a plan model and sample from it.
struct SamplingOptions: ParsableArguments {
    @Option(help: "A plan model: model.safetensors from videoagent train (or its checkpoint.safetensors).") var checkpoint: String
    @Option(help: "DDIM steps per sample.") var steps: Int = 10
    @Option(help: "Classifier-free guidance scale on the task (1 = off).") var guidance: Float = 1
    @Option(help: "Random seed of the sampling noise.") var seed: UInt64 = 0

    func load() throws -> (VideoUNet, PlanSampler) {
        let (model, _) = try VideoCheckpoint.load(checkpoint)
        return (model, PlanSampler(model: model, steps: steps, guidance: guidance))
    }

    static func taskIndex(_ task: String, _ model: VideoUNet) throws -> Int {
        do { return try model.config.taskIndex(task) } catch let error as VideoModelError { throw ValidationError(error.description) }
    }
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate a video plan from a frame and a task sentence: OUT/frame_000.png (the frame) … and OUT/strip.png.")

    @OptionGroup var sampling: SamplingOptions
    @Option(help: "The current camera frame (PNG).") var frame: String
    @Option(help: "The task sentence, as in the training data (e.g. \"open the drawer\").") var task: String
    @Option(help: "Output directory.") var out: String

    func run() throws {
        Console.lineBuffered()
        let (model, sampler) = try sampling.load()
        let taskIndex = try SamplingOptions.taskIndex(task, model)
        let image = try PNG.read(frame)
        let observation = PlanFrames.tensor(image, side: model.config.resolution)
        var rng = SeededRNG(seed: sampling.seed)
        let plan = sampler.sample(observation: observation, previous: nil, tasks: [taskIndex], rng: &rng)
        let frames = [image.resized(width: model.config.resolution, height: model.config.resolution)] + PlanFrames.images(plan)
        try PlanOutput.write(frames, to: out)
        try PNG.write(ContactSheet.make(rows: [(task, frames)], cell: 64), to: out + "/strip.png")
        print("wrote \(frames.count) frames and strip.png to \(out)")
    }
}

struct RefineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refine",
        abstract: "Refine a video plan K times with the same model: any PNG sequence (a plan, a robot's video).",
        discussion: """
            --frames DIR holds PNGs of one size in name order: the first is the observation, the rest the plan to refine
            (resampled to the model's frame count when there are more or fewer); a strip.png there is skipped. Writes OUT/iteration-<k>/frame_*.png and OUT/strip.png
            (one row per iteration).
            """)

    @OptionGroup var sampling: SamplingOptions
    @Option(help: "A folder of PNG frames.") var frames: String
    @Option(help: "The task sentence.") var task: String
    @Option(help: "Refinement iterations K.") var iterations: Int = 4
    @Option(help: "Output directory.") var out: String

    func validate() throws { guard iterations >= 1 else { throw ValidationError("--iterations must be at least 1") } }

    func run() throws {
        Console.lineBuffered()
        let (model, sampler) = try sampling.load()
        let taskIndex = try SamplingOptions.taskIndex(task, model)
        // strip.png is the overview generate and refine write next to the frames, not a frame.
        let names = try FileManager.default.contentsOfDirectory(atPath: frames)
            .filter { $0.lowercased().hasSuffix(".png") && $0 != "strip.png" }.sorted()
        guard names.count >= 2 else { throw ValidationError("--frames \(frames) needs at least two PNGs: an observation and a plan") }
        let images = try names.map { try PNG.read(frames + "/" + $0) }
        if let odd = zip(names, images).first(where: { $0.1.width != images[0].width || $0.1.height != images[0].height }) {
            throw ValidationError("--frames \(frames): \(odd.0) is \(odd.1.width)×\(odd.1.height) but \(names[0]) is "
                + "\(images[0].width)×\(images[0].height); give a folder of frames of one size")
        }
        print("refining a plan of \(names.count - 1) frame(s) after the observation \(names[0])")
        let side = model.config.resolution, count = model.config.futureFrames
        let planImages = images.dropFirst()
        let picked = (0..<count).map { i in planImages[planImages.startIndex + i * (planImages.count - 1) / max(1, count - 1)] }
        let observation = PlanFrames.tensor(images[0], side: side)
        var previous = PlanFrames.tensor(Array(picked), side: side)
        var rng = SeededRNG(seed: sampling.seed)
        let first = images[0].resized(width: side, height: side)
        var rows: [(String, [RGBImage])] = [("input", [first] + picked.map { $0.resized(width: side, height: side) })]
        for k in 1...iterations {
            previous = sampler.sample(observation: observation, previous: previous, tasks: [taskIndex], rng: &rng)
            let frames = [first] + PlanFrames.images(previous)
            try PlanOutput.write(frames, to: out + "/iteration-\(k)")
            rows.append(("iteration \(k)", frames))
        }
        try PNG.write(ContactSheet.make(rows: rows, cell: 64), to: out + "/strip.png")
        print("wrote \(iterations) refinement(s) and strip.png to \(out)")
    }
}

struct QualityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quality",
        abstract: "Measure plan quality on held-out episodes: PSNR/SSIM of base samples and after each refinement.",
        discussion: "Writes OUT/quality.json, OUT/quality.md and OUT/quality.png; --ablation adds a second model (e.g. λ = 0).")

    @Option(help: "The plan model to measure.") var checkpoint: String
    @Option(help: "A second model to compare (e.g. trained with --lambda 0).") var ablation: String?
    @Option(help: "Held-out dataset (seeds not used in training).") var data: String
    @Option(help: "Refinement iterations.") var iterations: Int = 4
    @Option(help: "Clips (one per episode, from its first frame).") var clips: Int = 48
    @Option(help: "DDIM steps per sample.") var steps: Int = 10
    @Option(help: "Output directory.") var out: String

    func run() throws {
        Console.lineBuffered()
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var reports: [PlanQualityReport] = []
        var clipSets: [[Int]: ClipSet] = [:]  // by resolution and frame count: two models of one shape read the data once
        for (label, path) in [("model", checkpoint)] + (ablation.map { [("ablation", $0)] } ?? []) {
            let (model, metadata) = try VideoCheckpoint.load(path)
            let (resolution, futureFrames) = (model.config.resolution, model.config.futureFrames)
            let set = try clipSets[[resolution, futureFrames]]
                ?? ClipSet(directory: data, resolution: resolution, futureFrames: futureFrames)
            clipSets[[resolution, futureFrames]] = set
            let run = URL(fileURLWithPath: path).deletingLastPathComponent().lastPathComponent
            let lambda = metadata["lambda"].map { ", lambda=\($0)" } ?? ""
            let name = "\(label) (\(run), step \(metadata["step"] ?? "?")\(lambda))"
            let report = try PlanQuality.evaluate(model: model, name: name, clips: set, limit: clips, iterations: iterations,
                                                  samplingSteps: steps) { done, total in
                print("\(name): \(done)/\(total) clips")
            }
            reports.append(report)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(reports).write(to: URL(fileURLWithPath: out + "/quality.json"))
        var markdown = "# Plan quality\n\nHeld-out episodes from \(data); PSNR (dB, ± standard error) and SSIM of the 7 generated frames "
            + "against the true frames at the same times; iteration 0 is the base sample.\n\n"
        markdown += "The gain is the mean per-clip PSNR change against the same clip's base sample (a paired comparison).\n\n"
        markdown += "| model | iteration | PSNR | gain over base | SSIM |\n|---|---|---|---|---|\n"
        for report in reports {
            for row in report.rows {
                markdown += String(format: "| %@ | %d | %.2f ± %.2f | %+.3f ± %.3f | %.4f |\n", report.model, row.iteration, row.psnr,
                                   row.psnrStandardError, row.psnrGain, row.psnrGainStandardError, row.ssim)
            }
        }
        try markdown.write(toFile: out + "/quality.md", atomically: true, encoding: .utf8)
        let colors: [(UInt8, UInt8, UInt8)] = [(200, 40, 40), (40, 80, 200)]
        let chart = LineChart.draw(title: "PSNR (dB) by refinement iteration", xLabel: "iteration",
                                   series: reports.enumerated().map { .init(name: $1.model, color: colors[$0 % 2], values: $1.rows.map(\.psnr)) })
        try PNG.write(chart, to: out + "/quality.png")
        print(markdown)
    }
}

enum PlanOutput {
    static func write(_ frames: [RGBImage], to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (i, frame) in frames.enumerated() { try PNG.write(frame, to: directory + String(format: "/frame_%03d.png", i)) }
    }
}
