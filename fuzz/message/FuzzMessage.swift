// Fuzz target: what a stage does first with a message value from the bus — parse it as strict
// JSON and check it against every topic's schema. Built by scripts/fuzz.sh with libFuzzer; in a
// normal build it replays the files it is given. Needs VIDEOAGENT_TOPICS (the topics/ folder).
import Foundation
import JSON
import TopicCatalog

private let specs: [TopicSpec] = {
    let directory = ProcessInfo.processInfo.environment["VIDEOAGENT_TOPICS"] ?? "topics"
    return try! TopicCatalog(directory: directory).specs
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMessage(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = count > 0 ? Array(UnsafeBufferPointer(start: data, count: count)) : []
    guard (try? JSONParser.parse(bytes)) != nil else { return 0 }
    for spec in specs { _ = spec.violations(of: bytes) }
    return 0
}

#if FUZZING
/// SwiftPM names the executable's entry point `<module>_main`; it hands over to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzer(_ argc: UnsafeMutablePointer<CInt>,
                       _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                       _ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("fuzz_message_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return runFuzzer(&argc, &argv, fuzzMessage)
}
#else
/// Without libFuzzer: runs each file named on the command line through the target.
@main
struct ReplayMessage {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            let bytes = [UInt8](FileManager.default.contents(atPath: path) ?? Data())
            _ = bytes.withUnsafeBufferPointer { fuzzMessage($0.baseAddress, $0.count) }
            print("ok \(path)")
        }
    }
}
#endif
