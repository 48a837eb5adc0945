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
}
