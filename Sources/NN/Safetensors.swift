import Foundation
import Tensor

/// The safetensors file format: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the raw little-endian data. Python's `safetensors`
/// reads what this writes and the other way round (F32 only here).
public enum Safetensors {
    /// Encodes named tensors and string metadata.
    public static func encode(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:]) throws -> [UInt8] {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for (name, tensor) in tensors {
            guard header[name] == nil else { throw SafetensorsError("two tensors are named \(name)") }
            // A diverged model must never be published: NaN weights poison every consumer.
            if let bad = tensor.firstNonFinite() {
                throw SafetensorsError("tensor \(name) holds a non-finite value (\(bad)); refusing to write it")
            }
            header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + tensor.count * 4]]
            offset += tensor.count * 4
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad the header with spaces so the data starts 8-byte aligned.
        while json.count % 8 != 0 { json.append(0x20) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: json)
        for (_, tensor) in tensors {
            tensor.withValues { values in
                values.withMemoryRebound(to: UInt32.self) { words in
                    for w in words { withUnsafeBytes(of: w.littleEndian) { out.append(contentsOf: $0) } }
                }
            }
        }
        return out
    }

    /// The largest header accepted (the project's own files use a few kilobytes).
    public static let maxHeaderBytes = 16 << 20

    /// Decodes a file's bytes into tensors (by name) and metadata. Every number in the header is
    /// checked before it is used: a damaged or hostile file is an error, never a crash.
    public static func decode(_ bytes: [UInt8]) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        guard bytes.count >= 8 else { throw SafetensorsError("file too short for a safetensors header") }
        let declared = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard declared > 0, declared <= UInt64(min(maxHeaderBytes, bytes.count - 8)) else {
            throw SafetensorsError("header length \(declared) does not fit a file of \(bytes.count) bytes")
        }
        let headerLength = Int(declared)
        let headerData = Data(bytes[8..<(8 + headerLength)])
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw SafetensorsError("the header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        let dataBytes = bytes.count - dataStart
        var tensors: [String: Tensor] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let strings = value as? [String: String] else {
                    throw SafetensorsError("__metadata__ must map strings to strings")
                }
                metadata = strings
                continue
            }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = integers(entry["shape"]), let offsets = integers(entry["data_offsets"]), offsets.count == 2
            else { throw SafetensorsError("tensor \(name): malformed header entry") }
            guard dtype == "F32" else { throw SafetensorsError("tensor \(name): dtype \(dtype) is not supported (F32 only)") }
            guard shape.count <= 8, shape.allSatisfy({ $0 >= 0 }) else {
                throw SafetensorsError("tensor \(name): shape \(shape) is not a list of at most 8 sizes")
            }
            var count = 1
            for size in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: size)
                guard !overflow, product <= dataBytes / 4 else {
                    throw SafetensorsError("tensor \(name): shape \(shape) is larger than the file")
                }
                count = product
            }
            guard offsets[0] >= 0, offsets[1] >= offsets[0], offsets[1] <= dataBytes, offsets[1] - offsets[0] == count * 4 else {
                throw SafetensorsError("tensor \(name): byte range \(offsets) does not fit shape \(shape) and the file")
            }
            var values = [Float](repeating: 0, count: count)
            bytes.withUnsafeBytes { raw in
                for i in 0..<count {
                    let bits = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: dataStart + offsets[0] + 4 * i,
                                                                      as: UInt32.self))
                    values[i] = Float(bitPattern: bits)
                }
            }
            tensors[name] = Tensor(shape: shape, values: values)
        }
        return (tensors, metadata)
    }

    /// Whole numbers from a JSON array (nil for anything else, e.g. 1.5 or "3").
    private static func integers(_ value: Any?) -> [Int]? {
        guard let items = value as? [Any] else { return nil }
        var out: [Int] = []
        for item in items {
            guard let number = item as? NSNumber, let integer = Int(exactly: number.doubleValue) else { return nil }
            out.append(integer)
        }
        return out
    }

    /// The tensors whose names start with `prefix`, under their names without it (one part of a
    /// checkpoint that holds a model, its optimiser state, …).
    public static func tensors(_ all: [String: Tensor], under prefix: String) -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: all.filter { $0.key.hasPrefix(prefix) }.map { (String($0.key.dropFirst(prefix.count)), $0.value) })
    }

    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:], to path: String) throws {
        let bytes = try encode(tensors, metadata: metadata)
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes)) else {
            throw SafetensorsError("cannot write \(temporary)")
        }
        _ = try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
    }

    public static func read(_ path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw SafetensorsError("cannot read \(path)") }
        do {
            return try decode([UInt8](data))
        } catch let error as SafetensorsError {
            throw SafetensorsError("\(path): \(error.description)")
        }
    }
}

public struct SafetensorsError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Module {
    /// Saves every tensor of the module (parameters and buffers) under its name.
    public func save(to path: String, metadata: [String: String] = [:]) throws {
        try Safetensors.write(namedTensors(), metadata: metadata, to: path)
    }

    /// Loads tensors by name into the module's own tensors, checking that every name is present
    /// with the same shape. Returns the file's metadata.
    @discardableResult
    public func load(from path: String) throws -> [String: String] {
        let (tensors, metadata) = try Safetensors.read(path)
        try load(tensors)
        return metadata
    }

    /// Copies the tensors of `other`, a module of the same architecture (training that starts
    /// from a saved model; an averaged copy of the weights).
    public func load(weightsOf other: Module) throws {
        try load(Dictionary(uniqueKeysWithValues: other.namedTensors().map { ($0.name, $0.tensor) }))
    }

    /// Copies `tensors` into the module's tensors of the same names.
    public func load(_ tensors: [String: Tensor]) throws {
        let own = namedTensors()
        var missing: [String] = [], misshapen: [String] = []
        for (name, tensor) in own {
            if let source = tensors[name] {
                if source.shape != tensor.shape {
                    misshapen.append("\(name) has shape \(source.shape) in the file, \(tensor.shape) in the model")
                }
            } else {
                missing.append("\(name) \(tensor.shape)")
            }
        }
        let known = Set(own.map(\.name))
        let unexpected = tensors.keys.filter { !known.contains($0) }.sorted()
        func list(_ items: [String]) -> String {
            items.prefix(4).joined(separator: ", ") + (items.count > 4 ? ", … (\(items.count) in all)" : "")
        }
        var problems: [String] = []
        if !misshapen.isEmpty { problems.append("tensor " + list(misshapen)) }
        if !missing.isEmpty { problems.append("missing tensor " + list(missing)) }
        if !unexpected.isEmpty { problems.append("unexpected tensors: " + list(unexpected)) }
        guard problems.isEmpty else {
            throw SafetensorsError("the checkpoint does not fit the model: " + problems.joined(separator: "; "))
        }
        for (name, _) in own {
            if let bad = tensors[name]!.firstNonFinite() {
                throw SafetensorsError("tensor \(name) in the checkpoint holds a non-finite value (\(bad)): the checkpoint "
                    + "is unusable (written by a diverged run?)")
            }
        }
        for (name, tensor) in own {
            let source = tensors[name]!
            source.withValues { src in tensor.withMutableValues { dst in _ = dst.update(fromContentsOf: src) } }
        }
    }
}
