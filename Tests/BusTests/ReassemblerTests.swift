@testable import Bus
import Checksum
import Testing

/// Chunk headers come from producers a consumer does not control.
@Suite("Chunk reassembly under hostile headers")
struct ReassemblerTests {
    private func chunk(offset: Int64, id: String = "v1", index: Int, count: Int, total: Int, value: [UInt8]) -> BusRecord {
        BusRecord(topic: "t", partition: 0, offset: offset, timestampMs: offset, key: Array("k".utf8), value: value,
                  headers: [BusHeader(ChunkHeader.id, id), BusHeader(ChunkHeader.index, String(index)),
                            BusHeader(ChunkHeader.count, String(count)), BusHeader(ChunkHeader.bytes, String(total)),
                            BusHeader(ChunkHeader.sha256, SHA256.hex(value))])
    }

    @Test("a claimed size or chunk count beyond the limit is a defect, and nothing is set aside for it",
          arguments: [(8_777_777_777_777, 2), (100, 1_000_000_000_000), (2000, 3)])
    func absurdClaims(total: Int, count: Int) {
        var reassembler = Reassembler(policy: ChunkingPolicy(chunkBytes: 4, maxValueBytes: 1000))
        let out = reassembler.accept(chunk(offset: 0, index: 0, count: count, total: total, value: [1, 2]))
        #expect(out.count == 1 && out[0].defect?.contains("this consumer accepts values up to 1000 bytes") == true, "\(out)")
    }

    @Test("a value within the limit is still reassembled from its chunks in any order")
    func reassembles() {
        var reassembler = Reassembler(policy: ChunkingPolicy(chunkBytes: 4, maxValueBytes: 1000))
        let whole: [UInt8] = [1, 2, 3, 4, 5, 6]
        let headers = { (index: Int, part: [UInt8]) -> BusRecord in
            var record = chunk(offset: Int64(index), index: index, count: 2, total: 6, value: part)
            record.headers = record.headers.map { $0.name == ChunkHeader.sha256 ? BusHeader(ChunkHeader.sha256, SHA256.hex(whole)) : $0 }
            return record
        }
        #expect(reassembler.accept(headers(0, [1, 2, 3, 4])).isEmpty)
        let out = reassembler.accept(headers(1, [5, 6]))
        #expect(out.count == 1 && out[0].value == whole && out[0].defect == nil, "\(out)")
    }
}
