@testable import Control
import Environments
import Foundation
import Media
import Testing

/// Temporal ensembling of the follower's action chunks.
@Suite("Action chunk ensemble")
struct ChunkEnsembleTests {
    /// A chunk of `length` one-dimensional actions whose k-th action is `base + k`.
    func chunk(_ base: Float, length: Int = 4) -> [[Float]] { (0..<length).map { [base + Float($0)] } }

    @Test func plainMeanOfThePredictionsForThisStep() {
        var ensemble = ChunkEnsemble()
        #expect(ensemble.action(step: 0, plan: 1, goal: 1, chunk: chunk(0), decay: 0) == [0])
        // Step 1: the chunk of step 0 said 1, the new one says 10.
        #expect(ensemble.action(step: 1, plan: 1, goal: 1, chunk: chunk(10), decay: 0) == [5.5])
        // Step 2: 2 (step 0), 11 (step 1), 20 (step 2).
        #expect(ensemble.action(step: 2, plan: 1, goal: 1, chunk: chunk(20), decay: 0) == [11])
        _ = ensemble.action(step: 3, plan: 1, goal: 1, chunk: chunk(30), decay: 0)
        // Step 4: the chunk of step 0 (4 long) no longer covers it: 13 (step 1), 22, 31, 40.
        #expect(ensemble.action(step: 4, plan: 1, goal: 1, chunk: chunk(40), decay: 0) == [(13 + 22 + 31 + 40) / 4])
    }

    @Test func olderPredictionsWeighLessWithADecay() {
        var ensemble = ChunkEnsemble()
        _ = ensemble.action(step: 0, plan: 1, goal: 1, chunk: chunk(0), decay: 1)
        let action = ensemble.action(step: 1, plan: 1, goal: 1, chunk: chunk(10), decay: 1)[0]
        let w = exp(Float(-1))
        #expect(abs(action - (w * 1 + 10) / (w + 1)) < 1e-5)
    }

    @Test func aNewPlanOrAGapStartsAfresh() {
        var ensemble = ChunkEnsemble()
        _ = ensemble.action(step: 0, plan: 1, goal: 1, chunk: chunk(0), decay: 0)
        #expect(ensemble.action(step: 1, plan: 2, goal: 1, chunk: chunk(10), decay: 0) == [10])
        _ = ensemble.action(step: 2, plan: 2, goal: 1, chunk: chunk(20), decay: 0)
        // Asked again for a step already decided (a retried step): the newer chunk replaces the older.
        #expect(ensemble.action(step: 2, plan: 2, goal: 1, chunk: chunk(30), decay: 0) == [(11 + 30) / 2])
        #expect(ensemble.action(step: 9, plan: 2, goal: 1, chunk: chunk(90), decay: 0) == [90])
    }

    @Test func carryingOnUsesTheChunksAlreadyMade() {
        var ensemble = ChunkEnsemble()
        _ = ensemble.action(step: 0, plan: 1, goal: 1, chunk: chunk(0), decay: 0)
        _ = ensemble.action(step: 1, plan: 1, goal: 1, chunk: chunk(10), decay: 0)
        // Step 2 without a frame: 2 (step 0's chunk) and 11 (step 1's); with no decay, the newest chunk alone.
        #expect(ensemble.carryOn(step: 2, plan: 1, decay: 0) == [6.5])
        #expect(ensemble.carryOn(step: 3, plan: 1, decay: nil) == [12])
        #expect(ensemble.newest?.step == 1)
    }

    @Test("with a frame every 4 steps the network runs every 4th step and at once on a new plan frame; between, the chunks' actions are sent")
    func aFrameEveryFewSteps() throws {
        var config = FollowerConfig.micro
        config.chunk = 4
        let follower = PlanFollower(net: try FollowerNet(config: config))
        follower.ensembleDecay = nil
        try follower.look(every: 4)
        let environment = TabletopEnvironment(maxSteps: 40)
        let collector = Collector(environment: environment, resolution: config.resolution, planResolution: config.planResolution)
        let plan = try collector.demonstrationPlan(task: "button-press", camera: "corner", seed: 3)
        let first = try environment.reset(task: "button-press", seed: 3, camera: "corner", resolution: config.resolution)
        let loop = EpisodeLoop(task: environment.tasks.first { $0.name == "button-press" }!, seed: 3, camera: "corner", first: first,
                               planned: true)
        loop.receive(plan)
        var looked: [Int] = []
        for step in 0..<10 {
            if step == 6 { loop.pursue(loop.goal + 1) }
            let decision = follower.decide([loop])[0]
            let newest = try #require(loop.recentChunks.newest)
            if newest.step == step { looked.append(step) }
            #expect(decision.action == newest.actions[step - newest.step])
            loop.record(action: decision.action, result: try environment.step(decision.action))
        }
        #expect(looked == [0, 4, 6] && loop.followerFrames == 3)
    }

    @Test("skipping the frames the follower will not look at changes nothing it does; replans and rewinds still get a fresh frame")
    func skippedFramesChangeNothing() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../models/builtin-follower/model.safetensors").standardizedFileURL.path
        let (follower, _) = try PlanFollower.load(path)
        try follower.look(every: 3)
        // Short stalls and few steps, so that replans and rewinds happen within the episode; and a plan of another task
        // (button-press's, in a push scene), so that they happen however well the follower pushes.
        let rule = ReplanRule(stallSteps: 5, maxReplans: 2, rewindFrames: 2, maxRewinds: 2)
        func run(skipping: Bool) throws -> (EpisodeLoop, plansMadeFrom: [[UInt8]]) {
            let environment = TabletopEnvironment(maxSteps: 120)
            try follower.prepare(environment)
            let collector = Collector(environment: TabletopEnvironment(), resolution: 64, planResolution: 32)
            let plan = try collector.demonstrationPlan(task: "button-press", camera: "corner", seed: 5003)
            let first = try environment.reset(task: "push", seed: 5003, camera: "corner", resolution: 64)
            let loop = EpisodeLoop(task: environment.tasks.first { $0.name == "push" }!, seed: 5003, camera: "corner", first: first,
                                   rule: rule, planned: true)
            var plansMadeFrom: [[UInt8]] = []
            while loop.phase != .finished {
                if loop.phase == .needsPlan {
                    plansMadeFrom.append(loop.observation.frame.pixels)
                    loop.receive(plan)
                    continue
                }
                try loop.act(follower.decide([loop])[0], in: environment, skippingFrames: skipping)
            }
            return (loop, plansMadeFrom)
        }
        let (rendered, plansA) = try run(skipping: false)
        let (skipped, plansB) = try run(skipping: true)
        #expect(rendered.actions == skipped.actions && rendered.end == skipped.end)
        #expect(plansA == plansB && plansA.count >= 2, "\(plansA.count) plans")
        #expect(skipped.rewinds == rendered.rewinds && skipped.followerFrames == rendered.followerFrames)
        let stale = zip(rendered.frames, skipped.frames).filter { $0.pixels != $1.pixels }.count
        #expect(stale > rendered.frames.count / 3, "\(stale) of \(rendered.frames.count) frames left unrendered")
    }
}

