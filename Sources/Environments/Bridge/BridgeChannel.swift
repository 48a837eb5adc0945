#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// One side of the environment protocol's framing over a pair of file descriptors (a child's
/// pipes or a socket): each message is a little-endian u32 length and a JSON header, then a u32
/// length and a binary body (raw RGB pixels, or nothing). See docs/environment-protocol.md.
///
/// Every read waits at most `timeout`; a peer that closes or dies is reported, never waited for.
final class BridgeChannel {
    private let input: Int32
    private let output: Int32
    let timeout: Duration
    /// Says what the peer is when something goes wrong ("the MetaWorld bridge (pid 123)").
    var describePeer: () -> String = { "the bridge" }

    init(input: Int32, output: Int32, timeout: Duration) {
        self.input = input
        self.output = output
        self.timeout = timeout
        // A dead peer must be an error from write(), not a signal that kills this process.
        signal(SIGPIPE, SIG_IGN)
    }

    func send(_ header: [String: Any], body: [UInt8] = []) throws {
        let json = try JSONSerialization.data(withJSONObject: header)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + json.count + body.count)
        append(UInt32(json.count), to: &bytes)
        bytes += json
        append(UInt32(body.count), to: &bytes)
        bytes += body
        try writeAll(bytes)
    }

    func receive() throws -> (header: [String: Any], body: [UInt8]) {
        let headerLength = Int(try readUInt32())
        guard headerLength < 64 << 20 else { throw EnvironmentError.bridge("\(describePeer()) sent a \(headerLength)-byte header") }
        let json = try readExactly(headerLength)
        guard let header = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else {
            throw EnvironmentError.bridge("\(describePeer()) sent a header that is not a JSON object")
        }
        let bodyLength = Int(try readUInt32())
        guard bodyLength < 256 << 20 else { throw EnvironmentError.bridge("\(describePeer()) sent a \(bodyLength)-byte body") }
        return (header, try readExactly(bodyLength))
    }

    /// Sends a request and returns the reply, turning `{"ok": false, "error": …}` into an error.
    func request(_ header: [String: Any]) throws -> (header: [String: Any], body: [UInt8]) {
        try send(header)
        let reply = try receive()
        guard reply.header["ok"] as? Bool == true else {
            throw EnvironmentError.bridge((reply.header["error"] as? String) ?? "\(describePeer()) refused \(header["op"] ?? "?")")
        }
        return reply
    }

    private func append(_ value: UInt32, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    private func readUInt32() throws -> UInt32 {
        let raw = try readExactly(4)
        return UInt32(raw[0]) | UInt32(raw[1]) << 8 | UInt32(raw[2]) << 16 | UInt32(raw[3]) << 24
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        var done = 0
        try bytes.withUnsafeBytes { raw in
            while done < raw.count {
                let n = write(output, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw EnvironmentError.bridge("cannot write to \(describePeer()): \(String(cString: strerror(errno)))")
                }
                done += n
            }
        }
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        let deadline = ContinuousClock.now + timeout
        while done < count {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else {
                throw EnvironmentError.bridge("\(describePeer()) did not answer within \(timeout)")
            }
            var descriptor = pollfd(fd: input, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(min(remaining.components.seconds * 1000 + 1, 1000)))
            if ready < 0 {
                if errno == EINTR { continue }
                throw EnvironmentError.bridge("waiting for \(describePeer()): \(String(cString: strerror(errno)))")
            }
            if ready == 0 { continue }
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress! + done, count - done) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw EnvironmentError.bridge("reading from \(describePeer()): \(String(cString: strerror(errno)))")
            }
            if n == 0 { throw EnvironmentError.bridge("\(describePeer()) closed the connection") }
            done += n
        }
        return buffer
    }
}
