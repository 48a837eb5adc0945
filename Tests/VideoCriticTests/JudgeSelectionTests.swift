import Media
import Testing
import VideoCritic

/// Filtering by a judge: of several candidate plans, the one it most expects to succeed.
@Suite("Judge selection")
struct JudgeSelectionTests {
    /// Expects a plan to succeed as much as its last frame is bright.
    struct BrightnessJudge: PlanJudge {
        let name = "brightness"
        func judge(observation: RGBImage, plan: [RGBImage], task: String) throws -> PlanVerdict {
            let last = plan.last!
            let p = Float(last.pixels.reduce(0) { $0 + Int($1) }) / Float(255 * last.pixels.count)
            return PlanVerdict(acceptProbability: p, accept: p > 0.5, frameScores: plan.map { _ in 1 }, feedback: .ok)
        }
    }

    static func plan(_ level: UInt8) -> [RGBImage] {
        [RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: 0, count: 12)),
         RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: level, count: 12))]
    }

    @Test("the judge's favourite is chosen, the first of equals on a tie, and every candidate's probability is returned")
    func picksTheFavourite() throws {
        let observation = RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: 0, count: 12))
        let pick = try BrightnessJudge().best(of: [Self.plan(10), Self.plan(200), Self.plan(90)], observation: observation, task: "t")
        #expect(pick.index == 1)
        #expect(pick.probabilities.count == 3 && abs(pick.probabilities[1] - 200.0 / 255) < 1e-5)
        #expect(try BrightnessJudge().best(of: [Self.plan(50), Self.plan(50)], observation: observation, task: "t").index == 0)
        #expect(throws: CriticError.self) { try BrightnessJudge().best(of: [], observation: observation, task: "t") }
    }

    @Test("judging many plans at once gives each the verdict it gets alone (the default loop and the learned judge's one pass)")
    func batchMatchesSingle() throws {
        let config = CriticConfig(resolution: 16, width: 8, hidden: 16, tasks: ["t", "u"], taskLogOdds: [0, 0, 0])
        let learned = LearnedJudge(members: [CriticNet(config: config, seed: 1), CriticNet(config: config, seed: 2)])
        let plans = (0..<3).map { k in
            ((0..<8).map { i in RGBImage(width: 16, height: 16, pixels: [UInt8](repeating: UInt8((20 * i + 70 * k) % 256), count: 16 * 16 * 3)) },
             k == 1 ? "u" : "t")
        }
        for judge in [learned, BrightnessJudge()] as [any PlanJudge] {
            let together = try judge.judge(plans)
            #expect(together.count == 3)
            for (plan, verdict) in zip(plans, together) {
                let alone = try judge.judge(observation: plan.0[0], plan: Array(plan.0.dropFirst()), task: plan.1)
                #expect(abs(alone.acceptProbability - verdict.acceptProbability) < 1e-5 && alone.accept == verdict.accept, "\(judge.name)")
            }
        }
        #expect(try learned.judge([]).isEmpty && BrightnessJudge().judge([]).isEmpty)
        // Different plans get different probabilities from the learned judge, so the check above can fail.
        #expect(Set(try learned.judge(plans).map(\.acceptProbability)).count > 1)
    }
}
