@testable import Control
import Dataset
import Environments
import Foundation
import Media
import Testing

/// `collect --driver follower-branches`: the expert plays on from states the follower reached,
/// and the follower's own episode goes on as if nothing had happened.
@Suite("Expert branches from the follower's states")
struct FollowerBranchTests {
    /// An untrained micro follower and a collector of the built-in suite at its resolutions.
    static func setUp(maxSteps: Int) throws -> (PlanFollower, Collector) {
        let follower = PlanFollower(net: try FollowerNet(config: .micro, seed: 3))
        return (follower, Collector(environment: TabletopEnvironment(maxSteps: maxSteps), resolution: follower.config.resolution,
                                    planResolution: follower.config.planResolution))
    }

    @Test("branches start at the follower's state, are the expert's, and leave the follower's episode untouched")
    func branchesFromTheFollowersStates() throws {
        let (follower, collector) = try Self.setUp(maxSteps: 60)
        let (followed, branches) = try collector.followerBranches(task: "push", camera: "corner", seed: 11, follower: follower,
                                                                  every: 10, minimumMove: 0)
        #expect(branches.map(\.step) == Array(stride(from: 0, to: followed.steps, by: 10)))
        for (step, branch) in branches {
            #expect(branch.frames[0].pixels == followed.frames[step].pixels)
            #expect(branch.proprioception[0] == followed.proprioception[step])
            #expect(branch.labels == branch.actions)
            #expect(branch.plans.isEmpty)
            // A branch is an episode of its own: the full step budget, however late it starts.
            #expect(branch.success || branch.steps == 60)
        }
        // The expert from the very first state is the seed's own demonstration.
        let demonstration = try collector.play(task: "push", camera: "corner", seed: 11)
        #expect(branches[0].loop.actions == demonstration.actions)

        // Branching put every state back: the follower alone acts exactly as it did with branches.
        let alone = try collector.play(task: "push", camera: "corner", seed: 11, driver: .follower(follower, beta: 0))
        #expect(alone.actions == followed.actions)
        #expect(alone.steps == followed.steps)
    }

    @Test("with a planner the follower executes the plan drawn from its first frame, and branches start from where that leads")
    func branchesFromADrawnPlan() throws {
        let (follower, collector) = try Self.setUp(maxSteps: 40)
        var asked: [(frame: RGBImage, instruction: String)] = []
        let planner = { (frame: RGBImage, instruction: String) -> VideoPlan in
            asked.append((frame, instruction))
            // A plan that shows nothing moving: what a poor plan model might draw.
            return VideoPlan(frames: Array(repeating: frame, count: 8), source: "test planner")
        }
        let (followed, branches) = try collector.followerBranches(task: "push", camera: "corner", seed: 11, follower: follower,
                                                                  every: 10, minimumMove: 0, planner: planner)
        #expect(asked.count == 1)
        let size = follower.config.planResolution
        #expect(asked[0].frame.pixels == followed.frames[0].resized(width: size, height: size).pixels)
        #expect(asked[0].instruction == "push the puck to the blue spot")
        #expect(followed.plans.map(\.plan.source) == ["test planner"])
        #expect(!branches.isEmpty)
        for (step, branch) in branches { #expect(branch.frames[0].pixels == followed.frames[step].pixels) }
        // Without a planner the follower executes the seed's demonstration.
        let (onDemonstration, _) = try collector.followerBranches(task: "push", camera: "corner", seed: 11, follower: follower,
                                                                  every: 100)
        #expect(onDemonstration.plans[0].plan.source.hasPrefix("oracle"))
    }

    @Test("no new branch until the hand has moved minimumMove (or the gripper changed): a stall is branched from once")
    func oneBranchPerPlace() throws {
        let (follower, collector) = try Self.setUp(maxSteps: 60)
        let (followed, branches) = try collector.followerBranches(task: "push", camera: "corner", seed: 11, follower: follower,
                                                                  every: 1, minimumMove: 10)
        #expect(followed.steps > 1)
        #expect(branches.map(\.step) == [0])
    }

    @Test("branches of one seed are written side by side and read back with the step they start from")
    func branchesRoundTrip() throws {
        let (follower, collector) = try Self.setUp(maxSteps: 40)
        let (_, branches) = try collector.followerBranches(task: "button-press", camera: "corner", seed: 2, follower: follower,
                                                           every: 5, minimumMove: 0)
        #expect(branches.count >= 2)
        let directory = NSTemporaryDirectory() + "branches-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let writer = DatasetWriter(directory: directory)
        for (step, branch) in branches {
            var (record, frames, _) = branch.record(environment: "builtin", resolution: follower.config.resolution, policy: "expert")
            record.branchedAt = step
            try writer.write(record, frames: frames)
        }
        let read = try DatasetReader(directory: directory).episodes()
        #expect(read.map(\.record.branchedAt) == branches.map { Optional($0.step) })
        #expect(read.allSatisfy { $0.folder.hasSuffix("seed-2-from-\($0.record.branchedAt!)") })
    }

    @Test("a replan's true plan is the expert's demonstration from the state reached, and the state is put back")
    func demonstrationFromHere() throws {
        let (follower, collector) = try Self.setUp(maxSteps: 80)
        let start = try collector.environment.reset(task: "push", seed: 4, camera: "corner", resolution: follower.config.resolution)
        let loop = EpisodeLoop(task: collector.environment.tasks.first { $0.name == "push" }!, seed: 4, camera: "corner",
                               first: start, planned: false)
        for _ in 0..<12 { loop.record(action: [0.5, -0.3, 0.2, 1], result: try collector.environment.step([0.5, -0.3, 0.2, 1])) }
        let plan = try collector.demonstrationPlan(from: loop)
        #expect(plan.frames.count == 8)
        let size = follower.config.planResolution
        #expect(plan.frames[0].pixels == loop.observation.frame.resized(width: size, height: size).pixels)
        #expect(plan.frames.allSatisfy { $0.width == size })
        #expect(plan.source.hasPrefix("oracle (expert demonstration from here"))
        // The scene goes on where it was (the hand stays put under a zero action), and the plan is
        // not the one made at the episode's start.
        let next = try collector.environment.step([0, 0, 0, 1])
        #expect(handDistance(next.observation.proprioception, loop.observation.proprioception) < 0.002)
        #expect(handDistance(next.observation.proprioception, start.proprioception) > 0.01)
        let fromStart = try collector.demonstrationPlan(task: "push", camera: "corner", seed: 4)
        #expect(plan.frames[0].pixels != fromStart.frames[0].pixels)
    }

    @Test("an environment that cannot put its state back gets a clear error, not a silent follower episode")
    func needsABranchingEnvironment() throws {
        let follower = PlanFollower(net: try FollowerNet(config: .micro, seed: 3))
        let collector = Collector(environment: NoBranching(), resolution: follower.config.resolution,
                                  planResolution: follower.config.planResolution)
        #expect {
            _ = try collector.followerBranches(task: "push", camera: "corner", seed: 1, follower: follower, every: 10)
        } throws: { "\($0)".contains("cannot set its state aside") }
    }
}

/// The built-in suite without the ability to branch (as the MetaWorld bridge).
private final class NoBranching: DemonstrableEnvironment {
    let inner = TabletopEnvironment()
    var name: String { "no-branching" }
    var tasks: [TaskInfo] { inner.tasks }
    var cameras: [String] { inner.cameras }
    var maxSteps: Int { inner.maxSteps }
    func reset(task: String, seed: UInt64, camera: String, resolution: Int) throws -> Observation {
        try inner.reset(task: task, seed: seed, camera: camera, resolution: resolution)
    }
    func step(_ action: [Float]) throws -> StepResult { try inner.step(action) }
    func makeDemonstrator(slack: Float) -> any Demonstrator { inner.makeDemonstrator(slack: slack) }
    func close() {}
}
