import Blocking
import Foundation
import Media
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

    /// Knows the clean video: its v is exact for `x0`, whatever the noise level.
    struct OracleDenoiser: Denoiser {
        let config: VideoModelConfig
        let x0: Tensor
        let schedule: CosineSchedule

        func velocity(_ x: Tensor, observation: Tensor, previous: Tensor?, timesteps: [Int], tasks: [Int], feedback: [Int]) -> Tensor {
            let (a, s) = (schedule.signal(timesteps[0]), schedule.noise(timesteps[0]))
            let epsilon = (x - x0 * a) * (1 / s)
            return epsilon * a - x0 * s
        }
    }

    /// Answers with the previous plan as its clean video: refinement must hand the condition on.
    struct EchoDenoiser: Denoiser {
        let config: VideoModelConfig
        let schedule: CosineSchedule

        func velocity(_ x: Tensor, observation: Tensor, previous: Tensor?, timesteps: [Int], tasks: [Int], feedback: [Int]) -> Tensor {
            let target = previous ?? Tensor.zeros(x.shape)
            let (a, s) = (schedule.signal(timesteps[0]), schedule.noise(timesteps[0]))
            let epsilon = (x - target * a) * (1 / s)
            return epsilon * a - target * s
        }
    }

    @Test("the project's DDIM sampler, given an oracle denoiser, lands exactly on the clean video")
    func samplerWithOracle() throws {
        let config = Self.micro()
        var rng = SeededRNG(seed: 2)
        let x0 = Tensor.uniform([2, config.futureFrames, 3, 16, 16], low: -0.9, high: 0.9, rng: &rng)
        let oracle = OracleDenoiser(config: config, x0: x0, schedule: CosineSchedule(steps: config.diffusionSteps))
        for steps in [1, 4, 10] {
            let sample = PlanSampler(model: oracle, steps: steps).sample(observation: Tensor.zeros([2, 3, 16, 16]), previous: nil,
                                                                         tasks: [0, 0], rng: &rng)
            let error = zip(sample.toArray(), x0.toArray()).map { abs($0 - $1) }.max()!
            #expect(error < 1e-4, "\(steps) DDIM steps missed the clean video by \(error)")
        }
    }

    @Test("refinement hands the previous plan to the network: the same noise with another previous plan gives another plan")
    func refinementUsesItsCondition() throws {
        let config = Self.micro()
        let echo = EchoDenoiser(config: config, schedule: CosineSchedule(steps: config.diffusionSteps))
        var rng = SeededRNG(seed: 5)
        let a = Tensor.uniform([1, config.futureFrames, 3, 16, 16], low: -0.8, high: 0.8, rng: &rng)
        let b = Tensor.uniform([1, config.futureFrames, 3, 16, 16], low: -0.8, high: 0.8, rng: &rng)
        let sampler = PlanSampler(model: echo, steps: 4)
        func refine(_ previous: Tensor) -> [Float] {
            var noise = SeededRNG(seed: 11)  // the same noise each time
            return sampler.sample(observation: Tensor.zeros([1, 3, 16, 16]), previous: previous, tasks: [0], rng: &noise).toArray()
        }
        // The echo denoiser's clean video is the previous plan: refining A gives A, B gives B.
        #expect(zip(refine(a), a.toArray()).allSatisfy { abs($0 - $1) < 1e-4 })
        #expect(zip(refine(b), b.toArray()).allSatisfy { abs($0 - $1) < 1e-4 })
    }

    @Test("a sampled plan has the model's shape and values in [-1, 1]; guidance changes it")
    func sampleShapeAndGuidance() throws {
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
        // Guidance changes the result (two predictions combined).
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

    @Test("a binary refiner extended with feedback categories predicts exactly as before under every new code")
    func extendingFeedbackCodes() throws {
        let model = try VideoUNet(config: Self.micro(), seed: 3)
        let codes = VideoModelConfig.descriptiveFeedbackCodes(categories: ["no_contact", "incomplete"])
        let wide = try model.extendingFeedbackCodes(to: codes)
        #expect(wide.config.refinesWithCategories && !model.config.refinesWithCategories)
        #expect(wide.config.refineCode(category: "incomplete") == 3)
        #expect(wide.config.refineCode(category: "scene_jumps") == VideoModelConfig.plainRefineCode, "unknown category: plain refinement")
        #expect(model.config.refineCode(category: "incomplete") == VideoModelConfig.plainRefineCode)
        var rng = SeededRNG(seed: 2)
        let batch = Self.clips.batch(Self.clips.evaluationKeys(limit: 1), rng: &rng)
        let noisy = Tensor.randn(batch.future.shape, rng: &rng), previous = Tensor.randn(batch.future.shape, rng: &rng)
        let tasks = [try model.config.taskIndex(batch.tasks[0])]
        func predict(_ m: VideoUNet, _ code: Int) -> [Float] {
            m(noisy: noisy, observation: batch.observation, selfCondition: previous, timesteps: [40], tasks: tasks, feedback: [code]).toArray()
        }
        let plain = predict(model, 1)
        for code in 1..<codes.count { #expect(predict(wide, code) == plain) }
        #expect(predict(wide, 0) == predict(model, 0))
        #expect(throws: VideoModelError.self) { try model.extendingFeedbackCodes(to: ["generate"]) }
    }

    @Test("with a feedback labeler, refinement pairs train under the critic's category and the loss stays finite")
    func descriptiveTraining() throws {
        var options = TrainingOptions()
        options.batchSize = 4
        options.refineStart = 0
        options.refineEvery = 3
        options.poolSize = 6
        options.poolSamplingSteps = 2
        let codes = VideoModelConfig.descriptiveFeedbackCodes(categories: ["no_contact", "incomplete"])
        let trainer = try VideoTrainer(startingFrom: try VideoUNet(config: Self.micro()).extendingFeedbackCodes(to: codes), options: options)
        var reported: [[String: Int]] = []
        // Every other plan "never reaches the object", the rest are accepted (plain refinement).
        trainer.feedbackLabeler = FeedbackLabeler(report: { reported.append($0) }) { _, plans, _ in
            (0..<plans.shape[0]).map { $0 % 2 == 0 ? "no_contact" : nil }
        }
        for _ in 0..<6 { #expect(try trainer.trainStep(clips: Self.clips).refinement.isFinite) }
        #expect(reported.count == 2)
        let counts = trainer.poolCodeCounts
        #expect(counts[codes.firstIndex(of: "refine:no_contact")!, default: 0] > 0)
        #expect(counts[VideoModelConfig.plainRefineCode, default: 0] > 0)
        #expect(counts.keys.allSatisfy { $0 != 0 && $0 != codes.firstIndex(of: "refine:incomplete")! })
        // The category's code was trained apart from plain refinement (they started as copies).
        var rng = SeededRNG(seed: 4)
        let batch = Self.clips.batch(Self.clips.evaluationKeys(limit: 1), rng: &rng)
        let noisy = Tensor.randn(batch.future.shape, rng: &rng)
        let tasks = [try trainer.config.taskIndex(batch.tasks[0])]
        func predict(_ code: Int) -> [Float] {
            trainer.model(noisy: noisy, observation: batch.observation, selfCondition: batch.future, timesteps: [50], tasks: tasks,
                          feedback: [code]).toArray()
        }
        #expect(predict(codes.firstIndex(of: "refine:no_contact")!) != predict(VideoModelConfig.plainRefineCode))
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

    @Test("a batch holds a clip's frames exactly as signed planar floats, though the clips keep 8-bit pixels")
    func batchesAreTheFramesAsFloats() throws {
        var rng = SeededRNG(seed: 3)
        let images = (0..<5).map { _ in
            RGBImage(width: 8, height: 8, pixels: (0..<(8 * 8 * 3)).map { _ in UInt8(rng.next() % 256) })
        }
        let clips = try ClipSet(episodes: [ClipSet.Episode(task: "x", camera: "corner", seed: 0, images: images, resolution: 8)],
                                resolution: 8, futureFrames: 2)
        let keys = clips.evaluationKeys(limit: 1)
        let batch = clips.batch(keys, rng: &rng)
        let indices = clips.clipIndices(start: keys[0].start, length: 5)
        #expect(batch.observation.shape == [1, 3, 8, 8] && batch.future.shape == [1, 2, 3, 8, 8])
        #expect(batch.observation.toArray() == images[indices[0]].planarSigned())
        #expect(batch.future.toArray() == indices.dropFirst().flatMap { images[$0].planarSigned() })
        #expect(clips.episodes[0].frameCount == 5)
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
