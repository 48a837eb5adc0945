import AgentKit
import Blocking
import Bus
import Foundation
import JSON
import Logging
import Media
import Messages
import VideoDiffusion

/// What the learner has done, for progress lines and reports.
public struct LearnerEvent: Sendable {
    public var version: Int
    public var episodes: Int
    public var loss: Float
    public var seconds: Double
}

/// The learner: collects executed episodes that the environment verified as successful (the
/// paper's online rule), finetunes the plan model on them every `every` new successes, and
/// publishes each new version on the checkpoints topic, where planners and refiners pick it up.
///
/// Its state lives on the bus: at start it replays the trajectories topic (its training set)
/// and the checkpoints topic (the last version it published, and on how many episodes), so a
/// restarted learner continues where it stopped.
public final class LearnerService: @unchecked Sendable {
    // Used from the service's one task.
    public let instance: String
    let bus: MessageBus
    let logger: Logger
    /// New successful episodes between checkpoints.
    public var every = 8
    public var steps = 50
    public var batch = 4
    private var model: VideoUNet
    private var version: Int
    private var episodes: [ClipSet.Episode] = []
    private var trainedOn = 0
    private var seen: Set<String> = []

    public init(bus: MessageBus, instance: String, model: VideoUNet, logger: Logger) {
        self.bus = bus
        self.instance = instance
        self.model = model
        version = 0
        self.logger = logger
    }

    /// Runs until cancelled; `published` hears of each new version.
    public func run(published: @escaping (LearnerEvent) -> Void = { _ in }) async throws {
        try await catchUp()
        let producer = try await bus.makeProducer()
        let trajectories = try await bus.makeReplay(topic: Topic.trajectories, from: .beginning)
        defer { Task { await producer.close(); await trajectories.close() } }
        let publisher = CheckpointPublisher(producer: producer, instance: instance)
        while !Task.isCancelled {
            var letters: [OutgoingRecord] = []
            for record in try await trajectories.poll(maxRecords: 32, timeout: .milliseconds(200)) {
                do {
                    try take(record)
                } catch {
                    letters.append(try StageOutput.deadLetter(record, error: "\(error)", stage: .learner, instance: instance,
                                                              attempts: 1).record)
                }
            }
            if !letters.isEmpty { _ = try await producer.send(letters) }
            guard episodes.count - trainedOn >= every else { continue }
            let started = Date()
            let (file, loss, count) = try await finetune()
            version += 1
            try await publisher.publish(model: "video", version: version, file: file, architectureHash: model.config.architectureHash,
                                        config: .object(["resolution": .number(Double(model.config.resolution))]),
                                        metrics: ["episodes": Double(count), "loss": Double(loss)])
            trainedOn = count
            let event = LearnerEvent(version: version, episodes: count, loss: loss, seconds: Date().timeIntervalSince(started))
            logger.notice("published video@\(version)", metadata: ["episodes": "\(count)", "loss": "\(loss)"])
            published(event)
        }
    }

    /// The last version published and the episodes it was trained on, from the checkpoints topic.
    private func catchUp() async throws {
        let replay = try await bus.makeReplay(topic: Topic.checkpoints, from: .beginning)
        defer { Task { await replay.close() } }
        while true {
            let records = try await replay.poll(maxRecords: 256, timeout: .milliseconds(200))
            if records.isEmpty { break }
            for record in records {
                guard case .manifest(let manifest)? = try? JSONDecoder().decode(CheckpointMessage.self, from: Data(record.value)),
                      manifest.model == "video", manifest.version > version
                else { continue }
                version = manifest.version
                trainedOn = Int(manifest.metrics?["episodes"] ?? 0)
            }
        }
    }

    /// Keeps a successful trajectory's frames (once per episode).
    private func take(_ record: BusRecord) throws {
        if let defect = record.defect { throw StageError("undecodable record: \(defect)") }
        let trajectory: Trajectory
        do {
            trajectory = try JSONDecoder().decode(Trajectory.self, from: Data(record.value))
        } catch {
            throw StageError("not a valid Trajectory: \(StageLoop<Trajectory>.describe(error))")
        }
        guard trajectory.success, seen.insert(trajectory.envelope.episodeID).inserted else { return }
        let images = try trajectory.frames.map { try PNG.decode(base64: $0) }
        guard images.count >= 2 else { return }
        episodes.append(ClipSet.Episode(task: trajectory.task, camera: trajectory.camera, seed: trajectory.seed ?? 0, images: images,
                                        resolution: model.config.resolution))
    }

    /// Finetunes a copy of the served model on every successful episode; returns the new file.
    private func finetune() async throws -> (file: [UInt8], loss: Float, episodes: Int) {
        let clips = try ClipSet(episodes: episodes, resolution: model.config.resolution, futureFrames: model.config.futureFrames)
        let count = episodes.count
        let (current, steps, batch, version) = (VideoUNetBox(model), steps, batch, version)
        let (file, loss, trained) = try await Blocking.onOwnThread(name: "videoagent.learner") { () throws -> ([UInt8], Float, VideoUNetBox) in
            var options = TrainingOptions()
            options.batchSize = batch
            options.learningRate = 1e-4
            options.refineStart = Int.max
            options.seed = UInt64(version + 1)
            let trainer = try VideoTrainer(startingFrom: current.model, options: options)
            var losses: [Float] = []
            for _ in 0..<steps { losses.append(try trainer.trainStep(clips: clips).total) }
            let averaged = trainer.averagedModel()
            let file = try VideoCheckpoint.bytes(averaged, step: steps, extra: ["online_episodes": String(count)])
            return (file, losses.suffix(10).reduce(0, +) / Float(min(10, losses.count)), VideoUNetBox(averaged))
        }
        model = trained.model
        return (file, loss, count)
    }
}

/// Carries a model out of the training thread (the learner owns it alone afterwards).
struct VideoUNetBox: @unchecked Sendable {
    let model: VideoUNet
    init(_ model: VideoUNet) { self.model = model }
}
