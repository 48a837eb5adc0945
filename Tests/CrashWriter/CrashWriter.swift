// A writer for the embedded log's crash-consistency test: appends batches of records to a topic
// and prints each record's place as soon as the bus acknowledged it. The test kills it with
// SIGKILL at random moments and checks that every acknowledged record survived intact.
//
//     bus-crash-writer DIR TOPIC WRITER_NAME SEED
//
// Each value is "WRITER_NAME <n> <payload> <checksum of the rest>"; each printed line is
// "<partition> <offset> <n>".
import Bus
import BusEmbedded
import Checksum
import Foundation

@main
struct CrashWriter {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 5, let seed = UInt64(arguments[4]) else {
            FileHandle.standardError.write(Data("usage: bus-crash-writer DIR TOPIC WRITER_NAME SEED\n".utf8))
            exit(2)
        }
        let (directory, topic, name) = (arguments[1], arguments[2], arguments[3])
        let bus = MessageBus(transport: try EmbeddedTransport(directory: directory))
        let producer = try await bus.makeProducer()
        var state = seed | 1
        func random(_ bound: UInt64) -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % bound)
        }
        var n = 0
        while true {
            let batch = (0..<(1 + random(12))).map { _ -> OutgoingRecord in
                let payload = String(repeating: Character(UnicodeScalar(UInt8(97 + random(26)))), count: 20 + random(400))
                let body = "\(name) \(n) \(payload)"
                n += 1
                return OutgoingRecord(topic: topic, key: name, value: "\(body) \(SHA256.hex(Array(body.utf8)).prefix(16))")
            }
            let reports = try await producer.send(batch)
            var lines = ""
            for (record, report) in zip(batch, reports) {
                let number = record.value.split(separator: UInt8(ascii: " "))[1]
                lines += "\(report.partition) \(report.offset) \(String(decoding: number, as: UTF8.self))\n"
            }
            // Unbuffered: a line printed is a record acknowledged, even if the next instant kills us.
            _ = lines.utf8CString.withUnsafeBufferPointer { write(1, $0.baseAddress, $0.count - 1) }
        }
    }
}
