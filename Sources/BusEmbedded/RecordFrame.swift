import Bus
import Checksum

/// The on-disk form of one record in a segment (all integers little-endian):
///
///     u32 crc32c of everything after this field
///     u32 body length
///     i64 offset, i64 timestamp (ms since epoch, append time)
///     i32 key length (-1 = no key), key bytes
///     u32 header count, then per header: u16 name length, name, u32 value length, value
///     u32 value length, value bytes
enum RecordFrame {
    static let prefixBytes = 8

    static func encode(offset: Int64, timestampMs: Int64, key: [UInt8]?, headers: [BusHeader], value: [UInt8],
                       into out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: [0, 0, 0, 0, 0, 0, 0, 0])  // crc and length, patched below
        append(UInt64(bitPattern: offset), &out)
        append(UInt64(bitPattern: timestampMs), &out)
        if let key {
            append(UInt32(key.count), &out)
            out += key
        } else {
            append(UInt32(bitPattern: -1), &out)
        }
        append(UInt32(headers.count), &out)
        for header in headers {
            let name = Array(header.name.utf8)
            append(UInt16(name.count), &out)
            out += name
            append(UInt32(header.value.count), &out)
            out += header.value
        }
        append(UInt32(value.count), &out)
        out += value
        let bodyLength = UInt32(out.count - start - prefixBytes)
        put(bodyLength, at: start + 4, &out)
        let crc = out.withUnsafeBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[(start + 4)...])) }
        put(crc, at: start, &out)
    }

    /// The result of looking at the bytes at some position.
    enum Peek {
        /// A whole, checksum-valid record of `size` bytes.
        case record(BusRecord, size: Int)
        /// Fewer bytes than the record needs: the rest has not been written (or was torn off).
        case incomplete(needed: Int)
        /// The bytes do not form a valid record.
        case invalid(String)
    }

    /// Decodes the record at the start of `bytes` (a window of the segment).
    static func peek(_ bytes: UnsafeRawBufferPointer, topic: String, partition: Int, maxBody: Int) -> Peek {
        guard bytes.count >= prefixBytes else { return .incomplete(needed: prefixBytes) }
        let crc = bytes.loadUnaligned(as: UInt32.self).littleEndian
        let length = Int(bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian)
        guard length >= 28, length <= maxBody else { return .invalid("implausible record length \(length)") }
        guard bytes.count >= prefixBytes + length else { return .incomplete(needed: prefixBytes + length) }
        let computed = CRC32C.update(0, UnsafeRawBufferPointer(rebasing: bytes[4..<(prefixBytes + length)]))
        guard computed == crc else { return .invalid("checksum mismatch") }
        var reader = Reader(bytes: UnsafeRawBufferPointer(rebasing: bytes[prefixBytes..<(prefixBytes + length)]))
        guard let offset = reader.u64(), let timestamp = reader.u64(), let keyLength = reader.u32() else {
            return .invalid("truncated record body")
        }
        var key: [UInt8]?
        if Int32(bitPattern: keyLength) >= 0 {
            guard let k = reader.bytes(Int(keyLength)) else { return .invalid("truncated key") }
            key = k
        }
        guard let headerCount = reader.u32() else { return .invalid("truncated header count") }
        var headers: [BusHeader] = []
        for _ in 0..<headerCount {
            guard let nameLength = reader.u16(), let name = reader.bytes(Int(nameLength)),
                  let valueLength = reader.u32(), let value = reader.bytes(Int(valueLength))
            else { return .invalid("truncated header") }
            headers.append(BusHeader(String(decoding: name, as: UTF8.self), value))
        }
        guard let valueLength = reader.u32(), let value = reader.bytes(Int(valueLength)), reader.atEnd else {
            return .invalid("value length does not match the record length")
        }
        let record = BusRecord(topic: topic, partition: partition, offset: Int64(bitPattern: offset),
                               timestampMs: Int64(bitPattern: timestamp), key: key, value: value, headers: headers)
        return .record(record, size: prefixBytes + length)
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var position = 0
        var atEnd: Bool { position == bytes.count }

        mutating func u16() -> UInt16? { fixed(UInt16.self) }
        mutating func u32() -> UInt32? { fixed(UInt32.self) }
        mutating func u64() -> UInt64? { fixed(UInt64.self) }

        mutating func fixed<T: FixedWidthInteger>(_: T.Type) -> T? {
            guard position + MemoryLayout<T>.size <= bytes.count else { return nil }
            defer { position += MemoryLayout<T>.size }
            return T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
        }

        mutating func bytes(_ count: Int) -> [UInt8]? {
            guard count >= 0, position + count <= bytes.count else { return nil }
            defer { position += count }
            return Array(UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)]))
        }
    }

    private static func append<T: FixedWidthInteger>(_ value: T, _ out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    private static func put(_ value: UInt32, at index: Int, _ out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for i in 0..<4 { out[index + i] = raw[i] }
        }
    }
}
