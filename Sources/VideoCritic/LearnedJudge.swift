import Foundation
import Media
import NN
import Tensor

/// The shape of a learned critic (stored in its checkpoint).
public struct CriticConfig: Codable, Sendable, Equatable {
    /// Plan frames are judged at this size (the plan model's).
    public var resolution = 32
    /// Frames per plan, the observation included.
    public var frames = 8
    public var width = 32
    public var hidden = 128
    /// The task sentences it knows (index 0 stands for any other).
    public var tasks: [String] = []
    /// Log-odds that a plan of each task (index as `tasks`, 0 for any other) succeeds when executed,
    /// measured on the training plans: the accept logit starts from it and the network learns what
    /// in a plan moves it. Nil: the network learns the base rates too.
    public var taskLogOdds: [Float]?
    /// Learned keypoints per frame (`train-critic --keypoints K`; nil: none): a small convolution
    /// shared by every frame, then spatial soft-argmax, so the network sees where things (the
    /// hand, the object) are in each frame as coordinates — a plan's paths — beside the stacked frames.
    public var keypoints: Int?

    public init(resolution: Int = 32, frames: Int = 8, width: Int = 32, hidden: Int = 128, tasks: [String], taskLogOdds: [Float]? = nil,
                keypoints: Int? = nil) {
        self.resolution = resolution
        self.frames = frames
        self.width = width
        self.hidden = hidden
        self.tasks = tasks
        self.taskLogOdds = taskLogOdds
        self.keypoints = keypoints
    }

    /// A config whose tasks and base rates come from executed plans (oracle plans, true
    /// demonstrations, count only when there is nothing else). Rates are smoothed: (s + 1) / (n + 2).
    public static func fitted(to judged: [JudgedPlan]) -> CriticConfig {
        let tasks = Array(Set(judged.map(\.instruction))).sorted()
        let drawn = judged.filter { $0.arm != "oracle" }
        let basis = drawn.isEmpty ? judged : drawn
        func logOdds(_ plans: [JudgedPlan]) -> Float {
            let rate = (Float(plans.filter(\.success).count) + 1) / (Float(plans.count) + 2)
            return log(rate / (1 - rate))
        }
        return CriticConfig(tasks: tasks, taskLogOdds: [logOdds(basis)] + tasks.map { task in logOdds(basis.filter { $0.instruction == task }) })
    }

    func taskIndex(_ sentence: String) -> Int { (tasks.firstIndex(of: sentence) ?? -1) + 1 }
}

/// The critic's network: every frame of the plan stacked on channels (so changes between frames are
/// seen directly), three strided convolutions, the task as a learned embedding, optionally each
/// frame's learned keypoints (``CriticConfig/keypoints``), and three heads — accept (executing this
/// plan succeeds), each future frame's plausibility, the feedback category.
public final class CriticNet: Module {
    public let config: CriticConfig
    let conv1: Conv2d
    let norm1: GroupNorm
    let conv2: Conv2d
    let norm2: GroupNorm
    let conv3: Conv2d
    let norm3: GroupNorm
    let task: Embedding
    let fc: Linear
    let acceptHead: Linear
    let frameHead: Linear
    let feedbackHead: Linear
    // Per-frame keypoints (made after the layers above, so a network without them is initialised as before).
    let keypointConv1: Conv2d?
    let keypointNorm: GroupNorm?
    let keypointConv2: Conv2d?
    let keypointSoftArgmax = SpatialSoftmax()

    public init(config: CriticConfig, seed: UInt64 = 0) {
        self.config = config
        var rng = SeededRNG(seed: seed)
        let w = config.width, r = config.resolution
        conv1 = Conv2d(3 * config.frames, w, kernel: 3, stride: 2, rng: &rng)
        norm1 = GroupNorm(groups: min(8, w), channels: w)
        conv2 = Conv2d(w, 2 * w, kernel: 3, stride: 2, rng: &rng)
        norm2 = GroupNorm(groups: min(8, 2 * w), channels: 2 * w)
        conv3 = Conv2d(2 * w, 2 * w, kernel: 3, stride: 2, rng: &rng)
        norm3 = GroupNorm(groups: min(8, 2 * w), channels: 2 * w)
        task = Embedding(count: config.tasks.count + 1, dimension: 16, rng: &rng)
        fc = Linear(2 * w * (r / 8) * (r / 8) + 16 + 2 * config.frames * (config.keypoints ?? 0), config.hidden, rng: &rng)
        acceptHead = Linear(config.hidden, 1, rng: &rng)
        frameHead = Linear(config.hidden, config.frames - 1, rng: &rng)
        feedbackHead = Linear(config.hidden, FeedbackCategory.allCases.count, rng: &rng)
        if let k = config.keypoints {
            // Cheap on purpose (it runs on every frame): colour blobs at half resolution are what it locates.
            keypointConv1 = Conv2d(3, w / 2, kernel: 3, stride: 2, rng: &rng)
            keypointNorm = GroupNorm(groups: min(8, w / 2), channels: w / 2)
            keypointConv2 = Conv2d(w / 2, k, kernel: 1, rng: &rng)
        } else {
            (keypointConv1, keypointNorm, keypointConv2) = (nil, nil, nil)
        }
    }

    /// - Parameter plans: (B, 3·frames, R, R) in [−1, 1], frames stacked on channels.
    public func callAsFunction(plans: Tensor, tasks: [Int]) -> (accept: Tensor, frames: Tensor, feedback: Tensor) {
        let b = plans.shape[0]
        var x = norm1(conv1(plans)).relu()
        x = norm2(conv2(x)).relu()
        x = norm3(conv3(x)).relu()  // (B, 2w, R/8, R/8)
        var parts = [x.reshaped([b, x.count / b]), Tensor.embedding(task.weight, indices: tasks)]
        if let conv1 = keypointConv1, let norm = keypointNorm, let conv2 = keypointConv2 {
            // Frames are stacked frame-major on channels, so (B, 3·F, R, R) is (B·F, 3, R, R) in memory.
            let r = config.resolution
            let frames = plans.reshaped([b * config.frames, 3, r, r])
            let points = keypointSoftArgmax(conv2(norm(conv1(frames)).relu()))  // (B·F, 2K)
            parts.append(points.reshaped([b, points.count / b]))
        }
        let features = Tensor.concat(parts, axis: 1)
        let h = fc(features).relu()
        var accept = acceptHead(h).reshaped([b])
        if let odds = config.taskLogOdds {
            accept = accept + Tensor(shape: [b], values: tasks.map { odds[min($0, odds.count - 1)] })
        }
        return (accept, frameHead(h), feedbackHead(h))
    }

    /// The plans' frames as the network's input.
    static func input(_ plans: [[RGBImage]], config: CriticConfig) -> Tensor {
        let r = config.resolution
        var values: [Float] = []
        values.reserveCapacity(plans.count * 3 * config.frames * r * r)
        for plan in plans {
            for i in 0..<config.frames {
                values += plan[min(i, plan.count - 1)].resized(width: r, height: r).planarSigned()
            }
        }
        return Tensor(shape: [plans.count, 3 * config.frames, r, r], values: values)
    }
}

/// The learned plan judge: trained on plans the follower executed (accept iff the environment
/// reported success) and on synthetic hallucinations (``CriticTrainer``). Several networks trained
/// from different seeds (`train-critic --members N`) judge together: their logits are averaged,
/// which steadies a judge that a few hundred executed plans otherwise leave noisy.
public struct LearnedJudge: PlanJudge, @unchecked Sendable {
    // The networks are only read (inference without gradients).
    public let members: [CriticNet]
    /// Accept at or above this probability (for tasks without a threshold of their own).
    public var threshold: Float
    /// Thresholds by task sentence (`train-critic --task-thresholds`): a follower that rarely
    /// succeeds at a task needs more evidence before a plan for it is accepted.
    public var taskThresholds: [String: Float] = [:]
    public let version: String

    public init(net: CriticNet, threshold: Float = 0.5, version: String = "learned") {
        self.init(members: [net], threshold: threshold, version: version)
    }

    public init(members: [CriticNet], threshold: Float = 0.5, version: String = "learned") {
        precondition(!members.isEmpty && members.allSatisfy { $0.config == members[0].config }, "members must share one configuration")
        self.members = members
        self.threshold = threshold
        self.version = version
    }

    /// The first member (all share its configuration).
    public var net: CriticNet { members[0] }

    /// The threshold a plan for this task sentence is judged at.
    public func threshold(for task: String) -> Float { taskThresholds[task] ?? threshold }

    public var name: String { version }

    public func judge(observation: RGBImage, plan: [RGBImage], task: String) throws -> PlanVerdict {
        try judge([([observation] + plan, task)])[0]
    }

    /// Verdicts for many plans at once (frames with the observation first).
    public func judge(_ plans: [(frames: [RGBImage], task: String)]) throws -> [PlanVerdict] {
        guard !plans.isEmpty else { return [] }  // no batch of zero rows through the network
        let input = CriticNet.input(plans.map(\.frames), config: net.config)
        let tasks = plans.map { net.config.taskIndex($0.task) }
        var accept = [Float](repeating: 0, count: plans.count)
        var frames: [Float] = [], categories: [Float] = []
        for member in members {
            let (a, f, c) = withoutGrad { member(plans: input, tasks: tasks) }
            let (av, fv, cv) = (a.toArray(), f.toArray(), c.toArray())
            if frames.isEmpty { frames = [Float](repeating: 0, count: fv.count); categories = [Float](repeating: 0, count: cv.count) }
            for i in accept.indices { accept[i] += av[i] / Float(members.count) }
            for i in frames.indices { frames[i] += fv[i] / Float(members.count) }
            for i in categories.indices { categories[i] += cv[i] / Float(members.count) }
        }
        let p = accept.map { 1 / (1 + exp(-$0)) }
        let frameScores = frames.map { 1 / (1 + exp(-$0)) }
        let f = net.config.frames - 1, k = FeedbackCategory.allCases.count
        return plans.indices.map { i in
            let scores = Array(frameScores[(i * f)..<((i + 1) * f)])
            let accept = p[i] >= threshold(for: plans[i].task)
            var category = FeedbackCategory.ok
            if !accept {
                // The most likely problem (never "ok" for a rejected plan).
                let row = categories[(i * k)..<((i + 1) * k)]
                let best = zip(FeedbackCategory.allCases, row).filter { $0.0 != .ok }.max { $0.1 < $1.1 }
                category = best?.0 ?? .incomplete
            }
            return PlanVerdict(acceptProbability: p[i], accept: accept, frameScores: scores, feedback: category)
        }
    }

    /// One member: its tensors as they are; several: each under `member<i>.`.
    public func save(to path: String, extra: [String: String] = [:]) throws {
        var metadata = extra
        metadata["format"] = "videoagent-critic-1"
        metadata["config"] = String(decoding: try JSONEncoder().encode(net.config), as: UTF8.self)
        metadata["threshold"] = String(threshold)
        if !taskThresholds.isEmpty {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            metadata["task_thresholds"] = String(decoding: try encoder.encode(taskThresholds), as: UTF8.self)
        }
        guard members.count > 1 else { return try net.save(to: path, metadata: metadata) }
        metadata["members"] = String(members.count)
        let tensors = members.enumerated().flatMap { i, member in member.namedTensors().map { ("member\(i)." + $0.name, $0.tensor) } }
        try Safetensors.write(tensors, metadata: metadata, to: path)
    }

    public static func load(_ path: String) throws -> LearnedJudge {
        let (tensors, metadata) = try Safetensors.read(path)
        guard metadata["format"] == "videoagent-critic-1", let text = metadata["config"],
              let config = try? JSONDecoder().decode(CriticConfig.self, from: Data(text.utf8))
        else { throw CriticError("\(path) is not a learned critic (no videoagent-critic-1 metadata); train one with videoagent train-critic") }
        let count = metadata["members"].flatMap { Int($0) } ?? 1
        guard (1...64).contains(count) else { throw CriticError("\(path) names \(metadata["members"] ?? "?") members; train it again with videoagent train-critic") }
        let members = try (0..<count).map { i -> CriticNet in
            let net = CriticNet(config: config)
            try net.load(count == 1 ? tensors : Safetensors.tensors(tensors, under: "member\(i)."))
            return net
        }
        var judge = LearnedJudge(members: members, threshold: metadata["threshold"].flatMap(Float.init) ?? 0.5,
                                 version: "learned@\(metadata["step"] ?? "?")" + (count > 1 ? "×\(count)" : ""))
        if let text = metadata["task_thresholds"] {
            guard let thresholds = try? JSONDecoder().decode([String: Float].self, from: Data(text.utf8)),
                  thresholds.values.allSatisfy({ $0.isFinite })
            else { throw CriticError("\(path) has unreadable task thresholds; train it again with videoagent train-critic") }
            judge.taskThresholds = thresholds
        }
        return judge
    }
}
