import Bus
import Foundation
import Logging
import Messages

/// A record a handler wants written.
public struct StageOutput: Sendable {
    public var topic: String
    public var key: String
    public var value: [UInt8]

    public init(topic: String, key: String, value: [UInt8]) {
        self.topic = topic
        self.key = key
        self.value = value
    }

    /// The dead letter for `record`: where it came from, its bytes, and why it was given up.
    public static func deadLetter(_ record: BusRecord, error: String, stage: Stage, instance: String, attempts: Int) throws -> StageOutput {
        let letter = DeadLetter(sourceTopic: record.topic, sourcePartition: record.partition, sourceOffset: record.offset,
                                key: record.keyString, valueBase64: Data(record.value).base64EncodedString(),
                                headers: record.headers.isEmpty ? nil
                                    : Dictionary(record.headers.map { ($0.name, String(decoding: $0.value, as: UTF8.self)) },
                                                 uniquingKeysWith: { $1 }),
                                error: String(error.prefix(4000)), stage: stage.rawValue, instance: instance, attempts: attempts,
                                failedAtMs: Int64(Date().timeIntervalSince1970 * 1000))
        return try StageOutput(topic: Topic.deadLetters, key: record.keyString ?? "", message: letter)
    }

    /// As a record to send.
    public var record: OutgoingRecord { OutgoingRecord(topic: topic, key: Array(key.utf8), value: value) }

    /// A message encoded as JSON.
    public init(topic: String, key: String, message: some Encodable) throws {
        self.init(topic: topic, key: key, value: Array(try JSONEncoder().encode(message)))
    }
}

/// How a stage reads and retries.
public struct StageOptions: Sendable {
    /// Attempts of a failing handler before its message goes to the dead-letter topic.
    public var attempts = 3
    /// Wait before the second attempt; doubled for each further one.
    public var backoff: Duration = .milliseconds(100)
    public var maxRecords = 64
    public var pollTimeout: Duration = .milliseconds(250)
    /// Message ids remembered to drop redelivered duplicates.
    public var rememberedIDs = 10_000

    public init() {}
}

/// What happened in one pass of a stage loop.
public struct StageProgress: Sendable, Equatable {
    public var handled = 0
    public var duplicates = 0
    public var deadLettered = 0
    public var sent = 0

    public init(handled: Int = 0, duplicates: Int = 0, deadLettered: Int = 0, sent: Int = 0) {
        self.handled = handled
        self.duplicates = duplicates
        self.deadLettered = deadLettered
        self.sent = sent
    }
}

/// The stage loop every service runs: poll → decode → drop duplicates → handle (with retries,
/// then the dead-letter topic) → send the outputs → await the bus's acknowledgements → commit.
///
/// Offsets are committed only after everything a batch produced is acknowledged, so a stage
/// killed at any point handles its last messages again after a restart; handlers are
/// idempotent (deterministic message ids), and consumers drop what they have seen.
public final class StageLoop<Input: EnvelopedMessage>: @unchecked Sendable {
    // Used from one task at a time (the service's run loop).
    public let stage: Stage
    public let instance: String
    private let consumer: BusConsumer
    private let producer: BusProducer
    private let handler: ([Input]) async throws -> [[StageOutput]]
    private let options: StageOptions
    private let logger: Logger
    private var seen = RecentIDs(capacity: 10_000)

    /// A loop whose handler takes one message at a time.
    public convenience init(stage: Stage, instance: String, consumer: BusConsumer, producer: BusProducer,
                            options: StageOptions = StageOptions(), logger: Logger,
                            handler: @escaping (Input) async throws -> [StageOutput]) {
        self.init(stage: stage, instance: instance, consumer: consumer, producer: producer, options: options, logger: logger,
                  batchHandler: { inputs in
                      var outputs: [[StageOutput]] = []
                      for input in inputs { outputs.append(try await handler(input)) }
                      return outputs
                  })
    }

    /// A loop whose handler takes every new message of a poll at once (a planner samples their
    /// plans in one batch) and returns each one's outputs. When a batch fails, its messages are
    /// retried one by one, so only the one that fails goes to the dead-letter topic.
    public init(stage: Stage, instance: String, consumer: BusConsumer, producer: BusProducer, options: StageOptions = StageOptions(),
                logger: Logger, batchHandler: @escaping ([Input]) async throws -> [[StageOutput]]) {
        self.stage = stage
        self.instance = instance
        self.consumer = consumer
        self.producer = producer
        self.handler = batchHandler
        self.options = options
        self.logger = logger
        seen = RecentIDs(capacity: options.rememberedIDs)
    }

    /// Runs until the task is cancelled.
    public func run() async throws {
        while !Task.isCancelled { _ = try await pass() }
    }

    /// One poll and everything it brought, committed.
    @discardableResult
    public func pass() async throws -> StageProgress {
        let records = try await consumer.poll(maxRecords: options.maxRecords, timeout: options.pollTimeout)
        guard !records.isEmpty else { return StageProgress() }
        var progress = StageProgress()
        var outputs: [StageOutput] = []
        var inputs: [(input: Input, record: BusRecord)] = []
        for record in records {
            if let defect = record.defect {
                outputs.append(try deadLetter(record, error: "undecodable record: \(defect)", attempts: 1))
                progress.deadLettered += 1
                continue
            }
            let input: Input
            do {
                input = try JSONDecoder().decode(Input.self, from: Data(record.value))
            } catch {
                outputs.append(try deadLetter(record, error: "not a valid \(Input.self): \(Self.describe(error))", attempts: 1))
                progress.deadLettered += 1
                continue
            }
            guard seen.insert(input.envelope.messageID) else {
                progress.duplicates += 1
                continue
            }
            inputs.append((input, record))
        }
        if !inputs.isEmpty {
            if let batch = try? await handler(inputs.map(\.input)), batch.count == inputs.count {
                outputs += batch.flatMap { $0 }
                progress.handled += inputs.count
            } else {
                for (input, record) in inputs {
                    if let produced = try await handleAlone(input, record) {
                        outputs += produced
                        progress.handled += 1
                    } else {
                        outputs.append(try deadLetter(record, error: lastError, attempts: options.attempts))
                        progress.deadLettered += 1
                    }
                }
            }
        }
        if !outputs.isEmpty {
            _ = try await producer.send(outputs.map(\.record))
            progress.sent = outputs.count
        }
        try await consumer.commit(records)
        return progress
    }

    private var lastError = ""

    /// One message, with retries; nil when every attempt failed (the error is in `lastError`).
    private func handleAlone(_ input: Input, _ record: BusRecord) async throws -> [StageOutput]? {
        for attempt in 1...options.attempts {
            do {
                let outputs = try await handler([input])
                guard outputs.count == 1 else { throw StageError("the handler returned \(outputs.count) results for one message") }
                return outputs[0]
            } catch {
                lastError = "\(error)"
                if attempt < options.attempts { try await Task.sleep(for: options.backoff * (1 << (attempt - 1))) }
            }
        }
        logger.error("handler failed; message sent to the dead-letter topic", metadata: [
            "topic": "\(record.topic)", "offset": "\(record.offset)", "error": "\(lastError)",
        ])
        seen.remove(input.envelope.messageID)
        return nil
    }

    private func deadLetter(_ record: BusRecord, error: String, attempts: Int) throws -> StageOutput {
        try StageOutput.deadLetter(record, error: error, stage: stage, instance: instance, attempts: attempts)
    }

    public static func describe(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error { return context.debugDescription }
        if case DecodingError.keyNotFound(let key, _) = error { return "missing \(key.stringValue)" }
        if case DecodingError.typeMismatch(_, let context) = error {
            return "wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        }
        return "\(error)"
    }
}

/// The last N message ids seen, for dropping redelivered duplicates.
struct RecentIDs {
    private var order: [String] = []
    private var members: Set<String> = []
    private var next = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// False when `id` was seen already.
    mutating func insert(_ id: String) -> Bool {
        guard !members.contains(id) else { return false }
        if order.count < capacity {
            order.append(id)
        } else {
            members.remove(order[next])
            order[next] = id
            next = (next + 1) % capacity
        }
        members.insert(id)
        return true
    }

    mutating func remove(_ id: String) { members.remove(id) }
}

public struct StageError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
