import ArgumentParser
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
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
