import Blocking
import Bus
import Foundation
import Logging

/// Waits for records from positions, polling the logs and sleeping on the notifier in between.
private func pollLoop(transport: EmbeddedTransport, maxRecords: Int, timeout: Duration,
                      read: @Sendable () async throws -> [BusRecord]) async throws -> [BusRecord] {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while true {
        let version = transport.notifier.version
        let records = try await read()
        if !records.isEmpty { return records }
        let remaining = deadline - clock.now
        if remaining <= .zero { return [] }
        // Other processes' appends are only seen by looking again, so never sleep long.
        await transport.notifier.wait(since: version, timeout: min(remaining, .milliseconds(20)))
    }
}

/// A member of an embedded consumer group (see ``GroupCoordinator``).
final class EmbeddedGroupConsumer: RawConsumer, @unchecked Sendable {
    // Mutable state is guarded by `lock`.
    private let transport: EmbeddedTransport
    private let coordinator: GroupCoordinator
    private let member = "member-" + UUID().uuidString.lowercased()
    private let topics: [String]
    private let options: ConsumerOptions
    private let lock = NSLock()
    private var positions: [TopicPartition: Int64] = [:]
    private var lastHeartbeatMs: Int64 = 0
    private var rotation = 0
    private var closed = false
    private var heartbeats: Task<Void, Never>?

    private init(transport: EmbeddedTransport, coordinator: GroupCoordinator, topics: [String], options: ConsumerOptions) {
        self.transport = transport
        self.coordinator = coordinator
        self.topics = topics
        self.options = options
    }

    static func join(transport: EmbeddedTransport, coordinator: GroupCoordinator, topics: [String],
                     options: ConsumerOptions) async throws -> EmbeddedGroupConsumer {
        let consumer = EmbeddedGroupConsumer(transport: transport, coordinator: coordinator, topics: topics, options: options)
        try await consumer.heartbeat()
        // Heartbeats continue while the application is busy between polls.
        let interval = Duration.milliseconds(max(100, options.sessionTimeout.milliseconds / 5))
        consumer.heartbeats = Task.detached { [weak consumer] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let consumer else { return }
                do { try await consumer.heartbeat() } catch {
                    consumer.transport.logger.warning("embedded group heartbeat failed", metadata: ["error": "\(error)"])
                }
            }
        }
        return consumer
    }

    /// Refreshes membership; starts reading newly owned partitions at the group's committed offset.
    private func heartbeat() async throws {
        let sessionMs = Int64(options.sessionTimeout.milliseconds)
        let (owned, starts) = try await Blocking.run { [self] () -> (Set<TopicPartition>, [TopicPartition: Int64]) in
            let owned = try coordinator.heartbeat(member: member, topics: topics, sessionTimeoutMs: sessionMs,
                                                  partitionsOf: { try self.transport.metadata($0).partitions })
            let known = lock.withLock { Set(positions.keys) }
            var starts: [TopicPartition: Int64] = [:]
            for tp in owned.subtracting(known) {
                let log = try transport.log(tp)
                if let committed = try coordinator.committedOffset(tp) {
                    let end = try log.endOffset
                    if committed > end {
                        // Offsets are never reused, so a commit past the end means the log lost its
                        // tail (files deleted or restored from an older copy). Policy: resume at the
                        // end, so every record written from now on is read; nothing is skipped.
                        transport.logger.error("committed offset is beyond the end of the log; resuming at the end", metadata: [
                            "group": "\(coordinator.group)", "partition": "\(tp)", "committed": "\(committed)",
                            "end": "\(end)",
                        ])
                        starts[tp] = end
                    } else {
                        starts[tp] = max(committed, log.startOffset)
                    }
                } else {
                    starts[tp] = options.autoOffsetReset == .earliest ? log.startOffset : try log.endOffset
                }
            }
            return (owned, starts)
        }
        lock.withLock {
            guard !closed else { return }
            positions = positions.filter { owned.contains($0.key) }
            for (tp, start) in starts where owned.contains(tp) { positions[tp] = start }
            lastHeartbeatMs = FileSystem.nowMs
        }
    }

    func poll(maxRecords: Int, timeout: Duration) async throws -> [BusRecord] {
        try await pollLoop(transport: transport, maxRecords: maxRecords, timeout: timeout) { [self] in
            let due = lock.withLock { !closed && FileSystem.nowMs - lastHeartbeatMs >= 250 }
            if due { try await heartbeat() }
            let (snapshot, start) = lock.withLock { () -> ([TopicPartition: Int64], Int) in
                rotation += 1
                return (closed ? [:] : positions, rotation)
            }
            let fetched = try await Blocking.run { [transport] in
                try transport.fetch(snapshot, maxRecords: maxRecords, startIndex: start)
            }
            return lock.withLock {
                // Keep only what is still ours; a rebalance may have happened meanwhile.
                var kept: [BusRecord] = []
                for record in fetched.records where positions[record.topicPartition] != nil { kept.append(record) }
                for (tp, next) in fetched.positions where positions[tp] != nil { positions[tp] = next }
                return kept
            }
        }
    }

    func commit(_ offsets: [TopicPartition: Int64]) async throws {
        let rejected = try await Blocking.run { [self] in try coordinator.commit(member: member, offsets: offsets) }
        if !rejected.isEmpty {
            // The partitions moved to another member, which resumes from the last commit.
            transport.logger.info("commit skipped for partitions no longer owned", metadata: [
                "group": "\(coordinator.group)", "partitions": "\(rejected.map(\.description))",
            ])
        }
    }

    func assignment() async -> Set<TopicPartition> { lock.withLock { Set(positions.keys) } }
    func positions() async -> [TopicPartition: Int64] { lock.withLock { positions } }

    func close() async {
        let task = lock.withLock { () -> Task<Void, Never>? in
            closed = true
            positions = [:]
            return heartbeats
        }
        task?.cancel()
        _ = try? await Blocking.run { [self] in try coordinator.leave(member: member) }
    }
}

/// Reads fixed partitions from given positions, outside any group.
final class EmbeddedReader: RawConsumer, @unchecked Sendable {
    private let transport: EmbeddedTransport
    private let lock = NSLock()
    private var positions: [TopicPartition: Int64]
    private var rotation = 0

    init(transport: EmbeddedTransport, positions: [TopicPartition: Int64]) {
        self.transport = transport
        self.positions = positions
    }

    func poll(maxRecords: Int, timeout: Duration) async throws -> [BusRecord] {
        try await pollLoop(transport: transport, maxRecords: maxRecords, timeout: timeout) { [self] in
            let (snapshot, start) = lock.withLock { () -> ([TopicPartition: Int64], Int) in
                rotation += 1
                return (positions, rotation)
            }
            let fetched = try await Blocking.run { [transport] in
                try transport.fetch(snapshot, maxRecords: maxRecords, startIndex: start)
            }
            lock.withLock { positions = fetched.positions }
            return fetched.records
        }
    }

    func commit(_ offsets: [TopicPartition: Int64]) async throws {
        throw BusError.invalidArgument("a replay belongs to no group and cannot commit")
    }

    func assignment() async -> Set<TopicPartition> { lock.withLock { Set(positions.keys) } }
    func positions() async -> [TopicPartition: Int64] { lock.withLock { positions } }
    func close() async {}
}
