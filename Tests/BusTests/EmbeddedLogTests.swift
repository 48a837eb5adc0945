import Bus
@testable import BusEmbedded
import BusTestKit
import Foundation
import Testing

@Suite("Embedded log")
struct EmbeddedLogTests {
    @Test func appendThenRead() async throws {
        let directory = temporaryDirectory("log")
        let transport = try EmbeddedTransport(directory: directory)
        _ = try await transport.createTopics([TopicConfig(name: "t", partitions: 1)])
        let log = try transport.log(TopicPartition("t", 0))
        let offsets = try log.append((0..<5).map { OutgoingRecord(topic: "t", key: nil, value: "v\($0)") })
        #expect(offsets == [0, 1, 2, 3, 4])
        let result = try log.read(from: 0, maxRecords: 10, maxBytes: 1 << 20)
        #expect(result.records.map(\.valueString) == ["v0", "v1", "v2", "v3", "v4"])
        #expect(result.nextOffset == 5)
    }
}
