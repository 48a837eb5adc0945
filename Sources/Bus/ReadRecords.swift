/// Hands batches of records to `handle` until `max` records or `idleExit` seconds with nothing
/// new; `handle` returns how many of the batch it finished (fewer ends the reading). Those are
/// committed when `commit` (a group member's reads).
public func readRecords(from consumer: BusConsumer, max: Int?, idleExit: Double?, commit: Bool,
                 _ handle: ([BusRecord]) async throws -> Int) async throws {
    var taken = 0
    var lastRecord = ContinuousClock.now
    let joinDeadline = ContinuousClock.now + .seconds(30)
    let idle = idleExit.map { Duration.milliseconds(Int64($0 * 1000)) }
    while max.map({ taken < $0 }) ?? true {
        let batch = try await consumer.poll(maxRecords: 500, timeout: .milliseconds(250))
        if batch.isEmpty {
            // A group member has nothing to read until the group gave it partitions; joining may
            // take a while, but a member left without partitions for good must still stop.
            if commit, ContinuousClock.now < joinDeadline, await consumer.assignment().isEmpty {
                lastRecord = ContinuousClock.now
            }
            if let idle, ContinuousClock.now - lastRecord >= idle { break }
            continue
        }
        lastRecord = ContinuousClock.now
        let wanted = max.map { Array(batch.prefix($0 - taken)) } ?? batch
        let done = try await handle(wanted)
        taken += done
        if commit, done > 0 { try await consumer.commit(Array(wanted.prefix(done))) }
        if done < wanted.count { break }
    }
}
