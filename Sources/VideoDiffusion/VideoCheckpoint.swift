import Foundation
import NN
import Tensor

/// A plan model for inference: weights plus the configuration that shapes them.
public enum VideoCheckpoint {
    public static func save(_ model: VideoUNet, step: Int, to path: String, extra: [String: String] = [:]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var metadata = extra
        metadata["config"] = String(decoding: try encoder.encode(model.config), as: UTF8.self)
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
        let config = try JSONDecoder().decode(VideoModelConfig.self, from: Data(configText.utf8))
        let model = try VideoUNet(config: config)
        if metadata["format"] == "videoagent-training-1" {
            // The averaged weights of a training checkpoint.
            var weights = Dictionary(uniqueKeysWithValues: tensors.filter { $0.key.hasPrefix("ema.") }.map { (String($0.key.dropFirst(4)), $0.value) })
            for (name, tensor) in model.namedTensors() where weights[name] == nil { weights[name] = tensors["model." + name] ?? tensor }
            try model.load(weights)
        } else {
            try model.load(tensors)
        }
        return (model, metadata)
    }
}
