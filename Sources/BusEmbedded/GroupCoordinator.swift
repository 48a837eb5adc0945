import Bus
import Foundation

/// Consumer-group state for the embedded bus, shared by every process that opens the directory:
/// `groups/<group>/state.json`, read and rewritten under an exclusive `flock`.
///
/// Members heartbeat; a member whose process is gone (same host) or who has been silent longer
/// than its session timeout is removed. Each partition has a target member (round-robin over the
/// sorted live members) and an actual owner; a member claims a target partition only once its
/// previous owner has released it or left, so two live members never read one partition at once.
/// Commits are fenced: only the owner's commit for a partition is stored.
struct GroupState: Codable, Equatable {
    struct Member: Codable, Equatable {
        var pid: Int32
        var host: String
        var heartbeatMs: Int64
        var sessionTimeoutMs: Int64
        var topics: [String]
    }

    var generation: Int64 = 0
    var members: [String: Member] = [:]
    /// "topic/partition" → member id.
    var owners: [String: String] = [:]
    /// "topic/partition" → next offset to read.
    var offsets: [String: Int64] = [:]

    static func key(_ tp: TopicPartition) -> String { "\(tp.topic)/\(tp.partition)" }
}

final class GroupCoordinator: @unchecked Sendable {
    // Immutable after init; every state change happens inside `transact`, under the flock.
    let group: String
    private let directory: String
    private let lockFile: PosixFile
    private let inProcess = NSLock()
    private let host = FileSystem.hostName
    /// Members of this process that left; a heartbeat already in flight must not bring them back.
    private var departed: Set<String> = []

    init(root: String, group: String) throws {
        guard !group.isEmpty, !group.contains("/"), group != ".", group != ".." else {
            throw BusError.invalidArgument("group name '\(group)' is not usable as a directory name")
        }
        self.group = group
        directory = root + "/groups/" + group
        try FileSystem.makeDirectory(directory)
        lockFile = try PosixFile(path: directory + "/lock", mode: .create)
    }

    private var statePath: String { directory + "/state.json" }

    /// Reads the state, lets `body` change it, and writes it back durably if it changed.
    func transact<T>(_ body: (inout GroupState) throws -> T) throws -> T {
        try inProcess.withLock {
            try lockFile.withLock {
                var state = GroupState()
                if FileSystem.exists(statePath) {
                    let bytes = try FileSystem.readAll(statePath)
                    do {
                        state = try JSONDecoder().decode(GroupState.self, from: Data(bytes))
                    } catch {
                        throw BusError.corrupt("group state \(statePath) cannot be read: \(error)")
                    }
                }
                let before = state
                let result = try body(&state)
                if state != before {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys]
                    try FileSystem.writeAtomically(Array(try encoder.encode(state)), to: statePath)
                }
                return result
            }
        }
    }

    /// Registers or refreshes `member`, expires the departed, and returns the partitions it owns now.
    /// - Parameter partitionsOf: the partition count of each subscribed topic.
    func heartbeat(member: String, topics: [String], sessionTimeoutMs: Int64,
                   partitionsOf: (String) throws -> Int) throws -> Set<TopicPartition> {
        try transact { state in
            if departed.contains(member) { return [] }
            let now = FileSystem.nowMs
            var changed = false
            if state.members[member] == nil { changed = true }
            state.members[member] = GroupState.Member(pid: FileSystem.processID, host: host, heartbeatMs: now,
                                                      sessionTimeoutMs: sessionTimeoutMs, topics: topics.sorted())
            for (id, m) in state.members where id != member {
                let processGone = m.host == host && !FileSystem.isProcessAlive(m.pid)
                if processGone || now - m.heartbeatMs > m.sessionTimeoutMs {
                    state.members[id] = nil
                    changed = true
                }
            }
            state.owners = state.owners.filter { state.members[$0.value] != nil }
            if changed { state.generation += 1 }

            let target = try Self.targetAssignment(state.members, partitionsOf: partitionsOf)
            var owned = Set<TopicPartition>()
            for (key, owner) in state.owners where owner == member {
                if target[key] == member, let tp = Self.topicPartition(key) { owned.insert(tp) } else { state.owners[key] = nil }
            }
            for (key, targetMember) in target where targetMember == member && state.owners[key] == nil {
                state.owners[key] = member
                if let tp = Self.topicPartition(key) { owned.insert(tp) }
            }
            return owned
        }
    }

    func leave(member: String) throws {
        try transact { state in
            departed.insert(member)
            guard state.members.removeValue(forKey: member) != nil else { return }
            state.owners = state.owners.filter { $0.value != member }
            state.generation += 1
        }
    }

    /// Stores `offsets` for the partitions `member` owns; returns the partitions it does not own.
    func commit(member: String, offsets: [TopicPartition: Int64]) throws -> [TopicPartition] {
        try transact { state in
            var rejected: [TopicPartition] = []
            for (tp, offset) in offsets {
                let key = GroupState.key(tp)
                if state.owners[key] == member { state.offsets[key] = offset } else { rejected.append(tp) }
            }
            return rejected
        }
    }

    func committedOffset(_ tp: TopicPartition) throws -> Int64? {
        try transact { $0.offsets[GroupState.key(tp)] }
    }

    /// Round-robin of each topic's partitions over the members subscribed to it, in id order.
    static func targetAssignment(_ members: [String: GroupState.Member],
                                 partitionsOf: (String) throws -> Int) throws -> [String: String] {
        var target: [String: String] = [:]
        let topics = Set(members.values.flatMap(\.topics))
        for topic in topics.sorted() {
            let subscribers = members.filter { $0.value.topics.contains(topic) }.keys.sorted()
            guard !subscribers.isEmpty else { continue }
            for partition in 0..<(try partitionsOf(topic)) {
                target[GroupState.key(TopicPartition(topic, partition))] = subscribers[partition % subscribers.count]
            }
        }
        return target
    }

    static func topicPartition(_ key: String) -> TopicPartition? {
        guard let slash = key.lastIndex(of: "/"), let partition = Int(key[key.index(after: slash)...]) else { return nil }
        return TopicPartition(String(key[..<slash]), partition)
    }
}
