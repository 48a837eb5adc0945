import Foundation
import NN
import Tensor

/// A plan model for inference: weights plus the configuration that shapes them.
public enum VideoCheckpoint {
    public static func save(_ model: VideoUNet, step: Int, to path: String, extra: [String: String] = [:]) throws {
        let file = try bytes(model, step: step, extra: extra)
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(file)) else {
            throw VideoModelError("cannot write \(temporary)")
        }
        _ = try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
    }

    /// Loads a plan model; a training checkpoint's averaged weights work too.
    public static func load(_ path: String) throws -> (model: VideoUNet, metadata: [String: String]) {
        let (tensors, metadata) = try Safetensors.read(path)
        return try load(tensors: tensors, metadata: metadata, origin: path)
    }

    /// Loads a plan model from a file's bytes (a checkpoint that came over the bus).
    public static func load(bytes: [UInt8]) throws -> (model: VideoUNet, metadata: [String: String]) {
        let (tensors, metadata) = try Safetensors.decode(bytes)
        return try load(tensors: tensors, metadata: metadata, origin: "the checkpoint")
    }

    /// The model's file as bytes, with its metadata (to publish on the bus).
    public static func bytes(_ model: VideoUNet, step: Int, extra: [String: String] = [:]) throws -> [UInt8] {
        var metadata = extra
        metadata["config"] = try json(model.config)
        metadata["step"] = String(step)
        metadata["architecture_hash"] = model.config.architectureHash
        metadata["format"] = "videoagent-plan-model-1"
        return try Safetensors.encode(model.namedTensors(), metadata: metadata)
    }

    private static func load(tensors: [String: Tensor], metadata: [String: String], origin: String) throws
        -> (model: VideoUNet, metadata: [String: String])
    {
        guard let configText = metadata["config"] else {
            throw VideoModelError("\(origin) has no model configuration in its metadata; is it a VideoAgent plan model?")
        }
        let model = try VideoUNet(config: try decode(VideoModelConfig.self, configText))
        if metadata["format"] == "videoagent-training-1" {
            // The averaged weights of a training checkpoint.
            var weights = Self.tensors(tensors, under: "ema.")
            for (name, tensor) in model.namedTensors() where weights[name] == nil { weights[name] = tensors["model." + name] ?? tensor }
            try model.load(weights)
        } else {
            try model.load(tensors)
        }
        return (model, metadata)
    }

    // MARK: - Shared with the training checkpoint

    /// A value as compact JSON with sorted keys, for safetensors metadata.
    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }

    /// The tensors whose names start with `prefix`, under their names without it.
    static func tensors(_ all: [String: Tensor], under prefix: String) -> [String: Tensor] {
        Safetensors.tensors(all, under: prefix)
    }
}
