import CCairo
import Foundation

/// The two faces the certificate is drawn with: the system's sans-serif (DejaVu Sans on Debian),
/// regular and bold, as fontconfig matches it for cairo, loaded once per process without its
/// hinting (``UnhintedFont``), which halves the font subsets a PDF embeds, and cut once for
/// the PDFs this code writes (``EmbeddedPDFFont``).
///
/// When a face cannot be had that way (no fontconfig match, a collection or CFF font, a file
/// that cannot be read or rewritten), that face is cairo's own "sans-serif", with its hinting:
/// the same glyphs, a larger file. The faces live as long as the process.
enum CertificateFonts {
    /// A cairo font face shared by every thread that draws: cairo counts its references
    /// atomically and locks the FreeType face under it each time it uses it.
    final class Face: @unchecked Sendable {
        let pointer: OpaquePointer
        init(_ pointer: OpaquePointer) { self.pointer = pointer }
    }

    /// A face loaded without hinting: cairo's, and the one the PDFs embed when this code writes
    /// them (nil when it cannot be cut down).
    private struct Loaded: Sendable {
        let face: Face
        let embedded: EmbeddedPDFFont?
    }

    private static let loaded: (regular: Loaded?, bold: Loaded?) = {
        var library: FT_Library?
        guard FT_Init_FreeType(&library) == 0, let library else { return (nil, nil) }
        return (unhinted(bold: false, library), unhinted(bold: true, library))
    }()

    /// The regular and bold faces, or nil for a weight that falls back to cairo's own.
    static var faces: (regular: Face?, bold: Face?) { (loaded.regular?.face, loaded.bold?.face) }

    /// Whether both weights are drawn without hinting.
    static var unhinted: Bool { faces.regular != nil && faces.bold != nil }

    /// Both weights as every PDF embeds them, when both could be built
    /// (``EmbeddedFontCanvas``); nil when certificates are drawn by cairo alone.
    static var embedded: EmbeddedFontCanvas.Fonts? {
        guard let regular = loaded.regular?.embedded, let bold = loaded.bold?.embedded else { return nil }
        return EmbeddedFontCanvas.Fonts(regular: regular, bold: bold)
    }

    /// Selects the certificate's face of that weight on `cr`.
    static func select(_ cr: OpaquePointer, bold: Bool) {
        if let face = bold ? faces.bold : faces.regular {
            cairo_set_font_face(cr, face.pointer)
        } else {
            cairo_select_font_face(
                cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
        }
    }

    /// The file fontconfig matches for cairo's "sans-serif" of that weight, without hinting.
    private static func unhinted(bold: Bool, _ library: FT_Library) -> Loaded? {
        guard let path = matchedFile(bold: bold),
            let size = try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int, size <= 64 << 20,
            let original = FileManager.default.contents(atPath: path),
            let bytes = try? UnhintedFont.strip([UInt8](original))
        else { return nil }
        // FreeType reads the face from this memory for as long as the process draws: never freed.
        let memory = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: bytes.count)
        _ = memory.initialize(from: bytes)
        var face: FT_Face?
        guard FT_New_Memory_Face(library, memory.baseAddress, FT_Long(bytes.count), 0, &face) == 0, let face else {
            return nil
        }
        // The glyphs the PDFs embed, from this face's character map, before cairo has the face.
        let name = FT_Get_Postscript_Name(face).map { String(cString: $0) } ?? "Sans"
        let embedded = EmbeddedPDFFont(
            font: bytes, glyph: { UInt16(exactly: FT_Get_Char_Index(face, FT_ULong($0.value))) }, name: name,
            tag: bold ? "KALTIB" : "KALTIR",
            first: bold ? EmbeddedFontCanvas.Fonts.boldFirstObject : EmbeddedFontCanvas.Fonts.regularFirstObject)
        guard let cairoFace = cairo_ft_font_face_create_for_ft_face(face, 0),
            cairo_font_face_status(cairoFace) == CAIRO_STATUS_SUCCESS
        else { return nil }
        return Loaded(face: Face(cairoFace), embedded: embedded)
    }

    /// The path of the single-face font file fontconfig matches for "sans-serif" of that weight
    /// (nil for a face inside a collection).
    private static func matchedFile(bold: Bool) -> String? {
        guard let pattern = FcPatternCreate() else { return nil }
        defer { FcPatternDestroy(pattern) }
        _ = "sans-serif".withCString { family in
            family.withMemoryRebound(to: FcChar8.self, capacity: 11) { FcPatternAddString(pattern, "family", $0) }
        }
        _ = FcPatternAddInteger(pattern, "weight", bold ? 200 : 80)  // FC_WEIGHT_BOLD, FC_WEIGHT_REGULAR
        _ = FcPatternAddInteger(pattern, "slant", 0)  // FC_SLANT_ROMAN
        guard FcConfigSubstitute(nil, pattern, FcMatchPattern) != 0 else { return nil }
        FcDefaultSubstitute(pattern)
        var result = FcResultNoMatch
        guard let match = FcFontMatch(nil, pattern, &result) else { return nil }
        defer { FcPatternDestroy(match) }
        var file: UnsafeMutablePointer<FcChar8>?
        var index: Int32 = 0
        guard FcPatternGetString(match, "file", 0, &file) == FcResultMatch, let file,
            FcPatternGetInteger(match, "index", 0, &index) == FcResultMatch, index == 0
        else { return nil }
        return String(cString: file)
    }
}
