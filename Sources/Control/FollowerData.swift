import Dataset
import Environments
import Foundation
import Media
import Tensor

/// The follower's training data, in memory: episodes read from datasets written by `collect`
/// (expert, noisy expert, follower-driven), and batches cut from them.
///
/// A sample is (camera frame at step t, proprioception, the plan frame pursued and the next one,
/// the expert's next `chunk` actions, whether the goal frame counts as reached):
/// - episodes without plans (expert, noisy expert) are cut in hindsight, as a plan model's clips
///   are: a plan made at a random earlier step s shows frames evenly spaced from s to the end;
///   the goal is its first frame after t (sometimes the one just passed, labelled "reached");
/// - follower-driven episodes use the plans they followed and the goals pursued; whether a goal
///   was reached is not known there, so those samples teach actions only.
public final class FollowerData {
    struct Episode {
        /// Where the episode was read from (named when a frame no longer decodes).
        let folder: String
        /// Camera frames as stored (PNG, at the dataset's resolution): resized to the follower's
        /// resolution, or the plan resolution for hindsight goals, when a batch is cut.
        let frames: [CompressedImage]
        /// The wrist camera's frames as stored (empty for a follower without one).
        let wrist: [CompressedImage]
        let proprioception: [[Float]]
        let labels: [[Float]]
        /// Plans followed with the step each was made at, and the goal per step.
        let plans: [(step: Int, frames: [CompressedImage])]
        let goals: [Int]?
        /// The goals follow the expert's own pace (expert episodes with model plans): whether a
        /// goal is reached is then known, as for hindsight plans.
        let pacedGoals: Bool
        /// The scene's key points per frame (metres), when the dataset has them.
        let landmarks: [[Float]]?
        /// The steps samples are drawn from (``FollowerData/trainingSteps(_:)``).
        let samples: [Int]
        /// The episode ended in success: its last frame shows the task done (a final goal).
        let succeeded: Bool
    }

    let episodes: [Episode]
    public let config: FollowerConfig
    public let futureFrames: Int
    /// Steps across all episodes that samples are drawn from (long stalls thinned out).
    public let steps: Int

    /// Loads every episode of the datasets (failed ones too: their states are labelled by the expert).
    /// Frames stay PNG-compressed in memory (with wrist frames ~2.5 KB a labelled step, against ~27 KB decoded)
    /// and are decoded when a batch is cut.
    public init(directories: [String], config: FollowerConfig, futureFrames: Int = 7,
                progress: ((Int, Int) -> Void)? = nil) throws {
        var found: [(folder: String, record: EpisodeRecord)] = []
        for directory in directories {
            let reader = try DatasetReader(directory: directory)
            for (folder, record) in try reader.episodes() {
                guard record.proprioception.count == record.frameCount, record.proprioception.allSatisfy({ $0.count >= 4 }) else {
                    throw ControlError("\(folder) has no proprioception for every frame; the follower learns from "
                        + "the robot's own hand position and gripper: collect the data again with videoagent collect")
                }
                guard record.steps > 0 else { continue }
                found.append((folder, record))
            }
        }
        guard !found.isEmpty else {
            throw ControlError("no episodes in \(directories.joined(separator: ", ")); make some with videoagent collect")
        }
        var loaded: [Episode] = []
        for (i, (folder, record)) in found.enumerated() {
            let image = { (name: String) in try CompressedImage(contentsOf: folder + "/" + name) }
            let frames = try (0..<record.frameCount).map { try image(EpisodeRecord.frameName($0)) }
            var wrist: [CompressedImage] = []
            if config.wrist > 0 {
                guard record.wristResolution != nil else {
                    throw ControlError("\(folder) has no wrist camera frames; a follower with a wrist camera learns from data "
                        + "collected with one: videoagent collect --wrist-camera \(config.wrist)")
                }
                let height = record.wristHeight ?? WristCamera.defaultHeight
                guard WristCamera.sameHeight(height, config.wristHeight) else {
                    throw ControlError("\(folder) has wrist frames from \(height) m above the fingertips, the follower's camera is at "
                        + "\(config.wristHeight) m: train on data collected with --wrist-height \(config.wristHeight), or give "
                        + "train-follower --wrist-height \(height)")
                }
                wrist = try (0..<record.frameCount).map { try image(EpisodeRecord.wristFrameName($0)) }
            }
            let plans = try (record.plans ?? []).enumerated().map { p, stored in
                (stored.step, try (0..<stored.frameCount).map { try image(EpisodeRecord.planFrameName(plan: p, $0)) })
            }
            loaded.append(Episode(
                folder: folder, frames: frames, wrist: wrist,
                proprioception: record.proprioception, labels: record.expertActions, plans: plans, goals: record.goals,
                pacedGoals: record.policy == "expert+model-plans",
                landmarks: record.landmarks.flatMap { $0.count == record.frameCount ? $0 : nil },
                samples: Self.trainingSteps(record.proprioception, steps: record.expertActions.count),
                succeeded: record.success))
            progress?(i + 1, found.count)
        }
        if config.landmarks > 0, !loaded.contains(where: { $0.landmarks?.first?.count == 3 * config.landmarks }) {
            throw ControlError("a follower with a landmark head (\(config.landmarks) points) needs datasets that record \(config.landmarks) "
                + "landmarks per frame; none of \(directories.joined(separator: ", ")) does: collect them again with this version "
                + "of videoagent collect, or train without --landmarks")
        }
        episodes = loaded
        self.config = config
        self.futureFrames = futureFrames
        steps = loaded.reduce(0) { $0 + $1.samples.count }
    }

    /// Consecutive still steps (hand moved < 1 mm and gripper unchanged) kept from one stall.
    public static let stallStepsKept = 8

    /// The steps of an episode worth a sample: all but the states of a long stall past its first
    /// ``stallStepsKept`` steps. A follower-driven episode that failed can stand in one place for
    /// 150 steps; those near-identical states, each labelled "lift and line up again", would swamp
    /// the rest of the data (an earlier DAgger round taught the follower to hover that way).
    static func trainingSteps(_ proprioception: [[Float]], steps: Int) -> [Int] {
        var kept: [Int] = [], still = 0
        for t in 0..<steps {
            if t > 0 {
                let a = proprioception[t - 1], b = proprioception[t]
                let moved = handDistance(a, b)
                still = moved < 0.001 && abs(a[3] - b[3]) < 1e-3 ? still + 1 : 0
            }
            if still <= stallStepsKept { kept.append(t) }
        }
        return kept
    }

    public var episodeCount: Int { episodes.count }

    public struct Batch {
        /// (B, 3, R, R), (B, 6, P, P), (B, 4)
        public let frames: Tensor
        public let goals: Tensor
        public let proprioception: Tensor
        /// (B, chunk, 4) targets and their mask (0 past the episode's end).
        public let actions: Tensor
        public let actionMask: Tensor
        /// (B) targets and mask (0 where unknown).
        public let reached: Tensor
        public let reachedMask: Tensor
        /// (B, 8): the robot's proprioception (scaled) when the goal frame and the next one were
        /// taken, and the mask (0 where the plan frames are not this episode's own frames).
        public let hands: Tensor
        public let handMask: Tensor
        /// (B, 3L): the scene's L key points relative to the hand, scaled like proprioception, and
        /// the mask (0 where the dataset has none). Empty (B, 0) for a follower without the head.
        public let landmarks: Tensor
        public let landmarkMask: Tensor
        /// (B, 3, W, W): the wrist camera's frames, for a follower that has one.
        public let wrist: Tensor?
    }

    /// Augmentation: the camera frame shifted by up to `shift` pixels, the wrist camera's by up to
    /// `wristShift`; goal frames shifted by up to `goalShift` pixels and blurred half of the time, as a
    /// plan model's frames are.
    public struct Augmentation: Codable, Sendable, Equatable {
        public var shift = 2
        /// The wrist camera is fixed to the hand: where the puck sits in its frame *is* where it sits
        /// relative to the hand, so a shift there is noise on exactly what a push steers by.
        public var wristShift = 1
        public var goalShift = 1
        public var goalBlur: Float = 0.5
        /// How often a sample's goal is the frame just passed (teaches "reached").
        public var passedGoal: Float = 0.25
        /// How often a hindsight sample of a successful episode pursues its *last* frame from
        /// wherever step t is (goal and next frame both the last): what to do when the follower
        /// holds a plan's last frame and the scene does not show it yet (0: never; the plan's
        /// next frame is always the goal).
        public var finalGoal: Float = 0
        public init() {}

        enum CodingKeys: String, CodingKey { case shift, wristShift, goalShift, goalBlur, passedGoal, finalGoal }

        public init(from decoder: any Decoder) throws {
            // Checkpoints written before final goals existed read with none.
            let c = try decoder.container(keyedBy: CodingKeys.self)
            shift = try c.decode(Int.self, forKey: .shift)
            // Before they were options of their own both followed `shift`.
            wristShift = try c.decodeIfPresent(Int.self, forKey: .wristShift) ?? min(1, shift)
            goalShift = try c.decodeIfPresent(Int.self, forKey: .goalShift) ?? (shift > 0 ? 1 : 0)
            goalBlur = try c.decode(Float.self, forKey: .goalBlur)
            passedGoal = try c.decode(Float.self, forKey: .passedGoal)
            finalGoal = try c.decodeIfPresent(Float.self, forKey: .finalGoal) ?? 0
        }
    }

    /// A batch of `size` samples; throws only if a stored frame no longer decodes.
    public func batch(size: Int, augmentation: Augmentation = Augmentation(), rng: inout SeededRNG) throws -> Batch {
        let r = config.resolution, p = config.planResolution, h = config.chunk
        var frames: [Float] = [], goals: [Float] = [], proprioception: [Float] = []
        var actions: [Float] = [], actionMask: [Float] = [], reached: [Float] = [], reachedMask: [Float] = []
        var hands: [Float] = [], handMask: [Float] = []
        let landmarkWidth = 3 * config.landmarks
        var landmarks: [Float] = [], landmarkMask: [Float] = []
        var wrist: [Float] = []
        let w = config.wrist
        frames.reserveCapacity(size * 3 * r * r)
        goals.reserveCapacity(size * 6 * p * p)
        for _ in 0..<size {
            // Episodes weighted by length: every step equally likely.
            var pick = Int(rng.next() % UInt64(steps))
            var e = 0
            while pick >= episodes[e].samples.count {
                pick -= episodes[e].samples.count
                e += 1
            }
            let episode = episodes[e]
            let t = episode.samples[pick]
            let (goal, next, reachedTarget, shown) = goalFrames(episode, at: t, augmentation: augmentation, rng: &rng)
            frames += Self.shifted(try Self.pixels(episode.frames[t], side: r, of: episode), side: r, by: augmentation.shift, rng: &rng)
            if w > 0 { wrist += Self.shifted(try Self.pixels(episode.wrist[t], side: w, of: episode), side: w, by: augmentation.wristShift, rng: &rng) }
            for image in [goal, next] {
                var values = Self.shifted(try Self.pixels(image, side: p, of: episode), side: p, by: augmentation.goalShift, rng: &rng)
                if rng.uniform() < augmentation.goalBlur { values = Self.blurred(values, side: p) }
                goals += values
            }
            proprioception += FollowerInput.proprioception(episode.proprioception[t])
            for k in 0..<h {
                if t + k < episode.labels.count {
                    actions += episode.labels[t + k].prefix(4)
                    actionMask += [1, 1, 1, 1]
                } else {
                    actions += [0, 0, 0, 0]
                    actionMask += [0, 0, 0, 0]
                }
            }
            reached.append(reachedTarget ?? 0)
            reachedMask.append(reachedTarget == nil ? 0 : 1)
            if let shown {
                hands += FollowerInput.proprioception(episode.proprioception[shown.goal]) + FollowerInput.proprioception(episode.proprioception[shown.next])
                handMask += [Float](repeating: 1, count: 8)
            } else {
                hands += [Float](repeating: 0, count: 8)
                handMask += [Float](repeating: 0, count: 8)
            }
            if landmarkWidth > 0 {
                if let points = episode.landmarks?[t], points.count == landmarkWidth {
                    let hand = episode.proprioception[t]
                    landmarks += points.indices.map { (points[$0] - hand[$0 % 3]) * FollowerInput.positionScale }
                    landmarkMask += [Float](repeating: 1, count: landmarkWidth)
                } else {
                    landmarks += [Float](repeating: 0, count: landmarkWidth)
                    landmarkMask += [Float](repeating: 0, count: landmarkWidth)
                }
            }
        }
        return Batch(frames: Tensor(shape: [size, 3, r, r], values: frames), goals: Tensor(shape: [size, 6, p, p], values: goals),
                     proprioception: Tensor(shape: [size, 4], values: proprioception),
                     actions: Tensor(shape: [size, h, 4], values: actions), actionMask: Tensor(shape: [size, h, 4], values: actionMask),
                     reached: Tensor(shape: [size], values: reached), reachedMask: Tensor(shape: [size], values: reachedMask),
                     hands: Tensor(shape: [size, 8], values: hands), handMask: Tensor(shape: [size, 8], values: handMask),
                     landmarks: Tensor(shape: [size, landmarkWidth], values: landmarks),
                     landmarkMask: Tensor(shape: [size, landmarkWidth], values: landmarkMask),
                     wrist: w > 0 ? Tensor(shape: [size, 3, w, w], values: wrist) : nil)
    }

    /// The goal frame, the plan frame after it, whether the goal counts as reached (nil: unknown),
    /// and the steps of this episode the two frames show (nil: frames of another rollout).
    private func goalFrames(_ episode: Episode, at t: Int, augmentation: Augmentation, rng: inout SeededRNG)
        -> (CompressedImage, CompressedImage, Float?, (goal: Int, next: Int)?)
    {
        if let goals = episode.goals, let plan = episode.plans.last(where: { $0.step <= t }) {
            let k = min(goals[t], plan.frames.count - 1)
            var reached: Float?
            var shown: (Int, Int)?
            if episode.pacedGoals {
                // The plan model drew these frames from this episode's own: its hand is the target to read.
                let indices = EpisodeRecord.planIndices(start: plan.step, frameCount: episode.frames.count, futureFrames: plan.frames.count - 1)
                reached = indices[k] - t <= 1 ? 1 : 0
                shown = (indices[k], indices[min(k + 1, plan.frames.count - 1)])
            }
            return (plan.frames[k], plan.frames[min(k + 1, plan.frames.count - 1)], reached, shown)
        }
        let last = episode.frames.count - 1
        if episode.succeeded, augmentation.finalGoal > 0, rng.uniform() < augmentation.finalGoal {
            return (episode.frames[last], episode.frames[last], last - t <= 1 ? 1 : 0, (last, last))
        }
        // Hindsight: a plan made at step s ≤ t, cut like the plan model's clips.
        let s = Int(rng.next() % UInt64(t + 1))
        let indices = EpisodeRecord.planIndices(start: s, frameCount: episode.frames.count, futureFrames: futureFrames)
        var k = indices.indices.dropFirst().first { indices[$0] > t } ?? futureFrames
        var isReached: Float = indices[k] - t <= 1 ? 1 : 0
        if k >= 2, indices[k - 1] <= t, indices[k - 1] > s, rng.uniform() < augmentation.passedGoal {
            k -= 1
            isReached = 1
        }
        let next = indices[min(k + 1, futureFrames)]
        return (episode.frames[indices[k]], episode.frames[next], isReached, (indices[k], next))
    }

    /// A stored frame decoded, resized to `side` pixels square and laid out as the network reads it.
    static func pixels(_ image: CompressedImage, side: Int, of episode: Episode) throws -> [Float] {
        do {
            return try image.decoded().resized(width: side, height: side).planarSigned()
        } catch {
            throw ControlError("\(episode.folder): a frame no longer decodes (\(error)); collect the episode again or remove it")
        }
    }

    /// The frame moved by a random whole number of pixels (edges repeated).
    static func shifted(_ values: [Float], side: Int, by amount: Int, rng: inout SeededRNG) -> [Float] {
        guard amount > 0 else { return values }
        let dx = Int(rng.next() % UInt64(2 * amount + 1)) - amount
        let dy = Int(rng.next() % UInt64(2 * amount + 1)) - amount
        guard dx != 0 || dy != 0 else { return values }
        var out = [Float](repeating: 0, count: values.count)
        for c in 0..<3 {
            for y in 0..<side {
                let sy = min(max(y - dy, 0), side - 1)
                for x in 0..<side {
                    out[(c * side + y) * side + x] = values[(c * side + sy) * side + min(max(x - dx, 0), side - 1)]
                }
            }
        }
        return out
    }

    /// A 3×3 box blur (edges repeated).
    static func blurred(_ values: [Float], side: Int) -> [Float] {
        var out = [Float](repeating: 0, count: values.count)
        for c in 0..<3 {
            for y in 0..<side {
                for x in 0..<side {
                    var sum: Float = 0
                    for dy in -1...1 {
                        let sy = min(max(y + dy, 0), side - 1)
                        for dx in -1...1 { sum += values[(c * side + sy) * side + min(max(x + dx, 0), side - 1)] }
                    }
                    out[(c * side + y) * side + x] = sum / 9
                }
            }
        }
        return out
    }
}
