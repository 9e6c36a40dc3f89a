import Foundation
import Testing
import Workers

@testable import kaltim_demo

/// The certificate's fonts without hinting: the same glyphs, and nothing a broken or hostile
/// font file can do but be refused.
@Suite struct UnhintedFontTests {
    /// The font Debian's fontconfig gives cairo for "sans-serif" (`fonts-dejavu-core`, which
    /// `scripts/install-deps.sh` installs).
    static let dejaVuSans = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    static let dejaVuSansBold = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"

    /// A font file's tables by tag.
    static func tables(_ font: [UInt8]) throws -> [String: [UInt8]] {
        func u16(_ at: Int) -> Int { Int(font[at]) << 8 | Int(font[at + 1]) }
        func u32(_ at: Int) -> Int { u16(at) << 16 | u16(at + 2) }
        var tables: [String: [UInt8]] = [:]
        for index in 0..<u16(4) {
            let entry = 12 + 16 * index
            let tag = String(decoding: font[entry..<entry + 4], as: UTF8.self)
            tables[tag] = Array(font[u32(entry + 8)..<u32(entry + 8) + u32(entry + 12)])
        }
        return tables
    }

    /// Each glyph's outline (contours, flags and points, or components) without its instructions,
    /// and the length of the instructions it had.
    static func glyphs(_ font: [UInt8]) throws -> [(outline: [UInt8], instructions: Int)] {
        let tables = try tables(font)
        let head = try #require(tables["head"])
        let maxp = try #require(tables["maxp"])
        let loca = try #require(tables["loca"])
        let glyf = try #require(tables["glyf"])
        func u16(_ bytes: [UInt8], _ at: Int) -> Int { Int(bytes[at]) << 8 | Int(bytes[at + 1]) }
        let long = u16(head, 50) == 1
        func location(_ glyph: Int) -> Int {
            long ? u16(loca, 4 * glyph) << 16 | u16(loca, 4 * glyph + 2) : 2 * u16(loca, 2 * glyph)
        }
        return (0..<u16(maxp, 4)).map { glyph in
            let bytes = Array(glyf[location(glyph)..<location(glyph + 1)])
            guard !bytes.isEmpty else { return ([], 0) }
            let contours = Int16(bitPattern: UInt16(u16(bytes, 0)))
            if contours >= 0 {
                let at = 10 + 2 * Int(contours)
                let length = u16(bytes, at)
                // Simple glyphs end with the points: the padding after them is not outline.
                return (Array(bytes[0..<at]) + Array(bytes[(at + 2 + length)...]), length)
            }
            var at = 10
            var hasInstructions = false
            var flags = 0
            repeat {
                flags = u16(bytes, at)
                hasInstructions = hasInstructions || flags & 0x0100 != 0
                at += 4 + (flags & 0x0001 != 0 ? 4 : 2)
                at += flags & 0x0008 != 0 ? 2 : flags & 0x0040 != 0 ? 4 : flags & 0x0080 != 0 ? 8 : 0
            } while flags & 0x0020 != 0
            var outline = Array(bytes[0..<at])
            // The components without the flag that says instructions follow.
            var component = 10
            repeat {
                flags = u16(outline, component)
                outline[component] &= ~0x01
                component += 4 + (flags & 0x0001 != 0 ? 4 : 2)
                component += flags & 0x0008 != 0 ? 2 : flags & 0x0040 != 0 ? 4 : flags & 0x0080 != 0 ? 8 : 0
            } while flags & 0x0020 != 0
            return (outline, hasInstructions ? u16(bytes, at) : 0)
        }
    }

    /// Removes the zero padding a simple glyph may carry after its last point.
    static func trimmed(_ outline: [UInt8]) -> [UInt8] {
        var bytes = outline
        while bytes.last == 0 { bytes.removeLast() }
        return bytes
    }

    @Test(arguments: [dejaVuSans, dejaVuSansBold])
    func theSameOutlinesWithoutAnyInstruction(path: String) throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let stripped = try UnhintedFont.strip(original)
        let before = try Self.glyphs(original)
        let after = try Self.glyphs(stripped)
        // The font had hinting to take out, and every glyph is still there.
        #expect(before.filter { $0.instructions > 0 }.count > 500)
        #expect(after.count == before.count)
        #expect(after.allSatisfy { $0.instructions == 0 }, "no glyph keeps an instruction")
        for (glyph, (old, new)) in zip(before, after).enumerated() where Self.trimmed(old.outline) != Self.trimmed(new.outline) {
            Issue.record("glyph \(glyph)'s outline changed")
            break
        }
        let tables = try Self.tables(stripped)
        for tag in ["fpgm", "prep", "cvt ", "hdmx", "LTSH", "VDMX"] { #expect(tables[tag] == nil, "\(tag) is gone") }
        let kept = try Self.tables(original).keys.filter { !["fpgm", "prep", "cvt ", "hdmx", "LTSH", "VDMX"].contains($0) }
        #expect(Set(tables.keys) == Set(kept), "every other table is kept")
        for tag in kept where !["glyf", "loca", "head", "maxp"].contains(tag) {
            #expect(tables[tag] == (try Self.tables(original))[tag], "\(tag) is unchanged")
        }
        // The file's checksum, as a font validator checks it: the whole file sums to the magic number.
        var sum: UInt32 = 0
        for word in stride(from: 0, to: stripped.count, by: 4) {
            sum = sum &+ stripped[word..<word + 4].reduce(0) { $0 << 8 | UInt32($1) }
        }
        #expect(stripped.count % 4 == 0 && sum == 0xB1B0_AFBA)
        let instructionBytes = before.reduce(0) { $0 + $1.instructions }
        #expect(stripped.count <= original.count - instructionBytes, "\(stripped.count) of \(original.count) bytes")
    }

    /// What the certificates are drawn with on this machine: both weights without hinting.
    @Test func certificatesAreDrawnWithoutHinting() {
        #expect(CertificatePDF.drawsWithoutHinting)
    }

    /// Truncated, bit-flipped and made-up fonts: each is refused or rewritten, never a crash.
    @Test func aBrokenOrHostileFontIsRefused() throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.dejaVuSans)))
        #expect(throws: UnhintedFont.Refusal.self) { try UnhintedFont.strip([]) }
        #expect(throws: UnhintedFont.Refusal.self) { try UnhintedFont.strip(Array("OTTO".utf8) + [0, 1, 0, 0]) }
        #expect(throws: UnhintedFont.Refusal.self) { try UnhintedFont.strip([0, 1, 0, 0, 0xFF, 0xFF]) }
        // Cut anywhere: every table or glyph that runs past the end is refused.
        for length in [12, 100, 400, 1_000, original.count / 3, original.count / 2, original.count - 1] {
            #expect(throws: UnhintedFont.Refusal.self, "cut at \(length)") {
                try UnhintedFont.strip(Array(original[0..<length]))
            }
        }
        // A table directory that points past the end of the file, and a tag that is not four
        // letters (which, decoded as text, would have written a longer entry).
        var directory = original
        directory[12 + 8] = 0xFF
        #expect(throws: UnhintedFont.Refusal.self) { try UnhintedFont.strip(directory) }
        var tag = original
        tag[12 + 16 * 3] = 0xFF
        #expect(throws: UnhintedFont.Refusal.self) { try UnhintedFont.strip(tag) }
        // Three hundred files with random bytes overwritten, in the directory and in the tables.
        var generator = SeededRandom(seed: 2025)  // the main job's SplitMix64: a failing case can be found again
        for _ in 0..<300 {
            var font = original
            for _ in 0..<8 {
                let at =
                    generator.next() % 2 == 0
                    ? Int(generator.next() % 512) : Int(generator.next() % UInt64(original.count))
                font[at] = UInt8(truncatingIfNeeded: generator.next())
            }
            _ = try? UnhintedFont.strip(font)
        }
        // A glyph whose instructions claim more bytes than it has, and a composite whose
        // components run past its end.
        let tables = try Self.tables(original)
        let glyfOffset = try #require(Self.offset(of: "glyf", in: original))
        let loca = try #require(tables["loca"])
        let long = try #require(tables["head"])[51] == 1
        let glyphStart =
            long
            ? Int(loca[4]) << 24 | Int(loca[5]) << 16 | Int(loca[6]) << 8 | Int(loca[7]) : 2 * (Int(loca[2]) << 8 | Int(loca[3]))
        var lying = original
        let contours = Int(lying[glyfOffset + glyphStart]) << 8 | Int(lying[glyfOffset + glyphStart + 1])
        let lengthAt = glyfOffset + glyphStart + 10 + 2 * contours
        lying[lengthAt] = 0xFF
        lying[lengthAt + 1] = 0xFF
        #expect(throws: UnhintedFont.Refusal.self) { try UnhintedFont.strip(lying) }
        // A composite glyph (DejaVu's first) cut after its first component's flags: the
        // component's glyph index and arguments lie past its end.
        let locaOffset = try #require(Self.offset(of: "loca", in: original))
        let glyf = try #require(tables["glyf"])
        func location(_ glyph: Int) -> Int { loca[4 * glyph..<4 * glyph + 4].reduce(0) { $0 << 8 | Int($1) } }
        let composite = try #require(
            (0..<(loca.count / 4 - 1)).first { glyph in
                location(glyph) < location(glyph + 1) && glyf[location(glyph)] & 0x80 != 0
            })
        #expect(long, "DejaVu's loca has long offsets")
        var cut = original
        let end = location(composite) + 12
        for (index, byte) in [UInt8(end >> 24), UInt8((end >> 16) & 0xFF), UInt8((end >> 8) & 0xFF), UInt8(end & 0xFF)]
            .enumerated()
        {
            cut[locaOffset + 4 * (composite + 1) + index] = byte
        }
        #expect {
            try UnhintedFont.strip(cut)
        } throws: { error in
            (error as? UnhintedFont.Refusal)?.description == "glyph \(composite) is truncated"
        }
        #expect(throws: UnhintedFont.Refusal.self) { try UnhintedFont.strip(Array(repeating: 0, count: (64 << 20) + 1)) }
    }

    static func offset(of tag: String, in font: [UInt8]) -> Int? {
        let count = Int(font[4]) << 8 | Int(font[5])
        for index in 0..<count {
            let entry = 12 + 16 * index
            if String(decoding: font[entry..<entry + 4], as: UTF8.self) == tag {
                return font[entry + 8..<entry + 12].reduce(0) { $0 << 8 | Int($1) }
            }
        }
        return nil
    }
}
