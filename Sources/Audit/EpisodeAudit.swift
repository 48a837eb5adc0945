import Bus
import Foundation
import Media
import Messages

/// An episode's decision chain, rebuilt from the topics: request → plans with their critiques
/// and model versions → approved plan → executed outcome (and again for each replan), plus any
/// dead letters of the episode.
public struct EpisodeAudit: Sendable {
    public struct Node: Sendable {
        public var id: String
        public var parent: String?
        public var topic: String
        public var offset: Int64
        public var timestampMs: Int64
        /// One line: what the message says.
        public var summary: String
        public var frames: [String]
    }

    public let episodeID: String
    public private(set) var nodes: [Node] = []
    public private(set) var deadLetters: [DeadLetter] = []

    /// Reads every topic keyed by episode id and keeps this episode's messages.
    public static func read(episode: String, bus: MessageBus) async throws -> EpisodeAudit {
        var audit = EpisodeAudit(episodeID: episode)
        let key = Array(episode.utf8)
        for topic in [Topic.requests, Topic.plans, Topic.critiques, Topic.approved, Topic.trajectories, Topic.deadLetters] {
            let replay = try await bus.makeReplay(topic: topic, from: .beginning)
            while true {
                let records = try await replay.poll(maxRecords: 256, timeout: .milliseconds(200))
                if records.isEmpty { break }
                for record in records where record.key == key && record.defect == nil { audit.add(record) }
            }
            await replay.close()
        }
        audit.nodes.sort { ($0.timestampMs, $0.topic, $0.offset) < ($1.timestampMs, $1.topic, $1.offset) }
        return audit
    }

    private mutating func add(_ record: BusRecord) {
        let data = Data(record.value)
        let decoder = JSONDecoder()
        func node(_ envelope: Envelope, _ summary: String, frames: [String] = []) {
            guard !nodes.contains(where: { $0.id == envelope.messageID }) else { return }  // a redelivered duplicate
            nodes.append(Node(id: envelope.messageID, parent: envelope.parentID, topic: record.topic, offset: record.offset,
                              timestampMs: envelope.timestampMs, summary: summary, frames: frames))
        }
        switch record.topic {
        case Topic.requests:
            if let m = try? decoder.decode(PlanRequest.self, from: data) {
                node(m.envelope, "request by \(m.envelope.stage.rawValue) \(m.envelope.instance) for \(m.robotID): \"\(m.task)\", "
                    + "\(m.camera), step \(m.step), replan \(m.replan)", frames: [m.frame])
            }
        case Topic.plans:
            if let m = try? decoder.decode(PlanMessage.self, from: data) {
                node(m.envelope, "plan iteration \(m.iteration) by \(m.envelope.stage.rawValue) \(m.envelope.instance), model "
                    + "\(m.envelope.modelVersion)" + (m.feedback.map { ", conditioned on \"\($0)\"" } ?? ""), frames: m.frames)
            }
        case Topic.critiques:
            if let m = try? decoder.decode(Critique.self, from: data) {
                node(m.envelope, String(format: "critique by %@: %@ (%.2f), %@: \"%@\"", m.critic, m.accept ? "accept" : "reject",
                                        m.score, m.feedbackCode, m.feedback))
            }
        case Topic.approved:
            if let m = try? decoder.decode(ApprovedPlan.self, from: data) {
                node(m.envelope, "approved by \(m.envelope.stage.rawValue): iteration \(m.iteration), "
                    + (m.accepted ? "accepted by the critic" : "refinement budget spent"), frames: m.frames)
            }
        case Topic.trajectories:
            if let m = try? decoder.decode(Trajectory.self, from: data) {
                let picks = (0..<min(8, m.frames.count)).map { $0 * (m.frames.count - 1) / max(1, min(8, m.frames.count) - 1) }
                node(m.envelope, "executed by \(m.envelope.instance) on \(m.robotID): \(m.success ? "success" : "failure") in "
                    + "\(m.steps) steps (\(m.environment), seed \(m.seed.map(String.init) ?? "?"))", frames: picks.map { m.frames[$0] })
            }
        default:
            if let letter = try? decoder.decode(DeadLetter.self, from: data) { deadLetters.append(letter) }
        }
    }

    /// The chain as an indented tree, parents before children.
    public var text: String {
        var out = "episode \(episodeID): \(nodes.count) message(s)\n"
        let ids = Set(nodes.map(\.id))
        func walk(_ node: Node, depth: Int) {
            out += String(repeating: "  ", count: depth) + (depth > 0 ? "└ " : "") + "\(node.id.prefix(8)) \(node.summary)\n"
            for child in nodes where child.parent == node.id { walk(child, depth: depth + 1) }
        }
        for root in nodes where root.parent == nil || !ids.contains(root.parent!) { walk(root, depth: 0) }
        for letter in deadLetters {
            out += "dead letter from \(letter.sourceTopic)[\(letter.sourcePartition)]@\(letter.sourceOffset) (\(letter.stage)): \(letter.error)\n"
        }
        return out
    }

    /// A Markdown report: the tree, and a strip of frames per plan and per trajectory.
    public func write(to directory: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let stem = "audit-" + episodeID.replacingOccurrences(of: "/", with: "_")
        let rows = try nodes.filter { $0.frames.count > 1 }.map { node in
            (caption: "\(node.id.prefix(8)) \(node.summary.prefix(60))", frames: try node.frames.map { try PNG.decode(base64: $0) })
        }
        var md = "# Audit of episode \(episodeID)\n\n```\n\(text)```\n"
        if !rows.isEmpty {
            try PNG.write(ContactSheet.make(rows: rows, cell: 48, maxFrames: 8), to: directory + "/\(stem).png")
            md += "\n![plans and what happened](\(stem).png)\n"
        }
        let path = directory + "/\(stem).md"
        try md.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
