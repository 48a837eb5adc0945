import ArgumentParser
import Dataset
import Foundation
import Media

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Convert a collected dataset for other tools (LeRobotDataset layout; see docs/dataset.md).")

    @Option(help: "The only format: lerobot.") var format: String = "lerobot"
    @Option(help: "A dataset written by videoagent collect.") var data: String
    @Option(help: "The directory to write.") var out: String
    @Flag(help: "Export failed episodes too.") var includeFailures = false

    func validate() throws {
        guard format == "lerobot" else { throw ValidationError("--format \(format): the only format is lerobot") }
    }

    func run() throws {
        Console.lineBuffered()
        let count = try LeRobotExporter(source: DatasetReader(directory: data), destination: out).export(includeFailures: includeFailures)
        print("exported \(count) episode(s) to \(out) (LeRobotDataset layout, JSON-lines tables, PNG frames)")
    }
}

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Draw a contact sheet of a dataset's episodes: one frame strip per episode.")

    @Option(help: "A dataset written by videoagent collect.") var data: String
    @Option(help: "Only this task.") var task: String?
    @Option(help: "Only this camera.") var camera: String?
    @Option(help: "At most this many episodes.") var episodes: Int = 12
    @Option(help: "Frames per strip.") var frames: Int = 10
    @Option(help: "Pixels per frame in the sheet.") var cell: Int = 64
    @Option(help: "The PNG to write.") var out: String

    func validate() throws {
        try OptionChecks.range(episodes, "--episodes", 1...1000)
        try OptionChecks.range(frames, "--frames", 1...1000)
        try OptionChecks.range(cell, "--cell", 8...512)
    }

    func run() throws {
        Console.lineBuffered()
        let reader = try DatasetReader(directory: data)
        let chosen = try reader.episodes().filter { (task == nil || $0.record.task == task) && (camera == nil || $0.record.camera == camera) }
        guard !chosen.isEmpty else { throw ValidationError("no episodes in \(data) match --task/--camera") }
        let rows = try chosen.prefix(episodes).map { folder, record in
            ("\(record.task) \(record.camera) seed \(record.seed) \(record.success ? "ok" : "fail")",
             try reader.frames(in: folder, count: record.frameCount))
        }
        try PNG.write(ContactSheet.make(rows: rows, cell: cell, maxFrames: frames), to: out)
        print("wrote \(out): \(rows.count) episode(s)")
    }
}
