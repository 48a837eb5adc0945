import Control
import Dataset
import Environments
import Foundation
import VideoDiffusion

/// Clips from freshly played built-in expert episodes, written to a temporary dataset: for
/// benchmarks and tests that need real frames without a collected dataset on disk.
public enum SyntheticClips {
    public static func make(config: VideoModelConfig, episodes: Int, tasks: [String] = ["button-press", "drawer-open"]) throws -> ClipSet {
        let directory = NSTemporaryDirectory() + "videoagent-clips-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let collector = Collector(environment: TabletopEnvironment(), resolution: config.resolution)
        let writer = DatasetWriter(directory: directory)
        for task in tasks {
            for seed in 0..<UInt64(episodes) {
                let (record, frames, _) = try collector.play(task: task, camera: "corner", seed: seed)
                    .record(environment: "builtin", resolution: config.resolution, policy: "expert")
                try writer.write(record, frames: frames)
            }
        }
        return try ClipSet(directory: directory, resolution: config.resolution, futureFrames: config.futureFrames)
    }
}
