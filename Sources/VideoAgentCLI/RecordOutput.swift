#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif
import Blocking

/// Standard output for record lines, written with `write(2)` so a reader that went away is an
/// answer (EPIPE), not a crash (SIGPIPE).
///
/// When standard output is a pipe and the records will be committed, a line counts as written
/// only once the reader has taken it out of the pipe: `consume | head -n 3` then commits three
/// records, not a pipe-full that `head` never printed.
struct RecordOutput: Sendable {
    let isPipe: Bool

    init() {
        signal(SIGPIPE, SIG_IGN)
        var status = stat()
        isPipe = fstat(STDOUT_FILENO, &status) == 0 && (status.st_mode & S_IFMT) == S_IFIFO
    }

    /// Writes `bytes`; false when the reader has gone.
    func write(_ bytes: [UInt8]) -> Bool {
        var done = 0
        return bytes.withUnsafeBytes { raw in
            while done < raw.count {
                let n = Glibc.write(STDOUT_FILENO, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                done += n
            }
            return true
        }
    }

    /// On a pipe, waits until the reader has taken everything written; false when it went away.
    func waitUntilTaken() -> Bool {
        guard isPipe else { return true }
        func pending() -> Int32 {
            var count: Int32 = 0
            return ioctl(STDOUT_FILENO, UInt(FIONREAD), &count) == 0 ? count : 0  // cannot tell: trust the write
        }
        while pending() > 0 {
            var descriptor = pollfd(fd: STDOUT_FILENO, events: 0, revents: 0)
            _ = poll(&descriptor, 1, 5)
            // The reader may have taken the line and then left: only what is still in the pipe is lost.
            if descriptor.revents & Int16(POLLERR | POLLHUP) != 0 { return pending() == 0 }
        }
        return true
    }

    /// Writes the lines one by one, each waited for when `confirm`; returns how many reached the reader.
    func write(lines: [String], confirm: Bool) async -> Int {
        if !confirm || !isPipe {
            return write(Array(lines.joined().utf8)) ? lines.count : 0
        }
        return (try? await Blocking.run {
            var taken = 0
            for line in lines {
                guard write(Array(line.utf8)), waitUntilTaken() else { break }
                taken += 1
            }
            return taken
        }) ?? 0
    }
}
