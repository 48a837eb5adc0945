import Foundation
import NN
import Tensor
import Testing

/// Model files come from disk and, soon, from the bus: a damaged or hostile one is an error with a
/// reason, never a crash, and a non-finite model is never written or loaded.
@Suite("Untrusted model files")
struct UntrustedFileTests {
    /// A safetensors file with `header` as its JSON header and `data` after it.
    private func file(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
        let json = Array(header.utf8)
        var out: [UInt8] = []
        withUnsafeBytes(of: (declaredLength ?? UInt64(json.count)).littleEndian) { out += $0 }
        return out + json + data
    }

    @Test("crafted headers are refused with a reason", arguments: [
        #"{"a": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 16]}}"#,  // overflowing shape
        #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [9223372036854775800, 9223372036854775807]}}"#,
        #"{"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}"#,
        #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}"#,
        #"{"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 8]}}"#,
        #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}"#,  // data missing
        #"{"a": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}}"#,
        #"{"a": {"dtype": "F32", "shape": "2", "data_offsets": [0, 8]}}"#,
        #"{"__metadata__": {"k": 1}}"#,
        #"[1, 2]"#,
    ])
    func craftedHeaders(header: String) {
        #expect(throws: SafetensorsError.self) { _ = try Safetensors.decode(file(header: header)) }
    }

    @Test("a header length larger than the file, or absurd, is refused")
    func headerLengths() {
        #expect(throws: SafetensorsError.self) { _ = try Safetensors.decode(file(header: "{}", declaredLength: 1 << 40)) }
        #expect(throws: SafetensorsError.self) { _ = try Safetensors.decode(file(header: "{}", declaredLength: .max)) }
        #expect(throws: SafetensorsError.self) { _ = try Safetensors.decode([1, 2, 3]) }
    }

    @Test("random bytes never crash the decoder")
    func randomBytes() {
        var rng = SeededRNG(seed: 7)
        for length in [8, 9, 16, 64, 300] {
            for _ in 0..<200 {
                var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                // Keep the declared header length plausible half the time, so the JSON path is reached.
                if rng.next() % 2 == 0 {
                    let declared = UInt64(length - 8)
                    withUnsafeBytes(of: declared.littleEndian) { for i in 0..<8 { bytes[i] = $0[i] } }
                }
                _ = try? Safetensors.decode(bytes)
            }
        }
    }

    @Test("a non-finite tensor is never written, and a file holding one is never loaded")
    func nonFinite() throws {
        let poisoned = Tensor(shape: [2], values: [1, .nan])
        #expect(throws: SafetensorsError.self) { _ = try Safetensors.encode([("a", poisoned)]) }
        // Written by some other tool: the model refuses it by name.
        let net = Net(seed: 1)
        var tensors = net.namedTensors()
        tensors[0].tensor = Tensor(shape: tensors[0].tensor.shape, values: [Float](repeating: .infinity, count: tensors[0].tensor.count))
        var header: [String: Any] = [:]
        var data: [UInt8] = []
        for (name, tensor) in tensors {
            header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [data.count, data.count + 4 * tensor.count]]
            for value in tensor.toArray() { withUnsafeBytes(of: value.bitPattern.littleEndian) { data += $0 } }
        }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: header), as: UTF8.self)
        let path = NSTemporaryDirectory() + "poisoned-\(UUID().uuidString).safetensors"
        try Data(file(header: json, data: data)).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: SafetensorsError.self) { try Net(seed: 2).load(from: path) }
        #expect(error?.description.contains("non-finite") == true)
    }
}
