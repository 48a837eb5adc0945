#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A contiguous, 64-byte-aligned buffer of Float32 values owned by one or more tensors.
///
/// Tensors never share a storage they mutate: ops allocate their outputs, and in-place updates
/// (optimizer steps, gradient accumulation) touch storages only their owner holds.
public final class Storage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    /// Uninitialized storage; the caller writes every element before anyone reads it.
    init(uninitialized count: Int) {
        self.count = count
        pointer = BufferCache.shared.take(bytes: Self.bytes(count)).bindMemory(to: Float.self, capacity: max(1, count))
    }

    private static func bytes(_ count: Int) -> Int { max(64, count * MemoryLayout<Float>.stride) }

    convenience init(repeating value: Float, count: Int) {
        self.init(uninitialized: count)
        if value == 0 {
            memset(pointer, 0, count * MemoryLayout<Float>.stride)
        } else {
            pointer.initialize(repeating: value, count: count)
        }
    }

    deinit { BufferCache.shared.give(UnsafeMutableRawPointer(pointer), bytes: Self.bytes(count)) }

    /// Counts in-place writes through ``Tensor/withMutableValues(_:)`` (optimizer steps, loading),
    /// so values derived from this storage know when they are stale.
    private(set) var version = 0
    private var derivedValues: [String: (version: Int, value: Storage)] = [:]
    /// One lock for every storage's derived values: they are looked up once per layer call, and a
    /// lock per storage would cost an allocation for every tensor an op makes.
    private static let derivedLock = NSLock()
    private var derivedLock: NSLock { Self.derivedLock }

    func markMutated() {
        derivedLock.lock()
        version &+= 1
        derivedValues.removeAll()
        derivedLock.unlock()
    }

    /// A value computed from these contents (e.g. transformed convolution weights), made once per
    /// version: sampling runs the same weights many times, training changes them every step.
    func derived(_ key: String, make: () -> Storage) -> Storage {
        derivedLock.lock()
        if let cached = derivedValues[key], cached.version == version {
            derivedLock.unlock()
            return cached.value
        }
        let seen = version
        derivedLock.unlock()
        let value = make()
        derivedLock.lock()
        if version == seen { derivedValues[key] = (seen, value) }
        derivedLock.unlock()
        return value
    }

    var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
}

/// A pointer that may cross into the worker closures of ``parallelFor(_:minimumPerWorker:_:)``;
/// each worker touches a disjoint range.
struct SharedPointer: @unchecked Sendable {
    let base: UnsafeMutablePointer<Float>
    init(_ base: UnsafeMutablePointer<Float>) { self.base = base }
    init(_ base: UnsafePointer<Float>) { self.base = UnsafeMutablePointer(mutating: base) }
    subscript(i: Int) -> Float {
        get { base[i] }
        nonmutating set { base[i] = newValue }
    }
    static func + (p: SharedPointer, offset: Int) -> UnsafeMutablePointer<Float> { p.base + offset }
}

/// Keeps freed tensor buffers for reuse by the next tensor of the same size.
///
/// A training step allocates the same shapes every iteration; handing those buffers back to the
/// system and faulting fresh zeroed pages in again cost about 8 % of a step. At most
/// `limitBytes` are kept; beyond that buffers are freed.
final class BufferCache: @unchecked Sendable {
    static let shared = BufferCache()
    private let lock = NSLock()
    private var available: [Int: [UnsafeMutableRawPointer]] = [:]
    private var cachedBytes = 0
    let limitBytes = 2 << 30
    /// Buffers smaller than this come straight from malloc, which already recycles them well.
    let minimumBytes = 64 << 10

    func take(bytes: Int) -> UnsafeMutableRawPointer {
        if bytes >= minimumBytes {
            lock.lock()
            if let reused = available[bytes]?.popLast() {
                cachedBytes -= bytes
                lock.unlock()
                return reused
            }
            lock.unlock()
        }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            fatalError("out of memory allocating \(bytes) bytes for a tensor")
        }
        return raw
    }

    func give(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        if bytes >= minimumBytes {
            lock.lock()
            // Make room by dropping buffers of other sizes: the sizes in use change when the
            // workload does (another batch size or resolution), and the new ones should win.
            var evicted: [UnsafeMutableRawPointer] = []
            while cachedBytes + bytes > limitBytes,
                  let victim = available.first(where: { $0.key != bytes && !$0.value.isEmpty })?.key {
                evicted.append(available[victim]!.removeLast())
                cachedBytes -= victim
                if available[victim]!.isEmpty { available[victim] = nil }
            }
            let kept = cachedBytes + bytes <= limitBytes
            if kept {
                available[bytes, default: []].append(pointer)
                cachedBytes += bytes
            }
            lock.unlock()
            for victim in evicted { free(victim) }
            if kept { return }
        }
        free(pointer)
    }
}

import Foundation
