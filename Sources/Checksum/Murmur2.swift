/// Kafka's key hash (the Java client's default partitioner, librdkafka's `murmur2_random`).
///
/// Both buses place a keyed record on `positive(murmur2(key)) % partitions`, so an episode lands
/// on the same partition number whether it runs embedded or on Kafka, and Java tools agree.
public enum Murmur2 {
    public static func hash(_ key: [UInt8]) -> Int32 {
        let m: UInt32 = 0x5bd1_e995
        let length = key.count
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: length)
        let blocks = length / 4
        for i in 0..<blocks {
            let j = i * 4
            var k = UInt32(key[j]) | UInt32(key[j + 1]) << 8 | UInt32(key[j + 2]) << 16 | UInt32(key[j + 3]) << 24
            k = k &* m
            k ^= k >> 24
            k = k &* m
            h = h &* m
            h ^= k
        }
        let tail = blocks * 4
        switch length % 4 {
        case 3:
            h ^= UInt32(key[tail + 2]) << 16
            h ^= UInt32(key[tail + 1]) << 8
            h ^= UInt32(key[tail])
            h = h &* m
        case 2:
            h ^= UInt32(key[tail + 1]) << 8
            h ^= UInt32(key[tail])
            h = h &* m
        case 1:
            h ^= UInt32(key[tail])
            h = h &* m
        default: break
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    /// The partition Kafka's default partitioner picks for `key`.
    public static func partition(for key: [UInt8], partitions: Int) -> Int {
        Int(UInt32(bitPattern: hash(key)) & 0x7fff_ffff) % partitions
    }
}
