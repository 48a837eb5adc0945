import ArgumentParser
import Dataset
import Environments
import Foundation
import Media

struct CollectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract: "Run the scripted experts and record demonstrations (PNG frames, actions, proprioception).",
        discussion: """
            For every task × camera, plays --episodes episodes with seeds --seed-start, --seed-start+1, …
            (the same seeds for every camera, so views of one episode match). Successful episodes are kept
            (failed ones too with --keep-failures). Writes DIR/episodes/<task>/<camera>/seed-<n>/ (frame_000.png …,
            episode.json), DIR/summary.json (expert success per task and camera) and DIR/contact_sheet.png.
            """)

    @Option(help: "builtin (pure Swift tabletop suite) or metaworld (Python bridge).") var env: String = "builtin"
    @Option(help: "Comma-separated tasks, or all.") var tasks: String = "all"
    @Option(help: "Comma-separated cameras, or all.") var cameras: String = "all"
    @Option(help: "Episodes per task and camera.") var episodes: Int = 10
    @Option(help: "Seed of the first episode.") var seedStart: UInt64 = 0
    @Option(help: "Frame size in pixels (square).") var resolution: Int = 64
    @Option(help: "The dataset directory to write.") var out: String
    @Flag(help: "Keep failed episodes too.") var keepFailures = false
    @OptionGroup var environmentOptions: EnvironmentOptions

    func validate() throws {
        guard episodes >= 1 else { throw ValidationError("--episodes must be at least 1") }
        guard (8...512).contains(resolution) else { throw ValidationError("--resolution must be 8 to 512 pixels") }
        guard seedStart <= UInt64.max - UInt64(episodes) else {
            throw ValidationError("--seed-start \(seedStart) + --episodes \(episodes) runs past the largest seed \(UInt64.max)")
        }
    }

    func run() throws {
        Console.lineBuffered()
        let environment = try environmentOptions.make(env)
        defer { environment.close() }
        let taskList = try choose(tasks, from: environment.tasks.map(\.name), what: "task")
        let cameraList = try choose(cameras, from: environment.cameras, what: "camera")
        let collector = Collector(environment: environment, directory: out, resolution: resolution, keepFailures: keepFailures)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var cells: [CollectionSummary.Cell] = []
        var sheetRows: [(caption: String, frames: [RGBImage])] = []
        let total = taskList.count * cameraList.count * episodes
        var done = 0
        let started = Date()
        for task in taskList {
            let isHard = environment.tasks.first { $0.name == task }?.isHard ?? false
            for camera in cameraList {
                var succeeded = 0, steps = 0
                for i in 0..<episodes {
                    let seed = seedStart + UInt64(i)
                    let (record, frames) = try collector.play(task: task, camera: camera, seed: seed)
                    steps += record.steps
                    if record.success { succeeded += 1 }
                    if record.success || keepFailures { try collector.write(record, frames: frames) }
                    if i == 0 { sheetRows.append(("\(task) \(camera) \(record.success ? "ok" : "fail")", frames)) }
                    done += 1
                }
                cells.append(.init(task: task, camera: camera, isHard: isHard, attempted: episodes, succeeded: succeeded,
                                   meanSteps: Double(steps) / Double(episodes)))
                let elapsed = Date().timeIntervalSince(started)
                print(String(format: "[%d/%d] %@ %@: expert success %d/%d, %.0f steps on average (%.0f s elapsed)",
                             done, total, task, camera, succeeded, episodes, Double(steps) / Double(episodes), elapsed))
            }
        }
        let summary = CollectionSummary(environment: environment.name, resolution: resolution, seedStart: seedStart,
                                        episodesPerCell: episodes, keptFailures: keepFailures, cells: cells)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(summary).write(to: URL(fileURLWithPath: out + "/summary.json"))
        try PNG.write(ContactSheet.make(rows: sheetRows, cell: 64), to: out + "/contact_sheet.png")
        print(String(format: "overall expert success %.1f%% (hard tasks %.1f%%, others %.1f%%); wrote %@/summary.json and contact_sheet.png",
                     100 * summary.overallSuccessRate, 100 * summary.hardSuccessRate, 100 * summary.easySuccessRate, out))
    }

    private func choose(_ list: String, from known: [String], what: String) throws -> [String] {
        if list == "all" { return known }
        let chosen = list.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !chosen.isEmpty else {
            throw ValidationError("no \(what) given; name some (\(known.joined(separator: ", "))) or all")
        }
        for name in chosen where !known.contains(name) {
            throw ValidationError("unknown \(what) '\(name)'; known: \(known.joined(separator: ", ")) (or all)")
        }
        return chosen
    }
}

/// How environments are made: the only place that knows their concrete types.
struct EnvironmentOptions: ParsableArguments {
    @Option(help: "Steps before an episode is cut off (default: the environment's own).") var maxSteps: Int?
    @Option(help: ArgumentHelp("Python with metaworld installed, for --env metaworld (default: .venv/bin/python of the repository).",
                               valueName: "PATH"))
    var python: String?
    @Option(help: ArgumentHelp("The MetaWorld bridge server (default: bridge/metaworld_server.py of the repository).", valueName: "PATH"))
    var bridgeScript: String?
    @Option(help: ArgumentHelp("Use an environment server on TCP instead of starting one (a robot, a remote MetaWorld).",
                               valueName: "HOST:PORT"))
    var bridgeTcp: String?

    func validate() throws {
        if let maxSteps { try OptionChecks.range(maxSteps, "--max-steps", 1...100_000) }
    }

    func make(_ kind: String) throws -> any Environment {
        switch kind {
        case "builtin":
            return TabletopEnvironment(maxSteps: maxSteps ?? 200)
        case "metaworld", "bridge":
            if let bridgeTcp {
                guard let colon = bridgeTcp.lastIndex(of: ":"), let port = Int(bridgeTcp[bridgeTcp.index(after: colon)...]) else {
                    throw ValidationError("--bridge-tcp \(bridgeTcp): expected HOST:PORT")
                }
                return try BridgeEnvironment(host: String(bridgeTcp[..<colon]), port: port)
            }
            let root = RepositoryPaths.root
            return try BridgeEnvironment.metaWorld(python: python ?? root + "/.venv/bin/python",
                                                   script: bridgeScript ?? root + "/bridge/metaworld_server.py")
        default:
            throw ValidationError("--env \(kind): use builtin or metaworld")
        }
    }
}
