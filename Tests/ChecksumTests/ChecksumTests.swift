import Checksum
import Testing

@Suite("Checksums")
struct ChecksumTests {
    @Test("SHA-256 matches the FIPS 180-4 test vectors, in one call or in pieces")
    func sha256() {
        #expect(SHA256.hex(Array("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(SHA256.hex(long) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var pieces = SHA256()
        for chunk in stride(from: 0, to: long.count, by: 7) { pieces.update(long[chunk..<min(chunk + 7, long.count)]) }
        #expect(pieces.finalize().hexString == SHA256.hex(long))
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA256.hex(million) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("CRC-32C matches the standard check value")
    func crc32c() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
    }

    @Test("murmur2 matches Kafka's, so both buses put a key on the same partition")
    func murmur2() {
        // Values from Apache Kafka's Utils.murmur2 tests.
        let cases: [(String, Int32)] = [
            ("21", -973_932_308), ("foobar", -790_332_482), ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829), ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            ("abc", 479_470_107),
        ]
        for (key, expected) in cases { #expect(Murmur2.hash(Array(key.utf8)) == expected, "\(key)") }
        #expect((0..<100).allSatisfy { Murmur2.partition(for: Array("k\($0)".utf8), partitions: 6) < 6 })
    }
}
