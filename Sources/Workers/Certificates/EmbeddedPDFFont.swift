import CZlib

/// One face of the certificate's font as every certificate PDF embeds it, built once per
/// process: a ``TrueTypeSubset`` holding the glyphs of ``repertoire``, compressed once, with the
/// PDF objects that describe it (a `Type0` font over a `CIDFontType2` font whose codes are the
/// subset's glyph numbers, its widths, its descriptor and a `ToUnicode` map, so the text can be
/// searched and copied). A certificate then costs the copying of these bytes, not a subsetting
/// and a compression of its own.
struct EmbeddedPDFFont: Sendable {
    /// The characters every certificate can be drawn with this way: printable ASCII, the dashes
    /// and the typographic quotes (names such as "Ma’ruf"): what the page's own texts and names as
    /// the civil registry writes them use. A page with any other character (an "é") is drawn by
    /// cairo. The Latin-1 letters would have made each face's embedded file about 60 % larger
    /// (the regular face, measured with fontTools in a review) in every certificate, for names
    /// that are rare here.
    static let repertoire: [Unicode.Scalar] =
        (0x20...0x7E).compactMap(Unicode.Scalar.init)
        + [0x2013, 0x2014, 0x2018, 0x2019, 0x201C, 0x201D].compactMap(Unicode.Scalar.init)

    /// The code (the subset's glyph number) of each character of the repertoire the font has.
    let codes: [Unicode.Scalar: UInt16]
    /// The same for ASCII, by the character's value (0 for none): most of a page, without hashing.
    private let asciiCodes: [UInt16]
    /// Each code's advance, in thousandths of the font size (as the PDF's widths say).
    let widths: [Double]
    /// Each code's horizontal ink extent in thousandths of the font size (nil for no ink).
    let inkExtents: [ClosedRange<Double>?]
    /// The font's ``objectCount`` objects, numbered from the number it was built with: the
    /// `Type0` font, the `CIDFontType2` font, the descriptor, the font file and the `ToUnicode` map.
    let objects: [[UInt8]]
    static let objectCount = 5

    /// - Parameters:
    ///   - font: a TrueType font without hinting (``UnhintedFont``).
    ///   - glyph: the font's glyph for a character (its `cmap`), nil or 0 for none.
    ///   - name: the font's PostScript name (any character but letters, digits and dashes is dropped).
    ///   - tag: the six capital letters that mark a subset's name, different for each font of a PDF.
    ///   - first: the number of the first of its objects.
    /// - Returns: nil when the font cannot be cut down or compressed.
    init?(font: [UInt8], glyph: (Unicode.Scalar) -> UInt16?, name: String, tag: String, first: Int) {
        let drawn = Self.repertoire.compactMap { scalar in glyph(scalar).flatMap { $0 == 0 ? nil : (scalar, $0) } }
        // Every printable ASCII character, or the font is not for this page.
        guard drawn.filter({ $0.0.isASCII }).count == 95, let subset = try? TrueTypeSubset(font, keeping: drawn.map(\.1)) else {
            return nil
        }
        let scale = 1000 / Double(subset.unitsPerEm)
        let codes = Dictionary(
            drawn.compactMap { scalar, glyph in subset.newNumber[glyph].map { (scalar, $0) } },
            uniquingKeysWith: { first, _ in first })
        self.codes = codes
        asciiCodes = (0..<128).map { value in Unicode.Scalar(value).flatMap { codes[$0] } ?? 0 }
        widths = subset.advances.map { (Double($0) * scale * 1000).rounded() / 1000 }
        inkExtents = subset.inkExtents.map { $0.map { Double($0.lowerBound) * scale...Double($0.upperBound) * scale } }
        guard let fontFile = Self.deflate(subset.file) else { return nil }
        // Each code to the characters it draws, for text extraction (one character per code;
        // where two characters share a glyph, the first of the repertoire).
        var characterOf: [UInt16: Unicode.Scalar] = [:]
        for (scalar, code) in codes.sorted(by: { $0.key.value < $1.key.value }) where characterOf[code] == nil {
            characterOf[code] = scalar
        }
        var map = """
            /CIDInit /ProcSet findresource begin
            12 dict begin
            begincmap
            /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
            /CMapName /Adobe-Identity-UCS def
            /CMapType 2 def
            1 begincodespacerange
            <0000> <FFFF>
            endcodespacerange

            """
        let pairs = characterOf.sorted { $0.key < $1.key }
        // At most 100 entries a block, as the CMap format wants.
        for start in stride(from: 0, to: pairs.count, by: 100) {
            let block = pairs[start..<min(start + 100, pairs.count)]
            map += "\(block.count) beginbfchar\n"
            for (code, scalar) in block { map += "<\(PDFBytes.hex4(Int(code)))> <\(PDFBytes.hex4(Int(scalar.value)))>\n" }
            map += "endbfchar\n"
        }
        map += "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
        guard let unicodeMap = Self.deflate(Array(map.utf8)) else { return nil }

        // A PDF name of letters, digits and dashes only: nothing in it needs escaping.
        let plain = name.unicodeScalars.filter {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-")
        }
        let fontName = tag + "+" + (plain.isEmpty ? "Sans" : String(String.UnicodeScalarView(plain.prefix(60))))
        // The font's cap height, or else the top of its "H".
        let capHeight = subset.capHeight ?? codes["H"].map { subset.tops[Int($0)] } ?? subset.ascender
        let box = subset.boundingBox.map { Int((Double($0) * scale).rounded()) }
        func number(_ value: Int) -> Int { Int((Double(value) * scale).rounded()) }
        objects = [
            Array(
                """
                << /Type /Font /Subtype /Type0 /BaseFont /\(fontName) /Encoding /Identity-H \
                /DescendantFonts [\(first + 1) 0 R] /ToUnicode \(first + 4) 0 R >>
                """.utf8),
            Array(
                """
                << /Type /Font /Subtype /CIDFontType2 /BaseFont /\(fontName) \
                /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> \
                /FontDescriptor \(first + 2) 0 R /CIDToGIDMap /Identity /DW \(PDFBytes.number(widths[0])) \
                /W [0 [\(widths.map(PDFBytes.number).joined(separator: " "))]] >>
                """.utf8),
            Array(
                """
                << /Type /FontDescriptor /FontName /\(fontName) /Flags 4 \
                /FontBBox [\(box.map(String.init).joined(separator: " "))] /ItalicAngle 0 \
                /Ascent \(number(subset.ascender)) /Descent \(number(subset.descender)) \
                /CapHeight \(number(capHeight)) /StemV 80 /FontFile2 \(first + 3) 0 R >>
                """.utf8),
            PDFBytes.stream(fontFile, extra: "/Length1 \(subset.file.count) /Filter /FlateDecode"),
            PDFBytes.stream(unicodeMap, extra: "/Filter /FlateDecode"),
        ]
    }

    /// The code of `scalar`, nil for a character outside the repertoire or the font.
    func code(_ scalar: Unicode.Scalar) -> UInt16? {
        if scalar.value < 128 {
            let code = asciiCodes[Int(scalar.value)]
            return code == 0 ? nil : code
        }
        return codes[scalar]
    }

    /// `bytes` compressed with zlib at its best level (once per process, so the time is spent
    /// where it saves every certificate's bytes).
    private static func deflate(_ bytes: [UInt8]) -> [UInt8]? {
        var length = compressBound(uLong(bytes.count))
        var output = [UInt8](repeating: 0, count: Int(length))
        guard compress2(&output, &length, bytes, uLong(bytes.count), Z_BEST_COMPRESSION) == Z_OK else { return nil }
        return Array(output[0..<Int(length)])
    }
}

/// The pieces of PDF syntax the certificate's writer needs.
enum PDFBytes {
    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    /// `value` as four upper-case hexadecimal digits (the low 16 bits).
    static func hex4(_ value: Int) -> String {
        var bytes: [UInt8] = []
        appendHex4(value, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends ``hex4(_:)`` of `value`.
    static func appendHex4(_ value: Int, to bytes: inout [UInt8]) {
        for shift in [12, 8, 4, 0] { bytes.append(hexDigits[(value >> shift) & 0xF]) }
    }

    /// A stream object's body: its dictionary (the length and `extra`), then the bytes.
    static func stream(_ bytes: [UInt8], extra: String) -> [UInt8] {
        Array("<< /Length \(bytes.count)\(extra.isEmpty ? "" : " " + extra) >>\nstream\n".utf8) + bytes
            + Array("\nendstream".utf8)
    }

    /// `value` as a PDF number (``appendNumber(_:to:)``).
    static func number(_ value: Double) -> String {
        var bytes: [UInt8] = []
        appendNumber(value, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `value` as a PDF number: at most three decimals, no exponent, no trailing zeros
    /// (0 for a value that is not finite or beyond a PDF reader's range).
    static func appendNumber(_ value: Double, to bytes: inout [UInt8]) {
        guard value.isFinite, abs(value) < 1_000_000 else {
            bytes.append(UInt8(ascii: "0"))
            return
        }
        var thousandths = Int((value * 1000).rounded())
        if thousandths < 0 {
            bytes.append(UInt8(ascii: "-"))
            thousandths = -thousandths
        }
        appendDigits(thousandths / 1000, to: &bytes)
        var fraction = thousandths % 1000
        guard fraction != 0 else { return }
        bytes.append(UInt8(ascii: "."))
        var divisor = 100
        while fraction != 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(fraction / divisor))
            fraction %= divisor
            divisor /= 10
        }
    }

    /// Appends a non-negative integer's decimal digits.
    static func appendDigits(_ value: Int, to bytes: inout [UInt8]) {
        guard value >= 10 else {
            bytes.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        appendDigits(value / 10, to: &bytes)
        bytes.append(UInt8(ascii: "0") + UInt8(value % 10))
    }
}
