import ArgumentParser
import Bus
import BusEmbedded
import Foundation
import TopicCatalog

struct BusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bus",
        abstract: "Write, read and replay records by hand (operators, audits, debugging).",
        subcommands: [Produce.self, Consume.self, Replay.self, Check.self])

    struct Produce: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write records read from standard input, one `key<TAB>value` line each.",
            discussion: """
                An empty key means no key. Inside keys and values write \\t, \\n, \\r and \\\\ for tab, newline,
                carriage return and backslash, and \\xHH for a byte that is not UTF-8. Values of topics that have a
                spec are checked against its schema and size limit first; lines that fail are reported with their
                line number and not sent. Lines are sent in batches of --batch, and a batch waiting for more input
                is sent after --linger-ms; SIGINT and SIGTERM send what was read before exiting.
                The exit status is 1 when any line was refused or not sent.
                """)

        @OptionGroup var bus: BusOptions
        @Option(help: "The topic to write to.") var topic: String
        @Flag(help: "Send values without the schema and size checks of the topic specs (then no specs are needed).")
        var noValidate = false
        @Option(help: "Lines sent per acknowledged batch.") var batch = 500
        @Option(help: "Milliseconds a batch waits for more lines before it is sent anyway.") var lingerMs = 50

        func validate() throws {
            guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
            guard (1...60_000).contains(lingerMs) else { throw ValidationError("--linger-ms must be 1 to 60000") }
        }

        func run() async throws {
            LogSetup.bootstrapped
            let catalog: TopicCatalog?
            if noValidate {
                catalog = nil
            } else {
                do {
                    catalog = try bus.common.catalog()
                } catch {
                    throw ValidationError("cannot load the topic specs for schema and size checks (\(error)); "
                        + "give --topics DIR, or --no-validate to send without them")
                }
            }
            let spec = catalog?.spec(topic)
            let report = try await using(try await bus.open(catalog: catalog)) { messageBus in
                let limits = try await RecordLimits(bus: messageBus, topic: topic)
                return try await using(try await messageBus.makeProducer()) { producer in
                    var session = ProduceSession(topic: topic, spec: spec, limits: limits, producer: producer)
                    let events = InputEvents(tick: .milliseconds(Int64(lingerMs)))
                    defer { events.cancel() }
                    let linger = Duration.milliseconds(Int64(lingerMs))
                    reading: for await event in events.stream {
                        switch event {
                        case .line(let line):
                            session.add(line)
                            if session.pendingCount >= batch { try await session.flush() }
                        case .tick:
                            if session.pendingAge.map({ $0 >= linger }) ?? false { try await session.flush() }
                        case .end:
                            break reading
                        case .signal(let number):
                            session.stoppedBy = number
                            break reading
                        }
                        if session.failed { break reading }
                    }
                    if !session.failed { try await session.flush() }
                    return session
                }
            }
            printError(report.summary)
            if let signal = report.stoppedBy { throw ExitCode(128 + signal) }
            if report.refused > 0 || report.failed { throw ExitCode(1) }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check an embedded bus's logs for damage, lost offsets and torn writes; --repair salvages.",
            discussion: """
                Reads every segment of every partition from its first byte. Reports damaged bytes (with the
                offsets they cost), offsets no record holds (a deleted segment file), the unfinished tail of
                a writer that died mid-append, stale segment indexes, and consumer groups that committed past
                the end of a log. With --repair, under the writers' lock: torn tails are cut, damaged segments
                are rewritten with their valid records (the original is kept beside as <base>.damaged-<time>),
                indexes are rewritten and commits beyond the end are moved to the end. Lost offsets stay lost
                and readers go on reporting them. Stop the stages using the bus before repairing.
                The exit status is 1 when a problem is left.
                """)

        @OptionGroup var bus: BusOptions
        @Argument(help: "Topics to check (default: all).") var names: [String] = []
        @Flag(help: "Repair what can be repaired.") var repair = false

        func run() async throws {
            LogSetup.bootstrapped
            let results = try await using(try await bus.open()) { messageBus in
                guard let embedded = messageBus.transport as? EmbeddedTransport else {
                    throw ValidationError("bus check reads embedded:// logs; a Kafka cluster checks its own (kafka-log-dirs, "
                        + "kafka-dump-log)")
                }
                return try await embedded.check(topics: names.isEmpty ? nil : names, repair: repair)
            }
            var left = 0
            for result in results {
                let head = "\(result.topicPartition): \(result.segments) segment(s), offsets "
                    + "\(result.startOffset)..<\(result.endOffset), \(result.records) record(s)"
                print(head + (result.problems.isEmpty ? ": ok" : ""))
                for problem in result.problems {
                    print("  \(problem)")
                    if !problem.repaired && problem.kind != .missingOffsets { left += 1 }
                    if problem.kind == .missingOffsets && !repair { left += 1 }
                }
            }
            let problems = results.reduce(0) { $0 + $1.problems.count }
            print("\(results.count) partition(s) checked: \(problems) problem(s)" + (repair ? ", \(problems - left) repaired" : ""))
            if left > 0 { throw ExitCode(1) }
        }
    }

    struct Consume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read a topic as a member of a consumer group; print `partition<TAB>offset<TAB>key<TAB>value`.",
            discussion: """
                Offsets are committed after the records are printed, so a consumer killed at any point resumes
                after the last record it printed and committed; nothing is skipped (a record may be printed
                twice). Records that cannot be decoded are reported on standard error and committed.
                """)

        @OptionGroup var bus: BusOptions
        @Option(help: "The topic to read.") var topic: String
        @Option(help: "The consumer group; members of one group share the partitions.") var group: String
        @Option(help: "Stop after this many records.") var max: Int?
        @Option(help: ArgumentHelp("Stop once nothing arrived for this many seconds.", valueName: "SECONDS"))
        var idleExit: Double?
        @Option(help: "Where a group with no committed offset starts: earliest or latest.")
        var start: String = "earliest"
        @Option(help: ArgumentHelp("A member silent this long is dropped and its partitions move to the others.",
                                   valueName: "SECONDS"))
        var sessionTimeout: Double = 10

        func validate() throws {
            if let max, max < 1 { throw ValidationError("--max must be at least 1") }
            if let idleExit { try OptionChecks.seconds(idleExit, "--idle-exit") }
            try OptionChecks.seconds(sessionTimeout, "--session-timeout")
            guard sessionTimeout >= 1 else { throw ValidationError("--session-timeout must be at least 1 second") }
            guard ConsumerOptions.Reset(rawValue: start) != nil else {
                throw ValidationError("--start must be earliest or latest, not \(start)")
            }
        }

        func run() async throws {
            LogSetup.bootstrapped
            let options = ConsumerOptions(autoOffsetReset: ConsumerOptions.Reset(rawValue: start)!,
                                          sessionTimeout: .milliseconds(Int64(sessionTimeout * 1000)))
            try await using(try await bus.open()) { messageBus in
                try await using(try await messageBus.makeConsumer(group: group, topics: [topic], options: options)) { consumer in
                    try await printRecords(from: consumer, max: max, idleExit: idleExit, commit: true)
                }
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read a topic again from an offset or a time, without a consumer group (commits nothing).",
            discussion: "Prints `partition<TAB>offset<TAB>key<TAB>value` lines, like consume.")

        @OptionGroup var bus: BusOptions
        @Option(help: "The topic to read.") var topic: String
        @Option(help: "Start at this offset in every partition read.") var fromOffset: Int64?
        @Option(help: ArgumentHelp("Start at the first record at or after this time, e.g. 2026-11-25T10:00:00Z.",
                                   valueName: "ISO8601"))
        var fromTime: String?
        @Option(help: "Read only this partition (repeatable; default: all).") var partition: [Int] = []
        @Option(help: "Stop after this many records.") var max: Int?
        @Option(help: ArgumentHelp("Stop once nothing arrived for this many seconds.", valueName: "SECONDS"))
        var idleExit: Double = 2

        func validate() throws {
            switch (fromOffset, fromTime) {
            case (nil, nil): throw ValidationError("give a start: --from-offset N or --from-time ISO8601 (e.g. 2026-11-25T10:00:00Z)")
            case (.some, .some): throw ValidationError("give only one of --from-offset and --from-time")
            default: break
            }
            if let fromOffset, fromOffset < 0 { throw ValidationError("--from-offset must be 0 or more") }
            if let fromTime, Self.parseTime(fromTime) == nil {
                throw ValidationError("--from-time \(fromTime) is not an ISO 8601 time; write e.g. 2026-11-25T10:00:00Z or 2026-11-25T11:00:00.250+01:00")
            }
            if let max, max < 1 { throw ValidationError("--max must be at least 1") }
            try OptionChecks.seconds(idleExit, "--idle-exit")
        }

        static func parseTime(_ text: String) -> Date? {
            let plain = ISO8601DateFormatter()
            let fractional = ISO8601DateFormatter()
            fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return plain.date(from: text) ?? fractional.date(from: text)
        }

        func run() async throws {
            LogSetup.bootstrapped
            let start: ReplayStart = fromOffset.map { .offset($0) }
                ?? .timestamp(Int64((Self.parseTime(fromTime!)!.timeIntervalSince1970 * 1000).rounded(.down)))
            let partitions = partition.isEmpty ? nil : partition
            try await using(try await bus.open()) { messageBus in
                try await using(try await messageBus.makeReplay(topic: topic, partitions: partitions, from: start)) { replay in
                    try await printRecords(from: replay, max: max, idleExit: idleExit, commit: false)
                }
            }
        }
    }
}

/// Prints records until `max` or `idleExit`; commits what reached the reader when `commit`.
/// Damaged or undecodable records are reported on standard error and make the exit status 1.
private func printRecords(from consumer: BusConsumer, max: Int?, idleExit: Double?, commit: Bool) async throws {
    let output = RecordOutput()
    var defects = 0
    var readerGone = false
    try await readRecords(from: consumer, max: max, idleExit: idleExit, commit: commit) { batch in
        var lines: [String] = []
        var order: [Int] = []  // for each record: the number of lines before it is done
        for record in batch {
            if let defect = record.defect {
                defects += 1
                printError("\(record.topic)[\(record.partition)] offset \(record.offset): damaged or undecodable: \(defect)")
            } else {
                lines.append(RecordLine.format(record) + "\n")
            }
            order.append(lines.count)
        }
        let taken = await output.write(lines: lines, confirm: commit)
        if taken < lines.count { readerGone = true }
        // Records up to the last whole line the reader took (defects between them included).
        return order.firstIndex(where: { $0 > taken }) ?? batch.count
    }
    if defects > 0 && !readerGone {
        printError("\(defects) damaged or undecodable record(s) reported above (videoagent bus check --bus URL tells more)")
        throw ExitCode(1)
    }
}

