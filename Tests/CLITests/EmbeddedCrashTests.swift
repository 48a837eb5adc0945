import Bus
import BusEmbedded
import BusTestKit
import Checksum
import Foundation
import Testing

/// Crash consistency of the embedded log: writer processes are killed with SIGKILL at random
/// points (mid-append, mid-fsync, mid-roll of a segment) and restarted; afterwards every record a
/// writer saw acknowledged must be present, intact, at its offset, and in order.
@Suite("Embedded log under SIGKILL", .timeLimit(.minutes(3)))
struct EmbeddedCrashTests {
    static var writerBinary: String {
        URL(fileURLWithPath: CLIProcess.binary).deletingLastPathComponent().appendingPathComponent("bus-crash-writer").path
    }

    @Test("acknowledged records survive writers killed at random moments")
    func killedWriters() async throws {
        let directory = temporaryDirectory("crash")
        let transport = try EmbeddedTransport(directory: directory)
        // Small segments, so kills also land in segment rolls and retention in new processes.
        _ = try await transport.createTopics([TopicConfig(name: "crash", partitions: 2, settings: ["segment.bytes": "16384"])])
        var acknowledged: [String: [(partition: Int, offset: Int64, number: Int)]] = [:]
        var generator = SystemRandomNumberGenerator()
        let rounds = 6
        let writersPerRound = 4
        for round in 0..<rounds {
            let running = try (0..<writersPerRound).map { w in
                try CLIProcess.Running(executable: Self.writerBinary,
                                       ["\(directory)", "crash", "w\(round)-\(w)", "\(UInt64.random(in: 1...UInt64.max, using: &generator))"])
            }
            for process in running.shuffled(using: &generator) {
                try await Task.sleep(for: .milliseconds(Int.random(in: 50...400, using: &generator)))
                process.kill()
            }
            for (w, process) in running.enumerated() {
                let result = await process.finish(timeout: .seconds(20))
                #expect(result.status == 9 || result.status == SIGKILL, "writer exited with \(result.status): \(result.stderr)")
                acknowledged["w\(round)-\(w)"] = result.lines.compactMap { line in
                    let parts = line.split(separator: " ")
                    guard parts.count == 3, let p = Int(parts[0]), let o = Int64(parts[1]), let n = Int(parts[2]) else { return nil }
                    return (p, o, n)
                }
            }
        }
        let total = acknowledged.values.reduce(0) { $0 + $1.count }
        #expect(total > 100, "the writers acknowledged only \(total) records")

        // Read everything back in a fresh process's view.
        let bus = MessageBus(transport: try EmbeddedTransport(directory: directory))
        let replay = try await bus.makeReplay(topic: "crash", from: .beginning)
        var stored: [TopicPartition: [Int64: BusRecord]] = [:]
        var idle = 0
        while idle < 3 {
            let batch = try await replay.poll(maxRecords: 1000, timeout: .milliseconds(200))
            idle = batch.isEmpty ? idle + 1 : 0
            for record in batch {
                #expect(record.defect == nil, "damaged record at \(record.topicPartition)@\(record.offset): \(record.defect ?? "")")
                stored[record.topicPartition, default: [:]][record.offset] = record
            }
        }
        await replay.close()

        var lost = 0
        for (writer, records) in acknowledged {
            var lastOffset: [Int: Int64] = [:]
            for (partition, offset, number) in records {
                guard let record = stored[TopicPartition("crash", partition)]?[offset] else {
                    lost += 1
                    continue
                }
                let fields = record.valueString.split(separator: " ")
                #expect(fields.count == 4 && fields[0] == writer && Int(fields[1]) == number, "\(writer) #\(number) at \(offset) holds \(record.valueString.prefix(40))")
                if fields.count == 4 {
                    let body = fields[0..<3].joined(separator: " ")
                    #expect(SHA256.hex(Array(body.utf8)).prefix(16) == fields[3], "record \(offset) is not intact")
                }
                #expect(offset > lastOffset[partition] ?? -1, "\(writer)'s records are out of order")
                lastOffset[partition] = offset
            }
        }
        #expect(lost == 0, "\(lost) of \(total) acknowledged records are missing")
    }
}
