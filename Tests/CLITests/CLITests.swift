import BusTestKit
import Foundation
import Testing

/// The operator's commands, run as separate processes against a real bus directory or broker.
@Suite("videoagent CLI", .timeLimit(.minutes(3)))
struct CLITests {
    /// Backends another process can reach (the mock cluster lives inside the test process).
    static let backends = Backend.available.filter { $0 != .kafkaMock }

    private func busURL(_ backend: Backend) -> String {
        switch backend {
        case .embedded: return "embedded://" + temporaryDirectory("cli")
        default: return "kafka://" + (Backend.brokerAddress ?? "127.0.0.1:9092")
        }
    }

    private func unique(_ name: String) -> String { "cli.\(name).\(UUID().uuidString.prefix(8).lowercased())" }

    @Test("produce, consume with a group, and replay print what was written", arguments: backends)
    func roundTrip(backend: Backend) async throws {
        let bus = busURL(backend)
        let topic = unique("rt")
        let created = try await CLIProcess.run(["topics", "create", "--bus", bus, topic, "--partitions", "1"])
        #expect(created.status == 0, "\(created.stderr)")
        let input = "k1\thello\n\tno key\nk2\ttab\\there and a \\\\ backslash\n"
        let produced = try await CLIProcess.run(["bus", "produce", "--bus", bus, "--topic", topic], stdin: input)
        #expect(produced.status == 0, "\(produced.stderr)")
        #expect(produced.stderr.contains("sent 3 record(s)"))

        let first = try await CLIProcess.run(["bus", "consume", "--bus", bus, "--topic", topic, "--group", "g", "--max", "2"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.lines == ["0\t0\tk1\thello", "0\t1\t\tno key"])
        // The group committed through what it printed: the next member gets only the rest.
        let second = try await CLIProcess.run(["bus", "consume", "--bus", bus, "--topic", topic, "--group", "g",
                                               "--idle-exit", "2"])
        #expect(second.lines == ["0\t2\tk2\ttab\\there and a \\\\ backslash"])

        let replay = try await CLIProcess.run(["bus", "replay", "--bus", bus, "--topic", topic, "--from-offset", "1",
                                               "--idle-exit", "1"])
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.lines.count == 2)
        let byTime = try await CLIProcess.run(["bus", "replay", "--bus", bus, "--topic", topic,
                                               "--from-time", "2020-01-01T00:00:00Z", "--idle-exit", "1"])
        #expect(byTime.lines.count == 3)
    }

    @Test("a group member killed with SIGKILL mid-stream loses no record", arguments: backends)
    func killedMember(backend: Backend) async throws {
        let bus = busURL(backend)
        let topic = unique("kill")
        _ = try await CLIProcess.run(["topics", "create", "--bus", bus, topic, "--partitions", "4"])
        let consume = ["bus", "consume", "--bus", bus, "--topic", topic, "--group", "members", "--session-timeout", "3",
                       "--idle-exit", "12"]
        let a = try CLIProcess.Running(consume)
        let b = try CLIProcess.Running(consume)
        // Produce steadily while the members work, so A dies in the middle of the stream.
        let total = 600
        let producer = try CLIProcess.Running(["bus", "produce", "--bus", bus, "--topic", topic, "--batch", "10"])
        for i in 0..<total {
            producer.write("key-\(i % 24)\tvalue-\(i)\n")
            if i % 50 == 49 { try await Task.sleep(for: .milliseconds(150)) }
            if i == total / 2 {
                // Wait until A has printed something, then kill it without warning.
                let deadline = ContinuousClock.now + .seconds(30)
                while a.stdoutLines.isEmpty && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
                a.kill()
            }
        }
        producer.closeInput()
        let produced = await producer.finish()
        #expect(produced.status == 0, "\(produced.stderr)")
        let fromA = await a.finish()
        let fromB = await b.finish()
        #expect(fromA.status != 0, "A was killed")
        #expect(!fromA.lines.isEmpty, "A printed before it died")
        let values = (fromA.lines + fromB.lines).compactMap { $0.split(separator: "\t").last.map(String.init) }
        let missing = Set((0..<total).map { "value-\($0)" }).subtracting(values)
        #expect(missing.isEmpty, "lost \(missing.count) record(s), e.g. \(missing.sorted().prefix(5))")
    }

    @Test("wrong arguments say what is wrong and how to fix it")
    func badArguments() async throws {
        let noBus = try await CLIProcess.run(["bus", "consume", "--topic", "t", "--group", "g"])
        #expect(noBus.status != 0)
        #expect(noBus.stderr.contains("--bus"))
        let badScheme = try await CLIProcess.run(["topics", "describe", "--bus", "redis://localhost"])
        #expect(badScheme.status != 0)
        #expect(badScheme.stderr.contains("embedded://") && badScheme.stderr.contains("kafka://"))
        let noStart = try await CLIProcess.run(["bus", "replay", "--bus", "embedded:///tmp/x", "--topic", "t"])
        #expect(noStart.stderr.contains("--from-offset") && noStart.stderr.contains("--from-time"))
        let badTime = try await CLIProcess.run(["bus", "replay", "--bus", "embedded:///tmp/x", "--topic", "t",
                                                "--from-time", "yesterday"])
        #expect(badTime.status != 0)
        #expect(badTime.stderr.contains("2026-11-25T10:00:00Z"))
        let kafkaSettingOnEmbedded = try await CLIProcess.run(["topics", "describe", "--bus", "embedded:///tmp/x",
                                                               "-X", "security.protocol=SSL"])
        #expect(kafkaSettingOnEmbedded.stderr.contains("kafka://"))
        let missingTopic = try await CLIProcess.run(["bus", "produce", "--bus", "embedded://" + temporaryDirectory("cli"),
                                                     "--topic", "nope"], stdin: "k\tv\n")
        #expect(missingTopic.status != 0)
        #expect(missingTopic.stderr.contains("topics create"))
    }

    @Test("values that break the topic's schema are refused line by line; the rest is sent")
    func produceValidates() async throws {
        let bus = busURL(.embedded)
        _ = try await CLIProcess.run(["topics", "create", "--bus", bus])
        let result = try await CLIProcess.run(["bus", "produce", "--bus", bus, "--topic", "videoagent.deadletter.v1"],
                                              stdin: "k\t{\"not\": \"a dead letter\"}\nno tab here\n")
        #expect(result.status == 1)
        #expect(result.stderr.contains("line 1:") && result.stderr.contains("missing required member"))
        #expect(result.stderr.contains("line 2:") && result.stderr.contains("key<TAB>value"))
        #expect(result.stderr.contains("sent 0 record(s)"))
    }

    @Test("topics validate checks the specs, and values in a file")
    func topicsValidate() async throws {
        let specs = try await CLIProcess.run(["topics", "validate"])
        #expect(specs.status == 0, "\(specs.stderr)")
        #expect(specs.stdout.contains("7 topic specs"))
        let file = temporaryDirectory("cli") + "/values.jsonl"
        try "{\"source_topic\": 3}\nnot json\n".write(toFile: file, atomically: true, encoding: .utf8)
        let values = try await CLIProcess.run(["topics", "validate", "--topic", "videoagent.deadletter.v1", "--input", file])
        #expect(values.status == 1)
        #expect(values.stdout.contains("line 1:") && values.stdout.contains("line 2: not valid JSON"))
        #expect(values.stdout.contains("2 value(s) checked"))
    }
}

/// The model commands end to end on a micro configuration: collect, train, generate, refine,
/// measure — what an operator runs, in miniature.
@Suite("videoagent model commands", .timeLimit(.minutes(5)))
struct ModelCommandTests {
    @Test("collect → train (micro) → generate → refine → quality")
    func pipeline() async throws {
        let root = temporaryDirectory("pipeline")
        let collect = try await CLIProcess.run(["collect", "--tasks", "button-press,drawer-open", "--cameras", "corner",
                                                "--episodes", "3", "--resolution", "16", "--out", root + "/data"])
        #expect(collect.status == 0, "\(collect.stderr)")
        #expect(collect.stdout.contains("expert success 3/3"))
        let train = try await CLIProcess.run(["train", "--data", root + "/data", "--out", root + "/run", "--preset", "micro",
                                              "--steps", "24", "--batch", "4", "--refine-start", "12", "--refine-every", "6",
                                              "--pool-size", "4", "--pool-steps", "2", "--log-every", "6", "--checkpoint-every", "12"])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("step 24/24"))
        let csv = try String(contentsOfFile: root + "/run/loss.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 5)  // header and 4 progress rows
        let frame = root + "/data/episodes/drawer-open/corner/seed-0/frame_000.png"
        let generate = try await CLIProcess.run(["generate", "--checkpoint", root + "/run/model.safetensors", "--frame", frame,
                                                 "--task", "open the drawer", "--steps", "3", "--out", root + "/plan"])
        #expect(generate.status == 0, "\(generate.stderr)")
        #expect(FileManager.default.fileExists(atPath: root + "/plan/frame_007.png"))
        let refine = try await CLIProcess.run(["refine", "--checkpoint", root + "/run/model.safetensors", "--frames", root + "/plan",
                                               "--task", "open the drawer", "--iterations", "2", "--steps", "3", "--out", root + "/refined"])
        #expect(refine.status == 0, "\(refine.stderr)")
        // The plan folder holds frame_000 … frame_007 and strip.png; the strip is not a frame.
        #expect(refine.stdout.contains("a plan of 7 frame(s) after the observation frame_000.png"), "\(refine.stdout)")
        #expect(FileManager.default.fileExists(atPath: root + "/refined/iteration-2/frame_007.png"))
        let quality = try await CLIProcess.run(["quality", "--checkpoint", root + "/run/model.safetensors", "--data", root + "/data",
                                                "--iterations", "1", "--clips", "2", "--steps", "2", "--out", root + "/quality"])
        #expect(quality.status == 0, "\(quality.stderr)")
        #expect(FileManager.default.fileExists(atPath: root + "/quality/quality.png"))
        let unknown = try await CLIProcess.run(["generate", "--checkpoint", root + "/run/model.safetensors", "--frame", frame,
                                                "--task", "juggle", "--out", root + "/x"])
        #expect(unknown.status != 0 && unknown.stderr.contains("open the drawer"))
        // The plan follower, then the evaluation in the paper's protocol with every variant.
        let follow = try await CLIProcess.run(["train-follower", "--data", root + "/data", "--out", root + "/follower", "--preset", "micro",
                                               "--steps", "20", "--batch", "8", "--log-every", "10", "--checkpoint-every", "20"])
        #expect(follow.status == 0, "\(follow.stderr)")
        #expect(follow.stdout.contains("step 20/20"))
        // --resume without --steps runs to the end of the run's own schedule, where this one already is.
        let finished = try await CLIProcess.run(["train-follower", "--data", root + "/data", "--out", root + "/follower", "--resume"])
        #expect(finished.status != 0 && finished.stderr.contains("already at step 20 of 20"), "\(finished.stderr)")
        let eval = try await CLIProcess.run(["eval", "--tasks", "button-press", "--cameras", "corner", "--seeds", "2",
                                             "--variants", "oracle,oracle+replan,base,refine,replan,refine+replan,refine+critic,refine+critic+replan,"
                                                + "select+critic,select+critic+replan",
                                             "--critic", "motion", "--iterations", "1", "--candidates", "2",
                                             "--plan-model", root + "/run/model.safetensors", "--follower", root + "/follower/model.safetensors",
                                             "--sampling-steps", "2", "--max-replans", "1", "--stall-steps", "5", "--out", root + "/eval"])
        #expect(eval.status == 0, "\(eval.stderr)")
        let report = try String(contentsOfFile: root + "/eval/report.md", encoding: .utf8)
        for method in ["oracle (true demonstration as plan)", "oracle + replan", "| base |", "refine (K = 1)", "base + replan", "refine + replan",
                       "refine until the critic accepts (K ≤ 1)", "refine until the critic accepts + replan",
                       "best of 2 plans by the critic |", "best of 2 plans by the critic + replan"] {
            #expect(report.contains(method), "report lacks \(method)")
        }
        #expect(FileManager.default.fileExists(atPath: root + "/eval/iterations.png"))
        #expect(FileManager.default.fileExists(atPath: root + "/eval/strips.png"))
        let lines = try String(contentsOfFile: root + "/eval/episodes.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2 * 10)  // 2 seeds × (the two oracle arms, iteration 0, iteration 1, replan, refine+replan and the four critic arms)
        // Every built-in episode says how far it ended from success: 0 exactly when it succeeded; failures get a table.
        let episodes = try lines.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        for episode in episodes {
            let shortfall = try #require(episode["shortfall"] as? Double, "\(episode) has no shortfall")
            let success = try #require(episode["success"] as? Bool)
            #expect((shortfall == 0) == success, "\(episode): \(shortfall) m, success \(success)")
        }
        #expect(report.contains("How far failed episodes ended from success") == episodes.contains { $0["success"] as? Bool == false })
        // Resuming a finished run runs nothing again.
        let again = try await CLIProcess.run(["eval", "--tasks", "button-press", "--cameras", "corner", "--seeds", "2",
                                              "--variants", "oracle", "--follower", root + "/follower/model.safetensors",
                                              "--out", root + "/eval", "--resume"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try String(contentsOfFile: root + "/eval/episodes.jsonl", encoding: .utf8).split(separator: "\n").count == 20)
        // Descriptive feedback: finetune the plan model on a critic's categories, then refine on them.
        let describe = try await CLIProcess.run(["train", "--init-from", root + "/run/model.safetensors", "--descriptive-feedback",
                                                 "--critic", "motion", "--data", root + "/data", "--out", root + "/run-descriptive",
                                                 "--steps", "6", "--batch", "4", "--refine-every", "3", "--pool-size", "4",
                                                 "--pool-steps", "2", "--log-every", "3"])
        #expect(describe.status == 0, "\(describe.stderr)")
        #expect(describe.stdout.contains("refinement pairs at step 0:"), "\(describe.stdout)")
        let descriptiveEval = try await CLIProcess.run(["eval", "--tasks", "button-press", "--cameras", "corner", "--seeds", "1",
                                                        "--variants", "refine+critic", "--critic", "motion", "--feedback", "descriptive",
                                                        "--iterations", "1", "--plan-model", root + "/run-descriptive/model.safetensors",
                                                        "--follower", root + "/follower/model.safetensors", "--sampling-steps", "2",
                                                        "--out", root + "/eval-descriptive"])
        #expect(descriptiveEval.status == 0, "\(descriptiveEval.stderr)")
        #expect(descriptiveEval.stdout.contains("descriptive feedback"), "\(descriptiveEval.stdout)")
        let needsCritic = try await CLIProcess.run(["train", "--init-from", root + "/run/model.safetensors", "--descriptive-feedback",
                                                    "--data", root + "/data", "--out", root + "/x4"])
        #expect(needsCritic.status != 0 && needsCritic.stderr.contains("--descriptive-feedback needs --critic"), "\(needsCritic.stderr)")
        // Bad input: one line naming the fix.
        for (arguments, mention) in [
            (["--tasks", "juggling"], "unknown task 'juggling'"),
            (["--variants", "refine+critic", "--critic", "motion", "--feedback", "descriptive",
              "--plan-model", root + "/run/model.safetensors"], "refines without feedback categories"),
            (["--feedback", "verbose"], "use binary"),
            (["--variants", "oracle,best"], "unknown variant 'best'"),
            (["--variants", "oracle+replan", "--env", "metaworld"], "only the built-in suite can do"),
            (["--ensemble-decay=-1"], "--ensemble-decay must be 0 or more"),
            (["--frame-every", "3"], "needs a frame every 1 to 2 steps"),
            (["--candidates", "0"], "--candidates"),
            (["--variants", "select+critic", "--tasks", "button-press", "--plan-model", root + "/run/model.safetensors"],
             "the critic variants need a judge"),
            (["--plan-model", CLIProcess.packageRoot + "/models/builtin-plan/model.safetensors"], "16-pixel plans"),
        ] {
            let bad = try await CLIProcess.run(["eval", "--cameras", "corner", "--seeds", "1", "--follower", root + "/follower/model.safetensors",
                                                "--out", root + "/bad-\(UUID().uuidString.prefix(4))"] + arguments)
            #expect(bad.status != 0 && bad.status < 128, "\(arguments): status \(bad.status)")
            #expect(bad.stderr.contains(mention), "\(arguments): \(bad.stderr)")
            // The usage line shown is eval's, not the root's.
            #expect(!bad.stderr.contains("videoagent <subcommand>"), "\(arguments): \(bad.stderr)")
        }
        // A dataset without proprioception cannot teach the follower.
        let record = root + "/data/episodes/button-press/corner/seed-0/episode.json"
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: record))) as! [String: Any]
        json["proprioception"] = [[Float]]()
        try FileManager.default.createDirectory(atPath: root + "/noproprio/episodes/button-press/corner/seed-0", withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: root + "/noproprio/episodes/button-press/corner/seed-0/episode.json"))
        let noProprio = try await CLIProcess.run(["train-follower", "--data", root + "/noproprio", "--out", root + "/x2", "--preset", "micro"])
        #expect(noProprio.status != 0 && noProprio.stderr.contains("proprioception"), "\(noProprio.stderr)")
        // A landmark head needs datasets that record landmarks.
        var plain = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: record))) as! [String: Any]
        plain["landmarks"] = nil
        try FileManager.default.createDirectory(atPath: root + "/nolandmarks/episodes/button-press/corner", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: root + "/data/episodes/button-press/corner/seed-0",
                                         toPath: root + "/nolandmarks/episodes/button-press/corner/seed-0")
        try JSONSerialization.data(withJSONObject: plain).write(to: URL(fileURLWithPath: root + "/nolandmarks/episodes/button-press/corner/seed-0/episode.json"))
        let noLandmarks = try await CLIProcess.run(["train-follower", "--data", root + "/nolandmarks", "--out", root + "/x3", "--preset", "micro",
                                                    "--landmarks", "3"])
        #expect(noLandmarks.status != 0 && noLandmarks.stderr.contains("landmarks per frame"), "\(noLandmarks.stderr)")
        // Resume continues from the saved step.
        let resumed = try await CLIProcess.run(["train", "--out", root + "/run", "--resume", "--steps", "30", "--log-every", "6"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("resuming at step 24") && resumed.stdout.contains("step 30/30"))
        // Without --steps a resumed run ends where it was last told to, not at the default 3000.
        let resumedAgain = try await CLIProcess.run(["train", "--out", root + "/run", "--resume", "--log-every", "6"])
        #expect(resumedAgain.status == 0 && resumedAgain.stdout.contains("resuming at step 30 of 30") && !resumedAgain.stdout.contains("step 36"), "\(resumedAgain.stdout)")
    }
}
