import Blocking
import Foundation
import NN
import Tensor
import Testing
import VideoDiffusion
import VideoTestKit

/// The plan model on a micro configuration: shapes, learning, refinement, exact checkpoints.
@Suite("Video plan model", .serialized)
struct VideoModelTests {
    static let clips: ClipSet = {
        let config = VideoModelConfig.micro(tasks: ["x"])
        return try! SyntheticClips.make(config: config, episodes: 3)
    }()

    static func micro() -> VideoModelConfig { VideoModelConfig.micro(tasks: clips.taskSentences) }

    @Test("the cosine schedule goes from almost clean to almost pure noise, and min-SNR weights are at most 1")
    func schedule() {
        let s = CosineSchedule(steps: 100)
        #expect(s.alphaBar[0] > 0.999 && s.alphaBar[99] < 0.01)
        #expect(zip(s.alphaBar, s.alphaBar.dropFirst()).allSatisfy { $0 > $1 })
        #expect((0..<100).allSatisfy { s.minSNRWeight($0) <= 1 && s.minSNRWeight($0) > 0 })
        #expect(s.samplingTimesteps(10).first == 99 && s.samplingTimesteps(10).last == 0)
        #expect(s.samplingTimesteps(10).count == 10)
    }

    @Test("DDIM with an oracle denoiser recovers the clean video exactly")
    func samplerWithOracle() throws {
        // A model whose v is exact for a known x0 must land on x0: checks the sampler's algebra.
        let config = Self.micro()
        let model = try VideoUNet(config: config)
        var rng = SeededRNG(seed: 2)
        let x0 = Tensor.uniform([1, config.futureFrames, 3, 16, 16], low: -0.9, high: 0.9, rng: &rng)
        let schedule = CosineSchedule(steps: config.diffusionSteps)
        var x = Tensor.randn(x0.shape, rng: &rng)
        let steps = schedule.samplingTimesteps(8)
        for (i, t) in steps.enumerated() {
            let (a, s) = (schedule.signal(t), schedule.noise(t))
            let epsilon = (x - x0 * a) * (1 / s)
            let v = epsilon * a - x0 * s  // the oracle's v
            let predicted = (x * a - v * s)
            if i + 1 == steps.count { x = predicted; break }
            x = predicted * schedule.signal(steps[i + 1]) + epsilon * schedule.noise(steps[i + 1])
        }
        let error = zip(x.toArray(), x0.toArray()).map { abs($0 - $1) }.max()!
        #expect(error < 1e-4)
        _ = model
    }

    @Test("a sampled plan has the model's shape and values in [-1, 1]; refinement changes it")
    func sampleShapeAndRefinement() throws {
        let config = Self.micro()
        let model = try VideoUNet(config: config, seed: 3)
        // Give the zero-initialised output layer some weights so plans depend on the condition.
        var rng = SeededRNG(seed: 4)
        for (name, t) in model.namedParameters() where name.hasPrefix("convOut") {
            t.withMutableValues { for i in $0.indices { $0[i] = rng.normal() * 0.2 } }
        }
        let batch = Self.clips.batch(Self.clips.evaluationKeys(limit: 2), rng: &rng)
        let sampler = PlanSampler(model: model, steps: 4)
        let tasks = try batch.tasks.map { try config.taskIndex($0) }
        let plans = sampler.planAndRefine(observation: batch.observation, tasks: tasks, iterations: 1, rng: &rng)
        #expect(plans[0].shape == [2, config.futureFrames, 3, 16, 16])
        #expect(plans[0].toArray().allSatisfy { $0 >= -1 && $0 <= 1 })
        #expect(plans[1].toArray() != plans[0].toArray())
        // Guidance changes the result too (two predictions combined).
        var guided = sampler
        guided.guidance = 3
        var r1 = SeededRNG(seed: 9), r2 = SeededRNG(seed: 9)
        #expect(sampler.sample(observation: batch.observation, previous: nil, tasks: tasks, rng: &r1).toArray()
            != guided.sample(observation: batch.observation, previous: nil, tasks: tasks, rng: &r2).toArray())
    }

    @Test("training lowers the loss, and the refinement pool comes into use")
    func lossFalls() async throws {
        // Seconds of BLAS work: on a thread of its own, not on the pool the bus tests rely on.
        let (losses, poolStep) = try await Blocking.onOwnThread { () throws -> ([StepLosses], Int?) in
            var options = TrainingOptions()
            options.batchSize = 6
            options.learningRate = 1e-3
            options.refineStart = 60
            options.refineEvery = 30
            options.poolSize = 6
            options.poolSamplingSteps = 3
            let trainer = try VideoTrainer(config: Self.micro(), options: options)
            var losses: [StepLosses] = []
            for _ in 0..<100 { losses.append(try trainer.trainStep(clips: Self.clips)) }
            return (losses, trainer.poolGeneratedAtStep)
        }
        let early = losses[0..<15].map(\.generation).reduce(0, +) / 15
        let late = losses[45..<60].map(\.generation).reduce(0, +) / 15
        #expect(late < early * 0.85, "generation loss went from \(early) to \(late)")
        #expect(losses[70...].allSatisfy { $0.refinement > 0 && $0.consistency > 0 })
        #expect(poolStep == 90)
    }

    @Test("a diverged step stops training with a clear error and no checkpoint of NaN weights is written")
    func divergence() throws {
        var options = TrainingOptions()
        options.batchSize = 4
        options.refineStart = 1000
        let trainer = try VideoTrainer(config: Self.micro(), options: options)
        _ = try trainer.trainStep(clips: Self.clips)
        // What a blown-up learning rate leaves behind: one non-finite weight.
        trainer.model.parameters()[0].withMutableValues { $0[0] = .nan }
        let error = #expect(throws: VideoModelError.self) { _ = try trainer.trainStep(clips: Self.clips) }
        #expect(error?.description.contains("diverged at step 1") == true)
        #expect(trainer.step == 1, "the diverged step was not counted")
        let directory = NSTemporaryDirectory() + "videoagent-nan-\(UUID().uuidString.prefix(8))"
        #expect(throws: SafetensorsError.self) { try trainer.save(to: directory) }
        #expect(!FileManager.default.fileExists(atPath: directory + "/model.safetensors"))
    }

    @Test("a checkpoint round trip reproduces samples exactly, and training resumes where it stopped")
    func checkpointRoundTrip() throws {
        var options = TrainingOptions()
        options.batchSize = 4
        options.refineStart = 1000
        let trainer = try VideoTrainer(config: Self.micro(), options: options)
        for _ in 0..<3 { _ = try trainer.trainStep(clips: Self.clips) }
        let directory = NSTemporaryDirectory() + "videoagent-ckpt-\(UUID().uuidString.prefix(8))"
        try trainer.save(to: directory)
        let (loaded, metadata) = try VideoCheckpoint.load(directory + "/model.safetensors")
        #expect(metadata["step"] == "3")
        var rng = SeededRNG(seed: 1)
        let batch = Self.clips.batch(Self.clips.evaluationKeys(limit: 1), rng: &rng)
        let tasks = [try loaded.config.taskIndex(batch.tasks[0])]
        var r1 = SeededRNG(seed: 5), r2 = SeededRNG(seed: 5)
        let a = PlanSampler(model: trainer.averagedModel(), steps: 3).sample(observation: batch.observation, previous: nil, tasks: tasks, rng: &r1)
        let b = PlanSampler(model: loaded, steps: 3).sample(observation: batch.observation, previous: nil, tasks: tasks, rng: &r2)
        #expect(a.toArray() == b.toArray())
        let resumed = try VideoTrainer.resume(from: directory)
        #expect(resumed.step == 3)
        #expect(resumed.model.parameters().map { $0.toArray() } == trainer.model.parameters().map { $0.toArray() })
        #expect(throws: VideoModelError.self) { try loaded.config.taskIndex("juggle") }
    }

    @Test("PSNR and SSIM: identical images score best, noise scores lower")
    func metrics() {
        var rng = SeededRNG(seed: 1)
        let image = (0..<(3 * 16 * 16)).map { _ in rng.uniform() }
        let noisy = image.map { min(max($0 + 0.1 * rng.normal(), 0), 1) }
        #expect(ImageMetrics.psnr(image, image) > 90)
        #expect(abs(ImageMetrics.ssim(image, image, side: 16) - 1) < 1e-9)
        let p = ImageMetrics.psnr(image, noisy)
        #expect(p > 15 && p < 25)
        #expect(ImageMetrics.ssim(image, noisy, side: 16) < 0.95)
    }
}
