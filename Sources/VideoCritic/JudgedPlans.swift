import Foundation
import Media

/// A plan and what happened when the follower executed it: the critic's training and test data
/// (the paper's online labelling rule: accept iff the environment reports success).
///
/// On disk (written by `eval --save-plans DIR`): `DIR/<arm>/<task>/<camera>/seed-<n>/` with the plan's
/// frames `plan_000.png` … (the observation first) and `judged.json`.
public struct JudgedPlan: Codable, Sendable, Equatable {
    public var task: String
    public var instruction: String
    public var camera: String
    public var seed: UInt64
    /// The eval arm that made it: "iteration-2", "oracle", …
    public var arm: String
    public var success: Bool
    public var steps: Int

    public init(task: String, instruction: String, camera: String, seed: UInt64, arm: String, success: Bool, steps: Int) {
        self.task = task
        self.instruction = instruction
        self.camera = camera
        self.seed = seed
        self.arm = arm
        self.success = success
        self.steps = steps
    }

    /// The scene it was made for (task, camera, seed): plans of one scene differ only in the plan.
    public var scene: String { "\(task)|\(camera)|\(seed)" }

    public static func folder(_ root: String, arm: String, task: String, camera: String, seed: UInt64) -> String {
        "\(root)/\(arm)/\(task)/\(camera)/seed-\(seed)"
    }

    public static func frameName(_ i: Int) -> String { String(format: "plan_%03d.png", i) }

    /// Writes the plan's frames and the record.
    public func write(frames: [RGBImage], to root: String) throws {
        let folder = Self.folder(root, arm: arm, task: task, camera: camera, seed: seed)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (i, frame) in frames.enumerated() { try PNG.write(frame, to: folder + "/" + Self.frameName(i)) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: folder + "/judged.json"))
    }

    /// Every judged plan under `root`, with its frames.
    public static func readAll(_ root: String) throws -> [(plan: JudgedPlan, frames: [RGBImage])] {
        guard let walker = FileManager.default.enumerator(atPath: root) else {
            throw CriticError("\(root) holds no judged plans; make some with videoagent eval --save-plans \(root)")
        }
        var out: [(JudgedPlan, [RGBImage])] = []
        let decoder = JSONDecoder()
        for case let path as String in walker where path.hasSuffix("judged.json") {
            let folder = root + "/" + String(path.dropLast("/judged.json".count))
            let record = try decoder.decode(JudgedPlan.self, from: Data(contentsOf: URL(fileURLWithPath: root + "/" + path)))
            var frames: [RGBImage] = []
            while FileManager.default.fileExists(atPath: folder + "/" + frameName(frames.count)) {
                frames.append(try PNG.read(folder + "/" + frameName(frames.count)))
            }
            guard frames.count >= 2 else { throw CriticError("\(folder) holds fewer than two plan frames") }
            out.append((record, frames))
        }
        guard !out.isEmpty else { throw CriticError("\(root) holds no judged plans; make some with videoagent eval --save-plans \(root)") }
        return out.sorted { ($0.0.arm, $0.0.task, $0.0.camera, $0.0.seed) < ($1.0.arm, $1.0.task, $1.0.camera, $1.0.seed) }
    }
}
