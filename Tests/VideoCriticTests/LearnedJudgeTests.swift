import Control
import Environments
import Foundation
import Media
import NN
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

    @Test("the judge learns: its accuracy on held-out plans rises from chance — learning the base rates, or starting from them",
          arguments: [false, true])
    func learns(startFromBaseRates: Bool) throws {
        var config = CriticConfig(resolution: 16, width: 8, hidden: 32, tasks: ["press the button"])
        if startFromBaseRates {
            config = CriticConfig.fitted(to: try Self.judged(seeds: 0..<12).map(\.plan))
            config.resolution = 16
            config.width = 8
            config.hidden = 32
        }
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

    @Test("with learned keypoints per frame it learns as well, and a saved critic judges exactly as before")
    func keypoints() throws {
        let config = CriticConfig(resolution: 16, width: 8, hidden: 32, tasks: ["press the button"], taskLogOdds: [0, 0], keypoints: 4)
        let plain = CriticNet(config: CriticConfig(resolution: 16, width: 8, hidden: 32, tasks: ["press the button"], taskLogOdds: [0, 0]))
        #expect(CriticNet(config: config).parameterCount > plain.parameterCount)
        let data = try CriticData(try Self.judged(seeds: 0..<12), config: config)
        let heldout = try Self.judged(seeds: 100..<110)
        let trainer = CriticTrainer(config: config, learningRate: 3e-3)
        trainer.batchSize = 16
        let plans = heldout.map { ($0.frames, $0.plan.instruction) }
        func accuracy() throws -> Double {
            let p = try trainer.judge.judge(plans).map(\.acceptProbability)
            return JudgeScore(judge: "", probabilities: p, threshold: 0.5, outcomes: heldout.map(\.plan.success)).balancedAccuracy
        }
        let before = try accuracy()
        for _ in 0..<250 { _ = try trainer.trainStep(data: data) }
        let after = try accuracy()
        #expect(after >= 0.8 && after > before + 0.2, "balanced accuracy \(before) → \(after)")
        let path = NSTemporaryDirectory() + "critic-keypoints-\(UUID().uuidString.prefix(8)).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try trainer.judge.save(to: path)
        let loaded = try LearnedJudge.load(path)
        #expect(loaded.net.config.keypoints == 4)
        #expect(try loaded.judge(plans).map(\.acceptProbability) == (try trainer.judge.judge(plans).map(\.acceptProbability)))
    }

    @Test("within-scene pairs: one per scene here (a plan and its reverse); the ranking loss falls below chance")
    func pairs() throws {
        let config = CriticConfig(resolution: 16, width: 8, hidden: 32, tasks: ["press the button"], taskLogOdds: [0, 0])
        let data = try CriticData(try Self.judged(seeds: 0..<6), config: config)
        #expect(data.pairCount == 6)
        let trainer = CriticTrainer(config: config, learningRate: 3e-3)
        trainer.batchSize = 16
        trainer.pairWeight = 1
        let first = try (0..<10).map { _ in try trainer.trainStep(data: data).pairs }.reduce(0, +) / 10
        for _ in 0..<150 { _ = try trainer.trainStep(data: data) }
        let last = try (0..<10).map { _ in try trainer.trainStep(data: data).pairs }.reduce(0, +) / 10
        #expect(first > 0.5 && last < 0.3 && last < first, "ranking loss \(first) → \(last)")
    }

    @Test("scores: AUC and balanced accuracy of perfect, inverted and constant judges")
    func scores() {
        let outcomes = [true, false, true, false]
        #expect(JudgeScore(judge: "", probabilities: [0.9, 0.1, 0.8, 0.2], threshold: 0.5, outcomes: outcomes).auc == 1)
        #expect(JudgeScore(judge: "", probabilities: [0.1, 0.9, 0.2, 0.8], threshold: 0.5, outcomes: outcomes).auc == 0)
        let constant = JudgeScore(judge: "", probabilities: [1, 1, 1, 1], threshold: 0.5, outcomes: outcomes)
        #expect(constant.auc == 0.5 && constant.balancedAccuracy == 0.5 && constant.accuracy == 0.5)
    }

    @Test("base rates are smoothed log-odds of the drawn plans; within-task AUC ignores which task is easy")
    func baseRatesAndWithinTask() {
        func plan(_ task: String, _ arm: String, _ success: Bool) -> JudgedPlan {
            JudgedPlan(task: task, instruction: task, camera: "corner", seed: 0, arm: arm, success: success, steps: 1)
        }
        // Task a: 3 of 4 drawn plans succeed, (3+1)/(4+2) = 2/3; task b: 0 of 2, 1/4; oracle plans do not count.
        let plans = [plan("a", "iteration-0", true), plan("a", "iteration-0", true), plan("a", "iteration-1", true),
                     plan("a", "iteration-1", false), plan("b", "iteration-0", false), plan("b", "iteration-0", false),
                     plan("b", "oracle", true)]
        let config = CriticConfig.fitted(to: plans)
        #expect(config.tasks == ["a", "b"])
        let odds = try! #require(config.taskLogOdds)
        #expect(abs(odds[1] - log(2)) < 1e-5 && abs(odds[2] - log(1.0 / 3)) < 1e-5)
        #expect(abs(odds[0] - log(4.0 / 4)) < 1e-5)  // all drawn plans: 3 of 6, (3+1)/(6+2) = 1/2
        // A judge that only knows task a is easier: perfect AUC overall, chance within each task.
        let tasks = ["a", "a", "b", "b"], outcomes = [true, false, true, false]
        let prior = JudgeScore(judge: "", probabilities: [0.9, 0.9, 0.1, 0.1], threshold: 0.5, outcomes: [true, true, false, false],
                               tasks: tasks)
        #expect(prior.auc == 1 && prior.withinTaskAUC == nil)  // no task has both outcomes
        let inner = JudgeScore(judge: "", probabilities: [0.9, 0.8, 0.3, 0.2], threshold: 0.5, outcomes: outcomes, tasks: tasks)
        #expect(inner.withinTaskAUC == 1)
        #expect(JudgeScore.bestThreshold(probabilities: [0.9, 0.8, 0.3, 0.2], outcomes: [true, true, false, false]) > 0.3)
    }

    @Test("an ensemble judges with its members' mean logit, and saves and loads whole")
    func ensemble() throws {
        let config = CriticConfig(resolution: 16, width: 8, hidden: 16, tasks: ["t"], taskLogOdds: [0, 0])
        let members = (0..<3).map { CriticNet(config: config, seed: UInt64($0)) }
        let frames = (0..<8).map { i in RGBImage(width: 16, height: 16, pixels: [UInt8](repeating: UInt8(20 * i), count: 16 * 16 * 3)) }
        let single = try members.map { try LearnedJudge(net: $0).judge([(frames, "t")])[0].acceptProbability }
        let logit = { (p: Float) in log(p / (1 - p)) }
        let expected = 1 / (1 + exp(-single.map(logit).reduce(0, +) / 3))
        let together = LearnedJudge(members: members, threshold: 0.4)
        let verdict = try together.judge([(frames, "t")])[0]
        #expect(abs(verdict.acceptProbability - expected) < 1e-4, "\(verdict.acceptProbability) vs \(expected) from \(single)")
        let path = NSTemporaryDirectory() + "critic-ensemble-\(UUID().uuidString).safetensors"
        try together.save(to: path, extra: ["step": "5,6,7"])
        let loaded = try LearnedJudge.load(path)
        #expect(loaded.members.count == 3 && loaded.threshold == 0.4 && loaded.name.hasSuffix("×3"))
        #expect(abs(try loaded.judge([(frames, "t")])[0].acceptProbability - verdict.acceptProbability) < 1e-6)
    }

    @Test("thresholds by task: each maximises its share of the balanced accuracy; ties go to the common threshold")
    func taskThresholds() throws {
        // a: separable between 0.3 and 0.8; b: never succeeds (reject all its plans); c: one success at 0.1.
        let tasks = ["a", "a", "a", "a", "b", "b", "b", "c"]
        let p: [Float] = [0.9, 0.8, 0.3, 0.2, 0.6, 0.4, 0.7, 0.1]
        let outcomes = [true, true, false, false, false, false, false, true]
        let chosen = JudgeScore.bestTaskThresholds(probabilities: p, outcomes: outcomes, tasks: tasks, fallback: 0.5)
        #expect(abs(chosen["a"]! - 0.5) < 1e-4 && abs(chosen["b"]! - 0.75) < 1e-4 && abs(chosen["c"]! - 0.1) < 1e-4, "\(chosen)")
        let perPlan = tasks.map { chosen[$0]! }
        let score = JudgeScore(judge: "", probabilities: p, threshold: 0.5, outcomes: outcomes, tasks: tasks, thresholds: perPlan)
        #expect(score.balancedAccuracy == 1, "\(score)")
        #expect(JudgeScore(judge: "", probabilities: p, threshold: 0.5, outcomes: outcomes).balancedAccuracy < 1)
        // The judge decides with its task's threshold, and keeps them across save and load.
        let config = CriticConfig(resolution: 16, width: 8, hidden: 16, tasks: ["t", "u"], taskLogOdds: [0, 0, 0])
        var judge = LearnedJudge(net: CriticNet(config: config), threshold: 0)
        let frames = (0..<8).map { i in RGBImage(width: 16, height: 16, pixels: [UInt8](repeating: UInt8(20 * i), count: 16 * 16 * 3)) }
        judge.taskThresholds = ["u": 1.01]
        let verdicts = try judge.judge([(frames, "t"), (frames, "u")])
        #expect(verdicts[0].accept && !verdicts[1].accept && verdicts[1].feedback != .ok)
        let path = NSTemporaryDirectory() + "critic-thresholds-\(UUID().uuidString).safetensors"
        try judge.save(to: path)
        let loaded = try LearnedJudge.load(path)
        #expect(loaded.taskThresholds == ["u": 1.01] && loaded.threshold(for: "t") == 0 && loaded.threshold(for: "u") == 1.01)
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
