import JSON

// One Codable type per topic value; field names as the specs in topics/ spell them. Frames are
// base64-encoded PNGs (the first frame of a plan is the observation it was made from).

/// `videoagent.requests.v1`: an executor asks for a plan for its robot's current frame.
public struct PlanRequest: Codable, Sendable, Equatable {
    public var envelope: Envelope
    public var robotID: String
    public var task: String
    public var camera: String
    /// Environment step at which the frame was taken.
    public var step: Int
    /// 0 for an episode's first plan, then 1, 2, …
    public var replan: Int
    public var frame: String
    public var proprioception: [Float]

    public init(envelope: Envelope, robotID: String, task: String, camera: String, step: Int, replan: Int, frame: String,
                proprioception: [Float]) {
        self.envelope = envelope
        self.robotID = robotID
        self.task = task
        self.camera = camera
        self.step = step
        self.replan = replan
        self.frame = frame
        self.proprioception = proprioception
    }

    enum CodingKeys: String, CodingKey {
        case envelope, robotID = "robot_id", task, camera, step, replan, frame, proprioception
    }
}

/// `videoagent.plans.v1`: iteration 0 from a planner, iteration i + 1 from a refiner.
public struct PlanMessage: Codable, Sendable, Equatable {
    public var envelope: Envelope
    public var requestID: String
    public var robotID: String
    public var task: String
    public var iteration: Int
    public var frames: [String]
    /// The critique the refinement was conditioned on.
    public var feedback: String?
    public var samplerSteps: Int?
    public var guidance: Float?

    public init(envelope: Envelope, requestID: String, robotID: String, task: String, iteration: Int, frames: [String],
                feedback: String? = nil, samplerSteps: Int? = nil, guidance: Float? = nil) {
        self.envelope = envelope
        self.requestID = requestID
        self.robotID = robotID
        self.task = task
        self.iteration = iteration
        self.frames = frames
        self.feedback = feedback
        self.samplerSteps = samplerSteps
        self.guidance = guidance
    }

    enum CodingKeys: String, CodingKey {
        case envelope, requestID = "request_id", robotID = "robot_id", task, iteration, frames, feedback
        case samplerSteps = "sampler_steps", guidance
    }
}

/// `videoagent.critiques.v1`: a critic's judgement of a plan.
public struct Critique: Codable, Sendable, Equatable {
    public var envelope: Envelope
    public var planID: String
    /// The plan request the judged plan answers (carried on to refinements and the approval).
    public var requestID: String
    public var robotID: String
    public var task: String
    public var iteration: Int
    public var accept: Bool
    public var score: Float
    public var frameScores: [Float]
    /// The category of the problem found ("ok" when none).
    public var feedbackCode: String
    public var feedback: String
    /// Learned critic version, or the vision-language endpoint and model.
    public var critic: String
    /// The plan judged, carried so a refiner needs no lookup.
    public var frames: [String]?

    public init(envelope: Envelope, planID: String, requestID: String, robotID: String, task: String, iteration: Int, accept: Bool,
                score: Float, frameScores: [Float], feedbackCode: String, feedback: String, critic: String, frames: [String]?) {
        self.envelope = envelope
        self.planID = planID
        self.requestID = requestID
        self.robotID = robotID
        self.task = task
        self.iteration = iteration
        self.accept = accept
        self.score = score
        self.frameScores = frameScores
        self.feedbackCode = feedbackCode
        self.feedback = feedback
        self.critic = critic
        self.frames = frames
    }

    enum CodingKeys: String, CodingKey {
        case envelope, planID = "plan_id", requestID = "request_id", robotID = "robot_id", task, iteration, accept, score
        case frameScores = "frame_scores"
        case feedbackCode = "feedback_code", feedback, critic, frames
    }
}

/// `videoagent.approved.v1`: the plan an executor is to run (accepted, or the best after K).
public struct ApprovedPlan: Codable, Sendable, Equatable {
    public var envelope: Envelope
    public var planID: String
    public var requestID: String
    public var robotID: String
    public var task: String
    public var iteration: Int
    /// False when the refinement budget ran out before the critic accepted.
    public var accepted: Bool
    public var score: Float
    public var frames: [String]

    public init(envelope: Envelope, planID: String, requestID: String, robotID: String, task: String, iteration: Int,
                accepted: Bool, score: Float, frames: [String]) {
        self.envelope = envelope
        self.planID = planID
        self.requestID = requestID
        self.robotID = robotID
        self.task = task
        self.iteration = iteration
        self.accepted = accepted
        self.score = score
        self.frames = frames
    }

    enum CodingKeys: String, CodingKey {
        case envelope, planID = "plan_id", requestID = "request_id", robotID = "robot_id", task, iteration, accepted, score, frames
    }
}

/// `videoagent.trajectories.v1`: an executed episode with the environment's verdict.
public struct Trajectory: Codable, Sendable, Equatable {
    public var envelope: Envelope
    public var robotID: String
    public var environment: String
    public var task: String
    public var camera: String
    public var seed: UInt64?
    /// Verified by the environment, not by the critic.
    public var success: Bool
    public var steps: Int
    public var frames: [String]
    public var actions: [[Float]]
    public var proprioception: [[Float]]
    public var planIDs: [String]

    public init(envelope: Envelope, robotID: String, environment: String, task: String, camera: String, seed: UInt64?,
                success: Bool, steps: Int, frames: [String], actions: [[Float]], proprioception: [[Float]], planIDs: [String]) {
        self.envelope = envelope
        self.robotID = robotID
        self.environment = environment
        self.task = task
        self.camera = camera
        self.seed = seed
        self.success = success
        self.steps = steps
        self.frames = frames
        self.actions = actions
        self.proprioception = proprioception
        self.planIDs = planIDs
    }

    enum CodingKeys: String, CodingKey {
        case envelope, robotID = "robot_id", environment, task, camera, seed, success, steps, frames, actions, proprioception
        case planIDs = "plan_ids"
    }
}

/// `videoagent.checkpoints.v1`: a model version, as a manifest followed by its chunks.
///
/// Checkpoints are split here, by the application, into chunks of at most ``chunkBytes`` raw
/// bytes (a record of < 512 KiB, the topic's limit, once base64-encoded with its envelope), so no
/// record needs the bus's own chunking and each
/// chunk can be checked and retried on its own; the manifest's sha256 covers the whole file.
public enum CheckpointMessage: Codable, Sendable, Equatable {
    case manifest(CheckpointManifest)
    case chunk(CheckpointChunk)

    /// Raw bytes per chunk: 368 KiB, 490.7 KiB in base64, leaving ~21 KiB of the topic's 512 KiB
    /// for the envelope and fields (384 KiB filled the limit with base64 alone: every real model's
    /// first chunk was refused).
    public static let chunkBytes = 368 * 1024

    public var envelope: Envelope {
        switch self {
        case .manifest(let m): return m.envelope
        case .chunk(let c): return c.envelope
        }
    }

    enum Kind: String, Codable { case manifest, chunk }
    enum KindKey: String, CodingKey { case kind }

    public init(from decoder: any Decoder) throws {
        let kind = try decoder.container(keyedBy: KindKey.self).decode(Kind.self, forKey: .kind)
        switch kind {
        case .manifest: self = .manifest(try CheckpointManifest(from: decoder))
        case .chunk: self = .chunk(try CheckpointChunk(from: decoder))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: KindKey.self)
        switch self {
        case .manifest(let m):
            try container.encode(Kind.manifest, forKey: .kind)
            try m.encode(to: encoder)
        case .chunk(let c):
            try container.encode(Kind.chunk, forKey: .kind)
            try c.encode(to: encoder)
        }
    }
}

public struct CheckpointManifest: Codable, Sendable, Equatable {
    public var envelope: Envelope
    public var model: String
    public var version: Int
    /// sha256 (64 hex digits) of the model's architecture: a consumer loads only what fits it.
    public var architectureHash: String
    /// sha256 of the whole checkpoint file.
    public var sha256: String
    public var bytes: Int
    public var chunkCount: Int
    public var config: JSONValue
    public var metrics: [String: Double]?

    public init(envelope: Envelope, model: String, version: Int, architectureHash: String, sha256: String, bytes: Int,
                chunkCount: Int, config: JSONValue, metrics: [String: Double]? = nil) {
        self.envelope = envelope
        self.model = model
        self.version = version
        self.architectureHash = architectureHash
        self.sha256 = sha256
        self.bytes = bytes
        self.chunkCount = chunkCount
        self.config = config
        self.metrics = metrics
    }

    enum CodingKeys: String, CodingKey {
        case envelope, model, version, architectureHash = "architecture_hash", sha256, bytes, chunkCount = "chunk_count"
        case config, metrics
    }
}

public struct CheckpointChunk: Codable, Sendable, Equatable {
    public var envelope: Envelope
    public var model: String
    public var version: Int
    public var index: Int
    /// Base64 of at most ``CheckpointMessage/chunkBytes`` bytes.
    public var data: String

    public init(envelope: Envelope, model: String, version: Int, index: Int, data: String) {
        self.envelope = envelope
        self.model = model
        self.version = version
        self.index = index
        self.data = data
    }
}

/// `videoagent.deadletter.v1`: a message a stage could not decode or handle after retries.
public struct DeadLetter: Codable, Sendable, Equatable {
    public var sourceTopic: String
    public var sourcePartition: Int
    public var sourceOffset: Int64
    public var key: String?
    public var valueBase64: String
    public var headers: [String: String]?
    public var error: String
    public var stage: String
    public var instance: String
    public var attempts: Int
    public var failedAtMs: Int64

    public init(sourceTopic: String, sourcePartition: Int, sourceOffset: Int64, key: String?, valueBase64: String,
                headers: [String: String]? = nil, error: String, stage: String, instance: String, attempts: Int, failedAtMs: Int64) {
        self.sourceTopic = sourceTopic
        self.sourcePartition = sourcePartition
        self.sourceOffset = sourceOffset
        self.key = key
        self.valueBase64 = valueBase64
        self.headers = headers
        self.error = error
        self.stage = stage
        self.instance = instance
        self.attempts = attempts
        self.failedAtMs = failedAtMs
    }

    enum CodingKeys: String, CodingKey {
        case sourceTopic = "source_topic", sourcePartition = "source_partition", sourceOffset = "source_offset", key
        case valueBase64 = "value_base64", headers, error, stage, instance, attempts, failedAtMs = "failed_at_ms"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sourceTopic, forKey: .sourceTopic)
        try container.encode(sourcePartition, forKey: .sourcePartition)
        try container.encode(sourceOffset, forKey: .sourceOffset)
        try container.encode(key, forKey: .key)  // null, not absent: required by the schema
        try container.encode(valueBase64, forKey: .valueBase64)
        try container.encodeIfPresent(headers, forKey: .headers)
        try container.encode(error, forKey: .error)
        try container.encode(stage, forKey: .stage)
        try container.encode(instance, forKey: .instance)
        try container.encode(attempts, forKey: .attempts)
        try container.encode(failedAtMs, forKey: .failedAtMs)
    }
}
