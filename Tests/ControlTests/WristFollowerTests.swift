import Blocking
@testable import Control
import Dataset
import Environments
import Foundation
import Media
import NN
import Tensor
import Testing

/// A follower with a wrist camera: added to a trained follower it changes nothing until trained,
/// it learns from wrist frames, and data or environments without them are refused with the fix.
@Suite("Plan follower with a wrist camera", .serialized)
struct WristFollowerTests {
    static let wrist = 16

    /// Expert and noisy button-press episodes at the micro resolution, with wrist frames.
    static let dataset = FollowerLearningTests.expertAndNoisyEpisodes(seeds: 12, wrist: wrist)

    @Test("a follower given a wrist camera acts exactly as the one it started from, then learns to use it")
    func startsAtZeroAndLearns() async throws {
        let wrist = Self.wrist
        let (same, losses, wristMoved, savedWrist, refusesAnother) = try await Blocking.onOwnThread {
            () throws -> (Bool, [FollowerLosses], Bool, Int, Bool) in
            let start = PlanFollower(net: try FollowerNet(config: .micro, seed: 5))
            var options = FollowerTrainingOptions()
            options.batchSize = 16
            options.learningRate = 3e-3
            let trainer = try FollowerTrainer(startingFrom: start, options: options, wrist: wrist)
            let data = try FollowerData(directories: [Self.dataset], config: trainer.net.config)
            var rng = SeededRNG(seed: 1)
            let batch = try data.batch(size: 8, rng: &rng)
            let before = start.net(frame: batch.frames, goals: batch.goals, proprioception: batch.proprioception)
            let given = trainer.net(frame: batch.frames, goals: batch.goals, proprioception: batch.proprioception, wrist: batch.wrist)
            let same = given.actions.toArray() == before.actions.toArray() && given.reached.toArray() == before.reached.toArray()
            let losses = try (0..<300).map { _ in try trainer.trainStep(data: data) }
            let moved = trainer.net.wrist?.output.weight.toArray().contains { $0 != 0 } ?? false
            // Saved and loaded, the follower keeps its wrist camera.
            let path = NSTemporaryDirectory() + "wrist-follower-\(UUID().uuidString.prefix(8)).safetensors"
            try trainer.follower.save(to: path)
            let saved = try PlanFollower.load(path).0.config.wrist
            // A follower that has one cannot be given another.
            let refuses = (try? FollowerTrainer(startingFrom: trainer.follower, options: options, wrist: 2 * wrist)) == nil
            return (same, losses, moved, saved, refuses)
        }
        #expect(same, "with its wrist camera's layer at zero the follower must act exactly as the one it started from")
        let early = losses[0..<30].map(\.action).reduce(0, +) / 30, late = losses[270..<300].map(\.action).reduce(0, +) / 30
        #expect(late < early * 0.7, "action loss went from \(early) to \(late)")
        #expect(wristMoved, "the wrist camera's layer is still at zero")
        #expect(savedWrist == wrist && refusesAnother)
    }

    @Test("each camera's shift augmentation is its own: unshifted frames in a batch are stored frames exactly; old runs decode with the shifts they trained with")
    func shiftsPerCamera() throws {
        var config = FollowerConfig.micro
        config.wrist = Self.wrist
        let data = try FollowerData(directories: [Self.dataset], config: config)
        let scene = Set(try data.episodes.flatMap { e in try e.frames.map { try FollowerData.pixels($0, side: config.resolution, of: e) } })
        let wrist = Set(try data.episodes.flatMap { e in try e.wrist.map { try FollowerData.pixels($0, side: config.wrist, of: e) } })
        /// How many of 64 samples' scene and wrist frames are stored frames, pixel for pixel.
        func stored(shift: Int, wristShift: Int) throws -> (scene: Int, wrist: Int) {
            var augmentation = FollowerData.Augmentation()
            augmentation.shift = shift
            augmentation.wristShift = wristShift
            var rng = SeededRNG(seed: 9)
            let batch = try data.batch(size: 64, augmentation: augmentation, rng: &rng)
            let frames = batch.frames.toArray(), wrists = batch.wrist!.toArray()
            let s = 3 * config.resolution * config.resolution, w = 3 * config.wrist * config.wrist
            return ((0..<64).filter { scene.contains(Array(frames[($0 * s)..<(($0 + 1) * s)])) }.count,
                    (0..<64).filter { wrist.contains(Array(wrists[($0 * w)..<(($0 + 1) * w)])) }.count)
        }
        let wristOnly = try stored(shift: 2, wristShift: 0), sceneOnly = try stored(shift: 0, wristShift: 1)
        #expect(wristOnly.wrist == 64 && wristOnly.scene < 32, "\(wristOnly)")
        #expect(sceneOnly.scene == 64 && sceneOnly.wrist < 32, "\(sceneOnly)")
        // Runs saved before the wrist and goal shifts were options of their own trained with one pixel each.
        let old = try JSONDecoder().decode(FollowerData.Augmentation.self, from: Data(#"{"shift":2,"goalBlur":0.5,"passedGoal":0.25}"#.utf8))
        #expect(old.wristShift == 1 && old.goalShift == 1 && old == FollowerData.Augmentation())
        let none = try JSONDecoder().decode(FollowerData.Augmentation.self, from: Data(#"{"shift":0,"goalBlur":0,"passedGoal":0.25}"#.utf8))
        #expect(none.wristShift == 0 && none.goalShift == 0)
    }

    @Test("datasets without wrist frames are refused with the command that records them")
    func dataWithoutWristFrames() throws {
        var config = FollowerConfig.micro
        config.wrist = Self.wrist
        #expect { try FollowerData(directories: [FollowerLearningTests.dataset], config: config) } throws: { error in
            "\(error)".contains("collect --wrist-camera \(Self.wrist)")
        }
        config.wrist = 10
        #expect(throws: ControlError.self) { try FollowerNet(config: config) }
    }

    @Test("a follower's wrist camera can be moved higher: it is kept when saved, attached there, and data from another height is refused")
    func movedHigher() throws {
        var config = FollowerConfig.micro
        config.wrist = Self.wrist
        let start = PlanFollower(net: try FollowerNet(config: config))
        let moved = try FollowerTrainer(startingFrom: start, options: FollowerTrainingOptions(), wristHeight: 0.2).follower
        #expect(moved.config.wristHeight == 0.2 && start.config.wristHeight == WristCamera.defaultHeight)
        let path = NSTemporaryDirectory() + "wrist-height-\(UUID().uuidString.prefix(8)).safetensors"
        try moved.save(to: path)
        let loaded = try PlanFollower.load(path).0
        #expect(loaded.config.wristHeight == 0.2)
        // Attached where it was trained: the same state seen from higher up is another frame.
        let low = TabletopEnvironment(), high = TabletopEnvironment()
        try start.prepare(low)
        try loaded.prepare(high)
        let a = try low.reset(task: "push", seed: 1, camera: "corner", resolution: 32)
        let b = try high.reset(task: "push", seed: 1, camera: "corner", resolution: 32)
        #expect(a.frame == b.frame && a.wrist != nil && b.wrist != nil && a.wrist != b.wrist)
        // The test dataset's wrist frames are from the default height.
        #expect { try FollowerData(directories: [Self.dataset], config: loaded.config) } throws: { error in
            "\(error)".contains("--wrist-height 0.2") && "\(error)".contains("0.1 m")
        }
        // A follower without a wrist camera has none to move.
        #expect(throws: ControlError.self) {
            try FollowerTrainer(startingFrom: PlanFollower(net: try FollowerNet(config: .micro)), options: FollowerTrainingOptions(), wristHeight: 0.2)
        }
        var wrong = config
        wrong.wristHeight = 2
        #expect(throws: ControlError.self) { try FollowerNet(config: wrong) }
    }

    @Test("a follower with a wrist camera attaches it to the environment, and one without takes it away")
    func preparesTheEnvironment() throws {
        var config = FollowerConfig.micro
        config.wrist = Self.wrist
        let follower = PlanFollower(net: try FollowerNet(config: config))
        let environment = TabletopEnvironment()
        try follower.prepare(environment)
        #expect(try environment.reset(task: "push", seed: 1, camera: "corner", resolution: 32).wrist?.width == Self.wrist)
        try PlanFollower(net: try FollowerNet(config: .micro)).prepare(environment)
        #expect(try environment.reset(task: "push", seed: 1, camera: "corner", resolution: 32).wrist == nil)
        #expect(throws: EnvironmentError.noWristCamera("line")) { try follower.prepare(LineEnvironment()) }
    }
}
