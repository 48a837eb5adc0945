import Foundation
import Media

/// Writes a dataset in the layout of Hugging Face LeRobotDataset (v2), as far as this project can
/// without parquet or video encoders (docs/dataset.md):
///
///     meta/info.json                 features, fps, counts, paths
///     meta/tasks.jsonl               {"task_index", "task"}
///     meta/episodes.jsonl            {"episode_index", "tasks", "length", "success", "camera", "seed"}
///     meta/stats.json                min / max / mean / std of state and action
///     data/chunk-000/episode_000000.jsonl   one row per frame, LeRobot's columns
///     images/observation.image/episode_000000/frame_000000.png
///
/// LeRobot stores the per-frame table as parquet and the frames as mp4; here the table is JSON
/// lines with the same column names and the frames stay PNG (LeRobot's image-folder mode).
public struct LeRobotExporter {
    public let source: DatasetReader
    public let destination: String
    public var fps = 10

    public init(source: DatasetReader, destination: String) {
        self.source = source
        self.destination = destination
    }

    /// Exports every successful episode (or all with `includeFailures`); returns how many.
    @discardableResult
    public func export(includeFailures: Bool = false) throws -> Int {
        let episodes = try source.episodes().filter { includeFailures || $0.record.success }
        guard !episodes.isEmpty else { throw DatasetError("\(source.directory) has no episodes to export") }
        let fm = FileManager.default
        for folder in ["meta", "data/chunk-000", "images/observation.image"] {
            try fm.createDirectory(atPath: destination + "/" + folder, withIntermediateDirectories: true)
        }
        var taskIndex: [String: Int] = [:]
        var episodeLines: [String] = []
        var states: [[Float]] = [], actions: [[Float]] = []
        var globalIndex = 0
        for (episodeIndex, (folder, record)) in episodes.enumerated() {
            let task = taskIndex[record.instruction] ?? taskIndex.count
            taskIndex[record.instruction] = task
            let name = String(format: "episode_%06d", episodeIndex)
            let imageFolder = destination + "/images/observation.image/" + name
            try fm.createDirectory(atPath: imageFolder, withIntermediateDirectories: true)
            var rows: [String] = []
            for frame in 0..<record.frameCount {
                let source = folder + "/" + EpisodeRecord.frameName(frame)
                let target = imageFolder + String(format: "/frame_%06d.png", frame)
                if fm.fileExists(atPath: target) { try fm.removeItem(atPath: target) }
                try fm.copyItem(atPath: source, toPath: target)
                // The action taken from this frame; the last frame has none (zeros, as LeRobot pads).
                let action = frame < record.actions.count ? record.actions[frame] : [Float](repeating: 0, count: 4)
                let state = record.proprioception[frame]
                states.append(state)
                if frame < record.actions.count { actions.append(action) }
                let last = frame == record.frameCount - 1
                let row: [String: Any] = [
                    "observation.state": state.map(Double.init), "action": action.map(Double.init),
                    "observation.image": "images/observation.image/\(name)/" + String(format: "frame_%06d.png", frame),
                    "timestamp": Double(frame) / Double(fps), "frame_index": frame, "episode_index": episodeIndex,
                    "index": globalIndex, "task_index": task, "next.done": last, "next.success": last && record.success,
                ]
                rows.append(try jsonLine(row))
                globalIndex += 1
            }
            try (rows.joined(separator: "\n") + "\n").write(toFile: destination + "/data/chunk-000/\(name).jsonl",
                                                            atomically: true, encoding: .utf8)
            episodeLines.append(try jsonLine([
                "episode_index": episodeIndex, "tasks": [record.instruction], "length": record.frameCount,
                "success": record.success, "camera": record.camera, "seed": record.seed, "environment": record.environment,
            ]))
        }
        let taskLines = try taskIndex.sorted { $0.value < $1.value }.map { try jsonLine(["task_index": $0.value, "task": $0.key]) }
        try (taskLines.joined(separator: "\n") + "\n").write(toFile: destination + "/meta/tasks.jsonl", atomically: true, encoding: .utf8)
        try (episodeLines.joined(separator: "\n") + "\n").write(toFile: destination + "/meta/episodes.jsonl", atomically: true,
                                                                encoding: .utf8)
        let resolution = episodes[0].record.resolution
        let info: [String: Any] = [
            "codebase_version": "v2.0", "robot_type": episodes[0].record.environment, "fps": fps,
            "total_episodes": episodes.count, "total_frames": globalIndex, "total_tasks": taskIndex.count,
            "chunks_size": 1000, "total_chunks": 1, "splits": ["train": "0:\(episodes.count)"],
            "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.jsonl",
            "image_path": "images/{image_key}/episode_{episode_index:06d}/frame_{frame_index:06d}.png",
            "features": [
                "observation.image": ["dtype": "image", "shape": [resolution, resolution, 3], "names": ["height", "width", "channel"]],
                "observation.state": ["dtype": "float32", "shape": [4], "names": ["x", "y", "z", "gripper_opening"]],
                "action": ["dtype": "float32", "shape": [4], "names": ["dx", "dy", "dz", "grip"]],
                "timestamp": ["dtype": "float32", "shape": [1]], "frame_index": ["dtype": "int64", "shape": [1]],
                "episode_index": ["dtype": "int64", "shape": [1]], "index": ["dtype": "int64", "shape": [1]],
                "task_index": ["dtype": "int64", "shape": [1]], "next.done": ["dtype": "bool", "shape": [1]],
                "next.success": ["dtype": "bool", "shape": [1]],
            ],
            "format_note": "per-frame tables are JSON lines (LeRobot: parquet); frames are PNG (LeRobot: mp4 or image folders)",
        ]
        try JSONSerialization.data(withJSONObject: info, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            .write(to: URL(fileURLWithPath: destination + "/meta/info.json"))
        let stats: [String: Any] = ["observation.state": Self.statistics(states), "action": Self.statistics(actions)]
        try JSONSerialization.data(withJSONObject: stats, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            .write(to: URL(fileURLWithPath: destination + "/meta/stats.json"))
        return episodes.count
    }

    private func jsonLine(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
    }

    static func statistics(_ rows: [[Float]]) -> [String: [Double]] {
        guard let width = rows.first?.count else { return [:] }
        var result: [String: [Double]] = ["min": [], "max": [], "mean": [], "std": []]
        for j in 0..<width {
            let column = rows.map { Double($0[j]) }
            let mean = column.reduce(0, +) / Double(column.count)
            let variance = column.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(column.count)
            result["min"]!.append(column.min()!)
            result["max"]!.append(column.max()!)
            result["mean"]!.append(mean)
            result["std"]!.append(variance.squareRoot())
        }
        return result
    }
}
