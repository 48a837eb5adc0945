import AgentKit
import Bus
import Foundation
import Logging
import Media
import Messages
import SeededRandom
import Tensor
import VideoDiffusion

/// The refiner's logic: a rejected plan's critique in; the plan refined by the same network
/// conditioned on it (iteration i + 1, back to the critic), or, after K refinements, the last
/// plan approved as it is (the paper's rule: after K refinements no check on the last one).
public final class RefinerLogic: @unchecked Sendable {
    // Used from the service's one task.
    public let model: ModelSlot<VideoUNet>
    public let instance: String
    /// Refinements K before a plan is approved without the critic's acceptance (paper: 4).
    public var iterations = 4
    public var samplingSteps = 10

    public init(model: ModelSlot<VideoUNet>, instance: String) {
        self.model = model
        self.instance = instance
    }

    public func handle(_ critiques: [Critique]) throws -> [[StageOutput]] {
        var outputs = [[StageOutput]](repeating: [], count: critiques.count)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var refine: [(row: Int, critique: Critique, frames: [RGBImage])] = []
        for (row, critique) in critiques.enumerated() where !critique.accept {
            guard let encoded = critique.frames, encoded.count >= 2 else {
                throw StageError("critique \(critique.envelope.messageID) carries no plan frames to refine")
            }
            let id = critique.envelope.messageID
            if critique.iteration >= iterations {
                let approved = ApprovedPlan(
                    envelope: Envelope(messageID: MessageID.derive(parent: id, stage: .refiner, purpose: "approved"),
                                       episodeID: critique.envelope.episodeID, parentID: id, stage: .refiner, instance: instance,
                                       modelVersion: model.version, timestampMs: now),
                    planID: critique.planID, requestID: critique.requestID, robotID: critique.robotID, task: critique.task,
                    iteration: critique.iteration, accepted: false, score: critique.score, frames: encoded)
                outputs[row] = [try StageOutput(topic: Topic.approved, key: critique.envelope.episodeID, message: approved)]
            } else {
                refine.append((row, critique, try encoded.map { try PNG.decode(base64: $0) }))
            }
        }
        guard !refine.isEmpty else { return outputs }
        let (unet, version) = model.current
        let side = unet.config.resolution, future = unet.config.futureFrames
        let observations = refine.map { $0.frames[0].resized(width: side, height: side) }
        let previous = refine.flatMap { item in
            (1...future).flatMap { i in item.frames[min(i, item.frames.count - 1)].resized(width: side, height: side).planarSigned() }
        }
        var rng = SeededRNG(seed: refine.reduce(0x2EF1) { $0 &* 31 ^ (UInt64($1.critique.envelope.messageID.prefix(16), radix: 16) ?? 0) })
        let sampler = PlanSampler(model: unet, steps: samplingSteps)
        let plans = sampler.sample(observation: Tensor(shape: [refine.count, 3, side, side], values: observations.flatMap { $0.planarSigned() }),
                                   previous: Tensor(shape: [refine.count, future, 3, side, side], values: previous),
                                   tasks: try refine.map { try unet.config.taskIndex($0.critique.task) },
                                   // A model trained on critic categories refines on the critique's; others plainly.
                                   feedback: refine.map { unet.config.refineCode(category: $0.critique.feedbackCode) }, rng: &rng)
        for (k, item) in refine.enumerated() {
            let id = item.critique.envelope.messageID
            let next = item.critique.iteration + 1
            let plan = PlanMessage(
                envelope: Envelope(messageID: MessageID.derive(parent: id, stage: .refiner, purpose: "plan/iteration-\(next)"),
                                   episodeID: item.critique.envelope.episodeID, parentID: id, stage: .refiner, instance: instance,
                                   modelVersion: version, timestampMs: now),
                requestID: item.critique.requestID, robotID: item.critique.robotID, task: item.critique.task,
                iteration: next, frames: try ([observations[k]] + PlanFrames.images(plans, row: k)).map(PNG.base64),
                feedback: item.critique.feedback, samplerSteps: samplingSteps, guidance: 1)
            outputs[item.row] = [try StageOutput(topic: Topic.plans, key: item.critique.envelope.episodeID, message: plan)]
        }
        return outputs
    }
}

/// The refiner as a service: a member of group `refiner` on the critiques topic.
public final class RefinerService: Sendable {
    public let bus: MessageBus
    public let logic: RefinerLogic
    public let swap: HotSwappedModel<VideoUNet>
    let logger: Logger

    public init(bus: MessageBus, logic: RefinerLogic, swap: HotSwappedModel<VideoUNet>, logger: Logger) {
        self.bus = bus
        self.logic = logic
        self.swap = swap
        self.logger = logger
    }

    public func run(group: String = "refiner") async throws {
        try await StageRunner.run(bus: bus, stage: .refiner, instance: logic.instance, group: group, topic: Topic.critiques,
                                  logger: logger, between: { [swap, logger] in
                                      if let version = try await swap.refresh() { logger.notice("refiner now serves \(version)") }
                                  }, batchHandler: { [logic] (critiques: [Critique]) in try logic.handle(critiques) })
    }
}
