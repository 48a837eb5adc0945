import Bus
import Logging
import Messages

/// Runs a stage loop until the task is cancelled, and keeps it running: when a pass fails (the
/// bus went away, a send was refused), the loop's consumer is closed and a new one resumes from
/// the group's committed offsets, so nothing handled-but-unsent is skipped.
public enum StageRunner {
    public static func run<Input: EnvelopedMessage>(
        bus: MessageBus, stage: Stage, instance: String, group: String, topic: String, options: StageOptions = StageOptions(),
        logger: Logger, between: @escaping @Sendable () async throws -> Void = {},
        batchHandler: @escaping ([Input]) async throws -> [[StageOutput]]
    ) async throws {
        let producer = try await bus.makeProducer()
        defer { Task { await producer.close() } }
        while !Task.isCancelled {
            let consumer = try await bus.makeConsumer(group: group, topics: [topic])
            let loop = StageLoop<Input>(stage: stage, instance: instance, consumer: consumer, producer: producer, options: options,
                                        logger: logger, batchHandler: batchHandler)
            do {
                while !Task.isCancelled {
                    try await between()
                    try await loop.pass()
                }
                await consumer.close()
            } catch is CancellationError {
                await consumer.close()
                return
            } catch {
                logger.error("stage pass failed; resuming from the committed offsets", metadata: ["error": "\(error)"])
                await consumer.close()
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }
}
