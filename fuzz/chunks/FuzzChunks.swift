// Fuzz target: the reassembly of chunked values (headers as a hostile producer may write them).
// Built by scripts/fuzz.sh with libFuzzer; in a normal build it replays the files it is given.
@testable import Bus
import Foundation

/// Turns fuzz bytes into a run of records on two partitions: fields separated by 0xFF give each
/// record's chunk headers (id, index, count, bytes, sha256) and value.
private func records(from bytes: [UInt8]) -> [BusRecord] {
    let fields = bytes.split(separator: 0xFF, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    var out: [BusRecord] = []
    var offset: Int64 = 0
    var i = 0
    while i + 5 < fields.count {
        let headers = zip([ChunkHeader.id, ChunkHeader.index, ChunkHeader.count, ChunkHeader.bytes, ChunkHeader.sha256],
                          fields[i..<(i + 5)]).compactMap { name, value in value == "-" ? nil : BusHeader(name, value) }
        out.append(BusRecord(topic: "t", partition: Int(offset % 2), offset: offset, timestampMs: offset * 1000,
                             key: fields[i].isEmpty ? nil : Array(fields[i].utf8), value: Array(fields[i + 5].utf8),
                             headers: headers))
        offset += 1
        i += 6
    }
    return out
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzChunks(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = count > 0 ? Array(UnsafeBufferPointer(start: data, count: count)) : []
    var reassembler = Reassembler(policy: ChunkingPolicy(chunkBytes: 4, maxValueBytes: 1 << 20, incompleteTimeoutMs: 3000))
    for record in records(from: bytes) {
        _ = reassembler.accept(record)
        _ = reassembler.safeCommitOffset(record.topicPartition, processedThrough: record.offset)
        if record.offset % 7 == 6 { reassembler.retain(only: [TopicPartition("t", 0)]) }
    }
    return 0
}

#if FUZZING
/// SwiftPM names the executable's entry point `<module>_main`; it hands over to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzer(_ argc: UnsafeMutablePointer<CInt>,
                       _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                       _ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("fuzz_chunks_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return runFuzzer(&argc, &argv, fuzzChunks)
}
#else
/// Without libFuzzer: runs each file named on the command line through the target.
@main
struct ReplayChunks {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            let bytes = [UInt8](FileManager.default.contents(atPath: path) ?? Data())
            _ = bytes.withUnsafeBufferPointer { fuzzChunks($0.baseAddress, $0.count) }
            print("ok \(path)")
        }
    }
}
#endif
