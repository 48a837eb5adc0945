import ArgumentParser
import Bus
import BusEmbedded
import BusKafka
import Foundation
import Logging
import TopicCatalog

/// Options every bus-using command shares. This file is the one place that picks a backend.
struct BusOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The bus: embedded://DIR or kafka://HOST:PORT[,HOST:PORT…][?librdkafka.setting=value&…].",
        valueName: "URL"))
    var bus: String

    @Option(name: .customShort("X"), help: ArgumentHelp(
        "A librdkafka setting for kafka:// buses, e.g. -X security.protocol=SASL_SSL (repeatable).",
        valueName: "key=value"))
    var kafkaSettings: [String] = []

    @OptionGroup var common: CommonOptions

    func address() throws -> BusAddress {
        var address: BusAddress
        do {
            address = try BusAddress(parsing: bus)
        } catch let error as BusError {
            throw ValidationError("--bus: \(error)")
        }
        for item in kafkaSettings {
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                throw ValidationError("-X \(item): expected key=value, e.g. -X security.protocol=SSL")
            }
            guard address.kind == .kafka else {
                throw ValidationError("-X \(item): librdkafka settings apply to kafka:// buses only")
            }
            address.settings[String(item[..<eq])] = String(item[item.index(after: eq)...])
        }
        return address
    }

    /// Opens the bus; value limits come from the topic specs when they are given.
    /// - Parameter create: an embedded bus that does not exist yet is made (only `topics create`).
    func open(catalog: TopicCatalog? = nil, create: Bool = false) async throws -> MessageBus {
        let address = try address()
        let logger = common.logger("videoagent.bus")
        var chunking = ChunkingPolicy()
        if let catalog { chunking.maxValueBytesByTopic = catalog.valueLimits }
        switch address.kind {
        case .embedded:
            return MessageBus(transport: try EmbeddedTransport(address: address, create: create, logger: logger),
                              chunking: chunking)
        case .kafka:
            return MessageBus(transport: try await KafkaTransport(address: address, logger: logger), chunking: chunking)
        }
    }
}

/// Options of every command.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .warning

    @Option(name: .long, help: ArgumentHelp(
        "The directory of topic specs (default: $VIDEOAGENT_TOPICS, else topics/ found above the working directory).",
        valueName: "DIR"))
    var topics: String?

    func logger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = logLevel
        return logger
    }

    func catalog() throws -> TopicCatalog {
        try TopicCatalog(directory: topics ?? RepositoryPaths.topics())
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Bootstraps logging to standard error once per process.
enum LogSetup {
    static let bootstrapped: Void = LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
}

/// Writes a line to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
