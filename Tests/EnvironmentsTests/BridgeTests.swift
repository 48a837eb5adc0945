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

    @Test("reset, step and the expert round-trip through the bridge", .enabled(if: available))
    func roundTrip() throws {
        let env = try BridgeEnvironment.metaWorld(python: Self.python, script: Self.script)
        defer { env.close() }
        #expect(env.tasks.count == 11 && env.cameras == ["corner", "corner2", "corner3"])
        let first = try env.reset(task: "button-press-topdown", seed: 3, camera: "corner", resolution: 48)
        #expect(first.frame.width == 48 && first.frame.height == 48)
        #expect(first.proprioception.count == 4)
        var last = first
        for _ in 0..<5 { last = try env.step(try env.expertAction()).observation }
        #expect(last.proprioception != first.proprioception, "the expert did not move the arm")
        // The same seed gives the same first frame.
        let again = try env.reset(task: "button-press-topdown", seed: 3, camera: "corner", resolution: 48)
        #expect(again.frame == first.frame)
        #expect(throws: EnvironmentError.self) { try env.reset(task: "juggle", seed: 0, camera: "corner", resolution: 48) }
        #expect(throws: EnvironmentError.self) { try env.step([2, 0, 0, 0]) }
    }

    @Test("a bridge that dies is an error naming it, never a hang")
    func deadBridge() throws {
        // A "server" that reads the greeting and exits with a message.
        let error = #expect(throws: EnvironmentError.self) {
            _ = try BridgeEnvironment(command: "/bin/sh", arguments: ["-c", "head -c 8 >/dev/null; echo boom >&2; exit 3"],
                                      timeout: .seconds(20))
        }
        let text = error?.description ?? ""
        #expect(text.contains("closed the connection"))
        #expect(text.contains("/bin/sh"))
    }

    @Test("a bridge that never answers times out")
    func silentBridge() throws {
        #expect(throws: EnvironmentError.self) {
            _ = try BridgeEnvironment(command: "/bin/sh", arguments: ["-c", "sleep 30"], timeout: .seconds(1))
        }
    }
}
