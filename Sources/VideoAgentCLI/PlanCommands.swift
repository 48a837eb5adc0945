import ArgumentParser
import Foundation
import Media
import Tensor
import VideoDiffusion

struct SamplingOptions: ParsableArguments {
    @Option(help: "A plan model: model.safetensors from videoagent train (or its checkpoint.safetensors).") var checkpoint: String
    @Option(help: "DDIM steps per sample.") var steps: Int = 10
    @Option(help: "Classifier-free guidance scale on the task (1 = off).") var guidance: Float = 1
    @Option(help: "Random seed of the sampling noise.") var seed: UInt64 = 0

    func validate() throws {
        try OptionChecks.range(steps, "--steps", 1...1000)
        try OptionChecks.finite(guidance, "--guidance", in: 0...100)
    }

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

    func validate() throws { try OptionChecks.range(iterations, "--iterations", 1...100) }

    func run() throws {
        Console.lineBuffered()
        let (model, sampler) = try sampling.load()
        let taskIndex = try SamplingOptions.taskIndex(task, model)
        let (names, images) = try PlanFolder.read(frames)
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

enum PlanOutput {
    static func write(_ frames: [RGBImage], to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (i, frame) in frames.enumerated() { try PNG.write(frame, to: directory + String(format: "/frame_%03d.png", i)) }
    }
}
