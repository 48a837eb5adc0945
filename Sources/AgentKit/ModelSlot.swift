import Foundation
import Messages

/// The model a stage serves with, swapped for a newer version while the stage runs.
///
/// A swap happens at a safe point: the next ``current`` read sees the new model, while whoever
/// holds the old one (a sampling in progress) finishes with it. Models are not shared between
/// threads at once: a stage samples from one task.
public final class ModelSlot<Model>: @unchecked Sendable {
    // `value` is guarded by `lock`; an installed model is never mutated by the slot.
    private let lock = NSLock()
    private var value: (model: Model, version: String)

    public init(_ model: Model, version: String) {
        value = (model, version)
    }

    public var current: (model: Model, version: String) { lock.withLock { value } }
    public var version: String { lock.withLock { value.version } }

    public func install(_ model: Model, version: String) {
        lock.withLock { value = (model, version) }
    }
}

/// A served model that follows the checkpoints topic: each verified new version is loaded (by
/// the stage's own loader) and installed at the next safe point. A checkpoint that does not
/// load is reported and the old model keeps serving.
public final class HotSwappedModel<Model>: @unchecked Sendable {
    // Used from the stage's one task.
    public let slot: ModelSlot<Model>
    private let subscriber: CheckpointSubscriber
    private let load: ([UInt8]) throws -> Model
    public private(set) var failures: [String] = []

    public init(slot: ModelSlot<Model>, subscriber: CheckpointSubscriber, load: @escaping ([UInt8]) throws -> Model) {
        self.slot = slot
        self.subscriber = subscriber
        self.load = load
    }

    /// Checks the topic; returns the version installed now, if any.
    @discardableResult
    public func refresh(timeout: Duration = .milliseconds(1)) async throws -> String? {
        guard let (manifest, file) = try await subscriber.poll(timeout: timeout) else { return nil }
        do {
            let model = try load(file)
            let version = "\(manifest.model)@\(manifest.version)"
            slot.install(model, version: version)
            return version
        } catch {
            failures.append("\(manifest.model)@\(manifest.version): \(error)")
            return nil
        }
    }

    /// Rejected or unloadable checkpoints, for reports.
    public var rejected: [String] { subscriber.rejected + failures }
}
