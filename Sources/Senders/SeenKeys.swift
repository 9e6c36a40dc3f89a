/// The idempotency keys a ``FileSender`` has written, as a growing Bloom filter: 20 bits a key
/// with 14 probes, in layers of 65,536 keys, then 131,072, and so on (a full layer is followed
/// by one twice its size; none is ever rebuilt). That is 2.5 bytes a key when the last layer is
/// full, up to 7.5 just after a layer fills: 1.1 MB for 300,000 keys, where the set it replaced
/// took 4.7 MB at 95,000 keys (heaptrack), about 50 bytes a key.
///
/// A key the filter has never seen is new for certain. One it may have seen (every key written,
/// and by chance about one new key in 15,000 per full layer) is looked up in the file. The
/// probes come from the process's seeded `Hasher`, so the filter is never written anywhere: it
/// is built again from the file at each start.
package struct SeenKeys {
    /// Bits per key a layer is built for; with ``probes`` probes a new key looks seen in a full
    /// layer with a probability of about (1 − e^(−probes/bitsPerKey))^probes ≈ 0.007 %.
    static let bitsPerKey = 20
    static let probes = 14
    /// The first layer's keys, unless told otherwise: 160 KiB.
    package static let firstCapacity = 65_536

    private struct Layer {
        let capacity: Int
        var count = 0
        var words: [UInt64]
        let bitCount: UInt64

        init(capacity: Int) {
            self.capacity = capacity
            bitCount = UInt64(capacity * SeenKeys.bitsPerKey)
            words = Array(repeating: 0, count: Int((bitCount + 63) / 64))
        }

        func bit(_ probe: UInt64, _ hashes: (UInt64, UInt64)) -> (word: Int, mask: UInt64) {
            let bit = (hashes.0 &+ probe &* hashes.1) % bitCount
            return (Int(bit / 64), 1 << (bit % 64))
        }
    }

    private var layers: [Layer]

    /// - Parameter firstCapacity: the first layer's keys (at least 1; tests make it small to see
    ///   the filter grow).
    package init(firstCapacity: Int = SeenKeys.firstCapacity) {
        layers = [Layer(capacity: max(firstCapacity, 1))]
    }

    /// The keys inserted (a key inserted twice counts twice).
    package var count: Int { layers.reduce(0) { $0 + $1.count } }

    /// The filter's memory, in bytes.
    package var byteCount: Int { layers.reduce(0) { $0 + $1.words.count * 8 } }

    /// How many layers the filter has grown to.
    package var layerCount: Int { layers.count }

    package mutating func insert(_ key: String) {
        if let last = layers.last, last.count >= last.capacity { layers.append(Layer(capacity: 2 * last.capacity)) }
        let hashes = Self.hashes(key)
        let index = layers.count - 1
        for probe in 0..<UInt64(Self.probes) {
            let (word, mask) = layers[index].bit(probe, hashes)
            layers[index].words[word] |= mask
        }
        layers[index].count += 1
    }

    /// False only for a key never inserted.
    package func mayContain(_ key: String) -> Bool {
        let hashes = Self.hashes(key)
        return layers.contains { layer in
            (0..<UInt64(Self.probes)).allSatisfy { probe in
                let (word, mask) = layer.bit(probe, hashes)
                return layer.words[word] & mask != 0
            }
        }
    }

    /// Two independent hashes of the key, from two hashers told apart by a first byte (double
    /// hashing: probe i is at first + i × step, modulo the layer's bits).
    private static func hashes(_ key: String) -> (UInt64, UInt64) {
        var first = Hasher()
        first.combine(0 as UInt8)
        first.combine(key)
        var second = Hasher()
        second.combine(1 as UInt8)
        second.combine(key)
        return (UInt64(bitPattern: Int64(first.finalize())), UInt64(bitPattern: Int64(second.finalize())) | 1)
    }
}
