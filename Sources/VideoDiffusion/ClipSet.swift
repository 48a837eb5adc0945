import Dataset
import Foundation
import Media
import Tensor

/// Training and evaluation clips cut from collected episodes, AVDC-style: a random start frame,
/// then `futureFrames` frames evenly spaced from it to the episode's last frame, so a plan always
/// runs from the current state to the task's completion.
public final class ClipSet: Sendable {
    public struct Episode: Sendable {
        public let task: String
        public let camera: String
        public let seed: UInt64
        /// The frames at the training resolution, kept as 8-bit pixels: a quarter of the memory of
        /// floats (800 seeds of the built-in suite held as floats took 7.9 GB), converted per batch.
        private let images: [RGBImage]

        /// An episode from frames in memory (a trajectory from the bus), resized to `resolution`.
        public init(task: String, camera: String, seed: UInt64, images: [RGBImage], resolution: Int) {
            self.task = task
            self.camera = camera
            self.seed = seed
            self.images = images.map { $0.resized(width: resolution, height: resolution) }
        }

        public var frameCount: Int { images.count }

        /// Frame `index` as planar floats in [−1, 1], (3, H, W): what the networks take.
        public func frame(_ index: Int) -> [Float] { images[index].planarSigned() }
    }

    /// Clips of episodes held in memory (the learner's, rebuilt from the trajectories topic).
    public init(episodes: [Episode], resolution: Int, futureFrames: Int) throws {
        guard !episodes.isEmpty else { throw VideoModelError("no episodes to learn from") }
        self.episodes = episodes
        self.resolution = resolution
        self.futureFrames = futureFrames
    }

    public let episodes: [Episode]
    public let resolution: Int
    public let futureFrames: Int

    /// Loads every successful episode of a dataset, resized to `resolution`.
    public init(directory: String, resolution: Int, futureFrames: Int, tasks: Set<String>? = nil,
                progress: ((Int, Int) -> Void)? = nil) throws {
        let reader = try DatasetReader(directory: directory)
        let all = try reader.episodes().filter { $0.record.success && (tasks?.contains($0.record.task) ?? true) }
        guard !all.isEmpty else { throw VideoModelError("\(directory) has no successful episodes to learn from") }
        var loaded: [Episode] = []
        for (i, (folder, record)) in all.enumerated() {
            loaded.append(Episode(task: record.instruction, camera: record.camera, seed: record.seed,
                                  images: try reader.frames(in: folder, count: record.frameCount), resolution: resolution))
            progress?(i + 1, all.count)
        }
        episodes = loaded
        self.resolution = resolution
        self.futureFrames = futureFrames
    }

    public var taskSentences: [String] { Array(Set(episodes.map(\.task))).sorted() }

    /// The task sentences of a dataset's successful episodes, from their records alone (no frames read).
    public static func taskSentences(in directory: String) throws -> [String] {
        let records = try DatasetReader(directory: directory).episodes().map(\.record).filter(\.success)
        guard !records.isEmpty else { throw VideoModelError("\(directory) has no successful episodes to learn from") }
        return Array(Set(records.map(\.instruction))).sorted()
    }

    /// Frame indices of a clip starting at `start` in an episode of `length` frames.
    public func clipIndices(start: Int, length: Int) -> [Int] {
        EpisodeRecord.planIndices(start: start, frameCount: length, futureFrames: futureFrames)
    }

    public struct Batch {
        /// (B, 3, H, W)
        public let observation: Tensor
        /// (B, F, 3, H, W)
        public let future: Tensor
        public let tasks: [String]
        /// Which clip each row is (episode, start), to find its pooled plans.
        public let keys: [ClipKey]
    }

    public struct ClipKey: Hashable, Sendable {
        public let episode: Int
        public let start: Int
    }

    /// A batch of clips. Augmentation shifts all frames of a clip by the same 0–`shift` pixels
    /// (edges repeated), which the fixed cameras of the data otherwise never show; the first
    /// `unshifted` rows are left as they are (their pooled plans were made from the originals).
    public func batch(_ keys: [ClipKey], shift: Int = 0, unshifted: Int = 0, rng: inout SeededRNG) -> Batch {
        let r = resolution, plane = 3 * r * r
        var observation = [Float](), future = [Float]()
        observation.reserveCapacity(keys.count * plane)
        future.reserveCapacity(keys.count * futureFrames * plane)
        for (row, key) in keys.enumerated() {
            let episode = episodes[key.episode]
            let indices = clipIndices(start: key.start, length: episode.frameCount)
            let amount = row < unshifted ? 0 : shift
            let dx = amount > 0 ? Int(rng.next() % UInt64(2 * amount + 1)) - amount : 0
            let dy = amount > 0 ? Int(rng.next() % UInt64(2 * amount + 1)) - amount : 0
            observation += Self.shifted(episode.frame(indices[0]), r, dx, dy)
            for i in indices.dropFirst() { future += Self.shifted(episode.frame(i), r, dx, dy) }
        }
        return Batch(observation: Tensor(shape: [keys.count, 3, r, r], values: observation),
                     future: Tensor(shape: [keys.count, futureFrames, 3, r, r], values: future),
                     tasks: keys.map { episodes[$0.episode].task }, keys: keys)
    }

    /// Random clips: a random episode, a random start before its last frame.
    public func randomKeys(_ count: Int, rng: inout SeededRNG) -> [ClipKey] {
        (0..<count).map { _ in
            let e = Int(rng.next() % UInt64(episodes.count))
            let length = episodes[e].frameCount
            return ClipKey(episode: e, start: Int(rng.next() % UInt64(max(1, length - 1))))
        }
    }

    /// Evaluation clips: from the first frame of episodes (the situation a planner meets), spread
    /// evenly over the dataset so every task and camera is represented.
    public func evaluationKeys(limit: Int) -> [ClipKey] {
        let count = min(limit, episodes.count)
        return (0..<count).map { ClipKey(episode: $0 * episodes.count / count, start: 0) }
    }

    private static func shifted(_ frame: [Float], _ r: Int, _ dx: Int, _ dy: Int) -> [Float] {
        guard dx != 0 || dy != 0 else { return frame }
        var out = [Float](repeating: 0, count: frame.count)
        for c in 0..<3 {
            for y in 0..<r {
                let sy = min(max(y - dy, 0), r - 1)
                for x in 0..<r {
                    out[(c * r + y) * r + x] = frame[(c * r + sy) * r + min(max(x - dx, 0), r - 1)]
                }
            }
        }
        return out
    }
}
