import Foundation

/// Which of OpenBLAS's kernel families runs this process's products.
///
/// OpenBLAS picks its kernels when it loads, from the CPU's family and model. A CPU newer than the
/// library gets its oldest family, Prescott (SSE3): OpenBLAS 0.3.21 (Debian 12) does that on the Intel
/// Xeon model 207 (Emerald Rapids) of some of these machines, and every product then runs at a fraction
/// of the speed the CPU has (`eval --variants base` took 2.1× as long as with SkylakeX's AVX-512
/// kernels). The choice can only be changed before the library loads, through `OPENBLAS_CORETYPE`;
/// `videoagent` starts itself again with it set (``replacement(environment:)``).
public enum BLASKernels {
    /// The family OpenBLAS chose in this process.
    public static var chosen: String { BLAS.coreName }

    /// The family to ask for instead of `chosen`, or nil to keep it: only when OpenBLAS fell back to
    /// Prescott on a CPU whose `flags` (as /proc/cpuinfo lists them) show AVX-512 (SkylakeX's kernels)
    /// or AVX2 with FMA (Haswell's).
    public static func better(than chosen: String, flags: @autoclosure () -> Set<String>) -> String? {
        guard chosen.lowercased() == "prescott" else { return nil }
        // Read only when it matters: every start of videoagent asks.
        let flags = flags()
        if flags.isSuperset(of: ["avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// The CPU's feature flags from /proc/cpuinfo (empty where there is none).
    public static func cpuFlags(cpuinfo: String? = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) -> Set<String> {
        guard let line = cpuinfo?.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    /// The `OPENBLAS_CORETYPE` this process should have been started with, or nil: nil when the
    /// variable is already set (by the user, or by an earlier start) or OpenBLAS chose well.
    public static func replacement(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard environment["OPENBLAS_CORETYPE"] == nil else { return nil }
        return better(than: chosen, flags: cpuFlags())
    }

    /// Starts this program again, same arguments, with `OPENBLAS_CORETYPE` set when
    /// ``replacement(environment:)`` gives a family; returns when there is none or the new start
    /// failed (the kernels already loaded then stay). Call it first in `main`.
    public static func startAgainIfOutdated() {
        guard let core = replacement() else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
    }
}
