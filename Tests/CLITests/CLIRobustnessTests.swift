import BusTestKit
import Foundation
import Testing

/// What a careless or hostile operator does to the commands: each must end with a clear message
/// and lose nothing, never crash (a crash shows as a status above 128) or hang.
@Suite("videoagent CLI under misuse", .timeLimit(.minutes(3)))
struct CLIRobustnessTests {
    private func embeddedBus(topic: String = "t") async throws -> (url: String, directory: String) {
        let directory = temporaryDirectory("misuse")
        let url = "embedded://" + directory
        let created = try await CLIProcess.run(["topics", "create", "--bus", url, topic, "--partitions", "1"])
        #expect(created.status == 0, "\(created.stderr)")
        return (url, directory)
    }

    private func replay(_ url: String, topic: String = "t") async throws -> CLIProcess.Result {
        try await CLIProcess.run(["bus", "replay", "--bus", url, "--topic", topic, "--from-offset", "0", "--idle-exit", "1"])
    }

    @Test("numbers the parser accepts but the command cannot use are refused with the option's name", arguments: [
        (["bus", "consume", "--bus", "embedded:///tmp/x", "--topic", "t", "--group", "g", "--idle-exit", "inf"], "--idle-exit"),
        (["bus", "replay", "--bus", "embedded:///tmp/x", "--topic", "t", "--from-offset", "0", "--idle-exit", "nan"], "--idle-exit"),
        (["generate", "--checkpoint", "m", "--frame", "f.png", "--task", "x", "--out", "o", "--guidance", "nan"], "--guidance"),
        (["eval", "--out", "o", "--guidance", "nan"], "--guidance"),
        (["show", "--data", "d", "--out", "o.png", "--cell", "100000"], "--cell"),
        (["train", "--data", "d", "--out", "o", "--log-every", "0"], "--log-every"),
        (["collect", "--out", "o", "--seed-start", "18446744073709551615"], "--seed-start"),
        (["collect", "--out", "o", "--max-steps", "0"], "--max-steps"),
        (["collect", "--out", "o", "--driver", "follower-branches"], "--driver follower-branches needs --follower PATH"),
        (["collect", "--out", "o", "--driver", "follower-branches", "--follower", "f", "--branch-every", "0"], "--branch-every"),
        (["collect", "--out", "o", "--driver", "follower-branches", "--follower", "f", "--branch-plans", "true"],
         "--branch-plans true: use demonstration or model"),
        (["collect", "--out", "o", "--branch-plans", "model"], "--branch-plans model is for --driver follower-branches"),
        (["collect", "--out", "o", "--wrist-camera", "64", "--wrist-height", "2"], "--wrist-height must be a number from 0.03 to 0.5"),
        (["collect", "--out", "o", "--wrist-height", "0.2"], "--wrist-height places the wrist camera: give --wrist-camera N too"),
        (["topics", "describe", "--bus", "kafka://127.0.0.1:99999"], "port 99999"),
        (["critique", "--frames", "f", "--task", "x", "--critic", "vlm"], "--vlm-url"),
        (["critique", "--frames", "f", "--task", "x", "--critic", "vlm", "--vlm-url", "ftp://h/v1", "--vlm-model", "m"], "--vlm-url"),
        (["critique", "--frames", "f", "--task", "x", "--critic", "vlm", "--vlm-url", "http://h/v1"], "--vlm-model"),
        (["critique", "--frames", "f", "--task", "x", "--vlm-model", "gpt-4o"], "--critic vlm"),
        (["eval", "--out", "o", "--critic", "vlm", "--vlm-url", "http://h/v1", "--vlm-model", "m", "--vlm-mode", "chatty"], "--vlm-mode"),
        (["train-critic", "--out", "o"], "--data DIR is required"),
        (["train-follower", "--data", "d", "--out", "o", "--init-from", "/no/such/follower.safetensors"], "--init-from"),
        (["train-follower", "--data", "d", "--out", "o", "--init-from", "m", "--resume"], "--init-from starts a new run"),
        (["train-follower", "--data", "d", "--out", "o", "--init-from", "m", "--preset", "micro"], "fixed by the follower"),
        (["train-follower", "--data", "d", "--out", "o", "--resolution", "48"], "1×, 2× or 4× its plan resolution"),
        (["train-follower", "--data", "d", "--out", "o", "--width", "0"], "--width must be from 1 to 256"),
        (["train-follower", "--data", "d", "--out", "o", "--resume", "--hidden", "512"], "--width and --hidden are fixed"),
        (["train-follower", "--data", "d", "--out", "o", "--final-goal", "1.5"], "--final-goal must be a number from 0.0 to 1.0"),
        (["train-follower", "--data", "d", "--out", "o", "--wrist-height", "0.2"], "--wrist-height places the wrist camera: give --wrist N too"),
        (["train-follower", "--data", "d", "--out", "o", "--resume", "--wrist-height", "0.2"], "--wrist-height is fixed by the run being resumed"),
        (["train-follower", "--data", "d", "--out", "o", "--shift", "9"], "--shift must be from 0 to 8, not 9"),
        (["train-follower", "--data", "d", "--out", "o", "--resume", "--wrist-shift", "0"], "--shift and --wrist-shift are fixed by the run being resumed"),
        (["train-follower", "--data", "d", "--out", "o", "--resume", "--final-goal", "0.2"], "--final-goal is fixed by the run being resumed"),
        (["train-critic", "--data", "d", "--out", "o", "--cross-fit"], "--cross-fit needs --members 2"),
        (["train-critic", "--data", "d", "--out", "o", "--score", "m", "--heldout", "h", "--task-thresholds"], "--score PATH"),
    ])
    func refusedNumbers(arguments: [String], mention: String) async throws {
        let result = try await CLIProcess.run(arguments)
        #expect(result.status != 0 && result.status < 128, "status \(result.status): \(result.stderr)")
        #expect(result.stderr.contains(mention), "\(result.stderr)")
    }

    @Test("critique refuses a frames folder of mixed sizes and a damaged critic, and judges a good plan")
    func critiqueInputs() async throws {
        let directory = temporaryDirectory("critique")
        let collected = try await CLIProcess.run(["collect", "--tasks", "button-press", "--cameras", "corner", "--episodes", "1",
                                                  "--resolution", "16", "--out", directory + "/data"])
        #expect(collected.status == 0, "\(collected.stderr)")
        let episode = directory + "/data/episodes/button-press/corner/seed-0"
        let judged = try await CLIProcess.run(["critique", "--frames", episode, "--task", "press the button"])
        #expect(judged.status == 0, "\(judged.stderr)")
        #expect(judged.stdout.contains("\"critic\" : \"motion-heuristic\""), "\(judged.stdout)")
        try FileManager.default.copyItem(atPath: CLIProcess.packageRoot + "/fuzz/seeds/png/rgb-4x3.png", toPath: episode + "/frame_999.png")
        let mixed = try await CLIProcess.run(["critique", "--frames", episode, "--task", "press the button"])
        #expect(mixed.status != 0 && mixed.status < 128 && mixed.stderr.contains("mixed sizes"), "\(mixed.stderr)")
        try Data("junk".utf8).write(to: URL(fileURLWithPath: directory + "/critic.safetensors"))
        let damaged = try await CLIProcess.run(["critique", "--critic", directory + "/critic.safetensors", "--frames", episode,
                                                "--task", "press the button"])
        #expect(damaged.status != 0 && damaged.status < 128, "\(damaged.stderr)")
    }

    @Test("collect with no tasks writes nothing and says so")
    func emptyTaskList() async throws {
        let out = temporaryDirectory("misuse") + "/data"
        let result = try await CLIProcess.run(["collect", "--tasks", "", "--out", out])
        #expect(result.status != 0 && result.status < 128)
        #expect(result.stderr.contains("no task given"))
        #expect(!FileManager.default.fileExists(atPath: out + "/summary.json"))
    }

    @Test("a read-only command on a mistyped embedded path is an error and creates nothing")
    func mistypedBusPath() async throws {
        let missing = temporaryDirectory("misuse") + "/no-such-bus"
        for arguments in [["topics", "describe", "--bus", "embedded://" + missing],
                          ["bus", "replay", "--bus", "embedded://" + missing, "--topic", "t", "--from-offset", "0"]] {
            let result = try await CLIProcess.run(arguments)
            #expect(result.status != 0 && result.status < 128)
            #expect(result.stderr.contains("no embedded bus") && result.stderr.contains("topics create"), "\(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: missing))
    }

    @Test("produce fails loudly when the topic specs cannot be loaded, unless told not to validate")
    func missingSpecs() async throws {
        let (url, _) = try await embeddedBus()
        let refused = try await CLIProcess.run(["bus", "produce", "--bus", url, "--topic", "t", "--topics", "/nonexistent"],
                                               stdin: "k\tv\n")
        #expect(refused.status != 0 && refused.status < 128)
        #expect(refused.stderr.contains("--no-validate"), "\(refused.stderr)")
        #expect(try await replay(url).lines.isEmpty)
        let sent = try await CLIProcess.run(["bus", "produce", "--bus", url, "--topic", "t", "--topics", "/nonexistent",
                                             "--no-validate"], stdin: "k\tv\n")
        #expect(sent.status == 0, "\(sent.stderr)")
        #expect(try await replay(url).lines == ["0\t0\tk\tv"])
    }

    @Test("an oversized value is refused by line number; the rest of its batch is sent")
    func oversizedLine() async throws {
        let (url, directory) = try await embeddedBus()
        // The topic takes records of at most 200 bytes.
        let metadataPath = directory + "/topics/t/topic.json"
        var metadata = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: metadataPath))) as! [String: Any]
        metadata["settings"] = ["max.message.bytes": "200"]
        try JSONSerialization.data(withJSONObject: metadata).write(to: URL(fileURLWithPath: metadataPath))
        let input = "a\tsmall\nb\t" + String(repeating: "x", count: 1000) + "\nc\talso small\n"
        let result = try await CLIProcess.run(["bus", "produce", "--bus", url, "--topic", "t", "--batch", "10"], stdin: input)
        #expect(result.status == 1)
        #expect(result.stderr.contains("line 2:") && result.stderr.contains("max.message.bytes"), "\(result.stderr)")
        #expect(result.stderr.contains("sent 2 record(s)"))
        #expect(try await replay(url).lines.map { $0.split(separator: "\t")[2] } == ["a", "c"])
    }

    @Test("streaming produce sends after its linger time and flushes on SIGTERM")
    func lingerAndSignal() async throws {
        let (url, _) = try await embeddedBus()
        let producer = try CLIProcess.Running(["bus", "produce", "--bus", url, "--topic", "t", "--linger-ms", "100"])
        producer.write("k\tfirst\nk\tsecond\n")
        // Input stays open: the lines must still arrive.
        var seen: [String] = []
        let deadline = ContinuousClock.now + .seconds(20)
        while seen.count < 2 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            seen = try await replay(url).lines
        }
        #expect(seen.count == 2, "lines waiting for a full batch were not sent")
        producer.write("k\tthird\n")
        try await Task.sleep(for: .milliseconds(30))
        producer.terminate()
        let result = await producer.finish(timeout: .seconds(20))
        #expect(result.status == 128 + 15, "\(result.stderr)")
        #expect(try await replay(url).lines.count == 3, "\(result.stderr)")
    }

    @Test("consume into a pipe that closes commits only what the reader took")
    func consumeIntoHead() async throws {
        let (url, _) = try await embeddedBus()
        let lines = (0..<2000).map { "k\tvalue-\($0)\n" }.joined()
        _ = try await CLIProcess.run(["bus", "produce", "--bus", url, "--topic", "t"], stdin: lines)
        let shell = try await ShellPipeline.run(
            "\"$VIDEOAGENT\" bus consume --bus \(url) --topic t --group g --idle-exit 2 | head -n 3")
        #expect(shell.split(separator: "\n").count == 3)
        let next = try await CLIProcess.run(["bus", "consume", "--bus", url, "--topic", "t", "--group", "g", "--max", "1"])
        #expect(next.lines.first?.hasPrefix("0\t3\t") == true, "the group resumed at \(next.lines.first ?? "nothing")")
    }

    @Test("bytes that are not UTF-8 survive a produce and consume round trip as \\xHH")
    func invalidUTF8() async throws {
        let (url, _) = try await embeddedBus()
        let produced = try await CLIProcess.run(["bus", "produce", "--bus", url, "--topic", "t"], stdin: "k\tok\\xff\\xfe é\n")
        #expect(produced.status == 0, "\(produced.stderr)")
        #expect(try await replay(url).lines == ["0\t0\tk\tok\\xff\\xfe é"])
    }

    @Test("one flipped byte: consume reports the lost offset and goes on; check finds it; repair salvages")
    func flippedByte() async throws {
        let (url, directory) = try await embeddedBus()
        let lines = (0..<20).map { "k\tvalue-\($0)\n" }.joined()
        _ = try await CLIProcess.run(["bus", "produce", "--bus", url, "--topic", "t"], stdin: lines)
        let segment = directory + "/topics/t/0/00000000000000000000.log"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: segment))
        bytes[bytes.count / 2] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: segment))

        let consumed = try await CLIProcess.run(["bus", "consume", "--bus", url, "--topic", "t", "--group", "g", "--idle-exit", "1"])
        #expect(consumed.status == 1)
        #expect(consumed.lines.count == 19)
        #expect(consumed.stderr.contains("lost"), "\(consumed.stderr)")
        let produced = try await CLIProcess.run(["bus", "produce", "--bus", url, "--topic", "t"], stdin: "k\tafter\n")
        #expect(produced.status == 0, "\(produced.stderr)")
        #expect(try await replay(url).lines.last == "0\t20\tk\tafter")

        let check = try await CLIProcess.run(["bus", "check", "--bus", url])
        #expect(check.status == 1)
        #expect(check.stdout.contains("damage:"), "\(check.stdout)")
        let repair = try await CLIProcess.run(["bus", "check", "--bus", url, "--repair"])
        #expect(repair.status == 0, "\(repair.stdout)\(repair.stderr)")
        #expect(try await replay(url).lines.count == 20)
    }
}

/// A shell pipeline with the binary in `$VIDEOAGENT`, for what only a real pipe shows.
enum ShellPipeline {
    static func run(_ command: String) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        var environment = ProcessInfo.processInfo.environment
        environment["VIDEOAGENT"] = CLIProcess.binary
        environment["VIDEOAGENT_TOPICS"] = CLIProcess.packageRoot + "/topics"
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = try await Task.detached { try output.fileHandleForReading.readToEnd() ?? Data() }.value
        while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        return String(decoding: data, as: UTF8.self)
    }
}
