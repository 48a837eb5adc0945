import Environments
import Foundation
import Media

/// Runs an environment's scripted expert and records episodes into a dataset folder.
public struct Collector {
    public var environment: any Environment
    public var directory: String
    public var resolution: Int
    /// Also keep failed episodes (their `success` is false), e.g. as negatives for a critic.
    public var keepFailures = false

    public init(environment: any Environment, directory: String, resolution: Int, keepFailures: Bool = false) {
        self.environment = environment
        self.directory = directory
        self.resolution = resolution
        self.keepFailures = keepFailures
    }

    /// Plays one expert episode; returns its record and frames.
    public func play(task: String, camera: String, seed: UInt64) throws -> (EpisodeRecord, [RGBImage]) {
        var observation = try environment.reset(task: task, seed: seed, camera: camera, resolution: resolution)
        var frames = [observation.frame]
        var proprioception = [observation.proprioception]
        var actions: [[Float]] = []
        var success = false
        while true {
            let action = try environment.expertAction()
            let result = try environment.step(action)
            actions.append(action)
            observation = result.observation
            frames.append(observation.frame)
            proprioception.append(observation.proprioception)
            success = result.success
            if result.terminated || result.truncated { break }
        }
        let instruction = environment.tasks.first { $0.name == task }?.instruction ?? task
        let record = EpisodeRecord(environment: environment.name, task: task, instruction: instruction, camera: camera, seed: seed,
                                   resolution: resolution, success: success, steps: actions.count, frameCount: frames.count,
                                   actions: actions, proprioception: proprioception)
        return (record, frames)
    }

    /// Writes an episode's frames and `episode.json`.
    public func write(_ record: EpisodeRecord, frames: [RGBImage]) throws {
        let folder = directory + "/" + EpisodeRecord.relativePath(task: record.task, camera: record.camera, seed: record.seed)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (i, frame) in frames.enumerated() { try PNG.write(frame, to: folder + "/" + EpisodeRecord.frameName(i)) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(record).write(to: URL(fileURLWithPath: folder + "/episode.json"))
    }
}
