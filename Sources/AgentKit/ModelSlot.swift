import Foundation

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
