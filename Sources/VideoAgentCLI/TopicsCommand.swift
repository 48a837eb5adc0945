import ArgumentParser
import Bus
import Foundation
import JSON
import TopicCatalog

struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Create, describe and validate the topics described in topics/.",
        subcommands: [Create.self, Describe.self, Validate.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create every topic of the specs (or the named ones); existing topics are left as they are.")

        @OptionGroup var bus: BusOptions
        @Argument(help: "Topics to create (default: all in the specs).") var names: [String] = []
        @Option(help: "Partitions of a named topic that has no spec (an ad-hoc topic with default settings).")
        var partitions: Int?

        func validate() throws {
            if let partitions, partitions < 1 { throw ValidationError("--partitions must be at least 1") }
        }

        func run() async throws {
            LogSetup.bootstrapped
            let catalog = try bus.common.catalog()
            let configs = try names.isEmpty ? catalog.specs.map(\.topicConfig) : names.map { name in
                if let spec = catalog.spec(name) { return spec.topicConfig }
                guard let partitions else {
                    throw ValidationError("no spec for topic \(name) in \(catalog.directory); give --partitions N to "
                        + "create it without one, or use one of: " + catalog.specs.map(\.name).joined(separator: ", "))
                }
                return TopicConfig(name: name, partitions: partitions)
            }
            let (results, existing) = try await using(try await bus.open(catalog: catalog, create: true)) { messageBus in
                (try await messageBus.createTopics(configs), try await messageBus.describeTopics(configs.map(\.name)))
            }
            for (config, result) in zip(configs, results) {
                switch result {
                case .created: print("created \(config.name) (\(config.partitions) partitions)")
                case .alreadyExists:
                    let actual = existing.first { $0.name == config.name }?.partitions.count ?? 0
                    let note = actual == config.partitions ? "" : "; it has \(actual) partitions, the spec says \(config.partitions)"
                    print("exists  \(config.name)\(note)")
                }
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show topics on the bus: partitions with their first and next offsets, and settings.")

        @OptionGroup var bus: BusOptions
        @Argument(help: "Topics to describe (default: all on the bus).") var names: [String] = []
        @Flag(help: "Print JSON instead of text.") var json = false

        func run() async throws {
            LogSetup.bootstrapped
            let wanted = names.isEmpty ? nil : names
            let (topics, address) = try await using(try await bus.open()) { messageBus in
                (try await messageBus.describeTopics(wanted), messageBus.address)
            }
            if json {
                let value = JSONValue.array(topics.map { topic in
                    .object([
                        "name": .string(topic.name),
                        "partitions": .array(topic.partitions.map {
                            .object(["partition": .number(Double($0.partition)), "start_offset": .number(Double($0.startOffset)),
                                     "end_offset": .number(Double($0.endOffset))])
                        }),
                        "settings": .object(topic.settings.mapValues { .string($0) }),
                    ])
                })
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(value), as: UTF8.self))
                return
            }
            if topics.isEmpty { print("no topics on \(address); create them with: videoagent topics create --bus URL") }
            for topic in topics {
                let records = topic.partitions.reduce(Int64(0)) { $0 + $1.endOffset - $1.startOffset }
                print("\(topic.name): \(topic.partitions.count) partition(s), \(records) record(s) stored")
                for p in topic.partitions {
                    print("  partition \(p.partition): offsets \(p.startOffset)..<\(p.endOffset)")
                }
                for (key, value) in topic.settings.sorted(by: { $0.key < $1.key }) { print("  \(key)=\(value)") }
            }
        }
    }

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the topic specs; with --topic, also check values on the bus or in a file.",
            discussion: """
                Without --topic: every spec must load, its schema must resolve and its examples must validate.
                With --topic and --bus: replays the topic from the beginning and reports records whose values do
                not match the schema. With --topic and --input FILE (- for standard input): one JSON value per line.
                The exit status is 1 when anything failed.
                """)

        @OptionGroup var common: CommonOptions
        @Option(help: "The topic whose values to check.") var topic: String?
        @Option(help: ArgumentHelp("The bus to read --topic from: embedded://DIR or kafka://HOST:PORT.", valueName: "URL"))
        var bus: String?
        @Option(help: ArgumentHelp("A file of JSON values, one per line (- for standard input).", valueName: "FILE"))
        var input: String?
        @Option(help: ArgumentHelp("With --bus: stop once nothing arrived for this many seconds.", valueName: "SECONDS"))
        var idleExit: Double = 2

        func validate() throws {
            if topic == nil && (bus != nil || input != nil) { throw ValidationError("--bus and --input need --topic") }
            if topic != nil && bus == nil && input == nil { throw ValidationError("--topic needs --bus URL or --input FILE") }
            if bus != nil && input != nil { throw ValidationError("give only one of --bus and --input") }
            try OptionChecks.seconds(idleExit, "--idle-exit")
        }

        func run() async throws {
            LogSetup.bootstrapped
            let catalog = try common.catalog()
            let problems = catalog.problems()
            for problem in problems { printError(problem) }
            guard let topic else {
                if problems.isEmpty {
                    print("\(catalog.specs.count) topic specs in \(catalog.directory) are valid, with their examples")
                }
                if !problems.isEmpty { throw ExitCode(1) }
                return
            }
            guard let spec = catalog.spec(topic) else {
                throw ValidationError("no spec for topic \(topic); known: " + catalog.specs.map(\.name).joined(separator: ", "))
            }
            var checked = 0
            var failed = 0
            func check(_ value: [UInt8], at place: String) {
                checked += 1
                let violations = spec.violations(of: value)
                if !violations.isEmpty {
                    failed += 1
                    print("\(place): " + violations.joined(separator: "; "))
                }
            }
            if let input {
                let text: String
                if input == "-" {
                    var lines: [String] = []
                    while let line = readLine() { lines.append(line) }
                    text = lines.joined(separator: "\n")
                } else {
                    guard let contents = try? String(contentsOfFile: input, encoding: .utf8) else {
                        throw ValidationError("cannot read --input \(input)")
                    }
                    text = contents
                }
                for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
                    check(Array(line.utf8), at: "line \(i + 1)")
                }
            } else if let bus {
                let options = try BusOptions.parse(["--bus", bus] + (common.topics.map { ["--topics", $0] } ?? []))
                try await using(try await options.open()) { messageBus in
                    try await using(try await messageBus.makeReplay(topic: topic, from: .beginning)) { replay in
                        try await readRecords(from: replay, max: nil, idleExit: idleExit, commit: false) { batch in
                            for record in batch {
                                let place = "\(record.topic)[\(record.partition)] offset \(record.offset)"
                                if let defect = record.defect {
                                    checked += 1
                                    failed += 1
                                    print("\(place): undecodable record: \(defect)")
                                } else {
                                    check(record.value, at: place)
                                }
                            }
                            return batch.count
                        }
                    }
                }
            }
            print("\(checked) value(s) checked against \(spec.name): \(failed) invalid")
            if failed > 0 || !problems.isEmpty { throw ExitCode(1) }
        }
    }
}
