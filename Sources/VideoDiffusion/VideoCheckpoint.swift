import Foundation
import NN
import Tensor

/// A plan model for inference: weights plus the configuration that shapes them.
public enum VideoCheckpoint {
    public static func save(_ model: VideoUNet, step: Int, to path: String, extra: [String: String] = [:]) throws {
        var metadata = extra
        metadata["config"] = try json(model.config)
        metadata["step"] = String(step)
        metadata["architecture_hash"] = model.config.architectureHash
        metadata["format"] = "videoagent-plan-model-1"
        try model.save(to: path, metadata: metadata)
    }

    /// Loads a plan model; a training checkpoint's averaged weights work too.
    public static func load(_ path: String) throws -> (model: VideoUNet, metadata: [String: String]) {
        let (tensors, metadata) = try Safetensors.read(path)
        guard let configText = metadata["config"] else {
            throw VideoModelError("\(path) has no model configuration in its metadata; is it a VideoAgent plan model?")
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
