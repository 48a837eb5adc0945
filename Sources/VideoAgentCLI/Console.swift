#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

enum Console {
    /// Progress lines appear as they are printed even when output goes to a file or a pipe.
    /// Called once at the start of a command, before anything is printed.
    static func lineBuffered() { setvbuf(stdout, nil, _IOLBF, 0) }
}
