import ArgumentParser
import Control
import Dataset
import Environments
import Evaluation
import Foundation
import Media
import SeededRandom

struct CollectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract: "Record episodes (PNG frames, actions, proprioception): expert demonstrations and training data for the follower.",
        discussion: """
            For every task × camera, plays --episodes episodes with seeds --seed-start, --seed-start+1, …
            (the same seeds for every camera, so views of one episode match). Writes
            DIR/episodes/<task>/<camera>/seed-<n>/ (frame_000.png …, episode.json), DIR/summary.json (success per
            task and camera) and DIR/contact_sheet.png.
            --driver expert (default) records the scripted expert; successful episodes are kept (failed ones
            too with --keep-failures). --driver noisy adds Gaussian noise of --noise to the expert's actions
            (exploration: off-path states labelled with the expert's clean action). --driver follower runs the
            plan follower of --follower on the expert's own demonstration cut like a plan, sending the expert's
            action instead with probability --beta, and labels every state with the expert's action (DAgger).
            Episodes of the noisy and follower drivers are always kept: every state they reach is labelled.
            --driver follower-branches runs the follower of --follower the same way (without the expert's help)
            and, every --branch-every steps where its hand has moved since the last branch, lets the expert play
            on from the state it reached to the end (built-in suite only); the successful branches are written
            as expert episodes (seed-<n>-from-<step>), the follower's own episode is not. They teach recovery
            with goals and actions that agree. With --branch-plans model the follower executes the plan the plan
            model (--plan-model) draws from the first frame instead, as eval's base: branches from the states
            drawn plans lead to.
            """)

    @Option(help: "builtin (pure Swift tabletop suite) or metaworld (Python bridge).") var env: String = "builtin"
    @Option(help: "Comma-separated tasks, or all.") var tasks: String = "all"
    @Option(help: "Comma-separated cameras, or all.") var cameras: String = "all"
    @Option(help: "Episodes per task and camera.") var episodes: Int = 10
    @Option(help: "Seed of the first episode.") var seedStart: UInt64 = 0
    @Option(help: "Frame size in pixels (square).") var resolution: Int = 64
    @Option(help: "The dataset directory to write.") var out: String
    @Flag(help: "Keep failed expert episodes too.") var keepFailures = false
    @Option(help: "Who acts: expert, noisy (expert + exploration noise), follower (DAgger), follower-branches or expert-model-plans.")
    var driver: String = "expert"
    @Option(help: ArgumentHelp("The plan model that draws the plans of --driver expert-model-plans and --branch-plans model.",
                               valueName: "PATH"))
    var planModel: String = "models/builtin-plan/model.safetensors"
    @Option(help: "Standard deviation of the noise added to each action component (--driver noisy).") var noise: Float = 0.3
    @Option(help: ArgumentHelp("The plan follower to run (--driver follower).", valueName: "PATH")) var follower: String?
    @Option(help: "Probability that a step sends the expert's action instead of the follower's (--driver follower).")
    var beta: Float = 0.3
    @Option(help: "Steps between the expert's branches from the follower's states (--driver follower-branches).")
    var branchEvery: Int = 10
    @Option(help: "What the follower of --driver follower-branches executes: demonstration (the seed's true demonstration) or model (a plan drawn by --plan-model).")
    var branchPlans: String = "demonstration"
    @Option(help: ArgumentHelp("Also record the wrist camera's frames at this many pixels (0 = none; built-in suite).",
                               discussion: "Stored as wrist_NNN.png beside the frames: the data for train-follower --wrist."))
    var wristCamera: Int = 0
    @Option(help: ArgumentHelp("How far above the fingertips the wrist camera looks down from, metres.",
                               discussion: "Higher sees more of the scene around the hand (from 0.2 m the puck and its spot together), each pixel coarser."))
    var wristHeight: Float = WristCamera.defaultHeight
    @OptionGroup var environmentOptions: EnvironmentOptions

    func validate() throws {
        guard episodes >= 1 else { throw ValidationError("--episodes must be at least 1") }
        guard (8...512).contains(resolution) else { throw ValidationError("--resolution must be 8 to 512 pixels") }
        guard seedStart <= UInt64.max - UInt64(episodes) else {
            throw ValidationError("--seed-start \(seedStart) + --episodes \(episodes) runs past the largest seed \(UInt64.max)")
        }
        guard ["expert", "noisy", "follower", "follower-branches", "expert-model-plans"].contains(driver) else {
            throw ValidationError("--driver \(driver): use expert, noisy, follower, follower-branches or expert-model-plans")
        }
        try OptionChecks.range(branchEvery, "--branch-every", 1...10_000)
        guard ["demonstration", "model"].contains(branchPlans) else {
            throw ValidationError("--branch-plans \(branchPlans): use demonstration or model")
        }
        if branchPlans == "model" && driver != "follower-branches" {
            throw ValidationError("--branch-plans model is for --driver follower-branches; drop it or add that driver")
        }
        try OptionChecks.finite(noise, "--noise", in: 0...2)
        try OptionChecks.finite(beta, "--beta", in: 0...1)
        if wristCamera != 0 { try OptionChecks.range(wristCamera, "--wrist-camera", 8...512) }
        try OptionChecks.finite(wristHeight, "--wrist-height", in: WristCamera.heights)
        if wristCamera == 0 && wristHeight != WristCamera.defaultHeight {
            throw ValidationError("--wrist-height places the wrist camera: give --wrist-camera N too")
        }
        if driver.hasPrefix("follower") && follower == nil {
            throw ValidationError("--driver \(driver) needs --follower PATH (a model.safetensors from videoagent train-follower)")
        }
    }

    func run() throws {
        Console.lineBuffered()
        let environment = try environmentOptions.make(env)
        defer { environment.close() }
        try environment.attachWristCamera(resolution: wristCamera, height: wristHeight)
        let taskList = try Self.choose(tasks, from: environment.tasks.map(\.name), what: "task")
        let cameraList = try Self.choose(cameras, from: environment.cameras, what: "camera")
        let how: Collector.Driver
        var planResolution = 32
        // The follower whose states the expert branches from (--driver follower-branches), and what it executes.
        var branchingFollower: PlanFollower?
        var branchPlanner: Collector.Planner?
        switch driver {
        case "noisy": how = .noisyExpert(sigma: noise)
        case "follower", "follower-branches":
            let (loaded, _) = try PlanFollower.load(follower!)
            how = .follower(loaded, beta: driver == "follower" ? beta : 0)
            if driver == "follower-branches" { branchingFollower = loaded }
            planResolution = loaded.config.planResolution
            if branchPlans == "model" {
                let (planner, resolution) = try makePlanner()
                guard resolution == planResolution else {
                    throw ValidationError("the plan model draws \(resolution)-pixel plans, the follower reads \(planResolution)-pixel ones; "
                        + "give a --plan-model that matches it")
                }
                branchPlanner = planner
            }
            guard loaded.config.resolution == resolution else {
                throw ValidationError("the follower sees \(loaded.config.resolution)-pixel frames; give --resolution \(loaded.config.resolution)")
            }
            if loaded.config.wrist > 0 && loaded.config.wrist != wristCamera {
                throw ValidationError("the follower sees \(loaded.config.wrist)-pixel wrist camera frames; give --wrist-camera \(loaded.config.wrist)")
            }
            if loaded.config.wrist > 0 && !WristCamera.sameHeight(loaded.config.wristHeight, wristHeight) {
                throw ValidationError("the follower's wrist camera looks down from \(loaded.config.wristHeight) m; give --wrist-height \(loaded.config.wristHeight)")
            }
        case "expert-model-plans":
            let (planner, resolution) = try makePlanner()
            planResolution = resolution
            how = .expertWithModelPlans(planner: planner)
        default: how = .expert
        }
        let keepAll = keepFailures || driver == "noisy" || driver == "follower"
        let collector = Collector(environment: environment, resolution: resolution, planResolution: planResolution)
        let writer = DatasetWriter(directory: out)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var cells: [CollectionSummary.Cell] = []
        var sheetRows: [(caption: String, frames: [RGBImage])] = []
        let total = taskList.count * cameraList.count * episodes
        var done = 0, branchesTried = 0, branchesKept = 0, branchSteps = 0
        // Who drove, for the progress lines and the summary: branches name what the follower executed.
        let drivenBy = branchingFollower == nil ? how.name : "follower on " + (branchPlans == "model" ? "drawn plan" : "demonstration")
        let started = Date()
        for task in taskList {
            let isHard = environment.tasks.first { $0.name == task }?.isHard ?? false
            for camera in cameraList {
                var succeeded = 0, steps = 0
                for i in 0..<episodes {
                    let seed = seedStart + UInt64(i)
                    if let follower = branchingFollower {
                        let (followed, branches) = try collector.followerBranches(task: task, camera: camera, seed: seed,
                                                                                   follower: follower, every: branchEvery,
                                                                                   planner: branchPlanner)
                        steps += followed.steps
                        if followed.success { succeeded += 1 }
                        branchesTried += branches.count
                        for (step, branch) in branches where branch.success || keepFailures {
                            var (record, frames, _) = branch.record(environment: environment.name, resolution: resolution,
                                                                    policy: "expert-from-follower-state")
                            record.branchedAt = step
                            if wristCamera > 0 { record.wristHeight = wristHeight }
                            try writer.write(record, frames: frames, wrist: branch.wristFrames)
                            branchesKept += 1
                            branchSteps += record.steps
                        }
                        if i == 0 { sheetRows.append(("\(task) \(camera) \(drivenBy) \(followed.success ? "ok" : "fail")", followed.frames)) }
                        done += 1
                        continue
                    }
                    let loop = try collector.play(task: task, camera: camera, seed: seed, driver: how)
                    var (record, frames, plans) = loop.record(environment: environment.name, resolution: resolution, policy: how.name)
                    if wristCamera > 0 { record.wristHeight = wristHeight }
                    steps += record.steps
                    if record.success { succeeded += 1 }
                    if record.success || keepAll { try writer.write(record, frames: frames, plans: plans, wrist: loop.wristFrames) }
                    if i == 0 { sheetRows.append(("\(task) \(camera) \(record.success ? "ok" : "fail")", frames)) }
                    done += 1
                }
                cells.append(.init(task: task, camera: camera, isHard: isHard, attempted: episodes, succeeded: succeeded,
                                   meanSteps: Double(steps) / Double(episodes)))
                let elapsed = Date().timeIntervalSince(started)
                print(String(format: "[%d/%d] %@ %@: %@ success %d/%d, %.0f steps on average (%.0f s elapsed)",
                             done, total, task, camera, drivenBy, succeeded, episodes, Double(steps) / Double(episodes), elapsed)
                      + (branchingFollower != nil ? "; expert branches so far: \(branchesKept) kept of \(branchesTried), \(branchSteps) steps" : ""))
            }
        }
        let summary = CollectionSummary(environment: environment.name, resolution: resolution, seedStart: seedStart,
                                        episodesPerCell: episodes, keptFailures: keepAll, cells: cells)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(summary).write(to: URL(fileURLWithPath: out + "/summary.json"))
        try PNG.write(ContactSheet.make(rows: sheetRows, cell: 64), to: out + "/contact_sheet.png")
        print(String(format: "overall %@ success %.1f%% (hard tasks %.1f%%, others %.1f%%); wrote %@/summary.json and contact_sheet.png",
                     drivenBy, 100 * summary.overallSuccessRate, 100 * summary.hardSuccessRate, 100 * summary.easySuccessRate, out))
    }

    /// Draws one base plan (10 DDIM steps) with --plan-model, seeded from --seed-start so a collection
    /// is reproducible; also returns the model's resolution.
    private func makePlanner() throws -> (planner: Collector.Planner, resolution: Int) {
        let model = try PlanModel(path: planModel)
        var rng = SeededRNG(seed: seedStart ^ 0x91A7)
        return ({ frame, task in try model.plans(observations: [frame], tasks: [task], iterations: 0, rng: &rng)[0][0] },
                model.resolution)
    }

    static func choose(_ list: String, from known: [String], what: String) throws -> [String] {
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

    func make(_ kind: String) throws -> any DemonstrableEnvironment {
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
