import Testing
@testable import Tensor

@Suite("OpenBLAS kernel choice")
struct BLASKernelsTests {
    static let avx512: Set<String> = ["sse3", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"]

    @Test("Prescott on a CPU with AVX-512 or AVX2 asks for SkylakeX or Haswell; a good choice or an old CPU is kept")
    func betterKernels() {
        #expect(BLASKernels.better(than: "Prescott", flags: Self.avx512) == "SkylakeX")
        #expect(BLASKernels.better(than: "Prescott", flags: ["sse3", "avx", "avx2", "fma"]) == "Haswell")
        #expect(BLASKernels.better(than: "Prescott", flags: ["sse3", "ssse3"]) == nil)
        #expect(BLASKernels.better(than: "SkylakeX", flags: Self.avx512) == nil)
        #expect(BLASKernels.better(than: "Zen", flags: Self.avx512) == nil)
    }

    @Test("the flags come from /proc/cpuinfo's flags line; a set OPENBLAS_CORETYPE is never replaced")
    func flagsAndTheUsersChoice() {
        let cpuinfo = "processor\t: 0\nmodel\t\t: 207\nflags\t\t: fpu sse3 avx2 fma avx512f\nbugs\t\t: spectre_v1\n"
        #expect(BLASKernels.cpuFlags(cpuinfo: cpuinfo) == ["fpu", "sse3", "avx2", "fma", "avx512f"])
        #expect(BLASKernels.cpuFlags(cpuinfo: nil).isEmpty)
        #expect(BLASKernels.replacement(environment: ["OPENBLAS_CORETYPE": "Prescott"]) == nil)
        #expect(!BLASKernels.chosen.isEmpty)
    }
}
