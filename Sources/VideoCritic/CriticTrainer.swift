import Foundation
import Media
import NN
import Tensor

/// The critic's training data: executed plans with their outcome, and synthetic hallucinations
/// made from them on the fly, each labelled reject with its problem: frames shuffled (the scene
/// jumps), the observation repeated (nothing moves), a frame skipped ahead (an object teleports),
/// another task's plan under this task's sentence (the wrong task).
public final class CriticData {
    public let config: CriticConfig
    let plans: [(plan: JudgedPlan, frames: [RGBImage])]
    let successes: [Int]
    let failures: [Int]
    /// Plans of one scene (task, camera, seed) whose outcomes differ, the successful one first: the
    /// plan made the difference, not the scene (``CriticTrainer/pairWeight``).
    let pairs: [(good: Int, bad: Int)]

    public init(_ judged: [(plan: JudgedPlan, frames: [RGBImage])], config: CriticConfig) throws {
        self.config = config
        let resized = judged.map { ($0.plan, $0.frames.map { $0.resized(width: config.resolution, height: config.resolution) }) }
        plans = resized
        successes = resized.indices.filter { resized[$0].0.success }
        failures = resized.indices.filter { !resized[$0].0.success }
        guard !successes.isEmpty, !failures.isEmpty else {
            throw CriticError("the judged plans need both outcomes to learn from (\(successes.count) successes, \(failures.count) failures)")
        }
        var scenes: [String: [Int]] = [:]
        for (i, (plan, _)) in resized.enumerated() { scenes[plan.scene, default: []].append(i) }
        pairs = scenes.keys.sorted().flatMap { key in
            let members = scenes[key]!
            return members.filter { resized[$0].0.success }.flatMap { good in
                members.filter { !resized[$0].0.success }.map { (good: good, bad: $0) }
            }
        }
    }

    public var count: Int { plans.count }
    public var successCount: Int { successes.count }
    /// Pairs of plans of one scene with different outcomes.
    public var pairCount: Int { pairs.count }

    /// A random within-scene pair (successful plan, failed plan), both moved by the same offset.
    func augmentedPair(rng: inout SeededRNG) -> (good: [RGBImage], bad: [RGBImage], task: String) {
        let (good, bad) = pairs[Int(rng.next() % UInt64(pairs.count))]
        var frames = (plans[good].frames, plans[bad].frames)
        if maxShift > 0 {
            let (dx, dy) = randomShift(rng: &rng)
            frames = (frames.0.map { Self.shifted($0, dx: dx, dy: dy) }, frames.1.map { Self.shifted($0, dx: dx, dy: dy) })
        }
        return (frames.0, frames.1, plans[good].plan.instruction)
    }
    /// Every sample is moved by up to this many pixels (the same shift for all its frames, edges
    /// repeated): a few hundred executed plans are memorised quickly otherwise. 2 at 32 px.
    public lazy var maxShift = config.resolution / 16

    /// `image` moved by (dx, dy) pixels, the edge pixels repeated into the gap.
    static func shifted(_ image: RGBImage, dx: Int, dy: Int) -> RGBImage {
        guard dx != 0 || dy != 0 else { return image }
        var out = image
        for y in 0..<image.height {
            let sy = min(image.height - 1, max(0, y - dy))
            for x in 0..<image.width {
                let sx = min(image.width - 1, max(0, x - dx))
                let (d, s) = (3 * (y * image.width + x), 3 * (sy * image.width + sx))
                out.pixels[d] = image.pixels[s]
                out.pixels[d + 1] = image.pixels[s + 1]
                out.pixels[d + 2] = image.pixels[s + 2]
            }
        }
        return out
    }

    /// A random offset of at most ``maxShift`` pixels each way.
    private func randomShift(rng: inout SeededRNG) -> (dx: Int, dy: Int) {
        let span = UInt64(2 * maxShift + 1)
        return (Int(rng.next() % span) - maxShift, Int(rng.next() % span) - maxShift)
    }

    /// A sample with every frame shifted by the same random offset.
    func augmentedSample(rng: inout SeededRNG) -> Sample {
        var sample = sample(rng: &rng)
        guard maxShift > 0 else { return sample }
        let (dx, dy) = randomShift(rng: &rng)
        sample.frames = sample.frames.map { Self.shifted($0, dx: dx, dy: dy) }
        return sample
    }

    struct Sample {
        var frames: [RGBImage]
        var task: String
        var accept: Float
        /// Plausibility of each future frame, when known.
        var frameTargets: [Float]?
        var category: FeedbackCategory?
    }

    /// One sample: a third executed successes, a third executed failures, a third hallucinations —
    /// or, when the config carries the tasks' base rates, two thirds executed plans as they come (the
    /// rates are already in the logit; rebalancing would count them twice) and a third hallucinations.
    func sample(rng: inout SeededRNG) -> Sample {
        let f = config.frames - 1
        var kind = rng.next() % 3
        if config.taskLogOdds != nil && kind < 2 {
            kind = plans[Int(rng.next() % UInt64(plans.count))].plan.success ? 0 : 1
        }
        switch kind {
        case 0:
            let (plan, frames) = plans[successes[Int(rng.next() % UInt64(successes.count))]]
            return Sample(frames: frames, task: plan.instruction, accept: 1, frameTargets: Array(repeating: 1, count: f), category: .ok)
        case 1:
            let (plan, frames) = plans[failures[Int(rng.next() % UInt64(failures.count))]]
            return Sample(frames: frames, task: plan.instruction, accept: 0, frameTargets: nil, category: nil)
        default:
            let (plan, frames) = plans[Int(rng.next() % UInt64(plans.count))]
            var corrupted = frames
            var targets = [Float](repeating: 1, count: f)
            let category: FeedbackCategory
            switch rng.next() % 4 {
            case 0:
                var order = Array(1..<frames.count)
                for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
                if order == Array(1..<frames.count) { order.swapAt(0, order.count - 1) }
                for (k, source) in order.enumerated() {
                    corrupted[k + 1] = frames[source]
                    if source != k + 1 { targets[k] = 0 }
                }
                category = .sceneJumps
            case 1:
                for k in 1..<frames.count { corrupted[k] = frames[0] }
                targets = Array(repeating: 0, count: f)
                category = .noMotion
            case 2:
                let k = 1 + Int(rng.next() % UInt64(max(1, frames.count - 3)))
                corrupted[k] = frames[min(frames.count - 1, k + 2)]
                targets[k - 1] = 0
                category = .objectTeleports
            default:
                let others = plans.indices.filter { plans[$0].plan.task != plan.task && plans[$0].plan.camera == plan.camera }
                guard let other = others.isEmpty ? nil : others[Int(rng.next() % UInt64(others.count))] else {
                    return Sample(frames: corrupted, task: plan.instruction, accept: 0, frameTargets: nil, category: .sceneJumps)
                }
                corrupted = plans[other].frames
                targets = Array(repeating: 0, count: f)
                category = .wrongTask
            }
            return Sample(frames: corrupted, task: plan.instruction, accept: 0, frameTargets: targets, category: category)
        }
    }
}

/// Losses of one critic step.
public struct CriticLosses: Sendable {
    public var accept: Float
    public var frames: Float
    public var feedback: Float
    /// The within-scene ranking loss (0 when it is off).
    public var pairs: Float = 0
}

/// Trains a ``CriticNet``: accept (binary cross-entropy), frame plausibility (where known) and the
/// feedback category (where known).
public final class CriticTrainer {
    public let net: CriticNet
    public private(set) var step = 0
    let optimizer: AdamW
    var rng: SeededRNG
    public var batchSize = 32
    /// Weight of a ranking loss on pairs of plans for one scene with different outcomes (a quarter of
    /// a batch of pairs per step): log(1 + exp(l_failed − l_succeeded)) on the accept logits. Labels
    /// mix the scene's difficulty with the plan's quality; within a scene only the plan differs.
    public var pairWeight: Float = 0

    public init(config: CriticConfig, learningRate: Float = 1e-3, seed: UInt64 = 0) {
        net = CriticNet(config: config, seed: seed)
        optimizer = AdamW(parameters: net.parameters(), learningRate: learningRate, weightDecay: 1e-4)
        rng = SeededRNG(seed: seed &+ 7)
    }

    public var judge: LearnedJudge { LearnedJudge(net: net, version: "learned@\(step)") }

    public func trainStep(data: CriticData) throws -> CriticLosses {
        let samples = (0..<batchSize).map { _ in data.augmentedSample(rng: &rng) }
        let f = net.config.frames - 1, k = FeedbackCategory.allCases.count
        let input = CriticNet.input(samples.map(\.frames), config: net.config)
        net.zeroGrad()
        let (accept, frames, feedback) = net(plans: input, tasks: samples.map { net.config.taskIndex($0.task) })
        func bce(_ logits: Tensor, _ targets: Tensor, _ mask: Tensor) -> Tensor {
            let perElement = logits.relu() - logits * targets + ((logits.abs() * -1).exp() + 1).log()
            return (perElement * mask).sum() * (1 / max(1, mask.sum().item))
        }
        let acceptLoss = bce(accept, Tensor(shape: [batchSize], values: samples.map(\.accept)), Tensor.ones([batchSize]))
        let frameLoss = bce(frames, Tensor(shape: [batchSize, f], values: samples.flatMap { $0.frameTargets ?? Array(repeating: 0, count: f) }),
                            Tensor(shape: [batchSize, f], values: samples.flatMap { Array(repeating: $0.frameTargets == nil ? 0 : 1, count: f) }))
        // Cross-entropy over the categories, only where the category is known.
        let logProbabilities = feedback.logSoftmax()  // (B, K)
        var oneHot = [Float](repeating: 0, count: batchSize * k)
        for (i, s) in samples.enumerated() {
            if let category = s.category { oneHot[i * k + FeedbackCategory.allCases.firstIndex(of: category)!] = 1 }
        }
        let known = Float(samples.filter { $0.category != nil }.count)
        let feedbackLoss = (logProbabilities * Tensor(shape: [batchSize, k], values: oneHot)).sum() * (-1 / max(1, known))
        var loss = acceptLoss + frameLoss * 0.5 + feedbackLoss * 0.5
        var pairLoss: Float = 0
        if pairWeight > 0 && !data.pairs.isEmpty {
            let n = max(1, batchSize / 4)
            let chosen = (0..<n).map { _ in data.augmentedPair(rng: &rng) }
            let input = CriticNet.input(chosen.map(\.good) + chosen.map(\.bad), config: net.config)
            let tasks = chosen.map { net.config.taskIndex($0.task) }
            let logits = net(plans: input, tasks: tasks + tasks).accept
            let margin = logits.slice(axis: 0, start: n, length: n) - logits.slice(axis: 0, start: 0, length: n)
            let ranking = (margin.relu() + ((margin.abs() * -1).exp() + 1).log()).sum() * (1 / Float(n))
            pairLoss = ranking.item
            loss = loss + ranking * pairWeight
        }
        guard loss.item.isFinite else { throw CriticError("critic training diverged at step \(step)") }
        loss.backward()
        clipGradientNorm(net.parameters(), maxNorm: 1)
        optimizer.update()
        step += 1
        return CriticLosses(accept: acceptLoss.item, frames: frameLoss.item, feedback: feedbackLoss.item, pairs: pairLoss)
    }
}

/// How well a judge's accept probabilities predict executed outcomes.
public struct JudgeScore: Codable, Sendable {
    public var judge: String
    public var threshold: Float
    /// Thresholds by task, when the judge has its own for some (the report shows them).
    public var taskThresholds: [String: Float]?
    public var accuracy: Double
    public var balancedAccuracy: Double
    /// Area under the ROC curve (0.5: no better than chance; ties count half).
    public var auc: Double
    /// The AUC within each task, averaged over the tasks with both outcomes: how well the judge
    /// tells a good plan from a bad one for the same task, apart from knowing which tasks are easy.
    public var withinTaskAUC: Double?
    public var truePositives: Int
    public var falsePositives: Int
    public var trueNegatives: Int
    public var falseNegatives: Int

    /// - Parameter thresholds: a threshold per plan (a judge with thresholds by task); else `threshold` for all.
    public init(judge: String, probabilities: [Float], threshold: Float, outcomes: [Bool], tasks: [String]? = nil,
                thresholds: [Float]? = nil) {
        self.judge = judge
        self.threshold = threshold
        var tp = 0, fp = 0, tn = 0, fn = 0
        for (i, (p, success)) in zip(probabilities, outcomes).enumerated() {
            switch (p >= (thresholds?[i] ?? threshold), success) {
            case (true, true): tp += 1
            case (true, false): fp += 1
            case (false, false): tn += 1
            case (false, true): fn += 1
            }
        }
        (truePositives, falsePositives, trueNegatives, falseNegatives) = (tp, fp, tn, fn)
        let n = Double(max(1, outcomes.count))
        accuracy = Double(tp + tn) / n
        let tpr = tp + fn > 0 ? Double(tp) / Double(tp + fn) : 0
        let tnr = tn + fp > 0 ? Double(tn) / Double(tn + fp) : 0
        balancedAccuracy = (tpr + tnr) / 2
        let positives = zip(probabilities, outcomes).filter(\.1).map(\.0)
        let negatives = zip(probabilities, outcomes).filter { !$0.1 }.map(\.0)
        var wins = 0.0
        for p in positives { for q in negatives { wins += p > q ? 1 : (p == q ? 0.5 : 0) } }
        auc = positives.isEmpty || negatives.isEmpty ? 0.5 : wins / Double(positives.count * negatives.count)
        if let tasks {
            let perTask = Set(tasks).sorted().compactMap { task -> Double? in
                let mine = tasks.indices.filter { tasks[$0] == task }
                let o = mine.map { outcomes[$0] }
                guard o.contains(true), o.contains(false) else { return nil }
                return JudgeScore(judge: "", probabilities: mine.map { probabilities[$0] }, threshold: threshold, outcomes: o).auc
            }
            withinTaskAUC = perTask.isEmpty ? nil : perTask.reduce(0, +) / Double(perTask.count)
        }
    }

    /// Thresholds a judge may be given: 0.01 … 0.10 by hundredths (successes are rare, so useful
    /// thresholds are often low), then 0.15 … 0.95 by twentieths.
    public static let thresholdCandidates: [Float] = (1...10).map { Float($0) / 100 } + (3...19).map { Float($0) / 20 }

    /// The candidate threshold with the best balanced accuracy on these outcomes.
    public static func bestThreshold(probabilities: [Float], outcomes: [Bool]) -> Float {
        thresholdCandidates.max { a, b in
            JudgeScore(judge: "", probabilities: probabilities, threshold: a, outcomes: outcomes).balancedAccuracy
                < JudgeScore(judge: "", probabilities: probabilities, threshold: b, outcomes: outcomes).balancedAccuracy
        } ?? 0.5
    }

    /// A threshold per task with the best balanced accuracy over all the plans together. Balanced
    /// accuracy is a sum over tasks, TPR + TNR = Σ_t (TP_t / P + TN_t / N), so each task's threshold
    /// is chosen on its own, with every success weighed 1/P and every failure 1/N of the whole set.
    /// Candidates are 0 (accept every plan of the task), ``thresholdCandidates`` and 1.01 (reject every one);
    /// ties go to the candidate nearest `fallback`, so a task with few plans keeps the common one.
    public static func bestTaskThresholds(probabilities: [Float], outcomes: [Bool], tasks: [String], fallback: Float) -> [String: Float] {
        let positives = Double(max(1, outcomes.filter { $0 }.count)), negatives = Double(max(1, outcomes.filter { !$0 }.count))
        let candidates = [Float(0)] + thresholdCandidates + [1.01]
        var chosen: [String: Float] = [:]
        for task in Set(tasks) {
            let mine = tasks.indices.filter { tasks[$0] == task }
            func gain(_ t: Float) -> Double {
                mine.reduce(0) { sum, i in
                    let accept = probabilities[i] >= t
                    return sum + (outcomes[i] ? (accept ? 1 / positives : 0) : (accept ? 0 : 1 / negatives))
                }
            }
            let gains = candidates.map(gain)
            let best = gains.max()!
            chosen[task] = zip(candidates, gains).filter { $0.1 >= best - 1e-12 }.map(\.0).min { abs($0 - fallback) < abs($1 - fallback) }!
        }
        return chosen
    }
}
