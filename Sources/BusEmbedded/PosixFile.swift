#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Bus

/// An open file descriptor; the one type in this module that calls the POSIX file API.
final class PosixFile: @unchecked Sendable {
    // Immutable after init; the descriptor is safe to use from several threads for pread/pwrite.
    let fd: Int32
    let path: String

    enum Mode { case read, readWrite, create }

    init(path: String, mode: Mode) throws {
        let flags: Int32
        switch mode {
        case .read: flags = O_RDONLY
        case .readWrite: flags = O_RDWR
        case .create: flags = O_RDWR | O_CREAT
        }
        let fd = open(path, flags | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PosixFile.error("open", path) }
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    var size: Int {
        get throws {
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw PosixFile.error("fstat", path) }
            return Int(st.st_size)
        }
    }

    /// Reads up to `count` bytes at `offset`; fewer only at end of file.
    func read(at offset: Int, count: Int) throws -> [UInt8] {
        guard count > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        try buffer.withUnsafeMutableBytes { raw in
            while done < count {
                let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw PosixFile.error("pread", path)
                }
                if n == 0 { break }
                done += n
            }
        }
        if done < count { buffer.removeSubrange(done...) }
        return buffer
    }

    func write(_ bytes: [UInt8], at offset: Int) throws {
        var done = 0
        try bytes.withUnsafeBytes { raw in
            while done < bytes.count {
                let n = pwrite(fd, raw.baseAddress! + done, bytes.count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw PosixFile.error("pwrite", path)
                }
                done += n
            }
        }
    }

    func sync() throws {
        guard fsync(fd) == 0 else { throw PosixFile.error("fsync", path) }
    }

    func truncate(to length: Int) throws {
        guard ftruncate(fd, off_t(length)) == 0 else { throw PosixFile.error("ftruncate", path) }
    }

    /// Blocks until this process holds the exclusive advisory lock (released by `unlock` or death).
    func lock() throws {
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { throw PosixFile.error("flock", path) }
        }
    }

    func unlock() { _ = flock(fd, LOCK_UN) }

    func withLock<T>(_ body: () throws -> T) throws -> T {
        try lock()
        defer { unlock() }
        return try body()
    }

    static func error(_ call: String, _ path: String) -> BusError {
        .unreachable("\(call) \(path): \(String(cString: strerror(errno)))")
    }
}

/// Small file-system helpers used by the log and the group coordinator.
enum FileSystem {
    static func makeDirectory(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST { throw PosixFile.error("mkdir", current) }
        }
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func list(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw PosixFile.error("opendir", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else { throw PosixFile.error("unlink", path) }
    }

    static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw PosixFile.error("open", path) }
        defer { close(fd) }
        _ = fsync(fd)
    }

    /// Replaces `path` with `bytes` atomically (temp file, fsync, rename, fsync of the directory).
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let temp = path + ".tmp.\(getpid())"
        let file = try PosixFile(path: temp, mode: .create)
        try file.truncate(to: 0)
        try file.write(bytes, at: 0)
        try file.sync()
        guard rename(temp, path) == 0 else { throw PosixFile.error("rename", path) }
        let parent = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        try syncDirectory(parent.isEmpty ? "." : parent)
    }

    static func readAll(_ path: String) throws -> [UInt8] {
        let file = try PosixFile(path: path, mode: .read)
        return try file.read(at: 0, count: try file.size)
    }

    static func isProcessAlive(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    static var processID: Int32 { getpid() }

    static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static var nowMs: Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
