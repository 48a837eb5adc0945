// Fuzz target: the safetensors decoder (model checkpoints from disk and from the bus).
// Built by scripts/fuzz.sh with libFuzzer; in a normal build it replays the files it is given.
import Foundation
import NN

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = count > 0 ? Array(UnsafeBufferPointer(start: data, count: count)) : []
    _ = try? Safetensors.decode(bytes)
    return 0
}

#if FUZZING
/// SwiftPM names the executable's entry point `<module>_main`; it hands over to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzer(_ argc: UnsafeMutablePointer<CInt>,
                       _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                       _ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("fuzz_safetensors_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return runFuzzer(&argc, &argv, fuzzSafetensors)
}
#else
/// Without libFuzzer: runs each file named on the command line through the target.
@main
struct ReplaySafetensors {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            let bytes = [UInt8](FileManager.default.contents(atPath: path) ?? Data())
            _ = bytes.withUnsafeBufferPointer { fuzzSafetensors($0.baseAddress, $0.count) }
            print("ok \(path)")
        }
    }
}
#endif
