/// Reading and writing the table structure of a TrueType font file, for ``UnhintedFont`` and
/// ``TrueTypeSubset``: the table directory, big-endian reads that cannot trap, and a file
/// assembled from tables with its checksums.
public enum TrueTypeFile {
    /// Why a font could not be read or rewritten.
    public struct Refusal: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// The tables of `font` by tag, in the directory's order, and the file's version.
    /// - Throws: ``Refusal`` for a file larger than 64 MiB, one that is not TrueType, or a
    ///   directory whose tables lie outside the file, repeat or overlap.
    static func tables(_ font: [UInt8]) throws(Refusal) -> (version: UInt32, order: [String], tables: [String: [UInt8]]) {
        // DejaVu Sans is 0.7 MiB; the largest fonts of a system are some tens.
        guard font.count <= 64 << 20 else { throw Refusal(description: "larger than 64 MiB") }
        let reader = Reader(font)
        // 1.0, or "true" (Apple's tag for the same format).
        guard let version = reader.u32(0), version == 0x0001_0000 || version == 0x7472_7565 else {
            throw Refusal(description: "not a TrueType font")
        }
        guard let tableCount = reader.u16(4), tableCount > 0, tableCount <= 256 else {
            throw Refusal(description: "no table directory")
        }
        var tables: [String: [UInt8]] = [:]
        var order: [String] = []
        var copied = 0
        for index in 0..<Int(tableCount) {
            let entry = 12 + 16 * index
            guard let tag = reader.tag(entry) else { throw Refusal(description: "a table's tag is not four letters") }
            guard let offset = reader.u32(entry + 8), let length = reader.u32(entry + 12),
                let bytes = reader.slice(Int(offset), Int(length)), tables[tag] == nil
            else { throw Refusal(description: "a table lies outside the file, or twice in it") }
            // Tables do not overlap in a font: more bytes than the file means they do, and
            // 256 tables each the whole file would copy it 256 times.
            copied += bytes.count
            guard copied <= font.count else { throw Refusal(description: "tables overlap") }
            tables[tag] = bytes
            order.append(tag)
        }
        return (version, order, tables)
    }

    /// Where each glyph's outline lies in `glyf`, from `loca` (short or long offsets).
    struct GlyphLocations {
        let loca: Reader
        let longOffsets: Bool

        /// Glyph `glyph`'s start and end in `glyf` (nil when `loca` has no such entries).
        func range(_ glyph: Int) -> (start: Int, end: Int)? {
            let start = longOffsets ? loca.u32(4 * glyph).map(Int.init) : loca.u16(2 * glyph).map { Int($0) * 2 }
            let end = longOffsets ? loca.u32(4 * glyph + 4).map(Int.init) : loca.u16(2 * glyph + 2).map { Int($0) * 2 }
            guard let start, let end else { return nil }
            return (start, end)
        }
    }

    /// A composite glyph's components: where each one's flags are (its glyph number follows
    /// them), and where the last one ends (its instructions, if any, follow). Empty components
    /// and `end` 0 for a simple glyph.
    /// - Throws: ``Refusal`` for a composite whose components run past its bytes.
    static func components(of outline: [UInt8], glyph: Int) throws(Refusal) -> (flagsAt: [Int], end: Int) {
        let reader = Reader(outline)
        guard let contours = reader.i16(0), contours < 0 else { return ([], 0) }
        var found: [Int] = []
        var at = 10
        while true {
            guard let flags = reader.u16(at), reader.u16(at + 2) != nil else {
                throw Refusal(description: "glyph \(glyph) is truncated")
            }
            found.append(at)
            at += 4 + (flags & 0x0001 != 0 ? 4 : 2)  // flags, glyph index, arguments as words or bytes
            if flags & 0x0008 != 0 {
                at += 2  // one scale
            } else if flags & 0x0040 != 0 {
                at += 4  // x and y scales
            } else if flags & 0x0080 != 0 {
                at += 8  // a two-by-two matrix
            }
            guard at <= outline.count else { throw Refusal(description: "glyph \(glyph) is truncated") }
            if flags & 0x0020 == 0 { return (found, at) }  // MORE_COMPONENTS
        }
    }

    /// The font file: the table directory (tags in their order, as the format wants them sorted)
    /// and the tables, each at a four-byte boundary, with their checksums and the file's.
    static func assemble(_ tags: [String], _ tables: [String: [UInt8]], version: UInt32) -> [UInt8] {
        let sorted = tags.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        var power = 1
        var exponent = 0
        while power * 2 <= sorted.count {
            power *= 2
            exponent += 1
        }
        var file: [UInt8] = []
        append32(&file, version)
        append16(&file, UInt16(sorted.count))
        append16(&file, UInt16(power * 16))
        append16(&file, UInt16(exponent))
        append16(&file, UInt16(sorted.count * 16 - power * 16))
        var offset = 12 + 16 * sorted.count
        var headOffset: Int?
        for tag in sorted {
            let bytes = tables[tag] ?? []
            file += Array(tag.utf8)
            append32(&file, checksum(bytes))
            append32(&file, UInt32(offset))
            append32(&file, UInt32(bytes.count))
            if tag == "head" { headOffset = offset }
            offset += (bytes.count + 3) / 4 * 4
        }
        for tag in sorted {
            file += tables[tag] ?? []
            while file.count % 4 != 0 { file.append(0) }
        }
        // The whole file's checksum adjustment, in `head` (both callers have one of 54 bytes).
        guard let headOffset, (tables["head"]?.count ?? 0) >= 12 else { return file }
        let adjustment = 0xB1B0_AFBA &- checksum(file)
        file[headOffset + 8] = UInt8(adjustment >> 24)
        file[headOffset + 9] = UInt8((adjustment >> 16) & 0xFF)
        file[headOffset + 10] = UInt8((adjustment >> 8) & 0xFF)
        file[headOffset + 11] = UInt8(adjustment & 0xFF)
        return file
    }

    /// The sum of the bytes as big-endian 32-bit words (the last one padded with zeros).
    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var sum: UInt32 = 0
        var index = 0
        while index < bytes.count {
            var word: UInt32 = 0
            for byte in 0..<4 { word = word << 8 | UInt32(index + byte < bytes.count ? bytes[index + byte] : 0) }
            sum = sum &+ word
            index += 4
        }
        return sum
    }

    static func append16(_ bytes: inout [UInt8], _ value: UInt16) {
        bytes += [UInt8(value >> 8), UInt8(value & 0xFF)]
    }

    static func append32(_ bytes: inout [UInt8], _ value: UInt32) {
        bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    /// Big-endian reads that return nil past the end instead of trapping.
    struct Reader {
        let bytes: [UInt8]
        init(_ bytes: [UInt8]) { self.bytes = bytes }

        func u8(_ at: Int) -> UInt8? { at >= 0 && at < bytes.count ? bytes[at] : nil }

        func u16(_ at: Int) -> UInt16? {
            guard at >= 0, at + 2 <= bytes.count else { return nil }
            return UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1])
        }

        func i16(_ at: Int) -> Int16? { u16(at).map { Int16(bitPattern: $0) } }

        func u32(_ at: Int) -> UInt32? {
            guard let high = u16(at), let low = u16(at + 2) else { return nil }
            return UInt32(high) << 16 | UInt32(low)
        }

        /// A table's tag: four printable ASCII characters, as the format has them.
        func tag(_ at: Int) -> String? {
            guard at >= 0, at + 4 <= bytes.count, bytes[at..<at + 4].allSatisfy({ (0x20...0x7E).contains($0) }) else {
                return nil
            }
            return String(decoding: bytes[at..<at + 4], as: UTF8.self)
        }

        func slice(_ start: Int, _ length: Int) -> [UInt8]? {
            guard start >= 0, length >= 0, start <= bytes.count, length <= bytes.count - start else { return nil }
            return Array(bytes[start..<start + length])
        }
    }
}
