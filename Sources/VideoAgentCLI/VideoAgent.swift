import ArgumentParser
import Foundation
import Tensor

@main
struct VideoAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "videoagent",
        abstract: "VideoAgent: self-improving video generation for robot planning, as actors on a message bus.",
        discussion: """
            Bus URLs: embedded://DIR (durable topics in a local directory, the default for one machine) or
            kafka://HOST:PORT[,HOST:PORT…] (Apache Kafka or a Kafka-protocol broker; librdkafka settings go in
            the query string or -X key=value).
            """,
        subcommands: [CollectCommand.self, ShowCommand.self, ExportCommand.self, TrainCommand.self, TrainFollowerCommand.self, EvalCommand.self, ServeCommand.self, DemoCommand.self, AuditCommand.self, PublishModelCommand.self, TrainCriticCommand.self, CritiqueCommand.self,
                      GenerateCommand.self,
                      RefineCommand.self, QualityCommand.self, TopicsCommand.self, BusCommand.self])

    /// Runs the command — after starting again with `OPENBLAS_CORETYPE` set when OpenBLAS chose
    /// kernels far below what the CPU has (``BLASKernels``; setting the variable yourself turns this off).
    static func main() async {
        BLASKernels.startAgainIfOutdated()
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error, from: type(of: command))
        }
    }

    /// Ends with an error a subcommand's `run()` threw. ArgumentParser would print a `ValidationError`
    /// thrown there with the root's usage line (`videoagent <subcommand>`); the subcommand's is the one
    /// that helps.
    static func exit(withError error: Error, from subcommand: ParsableCommand.Type) -> Never {
        guard let validation = error as? ValidationError, subcommand != VideoAgent.self else { exit(withError: error) }
        let usage = usageString(for: subcommand)
        // The command's path (`videoagent bus replay`) is the usage line up to its first option or argument.
        let name = usage.split(separator: " ").prefix { !"[<-".contains($0.first ?? "[") }.joined(separator: " ")
        FileHandle.standardError.write(Data(
            "Error: \(validation.message)\nUsage: \(usage)\n  See '\(name) --help' for more information.\n".utf8))
        Foundation.exit(ExitCode.validationFailure.rawValue)
    }
}
