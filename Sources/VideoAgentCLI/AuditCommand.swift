import ArgumentParser
import Audit
import Bus
import Foundation

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Trace an episode's decisions from the topics: request → plans, critiques and model versions → approved plan → outcome.",
        discussion: "Prints the message tree (by parent ids) and writes OUT/audit-<episode>.md with a PNG of every plan and of what happened.")

    @Argument(help: "The episode id, e.g. robot-1/ep-000003.") var episode: String
    @OptionGroup var bus: BusOptions
    @Option(help: "Where to write the Markdown report.") var out: String = "."

    func run() async throws {
        LogSetup.bootstrapped
        let audit = try await using(try await bus.open()) { messageBus in
            try await EpisodeAudit.read(episode: episode, bus: messageBus)
        }
        guard !audit.nodes.isEmpty else {
            throw ValidationError("no messages of episode '\(episode)' on the bus; episode ids look like robot-1/ep-000003")
        }
        print(audit.text, terminator: "")
        print("wrote \(try audit.write(to: out))")
    }
}
