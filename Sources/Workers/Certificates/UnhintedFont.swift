/// A TrueType font without its hinting: the same outlines, metrics and character map, without
/// the instructions a rasteriser runs to fit glyphs to a screen's pixels.
///
/// A PDF embeds a subset of each font it uses, compressed; the Latin glyphs of the certificate's
/// fonts (DejaVu Sans on Debian) carry more bytes of hinting than of outline, so the subsets
/// without it are about half the size and take half the compression. Hinting does nothing in print and little on
/// today's screens, which mostly ignore it.
///
/// What is taken out: the `fpgm`, `prep` and `cvt ` tables (the programs and their values), the
/// tables that only record hinted results (`hdmx`, `LTSH`, `VDMX`), and every glyph's
/// instructions; `loca` is rewritten in its long form and the checksums are recomputed.
/// Anything that is not a well-formed TrueType font with `glyf` outlines (a collection, a CFF
/// font, a truncated file) is refused: the caller keeps the font as it is.
public enum UnhintedFont {
    /// Why a font could not be rewritten.
    public typealias Refusal = TrueTypeFile.Refusal

    private static let droppedTables: Set<String> = ["fpgm", "prep", "cvt ", "hdmx", "LTSH", "VDMX"]

    /// `font` (a TrueType file's bytes) without its hinting.
    /// - Throws: ``Refusal`` for anything but a well-formed TrueType font with outlines.
    public static func strip(_ font: [UInt8]) throws(Refusal) -> [UInt8] {
        let parsed = try TrueTypeFile.tables(font)
        var tables = parsed.tables
        guard let head = tables["head"], head.count >= 54, let maxp = tables["maxp"], maxp.count >= 6,
            let glyf = tables["glyf"], let loca = tables["loca"]
        else { throw Refusal(description: "no TrueType outlines (head, maxp, glyf and loca)") }
        let glyphCount = Int(TrueTypeFile.Reader(maxp).u16(4) ?? 0)
        let locations = TrueTypeFile.GlyphLocations(
            loca: TrueTypeFile.Reader(loca), longOffsets: TrueTypeFile.Reader(head).u16(50) == 1)

        var newGlyf: [UInt8] = []
        newGlyf.reserveCapacity(glyf.count)
        var newLoca: [UInt8] = []
        newLoca.reserveCapacity(4 * (glyphCount + 1))
        let glyfReader = TrueTypeFile.Reader(glyf)
        for glyph in 0..<glyphCount {
            TrueTypeFile.append32(&newLoca, UInt32(newGlyf.count))
            // Each glyph ends where the next begins and no glyph ends before it begins, so no two
            // share bytes: the new table is at most the old one and three bytes of padding a glyph.
            guard let (start, end) = locations.range(glyph), start <= end,
                let outline = glyfReader.slice(start, end - start)
            else { throw Refusal(description: "glyph \(glyph) lies outside the glyf table") }
            if !outline.isEmpty { newGlyf += try withoutInstructions(outline, glyph: glyph) }
            while newGlyf.count % 4 != 0 { newGlyf.append(0) }
        }
        TrueTypeFile.append32(&newLoca, UInt32(newGlyf.count))
        tables["glyf"] = newGlyf
        tables["loca"] = newLoca
        var newHead = head
        newHead[50] = 0
        newHead[51] = 1  // long offsets in loca
        newHead[8...11] = [0, 0, 0, 0]  // checkSumAdjustment, set below
        tables["head"] = newHead
        if maxp.count >= 32 {
            // maxp 1.0: no zones, storage, functions or instructions are needed any more.
            var newMaxp = maxp
            newMaxp[14...15] = [0, 1]  // maxZones: 1 (no twilight zone)
            // maxTwilightPoints, maxStorage, maxFunctionDefs, maxInstructionDefs,
            // maxStackElements and maxSizeOfInstructions.
            for field in stride(from: 16, through: 26, by: 2) { newMaxp[field...field + 1] = [0, 0] }
            tables["maxp"] = newMaxp
        }
        for tag in droppedTables { tables[tag] = nil }
        return TrueTypeFile.assemble(parsed.order.filter { tables[$0] != nil }, tables, version: parsed.version)
    }

    /// One glyph's bytes without its instructions.
    private static func withoutInstructions(_ outline: [UInt8], glyph: Int) throws(Refusal) -> [UInt8] {
        let reader = TrueTypeFile.Reader(outline)
        guard let contours = reader.i16(0) else { throw Refusal(description: "glyph \(glyph) is truncated") }
        if contours >= 0 {
            // A simple glyph: header, the contours' end points, the instructions' length and
            // bytes, then each point's flags and coordinates (the padding after them is dropped).
            let lengthAt = 10 + 2 * Int(contours)
            guard let length = reader.u16(lengthAt), lengthAt + 2 + Int(length) <= outline.count else {
                throw Refusal(description: "glyph \(glyph) is truncated")
            }
            let flagsAt = lengthAt + 2 + Int(length)
            guard let end = pointsEnd(reader, contours: Int(contours), flagsAt: flagsAt) else {
                throw Refusal(description: "glyph \(glyph)'s points are truncated")
            }
            return Array(outline[0..<lengthAt]) + [0, 0] + outline[flagsAt..<end]
        }
        // A composite glyph: components, then (when one says so) the instructions at the end.
        var copy = outline
        let components = try TrueTypeFile.components(of: outline, glyph: glyph)
        for at in components.flagsAt {
            copy[at] &= ~0x01  // WE_HAVE_INSTRUCTIONS (0x0100, in the flags' high byte)
        }
        return Array(copy[0..<components.end])
    }

    /// Where a simple glyph's coordinates end, from its points' flags (nil when they run past
    /// the glyph's bytes).
    private static func pointsEnd(_ reader: TrueTypeFile.Reader, contours: Int, flagsAt: Int) -> Int? {
        guard contours > 0 else { return flagsAt }
        guard let lastPoint = reader.u16(10 + 2 * (contours - 1)) else { return nil }
        let points = Int(lastPoint) + 1
        var at = flagsAt
        var counted = 0
        var coordinates = 0
        while counted < points {
            guard let flag = reader.u8(at) else { return nil }
            at += 1
            var times = 1
            if flag & 0x08 != 0 {  // REPEAT_FLAG: the next byte says how many more times
                guard let more = reader.u8(at) else { return nil }
                at += 1
                times += Int(more)
            }
            // x: one byte (X_SHORT_VECTOR), none (the same as before) or two; y likewise.
            let x = flag & 0x02 != 0 ? 1 : flag & 0x10 != 0 ? 0 : 2
            let y = flag & 0x04 != 0 ? 1 : flag & 0x20 != 0 ? 0 : 2
            coordinates += (x + y) * times
            counted += times
        }
        guard counted == points, at + coordinates <= reader.bytes.count else { return nil }
        return at + coordinates
    }
}
