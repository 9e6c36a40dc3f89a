import CCairo
import CertificateTrust
import Foundation

/// What the certificate's layout (``CertificatePDF``) draws on: text in the certificate's two
/// weights, a colour, the border and the QR code, in points from the page's top left corner.
/// Two canvases draw the same layout: ``EmbeddedFontCanvas`` writes the PDF itself with fonts
/// embedded once per process, for text within ``EmbeddedPDFFont/repertoire``; ``CairoCanvas``
/// draws anything else.
protocol CertificateCanvas {
    /// The colour of what is drawn next, text and lines.
    mutating func setColor(red: Double, green: Double, blue: Double)
    /// Where `string`'s ink begins from its origin, and how wide it is, at `size` points.
    mutating func inkExtents(_ string: String, size: Double, bold: Bool) -> (xBearing: Double, width: Double)
    /// Draws `string` with its baseline's left end at `x`, `y`.
    mutating func text(_ string: String, x: Double, y: Double, size: Double, bold: Bool)
    /// Strokes a rectangle's outline.
    mutating func strokeRectangle(x: Double, y: Double, width: Double, height: Double, lineWidth: Double)
    /// Draws a QR code's modules (`dark`, row after row, `modules` to a row) in black, as a
    /// square of `side` points whose top left corner is at `x`, `y`, sharp at any resolution.
    mutating func qrCode(dark: [Bool], modules: Int, x: Double, y: Double, side: Double) throws
}

/// The certificate drawn by cairo on a PDF surface: any text the fonts have.
struct CairoCanvas: CertificateCanvas {
    let cr: OpaquePointer

    mutating func setColor(red: Double, green: Double, blue: Double) { cairo_set_source_rgb(cr, red, green, blue) }

    mutating func inkExtents(_ string: String, size: Double, bold: Bool) -> (xBearing: Double, width: Double) {
        CertificateFonts.select(cr, bold: bold)
        cairo_set_font_size(cr, size)
        var extents = cairo_text_extents_t()
        cairo_text_extents(cr, string, &extents)
        return (extents.x_bearing, extents.width)
    }

    mutating func text(_ string: String, x: Double, y: Double, size: Double, bold: Bool) {
        CertificateFonts.select(cr, bold: bold)
        cairo_set_font_size(cr, size)
        cairo_move_to(cr, x, y)
        cairo_show_text(cr, string)
    }

    mutating func strokeRectangle(x: Double, y: Double, width: Double, height: Double, lineWidth: Double) {
        cairo_set_line_width(cr, lineWidth)
        cairo_rectangle(cr, x, y, width, height)
        cairo_stroke(cr)
    }

    mutating func qrCode(dark: [Bool], modules: Int, x: Double, y: Double, side: Double) throws {
        // The modules as a one-byte-per-pixel mask, one pixel each, scaled up without smoothing:
        // cairo writes it as a 1-bit image mask with /Interpolate false (sharp at any resolution),
        // a few hundred bytes. Drawn as one rectangle per dark module instead, a code of a few
        // hundred modules cost cairo three times the rest of the page (number formatting and
        // compression of the path).
        guard modules > 0, dark.count == modules * modules,
            let mask = cairo_image_surface_create(CAIRO_FORMAT_A8, Int32(modules), Int32(modules)),
            cairo_surface_status(mask) == CAIRO_STATUS_SUCCESS, let pixels = cairo_image_surface_get_data(mask)
        else { throw CertificateError(.rendering, "cairo cannot hold the QR code") }
        defer { cairo_surface_destroy(mask) }
        cairo_surface_flush(mask)
        let stride = Int(cairo_image_surface_get_stride(mask))
        for row in 0..<modules {
            for column in 0..<modules { pixels[row * stride + column] = dark[row * modules + column] ? 255 : 0 }
        }
        cairo_surface_mark_dirty(mask)
        cairo_save(cr)
        cairo_translate(cr, x, y)
        cairo_scale(cr, side / Double(modules), side / Double(modules))
        guard let pattern = cairo_pattern_create_for_surface(mask) else {
            throw CertificateError(.rendering, "cairo cannot draw the QR code")
        }
        defer { cairo_pattern_destroy(pattern) }
        cairo_pattern_set_filter(pattern, CAIRO_FILTER_NEAREST)
        cairo_set_source_rgb(cr, 0, 0, 0)
        cairo_mask(cr, pattern)
        cairo_restore(cr)
    }
}

/// The certificate written as PDF by this code: one page, its content stream uncompressed (a few
/// kilobytes of text operators), the two faces' objects copied from ``EmbeddedPDFFont``s built
/// once per process, the QR code as a 1-bit image mask without smoothing. Nothing in it is
/// compressed per certificate: in a profile, cairo spent 73 % of a certificate's drawing ending
/// the page, cutting the font subsets and compressing them and the page with zlib (35 %).
///
/// Text with a character outside the fonts' repertoire is not drawn: ``isComplete`` turns false
/// and the caller draws the certificate with cairo instead.
struct EmbeddedFontCanvas: CertificateCanvas {
    /// The regular and bold faces; their objects follow the page's four (catalog, page tree,
    /// page, content), and the QR code's follows theirs.
    struct Fonts: Sendable {
        let regular: EmbeddedPDFFont
        let bold: EmbeddedPDFFont
        static let regularFirstObject = 5
        static let boldFirstObject = regularFirstObject + EmbeddedPDFFont.objectCount
        static let imageObject = boldFirstObject + EmbeddedPDFFont.objectCount
    }

    let fonts: Fonts
    let pageWidth: Double
    let pageHeight: Double
    private var content: [UInt8] = []
    private var image: [UInt8]?
    /// False once a text had a character the fonts' repertoire does not hold.
    private(set) var isComplete = true

    init(fonts: Fonts, pageWidth: Double, pageHeight: Double) {
        self.fonts = fonts
        self.pageWidth = pageWidth
        self.pageHeight = pageHeight
        content.reserveCapacity(4096)
    }

    mutating func setColor(red: Double, green: Double, blue: Double) {
        for operator_ in [" rg\n", " RG\n"] {
            for value in [red, green, blue] {
                PDFBytes.appendNumber(value, to: &content)
                content.append(UInt8(ascii: " "))
            }
            content.removeLast()
            content.append(contentsOf: operator_.utf8)
        }
    }

    mutating func inkExtents(_ string: String, size: Double, bold: Bool) -> (xBearing: Double, width: Double) {
        let font = bold ? fonts.bold : fonts.regular
        var pen = 0.0
        var low = Double.infinity
        var high = -Double.infinity
        for scalar in string.unicodeScalars {
            guard let code = font.code(scalar) else {
                isComplete = false
                continue
            }
            if let ink = font.inkExtents[Int(code)] {
                low = min(low, pen + ink.lowerBound)
                high = max(high, pen + ink.upperBound)
            }
            pen += Double(font.widths[Int(code)])
        }
        guard low <= high else { return (0, 0) }
        return (low * size / 1000, (high - low) * size / 1000)
    }

    mutating func text(_ string: String, x: Double, y: Double, size: Double, bold: Bool) {
        let font = bold ? fonts.bold : fonts.regular
        content.append(contentsOf: (bold ? "BT /F2 " : "BT /F1 ").utf8)
        PDFBytes.appendNumber(size, to: &content)
        content.append(contentsOf: " Tf ".utf8)
        PDFBytes.appendNumber(x, to: &content)
        content.append(UInt8(ascii: " "))
        PDFBytes.appendNumber(pageHeight - y, to: &content)
        content.append(contentsOf: " Td <".utf8)
        for scalar in string.unicodeScalars {
            guard let code = font.code(scalar) else {
                isComplete = false
                continue
            }
            PDFBytes.appendHex4(Int(code), to: &content)
        }
        content.append(contentsOf: "> Tj ET\n".utf8)
    }

    mutating func strokeRectangle(x: Double, y: Double, width: Double, height: Double, lineWidth: Double) {
        PDFBytes.appendNumber(lineWidth, to: &content)
        content.append(contentsOf: " w ".utf8)
        for value in [x, pageHeight - y - height, width, height] {
            PDFBytes.appendNumber(value, to: &content)
            content.append(UInt8(ascii: " "))
        }
        content.append(contentsOf: "re S\n".utf8)
    }

    mutating func qrCode(dark: [Bool], modules: Int, x: Double, y: Double, side: Double) throws {
        guard modules > 0, dark.count == modules * modules else {
            throw CertificateError(.rendering, "the QR code has no modules")
        }
        guard image == nil else { throw CertificateError(.rendering, "a page holds one QR code") }
        // One bit a module, rows from the top, each row whole bytes; with /Decode [1 0] a 1 paints.
        let rowBytes = (modules + 7) / 8
        var bits = [UInt8](repeating: 0, count: rowBytes * modules)
        for row in 0..<modules {
            for column in 0..<modules where dark[row * modules + column] {
                bits[row * rowBytes + column / 8] |= 0x80 >> UInt8(column % 8)
            }
        }
        image = PDFBytes.stream(
            bits,
            extra: "/Type /XObject /Subtype /Image /Width \(modules) /Height \(modules) /ImageMask true "
                + "/BitsPerComponent 1 /Decode [1 0] /Interpolate false")
        content.append(contentsOf: "q 0 0 0 rg ".utf8)
        for value in [side, 0, 0, side, x, pageHeight - y - side] {
            PDFBytes.appendNumber(value, to: &content)
            content.append(UInt8(ascii: " "))
        }
        content.append(contentsOf: "cm /Q Do Q\n".utf8)
    }

    /// The whole file: catalog, page tree, page, content, the fonts' objects, the QR code, the
    /// cross-reference table and the trailer.
    func document() -> [UInt8] {
        var resources = "/Font << /F1 \(Fonts.regularFirstObject) 0 R /F2 \(Fonts.boldFirstObject) 0 R >>"
        if image != nil { resources += " /XObject << /Q \(Fonts.imageObject) 0 R >>" }
        var objects: [[UInt8]] = [
            Array("<< /Type /Catalog /Pages 2 0 R >>".utf8),
            Array("<< /Type /Pages /Kids [3 0 R] /Count 1 >>".utf8),
            Array(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 \(PDFBytes.number(pageWidth)) \(PDFBytes.number(pageHeight))] /Resources << \(resources) >> /Contents 4 0 R >>"
                    .utf8),
            PDFBytes.stream(content, extra: ""),
        ]
        objects += fonts.regular.objects
        objects += fonts.bold.objects
        objects.append(image ?? Array("null".utf8))
        precondition(objects.count == Fonts.imageObject, "the objects are numbered as the references say")
        // The header, and a comment of four bytes above 127 that marks the file as binary.
        var file = Array("%PDF-1.4\n%".utf8) + [0xE2, 0xE3, 0xCF, 0xD3, 0x0A]
        file.reserveCapacity(objects.reduce(1024) { $0 + $1.count + 32 })
        var offsets: [Int] = []
        for (index, object) in objects.enumerated() {
            offsets.append(file.count)
            file += Array("\(index + 1) 0 obj\n".utf8)
            file += object
            file += Array("\nendobj\n".utf8)
        }
        let crossReference = file.count
        file += Array("xref\n0 \(objects.count + 1)\n0000000000 65535 f \n".utf8)
        for offset in offsets {
            let digits = String(offset)
            file += Array((String(repeating: "0", count: max(0, 10 - digits.count)) + digits + " 00000 n \n").utf8)
        }
        file += Array("trailer\n<< /Size \(objects.count + 1) /Root 1 0 R >>\nstartxref\n\(crossReference)\n%%EOF\n".utf8)
        return file
    }
}
