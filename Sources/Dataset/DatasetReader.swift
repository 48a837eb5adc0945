import Foundation
import Media

/// Reads a dataset folder written by ``Collector``.
public struct DatasetReader: Sendable {
    public let directory: String

    public init(directory: String) throws {
        guard FileManager.default.fileExists(atPath: directory + "/episodes") else {
            throw DatasetError("\(directory) holds no episodes/ folder; make one with: videoagent collect --out \(directory)")
        }
        self.directory = directory
    }

    /// Every episode's record, with the folder it lives in, sorted by task, camera, seed.
    public func episodes() throws -> [(folder: String, record: EpisodeRecord)] {
        var out: [(String, EpisodeRecord)] = []
        let root = directory + "/episodes"
        let decoder = JSONDecoder()
        for task in try FileManager.default.contentsOfDirectory(atPath: root).sorted() {
            let taskPath = root + "/" + task
            for camera in (try? FileManager.default.contentsOfDirectory(atPath: taskPath))?.sorted() ?? [] {
                let cameraPath = taskPath + "/" + camera
                for seed in (try? FileManager.default.contentsOfDirectory(atPath: cameraPath))?.sorted() ?? [] {
                    let folder = cameraPath + "/" + seed
                    guard let data = FileManager.default.contents(atPath: folder + "/episode.json") else { continue }
                    do {
                        out.append((folder, try decoder.decode(EpisodeRecord.self, from: data)))
                    } catch {
                        throw DatasetError("\(folder)/episode.json is not a valid episode record: \(error)")
                    }
                }
            }
        }
        return out.sorted {
            ($0.1.task, $0.1.camera, $0.1.seed, $0.1.branchedAt ?? -1) < ($1.1.task, $1.1.camera, $1.1.seed, $1.1.branchedAt ?? -1)
        }
    }

    public func frames(in folder: String, count: Int) throws -> [RGBImage] {
        try (0..<count).map { try PNG.read(folder + "/" + EpisodeRecord.frameName($0)) }
    }

    /// The wrist camera's frames of an episode that has them (``EpisodeRecord/wristResolution``).
    public func wristFrames(in folder: String, count: Int) throws -> [RGBImage] {
        try (0..<count).map { try PNG.read(folder + "/" + EpisodeRecord.wristFrameName($0)) }
    }

    public func summary() throws -> CollectionSummary? {
        guard let data = FileManager.default.contents(atPath: directory + "/summary.json") else { return nil }
        return try JSONDecoder().decode(CollectionSummary.self, from: data)
    }
}

public struct DatasetError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension DatasetReader {
    /// The frames of plan `plan` recorded with an episode.
    public func planFrames(in folder: String, plan: Int, count: Int) throws -> [RGBImage] {
        try (0..<count).map { try PNG.read(folder + "/" + EpisodeRecord.planFrameName(plan: plan, $0)) }
    }
}

/// Writes episodes into a dataset folder (the layout ``DatasetReader`` reads; docs/dataset.md).
public struct DatasetWriter: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// Writes an episode's frames, its plans' frames, its wrist camera's frames and `episode.json`.
    public func write(_ record: EpisodeRecord, frames: [RGBImage], plans: [[RGBImage]] = [], wrist: [RGBImage] = []) throws {
        precondition(wrist.isEmpty || (wrist.count == frames.count && record.wristResolution == wrist[0].width),
                     "wrist frames: one per frame, and the record says their resolution")
        let folder = directory + "/" + EpisodeRecord.relativePath(task: record.task, camera: record.camera, seed: record.seed,
                                                                      branchedAt: record.branchedAt)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (i, frame) in frames.enumerated() { try PNG.write(frame, to: folder + "/" + EpisodeRecord.frameName(i)) }
        for (i, frame) in wrist.enumerated() { try PNG.write(frame, to: folder + "/" + EpisodeRecord.wristFrameName(i)) }
        for (p, plan) in plans.enumerated() {
            for (i, frame) in plan.enumerated() { try PNG.write(frame, to: folder + "/" + EpisodeRecord.planFrameName(plan: p, i)) }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(record).write(to: URL(fileURLWithPath: folder + "/episode.json"))
    }
}
