import ArgumentParser
import Bus
import Foundation
import TopicCatalog

struct BusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bus",
        abstract: "Write, read and replay records by hand (operators, audits, debugging).",
        subcommands: [Produce.self, Consume.self, Replay.self])

    struct Produce: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write records read from standard input, one `key<TAB>value` line each.",
            discussion: """
                An empty key means no key. Inside keys and values write \\t, \\n, \\r and \\\\ for tab, newline,
                carriage return and backslash. Values of topics that have a spec are checked against its
                schema first; lines that fail are reported with their line number and not sent.
                The exit status is 1 when any line was refused.
                """)

        @OptionGroup var bus: BusOptions
        @Option(help: "The topic to write to.") var topic: String
        @Flag(help: "Send values even when they do not match the topic's schema.") var noValidate = false
        @Option(help: "Lines sent per acknowledged batch.") var batch = 500

        func validate() throws {
            guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        }

        func run() async throws {
            LogSetup.bootstrapped
            let catalog = try? bus.common.catalog()
            let spec = noValidate ? nil : catalog?.spec(topic)
            let refused = try await using(try await bus.open(catalog: catalog)) { messageBus in
                try await using(try await messageBus.makeProducer()) { producer in
                    var pending: [OutgoingRecord] = []
                    var lineNumber = 0
                    var sent = 0
                    var refused = 0
                    func flush() async throws {
                        guard !pending.isEmpty else { return }
                        sent += try await producer.send(pending).count
                        pending.removeAll(keepingCapacity: true)
                    }
                    while let line = readLine(strippingNewline: true) {
                        lineNumber += 1
                        if line.isEmpty { continue }
                        do {
                            let (key, value) = try RecordLine.parseInput(line[...])
                            if let spec {
                                let problems = spec.violations(of: value)
                                if !problems.isEmpty {
                                    throw RecordLine.LineError("value does not match \(spec.name): " + problems.prefix(3).joined(separator: "; "))
                                }
                            }
                            pending.append(OutgoingRecord(topic: topic, key: key, value: value))
                        } catch {
                            refused += 1
                            printError("line \(lineNumber): \(error)")
                            continue
                        }
                        if pending.count >= batch { try await flush() }
                    }
                    try await flush()
                    printError("sent \(sent) record(s) to \(topic)" + (refused > 0 ? "; refused \(refused) line(s)" : ""))
                    return refused
                }
            }
            if refused > 0 { throw ExitCode(1) }
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
            if let idleExit, idleExit <= 0 { throw ValidationError("--idle-exit must be a positive number of seconds") }
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
            guard idleExit > 0 else { throw ValidationError("--idle-exit must be a positive number of seconds") }
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

/// Prints records until `max` or `idleExit`; commits what was printed when `commit`.
private func printRecords(from consumer: BusConsumer, max: Int?, idleExit: Double?, commit: Bool) async throws {
    try await readRecords(from: consumer, max: max, idleExit: idleExit, commit: commit) { batch in
        var out = ""
        for record in batch {
            if let defect = record.defect {
                printError("\(record.topic)[\(record.partition)] offset \(record.offset): undecodable record: \(defect)")
            } else {
                out += RecordLine.format(record) + "\n"
            }
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}

/// Hands batches of records to `handle` until `max` records or `idleExit` seconds with nothing
/// new; commits each batch after `handle` returns when `commit` (a group member's reads).
func readRecords(from consumer: BusConsumer, max: Int?, idleExit: Double?, commit: Bool,
                 _ handle: ([BusRecord]) -> Void) async throws {
    var taken = 0
    var lastRecord = ContinuousClock.now
    let joinDeadline = ContinuousClock.now + .seconds(30)
    let idle = idleExit.map { Duration.milliseconds(Int64($0 * 1000)) }
    while max.map({ taken < $0 }) ?? true {
        let batch = try await consumer.poll(maxRecords: 500, timeout: .milliseconds(250))
        if batch.isEmpty {
            // A group member has nothing to read until the group gave it partitions; joining may
            // take a while, but a member left without partitions for good must still stop.
            if commit, ContinuousClock.now < joinDeadline, await consumer.assignment().isEmpty {
                lastRecord = ContinuousClock.now
            }
            if let idle, ContinuousClock.now - lastRecord >= idle { break }
            continue
        }
        lastRecord = ContinuousClock.now
        let wanted = max.map { Array(batch.prefix($0 - taken)) } ?? batch
        handle(wanted)
        taken += wanted.count
        if commit { try await consumer.commit(wanted) }
    }
}
