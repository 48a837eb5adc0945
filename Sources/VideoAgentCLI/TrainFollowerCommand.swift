import ArgumentParser
import Control
import Environments
import Foundation
import NN

struct TrainFollowerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-follower",
        abstract: "Train the plan follower (plan → actions) on episodes from videoagent collect.",
        discussion: """
            Behaviour cloning of the scripted expert's actions, goal-conditioned on plan frames: expert and noisy
            episodes are cut into plans in hindsight; follower-driven episodes (collect --driver follower) bring the
            states the follower itself reaches, labelled by the expert (DAgger). Writes OUT/checkpoint.safetensors
            (to resume), OUT/model.safetensors (the follower) and OUT/loss.csv; prints progress.
            """)

    @Option(help: "A dataset from videoagent collect (repeatable).") var data: [String] = []
    @Option(help: "Output directory.") var out: String
    @Flag(help: "Continue the run in --out (with the datasets given now, e.g. after a DAgger round).") var resume = false
    @Option(help: "Size preset: standard (64 px frames, 32 px plans) or micro (32/16 px, for tests).") var preset: String = "standard"
    @Option(help: ArgumentHelp("Camera frames the follower sees, pixels (default: the preset's, 64 for standard): 1×, 2× or 4× its plan resolution.",
                               discussion: "Dataset frames are resized to it; eval then renders at it."))
    var resolution: Int?
    @Option(help: ArgumentHelp("Channels of the first convolution (the next two have twice as many; default: the preset's, 32 for standard).",
                               discussion: "Compute per step grows about with its square."))
    var width: Int?
    @Option(help: "Units of the policy's hidden layers (default: the preset's, 256 for standard).") var hidden: Int?
    @Option(help: ArgumentHelp("Total optimiser steps (default: \(Self.defaultSteps) for a new run; with --resume, where the resumed run's schedule ends).",
                               discussion: "The learning rate follows a cosine to its floor at the total a run was started with; steps past it train at the floor."))
    var steps: Int?
    @Option(help: "Samples per step.") var batch: Int = 64
    @Option(help: "AdamW learning rate.") var learningRate: Float = 1e-3
    @Option(help: "Steps between progress lines.") var logEvery: Int = 50
    @Option(help: "Steps between checkpoints.") var checkpointEvery: Int = 500
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: ArgumentHelp("Scene key points the follower also learns to locate (the landmark head; 0 = none, the tabletop datasets have 3).",
                               discussion: "Needs datasets collected with landmarks (the built-in suite records them); it raised success but made the follower follow other tasks' plans less (model card). With --init-from a follower without a head gets one (its actions unchanged until trained)."))
    var landmarks: Int = 0
    @Option(help: "Weight of the landmark loss next to the action loss.") var landmarkWeight: Float = 1
    @Option(help: ArgumentHelp("Fraction of samples of successful demonstrations whose goal is the episode's last frame, from any earlier step.",
                               discussion: "Teaches what to do when the follower holds a plan's last frame and the scene does not match it yet."))
    var finalGoal: Float = 0
    @Option(help: ArgumentHelp("Start from this follower's weights (e.g. models/builtin-follower/model.safetensors): fine-tuning, or training on after a finished schedule.",
                               discussion: "Its network configuration is kept (size, landmark head); the optimiser and the learning-rate schedule start afresh."))
    var initFrom: String?
    @Option(help: ArgumentHelp("The follower also sees the wrist camera's frames at this many pixels (0 = none).",
                               discussion: "Needs datasets from collect --wrist-camera; with --init-from a follower without one gets one, starting at zero (it acts as before until trained)."))
    var wrist: Int = 0
    @Option(help: ArgumentHelp("How far above the fingertips the wrist camera looks down from, metres (default: 0.10, or the --init-from follower's).",
                               discussion: "Must match the data's (collect --wrist-height). With --init-from the follower's camera moves there and it learns the new view."))
    var wristHeight: Float?
    @Option(help: ArgumentHelp("Random shift of the camera frames in training, up to this many pixels each way (default: \(FollowerData.Augmentation().shift)).",
                               discussion: "A shift moves everything in the frame against the hand's proprioception: robustness bought with precision."))
    var shift: Int?
    @Option(help: ArgumentHelp("Random shift of the wrist camera's frames in training, pixels each way (default: \(FollowerData.Augmentation().wristShift)).",
                               discussion: "Its frame is fixed to the hand, so a shift blurs where things are relative to the hand."))
    var wristShift: Int?

    static let defaultSteps = 6000

    func validate() throws {
        guard !data.isEmpty else { throw ValidationError("give --data DIR (episodes from videoagent collect) at least once") }
        guard ["standard", "micro"].contains(preset) else { throw ValidationError("--preset must be standard or micro") }
        if let steps { try OptionChecks.range(steps, "--steps", 1...10_000_000) }
        try OptionChecks.range(batch, "--batch", 1...4096)
        try OptionChecks.finite(learningRate, "--learning-rate", in: 1e-8...1)
        try OptionChecks.range(logEvery, "--log-every", 1...1_000_000)
        try OptionChecks.range(checkpointEvery, "--checkpoint-every", 1...1_000_000)
        try OptionChecks.range(landmarks, "--landmarks", 0...16)
        try OptionChecks.finite(landmarkWeight, "--landmark-weight", in: 0...100)
        try OptionChecks.finite(finalGoal, "--final-goal", in: 0...1)
        if resume && finalGoal != 0 { throw ValidationError("--final-goal is fixed by the run being resumed; leave it out with --resume") }
        if let width { try OptionChecks.range(width, "--width", 1...256) }
        if let hidden { try OptionChecks.range(hidden, "--hidden", 1...4096) }
        if wrist != 0 {
            try OptionChecks.range(wrist, "--wrist", 8...512)
            guard wrist % 4 == 0 else { throw ValidationError("--wrist \(wrist): use a multiple of 4 (e.g. 64)") }
        }
        if resume && wrist != 0 { throw ValidationError("--wrist is fixed by the run being resumed; leave it out with --resume") }
        if let wristHeight {
            try OptionChecks.finite(wristHeight, "--wrist-height", in: WristCamera.heights)
            if resume { throw ValidationError("--wrist-height is fixed by the run being resumed; leave it out with --resume") }
            if initFrom == nil && wrist == 0 { throw ValidationError("--wrist-height places the wrist camera: give --wrist N too") }
        }
        if let shift { try OptionChecks.range(shift, "--shift", 0...8) }
        if let wristShift { try OptionChecks.range(wristShift, "--wrist-shift", 0...8) }
        if resume && (shift != nil || wristShift != nil) {
            throw ValidationError("--shift and --wrist-shift are fixed by the run being resumed; leave them out with --resume")
        }
        if resume && landmarks != 0 { throw ValidationError("--landmarks is fixed by the run being resumed; leave it out with --resume") }
        if (resume || initFrom != nil) && (width != nil || hidden != nil) {
            throw ValidationError("--width and --hidden are fixed by the follower being resumed or given to --init-from; leave them out")
        }
        if resume && initFrom != nil { throw ValidationError("--init-from starts a new run; --resume continues one: give one of them") }
        if initFrom != nil && (preset != "standard" || resolution != nil) {
            throw ValidationError("--preset and --resolution are fixed by the follower given to --init-from; leave them out")
        }
        if resume && resolution != nil { throw ValidationError("--resolution is fixed by the run being resumed; leave it out with --resume") }
        if let resolution {
            do { try newRunConfig.validate() } catch { throw ValidationError("--resolution \(resolution): \(error)") }
        }
        if let initFrom, !FileManager.default.fileExists(atPath: initFrom) {
            throw ValidationError("--init-from \(initFrom): no such file; give a follower's model.safetensors (from train-follower)")
        }
    }

    /// The network of a run started from scratch: the preset's, with the options that change it.
    private var newRunConfig: FollowerConfig {
        var config = preset == "micro" ? FollowerConfig.micro : FollowerConfig()
        config.landmarks = landmarks
        config.wrist = wrist
        if let wristHeight { config.wristHeight = wristHeight }
        if let resolution { config.resolution = resolution }
        if let width { config.width = width }
        if let hidden { config.hidden = hidden }
        return config
    }

    func run() throws {
        Console.lineBuffered()
        let trainer: FollowerTrainer
        if resume {
            trainer = try FollowerTrainer.resume(from: out)
            print("resuming at step \(trainer.step)" + (trainer.options.scheduleEnd.map { " of a \($0)-step schedule" } ?? ""))
        } else {
            var options = FollowerTrainingOptions()
            options.batchSize = batch
            options.learningRate = learningRate
            options.seed = seed
            options.totalSteps = steps ?? Self.defaultSteps
            options.landmarkWeight = landmarkWeight
            options.augmentation.finalGoal = finalGoal
            if let shift { options.augmentation.shift = shift }
            if let wristShift { options.augmentation.wristShift = wristShift }
            if let initFrom {
                let (start, metadata) = try PlanFollower.load(initFrom)
                trainer = try FollowerTrainer(startingFrom: start, options: options, wrist: wrist == 0 ? nil : wrist,
                                              landmarks: landmarks == 0 ? nil : landmarks, wristHeight: wristHeight)
                print("starting from \(initFrom)" + (metadata["step"].map { " (step \($0) of its run)" } ?? ""))
            } else {
                trainer = try FollowerTrainer(config: newRunConfig, options: options)
            }
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        }
        let steps = self.steps ?? trainer.options.scheduleEnd ?? Self.defaultSteps
        guard trainer.step < steps else {
            throw ControlError("\(out) is already at step \(trainer.step) of \(steps); give --steps N with N > \(trainer.step) to train on")
        }
        let config = trainer.net.config
        print("loading episodes from \(data.joined(separator: ", ")) at \(config.resolution) px (plans \(config.planResolution) px"
            + (config.wrist > 0 ? ", wrist camera \(config.wrist) px from \(config.wristHeight) m" : "") + ")…")
        let loadStart = Date()
        let dataset = try FollowerData(directories: data, config: config) { done, total in
            if done % max(1, total / 10) == 0 || done == total {
                print("  \(done)/\(total) episodes read (\(TrainCommand.duration(Date().timeIntervalSince(loadStart))))")
            }
        }
        print("\(dataset.episodeCount) episodes, \(dataset.steps) labelled steps; follower \(trainer.net.parameterCount) parameters")
        let logPath = out + "/loss.csv"
        if !FileManager.default.fileExists(atPath: logPath) {
            try "step,action_mse,reached_bce,reached_accuracy,hand_error_cm,landmark_error_cm,seconds_per_step\n".write(toFile: logPath, atomically: true, encoding: .utf8)
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        defer { try? log.close() }
        do {
            var window: [FollowerLosses] = []
            var windowStart = Date()
            let started = Date(), startStep = trainer.step
            while trainer.step < steps {
                window.append(try trainer.trainStep(data: dataset))
                if trainer.step % logEvery == 0 || trainer.step == steps {
                    let n = Float(window.count)
                    let mean = { (f: (FollowerLosses) -> Float) in window.map(f).reduce(0, +) / n }
                    let perStep = Date().timeIntervalSince(windowStart) / Double(window.count)
                    let eta = Date().timeIntervalSince(started) / Double(trainer.step - startStep) * Double(steps - trainer.step)
                    print(String(format: "step %d/%d  action mse %.4f  reached bce %.3f (accuracy %.2f)  hand error %.2f cm  landmarks %.2f cm  %.3f s/step (batches %.0f %%)  ETA %@",
                                 trainer.step, steps, mean(\.action), mean(\.reached), mean(\.reachedAccuracy), mean(\.handCentimetres),
                                 mean(\.landmarkCentimetres), perStep,
                                 100 * window.map(\.batchSeconds).reduce(0, +) / Double(window.count) / perStep, TrainCommand.duration(eta)))
                    log.write(Data(String(format: "%d,%.6f,%.6f,%.4f,%.3f,%.3f,%.4f\n", trainer.step, mean(\.action), mean(\.reached),
                                          mean(\.reachedAccuracy), mean(\.handCentimetres), mean(\.landmarkCentimetres), perStep).utf8))
                    window.removeAll()
                    windowStart = Date()
                }
                if trainer.step % checkpointEvery == 0 || trainer.step == steps {
                    try trainer.save(to: out)
                    print("checkpoint at step \(trainer.step): \(out)/model.safetensors")
                }
            }
        }
    }
}
