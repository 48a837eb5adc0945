// Fuzz target: the embedded bus's segment reader (record frames, damage localisation, the check
// and repair scan, the segment index decoder). Built by scripts/fuzz.sh with libFuzzer; in a normal
// build it replays the files named on the command line (a corpus or a crash to reproduce).
import Bus
@testable import BusEmbedded
import Foundation
import Logging

private let directory: String = {
    let path = NSTemporaryDirectory() + "fuzz-segment-\(getpid())"
    try! FileManager.default.createDirectory(atPath: path + "/topics/t/0", withIntermediateDirectories: true)
    let metadata = #"{"name": "t", "partitions": 1, "replicationFactor": 1, "settings": {"max.message.bytes": "4096"}}"#
    try! metadata.write(toFile: path + "/topics/t/topic.json", atomically: true, encoding: .utf8)
    return path
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSegment(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = count > 0 ? Array(UnsafeBufferPointer(start: data, count: count)) : []
    _ = SegmentIndex.decode(bytes, fileSize: 4096, base: 0)
    _ = bytes.withUnsafeBytes { RecordFrame.peek($0, topic: "t", partition: 0, maxBody: 8192) }
    let partition = directory + "/topics/t/0"
    try! Data(bytes).write(to: URL(fileURLWithPath: partition + "/00000000000000000000.log"))
    var logger = Logger(label: "fuzz")
    logger.logLevel = .critical
    let transport = try! EmbeddedTransport(directory: directory, settings: ["fsync": "never"], logger: logger)
    guard let log = try? transport.log(TopicPartition("t", 0)) else { return 0 }
    var offset: Int64 = 0
    for _ in 0..<10_000 {
        guard let result = try? log.read(from: offset, maxRecords: 100, maxBytes: 1 << 20), result.nextOffset > offset else { break }
        offset = result.nextOffset
    }
    _ = try? log.offset(atOrAfter: 0)
    _ = try? log.check(repair: false)
    return 0
}

#if FUZZING
/// SwiftPM names the executable's entry point `<module>_main`; it hands over to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzer(_ argc: UnsafeMutablePointer<CInt>,
                       _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                       _ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("fuzz_segment_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return runFuzzer(&argc, &argv, fuzzSegment)
}
#else
/// Without libFuzzer: runs each file named on the command line through the target.
@main
struct ReplaySegment {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            let bytes = [UInt8](FileManager.default.contents(atPath: path) ?? Data())
            _ = bytes.withUnsafeBufferPointer { fuzzSegment($0.baseAddress, $0.count) }
            print("ok \(path)")
        }
    }
}
#endif
