import Control
import Dataset
import Environments
import Foundation
import Media
import Testing

@Suite("Datasets and images")
struct DatasetTests {
    func temporary(_ name: String) -> String {
        NSTemporaryDirectory() + "videoagent-\(name)-\(UUID().uuidString.prefix(8))"
    }

    @Test("PNG round trip keeps every pixel, and bad bytes are an error")
    func png() throws {
        var image = RGBImage(width: 5, height: 3, color: (10, 20, 30))
        image[4, 2] = (255, 0, 128)
        let decoded = try PNG.decode(try PNG.encode(image))
        #expect(decoded == image)
        #expect(throws: PNGError.self) { _ = try PNG.decode([1, 2, 3, 4]) }
    }

    @Test("collected episodes are written, read back and exported in the LeRobot layout")
    func collectReadExport() throws {
        let directory = temporary("dataset")
        let collector = Collector(environment: TabletopEnvironment(), resolution: 16)
        let (record, frames, _) = try collector.play(task: "button-press", camera: "corner", seed: 4)
            .record(environment: "builtin", resolution: 16, policy: "expert")
        #expect(record.success)
        #expect(frames.count == record.steps + 1 && record.proprioception.count == frames.count)
        // The simulator's key points, one set per frame (training targets).
        #expect(record.landmarks?.count == frames.count && record.landmarks?.allSatisfy { $0.count == 9 } == true)
        try DatasetWriter(directory: directory).write(record, frames: frames)
        let reader = try DatasetReader(directory: directory)
        let episodes = try reader.episodes()
        #expect(episodes.count == 1 && episodes[0].record == record)
        #expect(try reader.frames(in: episodes[0].folder, count: record.frameCount) == frames)

        let exported = temporary("lerobot")
        #expect(try LeRobotExporter(source: reader, destination: exported).export() == 1)
        let info = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: exported + "/meta/info.json"))) as? [String: Any]
        #expect(info?["total_frames"] as? Int == record.frameCount)
        let rows = try String(contentsOfFile: exported + "/data/chunk-000/episode_000000.jsonl", encoding: .utf8)
            .split(separator: "\n")
        #expect(rows.count == record.frameCount)
        #expect(rows.last?.contains("\"next.success\":true") == true)
        #expect(FileManager.default.fileExists(atPath: exported + "/images/observation.image/episode_000000/frame_000000.png"))
    }

    @Test("plan and wrist frames written with an episode are read back as written")
    func planAndWristFrames() throws {
        let directory = temporary("plan-frames")
        var (record, frames, _) = try Collector(environment: TabletopEnvironment(), resolution: 16)
            .play(task: "button-press", camera: "corner", seed: 4).record(environment: "builtin", resolution: 16, policy: "expert")
        record.wristResolution = 8
        let wrist = frames.indices.map { RGBImage(width: 8, height: 8, color: (UInt8($0 % 256), 40, 0)) }
        let plans = (0..<2).map { p in (0..<3).map { RGBImage(width: 4, height: 4, color: (UInt8(p * 90), UInt8($0 * 70), 9)) } }
        try DatasetWriter(directory: directory).write(record, frames: frames, plans: plans, wrist: wrist)
        let reader = try DatasetReader(directory: directory)
        let folder = try reader.episodes()[0].folder
        #expect(try reader.planFrames(in: folder, plan: 1, count: 3) == plans[1])
        #expect(try reader.wristFrames(in: folder, count: frames.count) == wrist)
    }

    @Test("a folder without episodes is refused with the command that makes one")
    func missingDataset() {
        let error = #expect(throws: DatasetError.self) { try DatasetReader(directory: temporary("nothing")) }
        #expect(error?.description.contains("videoagent collect") == true)
    }

    @Test("a contact sheet has one strip per row and a caption")
    func contactSheet() {
        let frames = (0..<4).map { RGBImage(width: 8, height: 8, color: (UInt8($0 * 60), 0, 0)) }
        let sheet = ContactSheet.make(rows: [("a", frames), ("b", frames)], cell: 16, maxFrames: 4, gap: 2)
        #expect(sheet.width == 2 + 4 * 18)
        #expect(sheet.height == 2 + 2 * (BitmapFont.height + 4 + 16 + 2))
    }
}
