import Control
import Environments
import Foundation
import Media
import Testing
@testable import VideoCritic

/// The learned judge on a micro dataset: true demonstration plans (executed: success) against the
/// same plans played backwards (executed: failure).
@Suite("Learned critic", .serialized)
struct LearnedJudgeTests {
    static func judged(seeds: Range<UInt64>) throws -> [(plan: JudgedPlan, frames: [RGBImage])] {
        let collector = Collector(environment: TabletopEnvironment(), resolution: 16, planResolution: 16)
        return try seeds.flatMap { seed -> [(plan: JudgedPlan, frames: [RGBImage])] in
            let frames = try collector.demonstrationPlan(task: "button-press", camera: "corner", seed: seed).frames
            func plan(_ success: Bool) -> JudgedPlan {
                JudgedPlan(task: "button-press", instruction: "press the button", camera: "corner", seed: seed, arm: "test",
                           success: success, steps: 10)
            }
            return [(plan(true), frames), (plan(false), [frames[0]] + frames.dropFirst().reversed())]
        }
    }

    @Test("the judge learns: its accuracy on held-out plans rises from chance")
    func learns() throws {
        let config = CriticConfig(resolution: 16, width: 8, hidden: 32, tasks: ["press the button"])
        let data = try CriticData(try Self.judged(seeds: 0..<12), config: config)
        let heldout = try Self.judged(seeds: 100..<110)
        let trainer = CriticTrainer(config: config, learningRate: 3e-3)
        trainer.batchSize = 16
        func accuracy() throws -> Double {
            let p = try trainer.judge.judge(heldout.map { ($0.frames, $0.plan.instruction) }).map(\.acceptProbability)
            return JudgeScore(judge: "", probabilities: p, threshold: 0.5, outcomes: heldout.map(\.plan.success)).balancedAccuracy
        }
        let before = try accuracy()
        for _ in 0..<250 { _ = try trainer.trainStep(data: data) }
        let after = try accuracy()
        #expect(after >= 0.8 && after > before + 0.2, "balanced accuracy \(before) → \(after)")
    }

    @Test("scores: AUC and balanced accuracy of perfect, inverted and constant judges")
    func scores() {
        let outcomes = [true, false, true, false]
        #expect(JudgeScore(judge: "", probabilities: [0.9, 0.1, 0.8, 0.2], threshold: 0.5, outcomes: outcomes).auc == 1)
        #expect(JudgeScore(judge: "", probabilities: [0.1, 0.9, 0.2, 0.8], threshold: 0.5, outcomes: outcomes).auc == 0)
        let constant = JudgeScore(judge: "", probabilities: [1, 1, 1, 1], threshold: 0.5, outcomes: outcomes)
        #expect(constant.auc == 0.5 && constant.balancedAccuracy == 0.5 && constant.accuracy == 0.5)
    }

    @Test("a damaged critic file is refused with a reason")
    func damagedCheckpoint() throws {
        let path = NSTemporaryDirectory() + "critic-\(UUID().uuidString).safetensors"
        try Data("not a critic".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: (any Error).self) { _ = try LearnedJudge.load(path) }
        let judge = LearnedJudge(net: CriticNet(config: CriticConfig(resolution: 16, width: 8, hidden: 16, tasks: ["t"])))
        try judge.save(to: path)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes.removeLast(100)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(throws: (any Error).self) { _ = try LearnedJudge.load(path) }
    }
}
