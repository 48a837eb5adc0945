import Blocking
import Environments
import Foundation
import Media
import Testing

/// The MetaWorld bridge as a child process. In CI (CI=true) MetaWorld must be installed
/// (scripts/test.sh installs it); elsewhere these tests run when .venv has it.
@Suite("MetaWorld bridge", .timeLimit(.minutes(5)))
struct BridgeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let python = ProcessInfo.processInfo.environment["VIDEOAGENT_PYTHON"] ?? root + "/.venv/bin/python"
    static let script = root + "/bridge/metaworld_server.py"
    static var available: Bool {
        if ProcessInfo.processInfo.environment["CI"] == "true" { return true }
        return FileManager.default.fileExists(atPath: root + "/.venv/lib/python3.11/site-packages/metaworld")
    }

    /// What one session with the MetaWorld bridge showed.
    struct Session: Sendable {
        var tasks: [TaskInfo]
        var cameras: [String]
        var first: Observation
        var last: Observation
        var again: Observation
        /// A step without a frame after `last`, then the state rendered on demand.
        var quiet: StepResult
        var drawn: Observation
        var unknownTask: Result<Observation, any Error>
        var outOfRange: Result<StepResult, any Error>
    }

    // The bridge's calls block on a child process (MetaWorld's import alone takes seconds), so the
    // tests talk to it from a thread of their own and leave the cooperative pool to other tests.

    @Test("reset, step and the expert round-trip through the bridge", .enabled(if: available))
    func roundTrip() async throws {
        let seen = try await Blocking.onOwnThread { () throws -> Session in
            let env = try BridgeEnvironment.metaWorld(python: Self.python, script: Self.script)
            let expert = env.makeDemonstrator()
            defer { env.close() }
            let first = try env.reset(task: "button-press-topdown", seed: 3, camera: "corner", resolution: 48)
            var last = first
            for _ in 0..<5 { last = try env.step(try expert.action()).observation }
            let quiet = try env.step(try expert.action(), frame: false)
            let drawn = try env.render()
            // The same seed gives the same first frame.
            let again = try env.reset(task: "button-press-topdown", seed: 3, camera: "corner", resolution: 48)
            return Session(tasks: env.tasks, cameras: env.cameras, first: first, last: last, again: again, quiet: quiet, drawn: drawn,
                           unknownTask: Result { try env.reset(task: "juggle", seed: 0, camera: "corner", resolution: 48) },
                           outOfRange: Result { try env.step([2, 0, 0, 0]) })
        }
        #expect(seen.tasks.count == 11 && seen.cameras == ["corner", "corner2", "corner3"])
        #expect(seen.first.frame.width == 48 && seen.first.frame.height == 48)
        #expect(seen.first.proprioception.count == 4)
        #expect(seen.last.proprioception != seen.first.proprioception, "the expert did not move the arm")
        #expect(seen.again.frame == seen.first.frame)
        // A step without a frame: the server skipped the render, the proprioception is fresh; render() draws it.
        #expect(!seen.quiet.rendered && seen.quiet.observation.frame == seen.last.frame)
        #expect(seen.quiet.observation.proprioception != seen.last.proprioception)
        #expect(seen.drawn.frame.width == 48 && seen.drawn.proprioception == seen.quiet.observation.proprioception)
        #expect(throws: EnvironmentError.self) { try seen.unknownTask.get() }
        #expect(throws: EnvironmentError.self) { try seen.outOfRange.get() }
    }

    @Test("a bridge that dies is an error naming it, never a hang")
    func deadBridge() async throws {
        // A "server" that reads the greeting and exits with a message.
        let error = await #expect(throws: EnvironmentError.self) {
            try await Blocking.onOwnThread {
                try BridgeEnvironment(command: "/bin/sh", arguments: ["-c", "head -c 8 >/dev/null; echo boom >&2; exit 3"],
                                      timeout: .seconds(20)).close()
            }
        }
        let text = error?.description ?? ""
        #expect(text.contains("closed the connection"))
        #expect(text.contains("/bin/sh"))
    }

    @Test("a bridge that never answers times out")
    func silentBridge() async throws {
        await #expect(throws: EnvironmentError.self) {
            try await Blocking.onOwnThread {
                try BridgeEnvironment(command: "/bin/sh", arguments: ["-c", "sleep 30"], timeout: .seconds(1)).close()
            }
        }
    }
}
