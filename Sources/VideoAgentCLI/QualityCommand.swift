import ArgumentParser
import Foundation
import Media
import VideoDiffusion

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

    func validate() throws {
        try OptionChecks.range(iterations, "--iterations", 0...100)
        try OptionChecks.range(clips, "--clips", 1...100_000)
        try OptionChecks.range(steps, "--steps", 1...1000)
    }

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
