import NN
import Tensor

/// What the sampler asks a network: the v-prediction for noisy frames at timestep t, given the
/// observation, the plan being refined (nil when generating), the task and the feedback code.
/// ``VideoUNet`` is one; tests use an oracle that knows the answer.
public protocol Denoiser {
    var config: VideoModelConfig { get }
    func velocity(_ x: Tensor, observation: Tensor, previous: Tensor?, timesteps: [Int], tasks: [Int], feedback: [Int]) -> Tensor
}

extension VideoUNet: Denoiser {
    public func velocity(_ x: Tensor, observation: Tensor, previous: Tensor?, timesteps: [Int], tasks: [Int], feedback: [Int]) -> Tensor {
        self(noisy: x, observation: observation, selfCondition: previous, timesteps: timesteps, tasks: tasks, feedback: feedback)
    }
}

/// DDIM sampling (η = 0) of plans from a ``Denoiser``: generation from the observation, and
/// refinement conditioned on a previous plan. Fresh noise every time, as VideoAgent refines.
/// The DDIM step is apart from the network, as diffusers keeps schedulers apart from models.
public struct PlanSampler {
    public let model: any Denoiser
    public let schedule: CosineSchedule
    /// DDIM steps per sample.
    public var steps: Int
    /// Classifier-free guidance on the task: 1 = off; w > 1 pushes towards the task.
    public var guidance: Float

    public init(model: any Denoiser, steps: Int = 10, guidance: Float = 1) {
        self.model = model
        schedule = CosineSchedule(steps: model.config.diffusionSteps)
        self.steps = steps
        self.guidance = guidance
    }

    /// Samples future frames (B, F, 3, H, W) in [−1, 1].
    /// - Parameters:
    ///   - observation: (B, 3, H, W) in [−1, 1].
    ///   - previous: the plan to refine (B, F, 3, H, W), or nil to generate.
    ///   - tasks: task index per sample; `feedback` code per sample (default: generate or refine).
    public func sample(observation: Tensor, previous: Tensor?, tasks: [Int], feedback: [Int]? = nil,
                       rng: inout SeededRNG) -> Tensor {
        withoutGrad {
            let b = observation.shape[0]
            let c = model.config
            let shape = [b, c.futureFrames, 3, c.resolution, c.resolution]
            let codes = feedback ?? Array(repeating: previous == nil ? 0 : 1, count: b)
            var x = Tensor.randn(shape, rng: &rng)
            let timesteps = schedule.samplingTimesteps(steps)
            for (i, t) in timesteps.enumerated() {
                let v = predict(x, observation: observation, previous: previous, t: t, tasks: tasks, feedback: codes)
                let (a, s) = (schedule.signal(t), schedule.noise(t))
                let x0 = (x * a - v * s).clamped(-1, 1)
                guard i + 1 < timesteps.count else { return x0 }
                let epsilon = (x - x0 * a) * (1 / s)
                let next = timesteps[i + 1]
                x = x0 * schedule.signal(next) + epsilon * schedule.noise(next)
            }
            return x
        }
    }

    /// v, with classifier-free guidance when `guidance` ≠ 1.
    private func predict(_ x: Tensor, observation: Tensor, previous: Tensor?, t: Int, tasks: [Int], feedback: [Int]) -> Tensor {
        let b = x.shape[0]
        let steps = Array(repeating: t, count: b)
        let conditional = model.velocity(x, observation: observation, previous: previous, timesteps: steps, tasks: tasks,
                                         feedback: feedback)
        guard guidance != 1 else { return conditional }
        let unconditional = model.velocity(x, observation: observation, previous: previous, timesteps: steps,
                                           tasks: Array(repeating: 0, count: b), feedback: feedback)
        return unconditional + (conditional - unconditional) * guidance
    }

    /// Generation followed by `iterations` refinements; every plan in order (base first).
    public func planAndRefine(observation: Tensor, tasks: [Int], iterations: Int, rng: inout SeededRNG) -> [Tensor] {
        var plans = [sample(observation: observation, previous: nil, tasks: tasks, rng: &rng)]
        for _ in 0..<iterations { plans.append(sample(observation: observation, previous: plans.last!, tasks: tasks, rng: &rng)) }
        return plans
    }
}
