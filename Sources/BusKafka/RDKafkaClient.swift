import Bus
import CRdKafka
import Logging
import Synchronization

/// State the C callbacks reach through librdkafka's opaque pointer: the logger, the last error the
/// client reported, and the consumer's rebalance bookkeeping.
final class RDKafkaContext: Sendable {
    let logger: Logger
    private let lastErrorText = Mutex<String?>(nil)
    private let assigned = Mutex<Set<TopicPartition>>([])
    private let recentlyLogged = Mutex<[String: ContinuousClock.Instant]>([:])

    init(logger: Logger) { self.logger = logger }

    var lastError: String? { lastErrorText.withLock { $0 } }
    func noteError(_ text: String) { lastErrorText.withLock { $0 = text } }

    /// False when the same text was logged in the last ten seconds: an unreachable broker makes
    /// librdkafka repeat its connection error many times a second.
    func shouldLog(_ text: String) -> Bool {
        let now = ContinuousClock.now
        return recentlyLogged.withLock { seen in
            if let last = seen[text], now - last < .seconds(10) { return false }
            if seen.count > 256 { seen.removeAll() }
            seen[text] = now
            return true
        }
    }

    var assignment: Set<TopicPartition> { assigned.withLock { $0 } }
    func updateAssignment(_ body: (inout Set<TopicPartition>) -> Void) { assigned.withLock { body(&$0) } }
}

/// The one owner of an `rd_kafka_t`; every librdkafka call of this module goes through it.
///
/// Thread safety: librdkafka handles are thread-safe. Calls that block (polls, flush, close,
/// metadata, commits) must be made off Swift's cooperative pool — the callers run them on their own
/// threads or serial queues.
final class RDKafkaClient: @unchecked Sendable {
    enum Kind { case producer, consumer }

    let handle: OpaquePointer
    let context: RDKafkaContext
    let kind: Kind
    private let unmanagedContext: Unmanaged<RDKafkaContext>
    private let destroyed = Mutex(false)

    init(kind: Kind, settings: [String: String], logger: Logger) throws {
        let context = RDKafkaContext(logger: logger)
        let config = try RDKafkaConfig(settings.merging(["log.queue": "false"], uniquingKeysWith: { a, _ in a }))
        let unmanaged = Unmanaged.passRetained(context)
        rd_kafka_conf_set_opaque(config.handle, unmanaged.toOpaque())
        rd_kafka_conf_set_log_cb(config.handle, rdkafkaLog)
        rd_kafka_conf_set_error_cb(config.handle, rdkafkaError)
        switch kind {
        case .producer: rd_kafka_conf_set_dr_msg_cb(config.handle, rdkafkaDelivery)
        case .consumer: rd_kafka_conf_set_rebalance_cb(config.handle, rdkafkaRebalance)
        }
        var errstr = [CChar](repeating: 0, count: 512)
        let type = kind == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER
        guard let handle = rd_kafka_new(type, config.handle, &errstr, errstr.count) else {
            unmanaged.release()
            throw BusError.invalidArgument("librdkafka: " + String(cBuffer: errstr))
        }
        _ = config.release()  // owned by the client now
        self.handle = handle
        self.context = context
        self.kind = kind
        self.unmanagedContext = unmanaged
        if kind == .consumer { rd_kafka_poll_set_consumer(handle) }
    }

    deinit { destroy() }

    /// Stops the client's threads and frees it (blocking; idempotent). Owners call it from `close`
    /// rather than leaving it to `deinit`: a process that exits while librdkafka is still tearing
    /// down races OpenSSL's exit handler and crashes. No call may use the client afterwards.
    func destroy() {
        let first = destroyed.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        rd_kafka_destroy(handle)
        unmanagedContext.release()
    }

    // MARK: - Errors

    static func message(_ code: rd_kafka_resp_err_t) -> String { String(cString: rd_kafka_err2str(code)) }

    func error(_ code: rd_kafka_resp_err_t, _ doing: String) -> BusError {
        var text = "\(doing): \(Self.message(code))"
        if let last = context.lastError, code == RD_KAFKA_RESP_ERR__TRANSPORT || code == RD_KAFKA_RESP_ERR__TIMED_OUT
            || code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN
        {
            text += " (last client error: \(last))"
        }
        return .broker(code: Int(code.rawValue), message: text)
    }

    /// A fatal error, if librdkafka raised one (idempotence guarantees broken); the client is unusable.
    var fatalError: BusError? {
        var errstr = [CChar](repeating: 0, count: 512)
        let code = rd_kafka_fatal_error(handle, &errstr, errstr.count)
        guard code != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return .broker(code: Int(code.rawValue), message: "fatal: " + String(cBuffer: errstr))
    }

    // MARK: - Polling (blocking)

    @discardableResult
    func poll(timeoutMs: Int32) -> Int32 { rd_kafka_poll(handle, timeoutMs) }

    func flush(timeoutMs: Int32) -> rd_kafka_resp_err_t { rd_kafka_flush(handle, timeoutMs) }

    // MARK: - Metadata (blocking)

    struct TopicMetadata {
        var name: String
        var partitions: Int
        var error: rd_kafka_resp_err_t
    }

    /// Brokers' view of all topics; fails after `timeoutMs` when no broker answers.
    func topics(timeoutMs: Int32) throws -> [TopicMetadata] {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let code = rd_kafka_metadata(handle, 1, nil, &metadata, timeoutMs)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { throw error(code, "metadata request") }
        defer { rd_kafka_metadata_destroy(metadata) }
        let list = UnsafeBufferPointer(start: metadata.pointee.topics, count: Int(metadata.pointee.topic_cnt))
        return list.map { TopicMetadata(name: String(cString: $0.topic), partitions: Int($0.partition_cnt), error: $0.err) }
            .filter { !$0.name.hasPrefix("__") }
    }

    func watermarks(_ tp: TopicPartition, timeoutMs: Int32) throws -> (low: Int64, high: Int64) {
        var low: Int64 = 0
        var high: Int64 = 0
        let code = rd_kafka_query_watermark_offsets(handle, tp.topic, Int32(tp.partition), &low, &high, timeoutMs)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else { throw error(code, "watermarks of \(tp)") }
        return (low, high)
    }

    /// For each partition, the first offset at or after `timestampMs` (nil: none, read from the end).
    func offsets(for partitions: [TopicPartition], atOrAfter timestampMs: Int64, timeoutMs: Int32) throws
        -> [TopicPartition: Int64?]
    {
        let list = RDKafkaTopicPartitionList(partitions.map { ($0, timestampMs) })
        let code = rd_kafka_offsets_for_times(handle, list.handle, timeoutMs)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else { throw error(code, "offsets for times") }
        var result: [TopicPartition: Int64?] = [:]
        for (tp, offset, err) in list.entries {
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw error(err, "offset for time in \(tp)") }
            result[tp] = offset >= 0 ? offset : nil
        }
        return result
    }

    // MARK: - Producing

    /// Enqueues one record (non-blocking); `opaque` comes back in the delivery callback.
    func produce(_ record: OutgoingRecord, topicName: UnsafePointer<CChar>, opaque: UnsafeMutableRawPointer)
        -> rd_kafka_resp_err_t
    {
        let headers: OpaquePointer? = record.headers.isEmpty ? nil : rd_kafka_headers_new(record.headers.count)
        for header in record.headers {
            header.value.withUnsafeBytes { value in
                _ = rd_kafka_header_add(headers, header.name, -1, value.baseAddress, value.count)
            }
        }
        let code: rd_kafka_resp_err_t = record.value.withUnsafeBytes { value in
            withOptionalBytes(record.key) { key in
                var vus: [rd_kafka_vu_t] = []
                vus.reserveCapacity(7)
                var topic = rd_kafka_vu_t()
                topic.vtype = RD_KAFKA_VTYPE_TOPIC
                topic.u.cstr = topicName
                vus.append(topic)
                if let partition = record.partition {
                    var vu = rd_kafka_vu_t()
                    vu.vtype = RD_KAFKA_VTYPE_PARTITION
                    vu.u.i32 = Int32(partition)
                    vus.append(vu)
                }
                var payload = rd_kafka_vu_t()
                payload.vtype = RD_KAFKA_VTYPE_VALUE
                payload.u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress)
                payload.u.mem.size = value.count
                vus.append(payload)
                if let key {
                    var vu = rd_kafka_vu_t()
                    vu.vtype = RD_KAFKA_VTYPE_KEY
                    vu.u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress)
                    vu.u.mem.size = key.count
                    vus.append(vu)
                }
                if let headers {
                    var vu = rd_kafka_vu_t()
                    vu.vtype = RD_KAFKA_VTYPE_HEADERS
                    vu.u.headers = headers
                    vus.append(vu)
                }
                var flags = rd_kafka_vu_t()
                flags.vtype = RD_KAFKA_VTYPE_MSGFLAGS
                flags.u.i = RD_KAFKA_MSG_F_COPY
                vus.append(flags)
                var opaqueVU = rd_kafka_vu_t()
                opaqueVU.vtype = RD_KAFKA_VTYPE_OPAQUE
                opaqueVU.u.ptr = opaque
                vus.append(opaqueVU)
                guard let failure = rd_kafka_produceva(handle, vus, vus.count) else { return RD_KAFKA_RESP_ERR_NO_ERROR }
                defer { rd_kafka_error_destroy(failure) }
                return rd_kafka_error_code(failure)
            }
        }
        // On failure the headers stay ours to free.
        if code != RD_KAFKA_RESP_ERR_NO_ERROR, let headers { rd_kafka_headers_destroy(headers) }
        return code
    }

    // MARK: - Consuming (blocking; call from the consumer's queue)

    func subscribe(_ topics: [String]) throws {
        let list = RDKafkaTopicPartitionList(topics.map { (TopicPartition($0, -1), Int64(RD_KAFKA_OFFSET_INVALID)) })
        let code = rd_kafka_subscribe(handle, list.handle)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else { throw error(code, "subscribe to \(topics)") }
    }

    func assign(_ offsets: [TopicPartition: Int64]) throws {
        let list = RDKafkaTopicPartitionList(offsets.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        let code = rd_kafka_assign(handle, list.handle)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else { throw error(code, "assign") }
        context.updateAssignment { $0 = Set(offsets.keys) }
    }

    /// One consumed message, copied out of librdkafka.
    enum Consumed {
        case record(BusRecord)
        case error(rd_kafka_resp_err_t, String, TopicPartition?)
    }

    func consumerPoll(timeoutMs: Int32) -> Consumed? {
        guard let message = rd_kafka_consumer_poll(handle, timeoutMs) else { return nil }
        defer { rd_kafka_message_destroy(message) }
        let m = message.pointee
        let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) }
        guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR, let topic else {
            let text = m.payload.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: m.len), as: UTF8.self) }
                ?? Self.message(m.err)
            return .error(m.err, text, topic.map { TopicPartition($0, Int(m.partition)) })
        }
        let value = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) } ?? []
        let key = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        var headers: [BusHeader] = []
        var rawHeaders: OpaquePointer?
        if rd_kafka_message_headers(message, &rawHeaders) == RD_KAFKA_RESP_ERR_NO_ERROR, let rawHeaders {
            var index = 0
            var name: UnsafePointer<CChar>?
            var bytes: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(rawHeaders, index, &name, &bytes, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                let value = bytes.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
                headers.append(BusHeader(name.map { String(cString: $0) } ?? "", value))
                index += 1
            }
        }
        return .record(BusRecord(topic: topic, partition: Int(m.partition), offset: m.offset, timestampMs: timestamp,
                                 key: key, value: value, headers: headers))
    }

    func commit(_ offsets: [TopicPartition: Int64]) -> rd_kafka_resp_err_t {
        let list = RDKafkaTopicPartitionList(offsets.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        return rd_kafka_commit(handle, list.handle, 0)
    }

    func committed(_ partitions: [TopicPartition], timeoutMs: Int32) throws -> [TopicPartition: Int64] {
        let list = RDKafkaTopicPartitionList(partitions.map { ($0, Int64(RD_KAFKA_OFFSET_INVALID)) })
        let code = rd_kafka_committed(handle, list.handle, timeoutMs)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else { throw error(code, "committed offsets") }
        var result: [TopicPartition: Int64] = [:]
        for (tp, offset, _) in list.entries where offset >= 0 { result[tp] = offset }
        return result
    }

    func closeConsumer() -> rd_kafka_resp_err_t { rd_kafka_consumer_close(handle) }

    /// The rebalance protocol in use ("COOPERATIVE" or "EAGER").
    var rebalanceProtocol: String { rd_kafka_rebalance_protocol(handle).map { String(cString: $0) } ?? "NONE" }
}

private func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard let bytes else { return body(nil) }
    return bytes.withUnsafeBytes { body($0) }
}

// MARK: - C callbacks (no captures; state arrives through the opaque pointer)

private func context(_ rk: OpaquePointer?) -> RDKafkaContext? {
    guard let rk, let opaque = rd_kafka_opaque(rk) else { return nil }
    return Unmanaged<RDKafkaContext>.fromOpaque(opaque).takeUnretainedValue()
}

private let rdkafkaLog: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    rk, level, facility, text in
    guard let context = context(rk) else { return }
    let swiftLevel: Logger.Level
    switch level {
    case ...2: swiftLevel = .critical
    case 3: swiftLevel = .error
    case 4: swiftLevel = .warning
    case 5, 6: swiftLevel = .info
    default: swiftLevel = .debug
    }
    let message = text.map { String(cString: $0) } ?? ""
    // A connection failure is the best explanation when a request later times out.
    if facility.map({ String(cString: $0) }) == "FAIL" { context.noteError(message) }
    guard context.logger.logLevel <= swiftLevel, context.shouldLog(message.filter { !$0.isNumber }) else { return }
    context.logger.log(level: swiftLevel, "\(message)", metadata: [
        "librdkafka.facility": "\(facility.map { String(cString: $0) } ?? "")",
    ])
}

private let rdkafkaError: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
    rk, code, reason, _ in
    guard let context = context(rk) else { return }
    let text = reason.map { String(cString: $0) } ?? RDKafkaClient.message(rd_kafka_resp_err_t(code))
    context.noteError(text)
    let level: Logger.Level = code == RD_KAFKA_RESP_ERR__FATAL.rawValue ? .critical : .warning
    guard context.logger.logLevel <= level, context.shouldLog(text) else { return }
    context.logger.log(level: level, "librdkafka: \(text)", metadata: ["librdkafka.code": "\(code)"])
}

private let rdkafkaDelivery: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?)
    -> Void = { _, message, _ in
        guard let message, let opaque = message.pointee._private else { return }
        let m = message.pointee
        let ticket = Unmanaged<DeliveryTicket>.fromOpaque(opaque).takeRetainedValue()
        ticket.batch.delivered(index: ticket.index, partition: Int(m.partition), offset: m.offset, error: m.err)
    }

private let rdkafkaRebalance: @convention(c) (OpaquePointer?, rd_kafka_resp_err_t,
                                              UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
                                              UnsafeMutableRawPointer?) -> Void = { rk, code, partitions, _ in
    guard let rk, let context = context(rk) else { return }
    let changed = RDKafkaTopicPartitionList.borrowing(partitions)
    let cooperative = rd_kafka_rebalance_protocol(rk).map { String(cString: $0) } == "COOPERATIVE"
    switch code {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        if cooperative {
            if let failure = rd_kafka_incremental_assign(rk, partitions) { rd_kafka_error_destroy(failure) }
        } else {
            _ = rd_kafka_assign(rk, partitions)
        }
        context.updateAssignment { set in
            if !cooperative { set.removeAll() }
            set.formUnion(changed)
        }
        context.logger.info("partitions assigned", metadata: ["partitions": "\(changed.sorted().map(\.description))"])
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        if cooperative {
            if let failure = rd_kafka_incremental_unassign(rk, partitions) { rd_kafka_error_destroy(failure) }
        } else {
            _ = rd_kafka_assign(rk, nil)
        }
        context.updateAssignment { set in
            if cooperative { set.subtract(changed) } else { set.removeAll() }
        }
        context.logger.info("partitions revoked", metadata: ["partitions": "\(changed.sorted().map(\.description))"])
    default:
        context.logger.error("rebalance failed: \(RDKafkaClient.message(code))")
        _ = rd_kafka_assign(rk, nil)
        context.updateAssignment { $0.removeAll() }
    }
}

extension String {
    /// A string from a NUL-terminated C buffer.
    init(cBuffer buffer: [CChar]) {
        self.init(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
