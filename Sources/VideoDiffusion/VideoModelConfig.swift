import Checksum
import Foundation

/// Everything that fixes the video model's shape; stored in every checkpoint so a checkpoint
/// can be loaded without knowing how it was made.
public struct VideoModelConfig: Codable, Sendable, Equatable {
    /// Frame side in pixels (square).
    public var resolution: Int
    /// Frames generated after the observation (the plan is the observation plus these).
    public var futureFrames: Int
    /// Channel widths of the UNet levels, coarsest last.
    public var widths: [Int]
    /// Residual blocks per level (down; the up path has one more for the skip).
    public var blocksPerLevel: Int
    public var timeDimension: Int
    public var groups: Int
    /// Diffusion steps of the noise schedule.
    public var diffusionSteps: Int
    /// Task sentences the model knows; index 0 is reserved for "no task" (guidance).
    public var tasks: [String]
    /// Feedback categories; index 0 = plain generation, 1 = refine (no feedback), 2… = critic feedback.
    public var feedbackCodes: [String]

    public init(resolution: Int, futureFrames: Int = 7, widths: [Int], blocksPerLevel: Int, timeDimension: Int,
                groups: Int = 8, diffusionSteps: Int = 100, tasks: [String],
                feedbackCodes: [String] = ["generate", "refine"]) {
        self.resolution = resolution
        self.futureFrames = futureFrames
        self.widths = widths
        self.blocksPerLevel = blocksPerLevel
        self.timeDimension = timeDimension
        self.groups = groups
        self.diffusionSteps = diffusionSteps
        self.tasks = tasks
        self.feedbackCodes = feedbackCodes
    }

    /// The project's default (CPU-trainable in about an hour at 32×32).
    public static func standard(tasks: [String]) -> VideoModelConfig {
        VideoModelConfig(resolution: 32, widths: [32, 64, 128], blocksPerLevel: 1, timeDimension: 128, tasks: tasks)
    }

    /// A tiny model for tests: 16×16, two levels, trains in seconds.
    public static func micro(tasks: [String]) -> VideoModelConfig {
        VideoModelConfig(resolution: 16, widths: [16, 32], blocksPerLevel: 1, timeDimension: 32, tasks: tasks)
    }

    /// Checks the configuration can build a model, with a sentence per problem.
    public func validate() throws {
        guard resolution >= 8, resolution % (1 << (widths.count - 1)) == 0 else {
            throw VideoModelError("resolution \(resolution) must be divisible by \(1 << (widths.count - 1)) (one halving per level)")
        }
        guard futureFrames >= 1, !widths.isEmpty, blocksPerLevel >= 1, timeDimension >= 8, diffusionSteps >= 2 else {
            throw VideoModelError("futureFrames, widths, blocksPerLevel, timeDimension and diffusionSteps must be positive")
        }
        for w in widths where w % groups != 0 {
            throw VideoModelError("width \(w) is not divisible by \(groups) normalisation groups")
        }
        guard !tasks.isEmpty else { throw VideoModelError("the model knows no tasks") }
    }

    /// Index of a task sentence for the task embedding (1-based; 0 = none).
    public func taskIndex(_ task: String) throws -> Int {
        guard let i = tasks.firstIndex(of: task) else {
            throw VideoModelError("the model was not trained on the task '\(task)'; it knows: " + tasks.joined(separator: "; "))
        }
        return i + 1
    }

    /// The code of plain refinement (no feedback, or feedback the model was not trained with).
    public static let plainRefineCode = 1

    /// Feedback codes of a model that refines conditioned on a critic's category: generate,
    /// plain refine, then `refine:<category>` for each category (the paper's descriptive feedback).
    public static func descriptiveFeedbackCodes(categories: [String]) -> [String] {
        ["generate", "refine"] + categories.map { "refine:" + $0 }
    }

    /// Whether the model was trained to refine conditioned on critic categories.
    public var refinesWithCategories: Bool { feedbackCodes.contains { $0.hasPrefix("refine:") } }

    /// The feedback code for refining a plan a critic put in `category` ("no_contact", …):
    /// that category's code when the model knows it, plain refinement otherwise.
    public func refineCode(category: String?) -> Int {
        category.flatMap { feedbackCodes.firstIndex(of: "refine:" + $0) } ?? Self.plainRefineCode
    }

    /// A stable hash of the architecture (not the task list): checkpoints with the same hash
    /// are interchangeable.
    /// sha256 (64 hex digits) of what fixes the tensors' shapes: checkpoints of the same
    /// architecture can replace each other in a running planner.
    public var architectureHash: String {
        let text = "\(resolution)|\(futureFrames)|\(widths)|\(blocksPerLevel)|\(timeDimension)|\(groups)|\(diffusionSteps)|\(tasks.count)|\(feedbackCodes.count)"
        return SHA256.hex(Array(text.utf8))
    }
}

public struct VideoModelError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }

    /// Training produced a non-finite value; the model was not updated by that step.
    public static func diverged(step: Int, what: String) -> VideoModelError {
        VideoModelError("training diverged at step \(step) (\(what)); the weights were not updated and no checkpoint "
            + "of this step is written. Lower --learning-rate, or resume from the last checkpoint.")
    }
}
