import Bus
import Checksum
import Foundation
import JSON
import Logging
import Messages

/// Publishes model checkpoints on the checkpoints topic: its chunks, then the manifest that
/// names them (sha256 of the whole file, architecture hash), all on one partition in order.
public struct CheckpointPublisher: Sendable {
    public let producer: BusProducer
    public let instance: String

    public init(producer: BusProducer, instance: String) {
        self.producer = producer
        self.instance = instance
    }

    /// - Returns: the manifest, once every record is acknowledged.
    @discardableResult
    public func publish(model: String, version: Int, file: [UInt8], architectureHash: String, config: JSONValue,
                        metrics: [String: Double]? = nil, episodeID: String = "-", parentID: String? = nil) async throws
        -> CheckpointManifest
    {
        let chunkCount = max(1, (file.count + CheckpointMessage.chunkBytes - 1) / CheckpointMessage.chunkBytes)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        func envelope(_ purpose: String) -> Envelope {
            Envelope(messageID: MessageID.derive(parent: parentID, stage: .learner, purpose: "\(model)@\(version)/\(purpose)"),
                     episodeID: episodeID, parentID: parentID, stage: .learner, instance: instance,
                     modelVersion: "\(model)@\(version)", timestampMs: now)
        }
        var records: [OutgoingRecord] = []
        let encoder = JSONEncoder()
        for index in 0..<chunkCount {
            let start = index * CheckpointMessage.chunkBytes
            let bytes = file[start..<min(file.count, start + CheckpointMessage.chunkBytes)]
            let chunk = CheckpointMessage.chunk(CheckpointChunk(envelope: envelope("chunk-\(index)"), model: model, version: version,
                                                                index: index, data: Data(bytes).base64EncodedString()))
            records.append(OutgoingRecord(topic: Topic.checkpoints, key: Array(model.utf8), value: Array(try encoder.encode(chunk))))
        }
        let manifest = CheckpointManifest(envelope: envelope("manifest"), model: model, version: version,
                                          architectureHash: architectureHash, sha256: SHA256.hex(file), bytes: file.count,
                                          chunkCount: chunkCount, config: config, metrics: metrics)
        records.append(OutgoingRecord(topic: Topic.checkpoints, key: Array(model.utf8),
                                      value: Array(try encoder.encode(CheckpointMessage.manifest(manifest)))))
        _ = try await producer.send(records)
        return manifest
    }
}

/// Follows the checkpoints topic and hands over each complete, verified checkpoint of one model.
///
/// A checkpoint is handed over only when every chunk arrived, its sha256 matches the manifest
/// and its architecture hash is the one this stage can load; anything else is reported and
/// skipped, and the stage keeps serving the model it has.
public final class CheckpointSubscriber: @unchecked Sendable {
    // Used from one task at a time.
    public let model: String
    public let architectureHash: String
    private let reader: BusConsumer
    private let logger: Logger
    private var chunks: [Int: [Int: [UInt8]]] = [:]  // version → index → bytes
    public private(set) var newestVersion = 0
    public private(set) var rejected: [String] = []

    /// - Parameter reader: a replay of the checkpoints topic from its beginning (every stage needs
    ///   every version, so it reads outside any consumer group).
    public init(model: String, architectureHash: String, reader: BusConsumer, logger: Logger) {
        self.model = model
        self.architectureHash = architectureHash
        self.reader = reader
        self.logger = logger
    }

    /// Reads what arrived and returns the newest verified checkpoint found, if any is newer than
    /// the last one returned.
    public func poll(timeout: Duration = .milliseconds(50)) async throws -> (manifest: CheckpointManifest, file: [UInt8])? {
        var newest: (CheckpointManifest, [UInt8])?
        while true {
            let records = try await reader.poll(maxRecords: 64, timeout: newest == nil ? timeout : .zero)
            if records.isEmpty { break }
            for record in records {
                guard record.defect == nil,
                      let message = try? JSONDecoder().decode(CheckpointMessage.self, from: Data(record.value))
                else { continue }
                switch message {
                case .chunk(let chunk) where chunk.model == model:
                    guard let bytes = Data(base64Encoded: chunk.data) else { continue }
                    chunks[chunk.version, default: [:]][chunk.index] = Array(bytes)
                case .manifest(let manifest) where manifest.model == model:
                    if let file = verify(manifest) { newest = (manifest, file) }
                default:
                    continue
                }
            }
        }
        return newest
    }

    private func verify(_ manifest: CheckpointManifest) -> [UInt8]? {
        defer { chunks[manifest.version] = nil }
        func reject(_ why: String) -> [UInt8]? {
            let text = "\(model)@\(manifest.version): \(why)"
            rejected.append(text)
            logger.error("checkpoint rejected; the current model keeps serving", metadata: ["checkpoint": "\(text)"])
            return nil
        }
        guard manifest.version > newestVersion else { return nil }
        guard manifest.architectureHash == architectureHash else {
            return reject("architecture \(manifest.architectureHash.prefix(12))… is not this stage's \(architectureHash.prefix(12))…")
        }
        let parts = chunks[manifest.version] ?? [:]
        guard parts.count == manifest.chunkCount, (0..<manifest.chunkCount).allSatisfy({ parts[$0] != nil }) else {
            return reject("\(parts.count) of \(manifest.chunkCount) chunks arrived")
        }
        let file = (0..<manifest.chunkCount).flatMap { parts[$0]! }
        guard file.count == manifest.bytes, SHA256.hex(file) == manifest.sha256 else {
            return reject("sha256 of the \(file.count) bytes does not match the manifest")
        }
        newestVersion = manifest.version
        return file
    }
}
