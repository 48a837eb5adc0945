import Foundation
import Synchronization

/// Runs the `videoagent` binary built next to the test bundle, as an operator would.
struct CLIProcess: Sendable {
    /// The package root (for topics/).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static var binary: String {
        if let explicit = ProcessInfo.processInfo.environment["VIDEOAGENT_BIN"] { return explicit }
        // swift test runs the tests from the products directory, where the executable is too.
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while directory.pathExtension == "xctest" || directory.lastPathComponent == "Contents"
            || directory.lastPathComponent == "MacOS" {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("videoagent").path
    }

    struct Result: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    }

    /// Runs to completion (killed after `timeout`).
    static func run(_ arguments: [String], stdin: String = "", timeout: Duration = .seconds(120)) async throws -> Result {
        let running = try Running(arguments)
        running.write(stdin)
        running.closeInput()
        return await running.finish(timeout: timeout)
    }

    /// A process in flight, whose output can be watched while it runs.
    final class Running: Sendable {
        private let process: Process
        private let input = Pipe()
        private let output = ByteSink()
        private let errors = ByteSink()

        init(executable: String = CLIProcess.binary, _ arguments: [String]) throws {
            process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            var environment = ProcessInfo.processInfo.environment
            environment["VIDEOAGENT_TOPICS"] = CLIProcess.packageRoot + "/topics"
            process.environment = environment
            let out = Pipe()
            let err = Pipe()
            process.standardInput = input
            process.standardOutput = out
            process.standardError = err
            let output = self.output
            let errors = self.errors
            out.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                // End of file: stop watching, or the handler is called again at once, forever.
                if data.isEmpty { handle.readabilityHandler = nil }
                output.bytes.withLock { $0 += data }
            }
            err.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty { handle.readabilityHandler = nil }
                errors.bytes.withLock { $0 += data }
            }
            try process.run()
        }

        var isRunning: Bool { process.isRunning }
        var stdoutLines: [String] {
            output.bytes.withLock { String(decoding: $0, as: UTF8.self) }.split(separator: "\n").map(String.init)
        }
        /// What it has written to standard error so far (its logs).
        var stderrSoFar: String { errors.bytes.withLock { String(decoding: $0, as: UTF8.self) } }

        func write(_ text: String) { if !text.isEmpty { input.fileHandleForWriting.write(Data(text.utf8)) } }
        func closeInput() { try? input.fileHandleForWriting.close() }

        /// SIGKILL: no chance to commit, flush or leave the group.
        func kill() { Foundation.kill(process.processIdentifier, SIGKILL) }

        /// SIGTERM: the polite stop an operator or a supervisor sends.
        func terminate() { Foundation.kill(process.processIdentifier, SIGTERM) }

        /// Waits for the process to end; one still running after `timeout` is killed (and its
        /// status shows it), so a hung command fails its test instead of hanging the run.
        /// It waits by sleeping, never by blocking one of the test process's few pool threads:
        /// other tests run on them (a blocked pool once stalled a test's producer past its
        /// consumers' idle exit).
        func finish(timeout: Duration = .seconds(120)) async -> Result {
            let deadline = ContinuousClock.now + timeout
            while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
            if process.isRunning {
                kill()
                while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
            }
            try? await Task.sleep(for: .milliseconds(50))  // let the readability handlers drain
            return Result(status: process.terminationStatus,
                          stdout: output.bytes.withLock { String(decoding: $0, as: UTF8.self) },
                          stderr: errors.bytes.withLock { String(decoding: $0, as: UTF8.self) })
        }
    }
}

/// Bytes a pipe's handler appends while a test reads them.
final class ByteSink: Sendable {
    let bytes = Mutex<[UInt8]>([])
}
