import AgentKit
import Bus
import Foundation
import Logging
import Media
import Messages
import SeededRandom
import Tensor
import VideoDiffusion

/// The planner's logic: plan requests in, first plans (iteration 0) out, sampled in one batch.
///
/// Sampling noise is seeded by the request's message id, so a retried handler draws the same
/// plan and gives it the same message id: downstream stages drop the duplicate.
public final class PlannerLogic: @unchecked Sendable {
    // Used from the service's one task.
    public let model: ModelSlot<VideoUNet>
    public let instance: String
    public var samplingSteps = 10
    public var guidance: Float = 1

    public init(model: ModelSlot<VideoUNet>, instance: String) {
        self.model = model
        self.instance = instance
    }

    public func handle(_ requests: [PlanRequest]) throws -> [[StageOutput]] {
        let (unet, version) = model.current
        let side = unet.config.resolution
        let observations = try requests.map { try PNG.decode(base64: $0.frame).resized(width: side, height: side) }
        let tasks = try requests.map { try unet.config.taskIndex($0.task) }
        var rng = SeededRNG(seed: Self.seed(requests.map(\.envelope.messageID)))
        let sampler = PlanSampler(model: unet, steps: samplingSteps, guidance: guidance)
        let batch = sampler.sample(observation: Tensor(shape: [requests.count, 3, side, side],
                                                       values: observations.flatMap { $0.planarSigned() }),
                                   previous: nil, tasks: tasks, rng: &rng)
        return try requests.enumerated().map { row, request in
            let frames = try ([observations[row]] + PlanFrames.images(batch, row: row)).map(PNG.base64)
            let id = request.envelope.messageID
            let plan = PlanMessage(
                envelope: Envelope(messageID: MessageID.derive(parent: id, stage: .planner, purpose: "plan/iteration-0"),
                                   episodeID: request.envelope.episodeID, parentID: id, stage: .planner, instance: instance,
                                   modelVersion: version, timestampMs: Int64(Date().timeIntervalSince1970 * 1000)),
                requestID: id, robotID: request.robotID, task: request.task, iteration: 0, frames: frames, feedback: nil,
                samplerSteps: samplingSteps, guidance: guidance)
            return [try StageOutput(topic: Topic.plans, key: request.envelope.episodeID, message: plan)]
        }
    }

    /// A seed from message ids: the same messages give the same noise.
    public static func seed(_ ids: [String]) -> UInt64 {
        ids.reduce(0x5EED) { $0 &* 0x100_0000_01B3 ^ (UInt64($1.prefix(16), radix: 16) ?? 0) }
    }
}

/// The planner as a service: a member of group `planner` on the requests topic.
public final class PlannerService: Sendable {
    public let bus: MessageBus
    public let logic: PlannerLogic
    public let swap: HotSwappedModel<VideoUNet>
    let logger: Logger

    public init(bus: MessageBus, logic: PlannerLogic, swap: HotSwappedModel<VideoUNet>, logger: Logger) {
        self.bus = bus
        self.logic = logic
        self.swap = swap
        self.logger = logger
    }

    /// Serves until cancelled; a new checkpoint is picked up between batches.
    public func run(group: String = "planner") async throws {
        try await StageRunner.run(bus: bus, stage: .planner, instance: logic.instance, group: group, topic: Topic.requests,
                                  logger: logger, between: { [swap, logger] in
                                      if let version = try await swap.refresh() {
                                          logger.notice("planner now serves \(version)")
                                      }
                                  }, batchHandler: { [logic] (requests: [PlanRequest]) in try logic.handle(requests) })
    }
}
