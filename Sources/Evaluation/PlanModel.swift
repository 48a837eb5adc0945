import Control
import Media
import SeededRandom
import Tensor
import VideoDiffusion

/// The plan model as the evaluation uses it: plans for many episodes in one batch, each refined
/// `iterations` times, every iteration kept.
public final class PlanModel {
    public let model: VideoUNet
    public let sampler: PlanSampler
    public let label: String

    public init(path: String, steps: Int = 10, guidance: Float = 1) throws {
        let (model, metadata) = try VideoCheckpoint.load(path)
        self.model = model
        sampler = PlanSampler(model: model, steps: steps, guidance: guidance)
        label = "plan model step \(metadata["step"] ?? "?")"
    }

    public var resolution: Int { model.config.resolution }

    /// Checks the model knows each task sentence; the error names the ones it knows.
    public func checkTasks(_ instructions: [String]) throws {
        for instruction in instructions { _ = try model.config.taskIndex(instruction) }
    }

    /// For each observation (any size) and task sentence: the base plan and its refinements,
    /// `iterations + 1` plans in order, each with the observation as its first frame.
    public func plans(observations: [RGBImage], tasks: [String], iterations: Int, rng: inout SeededRNG) throws -> [[VideoPlan]] {
        guard !observations.isEmpty else { return [] }
        let side = resolution
        let small = observations.map { $0.resized(width: side, height: side) }
        let observation = Tensor(shape: [small.count, 3, side, side], values: small.flatMap { $0.planarSigned() })
        let taskIndices = try tasks.map { try model.config.taskIndex($0) }
        let iterationsOut = sampler.planAndRefine(observation: observation, tasks: taskIndices, iterations: iterations, rng: &rng)
        return small.indices.map { row in
            iterationsOut.enumerated().map { i, plan in
                VideoPlan(frames: [small[row]] + PlanFrames.images(plan, row: row), source: "\(label), iteration \(i)")
            }
        }
    }
}
