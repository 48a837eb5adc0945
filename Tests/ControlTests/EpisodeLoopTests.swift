import Foundation
@testable import Control
import Dataset
import Environments
import Media
import Testing

/// A one-dimensional robot: the hand moves along x by 1 cm per unit of action; the task is done at
/// x ≥ 0.2. Frames are blank: the loop's rules do not look at them.
final class LineEnvironment: Environment {
    let name = "line"
    let tasks = [TaskInfo(name: "reach", instruction: "reach the end", isHard: false)]
    let cameras = ["fixed"]
    let maxSteps: Int
    private var x: Float = 0
    private var steps = 0

    init(maxSteps: Int = 100) { self.maxSteps = maxSteps }

    private var observation: Observation {
        Observation(frame: RGBImage(width: 8, height: 8), proprioception: [x, 0, 0, 1])
    }

    func reset(task: String, seed: UInt64, camera: String, resolution: Int) throws -> Observation {
        x = 0
        steps = 0
        return observation
    }

    func step(_ action: [Float]) throws -> StepResult {
        x += 0.01 * action[0]
        steps += 1
        let success = x >= 0.2
        return StepResult(observation: observation, success: success, terminated: success, truncated: !success && steps >= maxSteps)
    }

    func close() {}
}

@Suite("Episode loop")
struct EpisodeLoopTests {
    private func plan(_ frames: Int = 4) -> VideoPlan {
        VideoPlan(frames: Array(repeating: RGBImage(width: 8, height: 8), count: frames), source: "test")
    }

    private func run(_ env: LineEnvironment, rule: ReplanRule, action: @escaping (EpisodeLoop) -> Float,
                     reached: @escaping (EpisodeLoop) -> Bool = { _ in false }) throws -> (EpisodeLoop, plansMade: Int) {
        let loop = EpisodeLoop(task: env.tasks[0], seed: 0, camera: "fixed",
                               first: try env.reset(task: "reach", seed: 0, camera: "fixed", resolution: 8), rule: rule, planned: true)
        var plansMade = 0
        try EpisodeRunner.run(loop, in: env, plan: { _ in
            plansMade += 1
            return plan()
        }, decide: { loop in Decision(action: [action(loop), 0, 0, 0], reachedGoal: reached(loop)) })
        return (loop, plansMade)
    }

    @Test("an episode that reaches its goal ends with success, one plan, no replan")
    func success() throws {
        let (loop, plans) = try run(LineEnvironment(), rule: .paper, action: { _ in 1 })
        #expect(loop.success && loop.end == .success)
        #expect(loop.steps == 20 && plans == 1 && loop.replans == 0)
        #expect(loop.frames.count == loop.steps + 1 && loop.proprioception.count == loop.frames.count)
    }

    @Test("a stall of N consecutive still steps asks for a new plan, at most R times; then the step limit ends it")
    func stallReplans() throws {
        let rule = ReplanRule(stallDistance: 0.001, stallSteps: 5, maxReplans: 3)
        let (loop, plans) = try run(LineEnvironment(maxSteps: 60), rule: rule, action: { _ in 0 })
        #expect(plans == 4 && loop.replans == 3)
        #expect(loop.end == .stepLimit && loop.steps == 60)
        // The new plans came after 5, 10 and 15 still steps.
        #expect(loop.plans.map(\.step) == [0, 5, 10, 15])
    }

    @Test("moving resets the stall count; without replans allowed a stall only runs out the clock")
    func movingIsNotStalling() throws {
        // Moves every other step: never five still steps in a row.
        let (loop, plans) = try run(LineEnvironment(maxSteps: 30), rule: ReplanRule(stallSteps: 5, maxReplans: 5),
                                    action: { $0.steps % 2 == 0 ? 0.1 : 0 })
        #expect(plans == 1 && loop.end == .stepLimit)
        let (still, stillPlans) = try run(LineEnvironment(maxSteps: 30), rule: .none, action: { _ in 0 })
        #expect(stillPlans == 1 && still.end == .stepLimit)
    }

    @Test("a hand swaying through a 3-step cycle stalls when stalls are measured over 3 steps, never step by step")
    func swayingStallsOverItsSpan() throws {
        // Out 3 mm, back 1.5 mm, back 1.5 mm: where it was every third step, never still from one step to the next.
        let sway: (EpisodeLoop) -> Float = { loop in [0.3, -0.15, -0.15][loop.steps % 3] }
        let rule = ReplanRule(stallSteps: 6, maxReplans: 2)
        let (stepwise, stepwisePlans) = try run(LineEnvironment(maxSteps: 40), rule: rule, action: sway)
        #expect(stepwisePlans == 1 && stepwise.replans == 0)
        let (spanned, spannedPlans) = try run(LineEnvironment(maxSteps: 40), rule: rule.measuringStalls(over: 3), action: sway)
        #expect(spannedPlans == 3 && spanned.replans == 2)
        // Steady motion under a millimetre a step is still over any span; 2 mm a step is not.
        let (slow, _) = try run(LineEnvironment(maxSteps: 30), rule: rule.measuringStalls(over: 3), action: { _ in 0.05 })
        #expect(slow.replans == 2)
        let (moving, _) = try run(LineEnvironment(maxSteps: 30), rule: rule.measuringStalls(over: 3), action: { _ in 0.2 })
        #expect(moving.replans == 0)
        // Rules saved before spans existed read with a span of 1.
        let old = #"{"stallDistance":0.001,"stallSteps":15,"maxReplans":5,"replanWhenPlanEnds":true,"rewindFrames":4,"maxRewinds":3}"#
        #expect(try JSONDecoder().decode(ReplanRule.self, from: Data(old.utf8)).stallSpan == 1)
    }

    @Test("with no new plan left, a stall rewinds the plan by K frames, at most M times, and never past its first frame")
    func stallRewinds() throws {
        var seenGoals: [Int] = []
        // Reaches every frame at once (goals 1, 2, 3 of a 4-frame plan), then stands still at the last.
        let rule = ReplanRule(stallSteps: 5, maxReplans: 0, rewindFrames: 2, maxRewinds: 2)
        let (loop, plans) = try run(LineEnvironment(maxSteps: 40), rule: rule, action: { loop in
            seenGoals.append(loop.goal)
            return 0
        }, reached: { loop in loop.stepsOnGoal == 0 })
        #expect(plans == 1 && loop.replans == 0 && loop.rewinds == 2)
        // 1, 2, 3, then held at 3 until 5 still steps: back to 1 and through the plan again, twice; then it holds.
        #expect(Array(seenGoals.prefix(7)) == [1, 2, 3, 3, 3, 1, 2], "\(seenGoals)")
        #expect(seenGoals.suffix(5).allSatisfy { $0 == 3 })
        // Replans come first: a rewind only once they are used up.
        let (replanned, replanPlans) = try run(LineEnvironment(maxSteps: 40), rule: ReplanRule(stallSteps: 5, maxReplans: 1, rewindFrames: 1,
                                                                                               maxRewinds: 1), action: { _ in 0 })
        #expect(replanPlans == 2 && replanned.replans == 1 && replanned.rewinds == 1)
    }

    @Test("reaching goal frames advances through the plan; past its last frame a new plan is asked for")
    func planUsedUp() throws {
        var seenGoals: [Int] = []
        let (loop, plans) = try run(LineEnvironment(maxSteps: 12), rule: ReplanRule(maxReplans: 1), action: { loop in
            seenGoals.append(loop.goal)
            return 0.5
        }, reached: { _ in true })
        // Goals 1, 2, 3 of the first plan, then a new plan; the second is held at its last frame.
        #expect(Array(seenGoals.prefix(4)) == [1, 2, 3, 1])
        #expect(plans == 2 && loop.replans == 1)
        #expect(seenGoals.suffix(3).allSatisfy { $0 == 3 })
    }

    @Test("with no new plan left, a last frame held for a stall's length unsolved rewinds the plan; the paper's rule holds it")
    func planEndRewinds() throws {
        var seenGoals: [Int] = []
        // The hand keeps moving (2 mm a step, never a stall) without solving the task, judging every frame reached.
        let rule = ReplanRule(stallSteps: 3, maxReplans: 0, rewindFrames: 2, maxRewinds: 1)
        let (loop, plans) = try run(LineEnvironment(maxSteps: 20), rule: rule, action: { loop in
            seenGoals.append(loop.goal)
            return -0.2
        }, reached: { _ in true })
        #expect(plans == 1 && loop.rewinds == 1 && loop.end == .stepLimit)
        // 1, 2, then the last frame (3) for 3 steps, back 2 frames to 1 and through again; then it holds.
        #expect(Array(seenGoals.prefix(8)) == [1, 2, 3, 3, 3, 1, 2, 3], "\(seenGoals)")
        #expect(seenGoals.suffix(12).allSatisfy { $0 == 3 })
        var paper = rule
        paper.rewindFrames = 0
        let (held, _) = try run(LineEnvironment(maxSteps: 20), rule: paper, action: { _ in -0.2 }, reached: { _ in true })
        #expect(held.rewinds == 0)
    }

    @Test("the record keeps actions, goals and plans for the dataset")
    func record() throws {
        let (loop, _) = try run(LineEnvironment(), rule: .none, action: { _ in 1 })
        let (record, frames, plans) = loop.record(environment: "line", resolution: 8, policy: "test")
        #expect(record.success && record.steps == 20 && frames.count == 21)
        #expect(record.plans?.count == 1 && plans.count == 1 && record.goals?.count == 20)
        #expect(record.labels == nil)
    }
}
