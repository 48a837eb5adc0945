import Checksum

/// The stages that produce messages (and operators, who may write by hand).
public enum Stage: String, Codable, Sendable, CaseIterable {
    case executor, planner, critic, refiner, learner, `operator`
}

/// Carried by every message: who made it, from what, with which model, when.
public struct Envelope: Codable, Sendable, Equatable {
    public var schemaVersion: Int
    /// Deterministic (``MessageID``): a retried handler produces the same id, so consumers drop duplicates.
    public var messageID: String
    public var episodeID: String
    /// The message this one answers; nil for an episode's first message.
    public var parentID: String?
    public var stage: Stage
    /// Host and process of the producing actor ("host-a/4211").
    public var instance: String
    /// The model that made the content ("video@3"), or "none".
    public var modelVersion: String
    public var timestampMs: Int64

    public static let currentVersion = 1

    public init(messageID: String, episodeID: String, parentID: String?, stage: Stage, instance: String,
                modelVersion: String = "none", timestampMs: Int64) {
        schemaVersion = Self.currentVersion
        self.messageID = messageID
        self.episodeID = episodeID
        self.parentID = parentID
        self.stage = stage
        self.instance = instance
        self.modelVersion = modelVersion
        self.timestampMs = timestampMs
    }

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version", messageID = "message_id", episodeID = "episode_id", parentID = "parent_id"
        case stage, instance, modelVersion = "model_version", timestampMs = "timestamp_ms"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try container.decode(Int.self, forKey: .schemaVersion)
        guard schemaVersion == Self.currentVersion else {
            throw DecodingError.dataCorruptedError(forKey: .schemaVersion, in: container,
                                                   debugDescription: "schema version \(schemaVersion) is not \(Self.currentVersion)")
        }
        messageID = try container.decode(String.self, forKey: .messageID)
        episodeID = try container.decode(String.self, forKey: .episodeID)
        parentID = try container.decodeIfPresent(String.self, forKey: .parentID)
        stage = try container.decode(Stage.self, forKey: .stage)
        instance = try container.decode(String.self, forKey: .instance)
        modelVersion = try container.decode(String.self, forKey: .modelVersion)
        timestampMs = try container.decode(Int64.self, forKey: .timestampMs)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(schemaVersion, forKey: .schemaVersion)
        try container.encode(messageID, forKey: .messageID)
        try container.encode(episodeID, forKey: .episodeID)
        try container.encode(parentID, forKey: .parentID)  // null, not absent: the schema requires it
        try container.encode(stage, forKey: .stage)
        try container.encode(instance, forKey: .instance)
        try container.encode(modelVersion, forKey: .modelVersion)
        try container.encode(timestampMs, forKey: .timestampMs)
    }
}

/// Deterministic message ids: the same input handled the same way gives the same id, however
/// often the handler is retried, so a consumer can drop what it has already seen.
public enum MessageID {
    /// 32 hex digits of sha256 over the parent's id, the producing stage and what the message is
    /// (e.g. "plan/iteration-2", "critique", "approved").
    public static func derive(parent: String?, stage: Stage, purpose: String) -> String {
        String(SHA256.hex(Array("\(parent ?? "-")|\(stage.rawValue)|\(purpose)".utf8)).prefix(32))
    }

    /// The id of an episode's first message, from the robot and the episode's number.
    public static func first(episodeID: String, purpose: String) -> String {
        derive(parent: nil, stage: .executor, purpose: "\(episodeID)|\(purpose)")
    }
}

/// The topic names.
public enum Topic {
    public static let requests = "videoagent.requests.v1"
    public static let plans = "videoagent.plans.v1"
    public static let critiques = "videoagent.critiques.v1"
    public static let approved = "videoagent.approved.v1"
    public static let trajectories = "videoagent.trajectories.v1"
    public static let checkpoints = "videoagent.checkpoints.v1"
    public static let deadLetters = "videoagent.deadletter.v1"
    public static let all = [requests, plans, critiques, approved, trajectories, checkpoints, deadLetters]
}

/// A message that carries an ``Envelope`` (every topic value but a dead letter).
public protocol EnvelopedMessage: Codable, Sendable {
    var envelope: Envelope { get }
}

extension PlanRequest: EnvelopedMessage {}
extension PlanMessage: EnvelopedMessage {}
extension Critique: EnvelopedMessage {}
extension ApprovedPlan: EnvelopedMessage {}
extension Trajectory: EnvelopedMessage {}
extension CheckpointMessage: EnvelopedMessage {}
