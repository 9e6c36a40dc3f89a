/// A TrueType font cut down to the glyphs a PDF draws with: glyph 0 (`.notdef`), then the glyphs
/// asked for in their order, then the glyphs those are built from (accented letters are often
/// composites of a letter and an accent), numbered again from 0 in that order. A PDF's
/// `CIDFontType2` font with the `Identity` map names its glyphs by these numbers.
///
/// What the file keeps: `head`, `hhea`, `maxp`, `hmtx`, `loca` (long) and `glyf` for those
/// glyphs, `OS/2` as it is, and `post` without glyph names. No `cmap`: the PDF maps its codes to
/// glyphs itself. No `name`: the PDF names the font, and DejaVu's table (its copyright and
/// licence in several languages) would be two thirds of the file.
/// The font must have no hinting left in its glyphs (``UnhintedFont`` does that), since a
/// glyph's instructions would refer to the programs this file leaves out.
struct TrueTypeSubset {
    /// The subset font file.
    let file: [UInt8]
    /// The new number of each glyph asked for, by its number in the whole font.
    let newNumber: [UInt16: UInt16]
    /// The font's design units per em (the scale of every figure below).
    let unitsPerEm: Int
    /// Each new glyph's advance width.
    let advances: [Int]
    /// Each new glyph's horizontal ink extent (nil for a glyph without an outline, the space).
    let inkExtents: [ClosedRange<Int>?]
    /// The font's bounding box (xMin, yMin, xMax, yMax), from `head`.
    let boundingBox: [Int]
    /// The typographic ascender and descender, from `hhea`.
    let ascender: Int
    let descender: Int
    /// The height of capital letters, from `OS/2` (version 2 and later; nil before, as in DejaVu).
    let capHeight: Int?
    /// Each new glyph's top (yMax; 0 without an outline).
    let tops: [Int]

    /// The most levels of components under a glyph this subset copies: a composite of
    /// composites is one of two levels; fonts use one or two.
    static let deepestComponents = 8

    /// Refuses a glyph built, through its components (`parts`, by glyph), from itself, which
    /// would send a reader's rasteriser round for ever, or nested deeper than
    /// ``deepestComponents``. Each glyph is walked once; the walk goes no deeper than the limit.
    static func refuseCircularOrDeep(_ parts: [Int: [Int]]) throws(TrueTypeFile.Refusal) {
        var levels: [Int: Int] = [:]  // levels under a glyph; -1 while its components are walked
        func walk(_ glyph: Int, depth: Int) throws(TrueTypeFile.Refusal) -> Int {
            if let known = levels[glyph] {
                guard known >= 0 else { throw TrueTypeFile.Refusal(description: "glyph \(glyph) is built from itself") }
                guard depth + known <= deepestComponents else {
                    throw TrueTypeFile.Refusal(description: "glyph \(glyph)'s components nest too deep")
                }
                return known
            }
            guard depth <= deepestComponents else {
                throw TrueTypeFile.Refusal(description: "glyph \(glyph)'s components nest too deep")
            }
            levels[glyph] = -1
            var deepest = 0
            for part in parts[glyph] ?? [] { deepest = max(deepest, try walk(part, depth: depth + 1) + 1) }
            levels[glyph] = deepest
            return deepest
        }
        for glyph in parts.keys { _ = try walk(glyph, depth: 0) }
    }

    /// Cuts `font` down to `glyphs` (their numbers in `font`) and what they are built from.
    /// - Throws: ``TrueTypeFile/Refusal`` for a font without TrueType outlines and metrics, a
    ///   glyph number the font does not have, an outline that is cut short, or a composite
    ///   built from itself or nested deeper than ``deepestComponents``.
    init(_ font: [UInt8], keeping glyphs: [UInt16]) throws(TrueTypeFile.Refusal) {
        typealias Refusal = TrueTypeFile.Refusal
        typealias Reader = TrueTypeFile.Reader
        let tables = try TrueTypeFile.tables(font).tables
        guard let head = tables["head"], head.count >= 54, let maxp = tables["maxp"], maxp.count >= 6,
            let hhea = tables["hhea"], hhea.count >= 36, let hmtx = tables["hmtx"], let glyf = tables["glyf"],
            let loca = tables["loca"]
        else { throw Refusal(description: "no TrueType outlines and metrics (head, hhea, hmtx, maxp, glyf and loca)") }
        let headReader = Reader(head)
        let glyphCount = Int(Reader(maxp).u16(4) ?? 0)
        let metricCount = Int(Reader(hhea).u16(34) ?? 0)
        guard glyphCount > 0, metricCount > 0, metricCount <= glyphCount,
            hmtx.count >= 4 * metricCount + 2 * (glyphCount - metricCount)
        else { throw Refusal(description: "the horizontal metrics do not cover the glyphs") }
        let locations = TrueTypeFile.GlyphLocations(loca: Reader(loca), longOffsets: headReader.u16(50) == 1)
        let glyfReader = Reader(glyf)
        let hmtxReader = Reader(hmtx)
        func outline(_ glyph: Int) throws(Refusal) -> [UInt8] {
            guard let (start, end) = locations.range(glyph), start <= end, let bytes = glyfReader.slice(start, end - start)
            else {
                throw Refusal(description: "glyph \(glyph) lies outside the glyf table")
            }
            guard bytes.isEmpty || bytes.count >= 10 else { throw Refusal(description: "glyph \(glyph) is truncated") }
            return bytes
        }

        // The glyphs in their new order: .notdef, those asked for, then their components.
        var order: [Int] = [0]
        var newNumber: [Int: Int] = [0: 0]
        func take(_ glyph: Int) throws(Refusal) {
            guard glyph < glyphCount else { throw Refusal(description: "the font has no glyph \(glyph)") }
            guard newNumber[glyph] == nil else { return }
            guard order.count < 0xFFFF else { throw Refusal(description: "more glyphs than a font holds") }
            newNumber[glyph] = order.count
            order.append(glyph)
        }
        for glyph in glyphs { try take(Int(glyph)) }
        var outlines: [[UInt8]] = []
        var parts: [Int: [Int]] = [:]
        var index = 0
        while index < order.count {
            let bytes = try outline(order[index])
            for at in try TrueTypeFile.components(of: bytes, glyph: order[index]).flagsAt {
                let part = Int(Reader(bytes).u16(at + 2) ?? 0)
                try take(part)
                parts[order[index], default: []].append(part)
            }
            outlines.append(bytes)
            index += 1
        }
        try Self.refuseCircularOrDeep(parts)

        var newGlyf: [UInt8] = []
        var newLoca: [UInt8] = []
        var newHmtx: [UInt8] = []
        var advances: [Int] = []
        var inkExtents: [ClosedRange<Int>?] = []
        var tops: [Int] = []
        for (position, glyph) in order.enumerated() {
            TrueTypeFile.append32(&newLoca, UInt32(newGlyf.count))
            var bytes = outlines[position]
            for at in try TrueTypeFile.components(of: bytes, glyph: glyph).flagsAt {
                let number = UInt16(newNumber[Int(Reader(bytes).u16(at + 2) ?? 0)] ?? 0)
                bytes[at + 2] = UInt8(number >> 8)
                bytes[at + 3] = UInt8(number & 0xFF)
            }
            newGlyf += bytes
            while newGlyf.count % 4 != 0 { newGlyf.append(0) }
            let metric = min(glyph, metricCount - 1)
            let advance = hmtxReader.u16(4 * metric) ?? 0
            let sideBearing =
                glyph < metricCount
                ? hmtxReader.u16(4 * glyph + 2) ?? 0 : hmtxReader.u16(4 * metricCount + 2 * (glyph - metricCount)) ?? 0
            TrueTypeFile.append16(&newHmtx, advance)
            TrueTypeFile.append16(&newHmtx, sideBearing)
            advances.append(Int(advance))
            let reader = Reader(bytes)
            if let xMin = reader.i16(2), let xMax = reader.i16(6), xMin <= xMax {
                inkExtents.append(Int(xMin)...Int(xMax))
            } else {
                inkExtents.append(nil)
            }
            tops.append(reader.i16(8).map(Int.init) ?? 0)
        }
        TrueTypeFile.append32(&newLoca, UInt32(newGlyf.count))

        var subset: [String: [UInt8]] = ["glyf": newGlyf, "loca": newLoca, "hmtx": newHmtx]
        var newHead = head
        newHead[8...11] = [0, 0, 0, 0]  // checkSumAdjustment, set when the file is assembled
        newHead[50...51] = [0, 1]  // long offsets in loca
        subset["head"] = newHead
        var newHhea = hhea
        newHhea[34...35] = [UInt8(order.count >> 8), UInt8(order.count & 0xFF)]
        subset["hhea"] = newHhea
        var newMaxp = maxp
        newMaxp[4...5] = [UInt8(order.count >> 8), UInt8(order.count & 0xFF)]
        subset["maxp"] = newMaxp
        if let post = tables["post"], post.count >= 32 {
            subset["post"] = [0, 3, 0, 0] + post[4..<32]  // version 3: no glyph names
        }
        subset["OS/2"] = tables["OS/2"]
        file = TrueTypeFile.assemble(Array(subset.keys), subset, version: 0x0001_0000)

        self.newNumber = Dictionary(
            glyphs.compactMap { glyph in newNumber[Int(glyph)].map { (glyph, UInt16($0)) } },
            uniquingKeysWith: { first, _ in first })
        self.advances = advances
        self.inkExtents = inkExtents
        unitsPerEm = max(16, Int(headReader.u16(18) ?? 1000))
        boundingBox = [36, 38, 40, 42].map { Int(headReader.i16($0) ?? 0) }
        let hheaReader = Reader(hhea)
        ascender = Int(hheaReader.i16(4) ?? 0)
        descender = Int(hheaReader.i16(6) ?? 0)
        let os2 = Reader(tables["OS/2"] ?? [])
        if let version = os2.u16(0), version >= 2, let capital = os2.i16(88), capital > 0 {
            capHeight = Int(capital)
        } else {
            capHeight = nil
        }
        self.tops = tops
    }
}
