import AgentKit
import Bus
import Foundation
import Logging
import Media
import Messages
import VideoCritic

/// The critic's logic: a plan in, its critique out (to the refiner), and the plan approved for
/// the executor when the judge accepts it.
public struct CriticLogic: Sendable {
    public let judge: any PlanJudge
    public let instance: String

    public init(judge: any PlanJudge, instance: String) {
        self.judge = judge
        self.instance = instance
    }

    public func handle(_ plan: PlanMessage) throws -> [StageOutput] {
        let frames = try plan.frames.map { try PNG.decode(base64: $0) }
        guard frames.count >= 2 else { throw StageError("a plan needs its observation and at least one future frame") }
        let verdict = try judge.judge(observation: frames[0], plan: Array(frames.dropFirst()), task: plan.task)
        let id = plan.envelope.messageID
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let critique = Critique(
            envelope: Envelope(messageID: MessageID.derive(parent: id, stage: .critic, purpose: "critique"),
                               episodeID: plan.envelope.episodeID, parentID: id, stage: .critic, instance: instance,
                               modelVersion: judge.name, timestampMs: now),
            planID: id, requestID: plan.requestID, robotID: plan.robotID, task: plan.task, iteration: plan.iteration,
            accept: verdict.accept,
            score: verdict.acceptProbability, frameScores: verdict.frameScores, feedbackCode: verdict.feedback.rawValue,
            feedback: verdict.feedbackSentence, critic: judge.name, frames: plan.frames)
        var outputs = [try StageOutput(topic: Topic.critiques, key: plan.envelope.episodeID, message: critique)]
        if verdict.accept {
            let approved = ApprovedPlan(
                envelope: Envelope(messageID: MessageID.derive(parent: critique.envelope.messageID, stage: .critic, purpose: "approved"),
                                   episodeID: plan.envelope.episodeID, parentID: critique.envelope.messageID, stage: .critic,
                                   instance: instance, modelVersion: plan.envelope.modelVersion, timestampMs: now),
                planID: id, requestID: plan.requestID, robotID: plan.robotID, task: plan.task, iteration: plan.iteration,
                accepted: true, score: verdict.acceptProbability, frames: plan.frames)
            outputs.append(try StageOutput(topic: Topic.approved, key: plan.envelope.episodeID, message: approved))
        }
        return outputs
    }
}

/// The critic as a service: a member of group `critic` on the plans topic.
public struct CriticService: Sendable {
    public let bus: MessageBus
    public let logic: CriticLogic
    let logger: Logger

    public init(bus: MessageBus, logic: CriticLogic, logger: Logger) {
        self.bus = bus
        self.logic = logic
        self.logger = logger
    }

    public func run(group: String = "critic") async throws {
        try await StageRunner.run(bus: bus, stage: .critic, instance: logic.instance, group: group, topic: Topic.plans, logger: logger,
                                  batchHandler: { [logic] (plans: [PlanMessage]) in try plans.map { try logic.handle($0) } })
    }
}
