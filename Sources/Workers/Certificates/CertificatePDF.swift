import CCairo
import CQREncode
public import CertificateTrust
import Foundation
import Programme

/// Draws a printable certificate (A4 landscape PDF) with a QR code (libqrencode) that carries
/// the verification address (or the bare code when no address is configured). One layout, two
/// canvases: the PDF written by ``EmbeddedFontCanvas`` with fonts embedded once per process,
/// or, for a text outside those fonts' repertoire or without them, by cairo (``CairoCanvas``).
public enum CertificatePDF {
    /// Whether this process draws certificates with the system's sans-serif without its hinting
    /// (smaller PDFs, less to compress), rather than with cairo's own face of it
    /// (``CertificateFonts``).
    public static var drawsWithoutHinting: Bool { CertificateFonts.unhinted }

    /// Whether this process writes certificates whose text its embedded fonts hold itself
    /// (``EmbeddedFontCanvas``), rather than through cairo.
    public static var writesWithEmbeddedFonts: Bool { CertificateFonts.embedded != nil }

    private static let width = 842.0
    private static let height = 595.0

    /// Writes the PDF of `document` to `path`: by ``EmbeddedFontCanvas`` when every text of the
    /// page is in its fonts' repertoire, else by cairo.
    /// - Parameter verificationURL: the verification service's address; the QR code and the
    ///   printed link are this followed by the verification code.
    /// - Throws: ``CertificateError`` when cairo or libqrencode fail, or the file cannot be written.
    public static func write(
        _ document: CertificateDocument, programmeName: String, verificationURL: String? = nil, to path: String
    ) throws {
        try write(document, programmeName: programmeName, verificationURL: verificationURL, to: path, byCairo: false)
    }

    /// ``write(_:programmeName:verificationURL:to:)``, or by cairo whatever the text (`byCairo`, for
    /// the tests that compare the two).
    static func write(
        _ document: CertificateDocument, programmeName: String, verificationURL: String?, to path: String, byCairo: Bool
    ) throws {
        if !byCairo, let fonts = CertificateFonts.embedded {
            var canvas = EmbeddedFontCanvas(fonts: fonts, pageWidth: width, pageHeight: height)
            try draw(document, programmeName: programmeName, verificationURL: verificationURL, on: &canvas)
            if canvas.isComplete {
                do {
                    try Data(canvas.document()).write(to: URL(fileURLWithPath: path))
                } catch {
                    throw CertificateError(.fileWrite, "cannot write \(path): \(error.localizedDescription)")
                }
                return
            }
        }
        guard let surface = cairo_pdf_surface_create(path, width, height) else {
            throw CertificateError(.rendering, "cairo cannot create \(path)")
        }
        defer { cairo_surface_destroy(surface) }
        guard let cr = cairo_create(surface) else { throw CertificateError(.rendering, "cairo cannot draw") }
        defer { cairo_destroy(cr) }
        var canvas = CairoCanvas(cr: cr)
        try draw(document, programmeName: programmeName, verificationURL: verificationURL, on: &canvas)
        cairo_show_page(cr)
        // An error while drawing (a glyph the font cannot give) stops the drawing context, not
        // the surface: the file would be written without the rest of the page.
        let drawn = cairo_status(cr)
        cairo_surface_finish(surface)
        guard drawn == CAIRO_STATUS_SUCCESS, cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS else {
            throw CertificateError(.rendering, "cairo failed writing \(path)")
        }
    }

    /// `string` with each control character (a NUL, a line break, a tab: Unicode's Cc) and each
    /// line or paragraph separator (U+2028, U+2029) as a space. cairo takes text as a C string
    /// and would stop at a NUL, and neither canvas draws the others; holders' names have none
    /// (intake refuses them), but the plan's texts could.
    static func printable(_ string: String) -> String {
        func isControl(_ scalar: Unicode.Scalar) -> Bool {
            scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
        }
        guard string.unicodeScalars.contains(where: isControl) else { return string }
        return String(String.UnicodeScalarView(string.unicodeScalars.map { isControl($0) ? " " : $0 }))
    }

    /// The QR code's side, in points.
    private static let qrSide = 120.0

    /// A text set to fit a room, on one line or more: the lines, top to bottom, each one's
    /// baseline (points from the top of the page), and the size of all of them.
    struct TextSetting: Equatable {
        var lines: [String]
        var baselines: [Double]
        var size: Double
    }

    /// One way to set a text: on as many lines as `baselines` has, at `largest` points or
    /// smaller, down to `smallest`.
    typealias LineOption = (largest: Double, smallest: Double, baselines: [Double])

    /// The holder's name: one line at 24 pt, down to 12; two of up to 14, down to 8; three of up
    /// to 9, down to 6, between "Diberikan kepada" and the participant number.
    static let nameOptions: [LineOption] = [(24, 12, [266]), (14, 8, [256, 272]), (9, 6, [252, 262.5, 273])]

    /// The printed verification link: one line at 8 pt, down to 6; two of 6, down to 4.5,
    /// between the verification code and the signature line, clear of the signatory's name
    /// (at 535), which a long link runs under.
    static let linkOptions: [LineOption] = [(8, 6, [519]), (6, 4.5, [513, 520.5])]

    /// `text` set in `room` by the first of `options` (one line, then two, …) whose lines hold
    /// it at its smallest size or larger, as large as they hold it and balanced; lines break
    /// between words, and inside a word wider than a line. When none holds it, the last option
    /// sets it smaller than its smallest size: smaller text, but nothing cut and nothing outside
    /// the room (intake's 200-character names of the widest letters come to that).
    /// - Parameter inkWidth: a text's drawn width at 1 pt (the width scales with the size).
    static func setting(
        _ text: String, room: Double, options: [LineOption], inkWidth: (String) -> Double
    ) -> TextSetting {
        let whole = inkWidth(text)
        let single = options[0]
        if whole * single.smallest <= room || options.count == 1 {
            return TextSetting(lines: [text], baselines: single.baselines, size: min(single.largest, room / whole))
        }
        let words = text.split(separator: " ").map(String.init)
        // The fewest lines of at most `limit` (at 1 pt) that hold the words in order.
        func broken(limit: Double) -> [String] {
            var set: [String] = []
            var line = ""
            for word in words {
                let joined = line.isEmpty ? word : line + " " + word
                if inkWidth(joined) <= limit {
                    line = joined
                    continue
                }
                if !line.isEmpty { set.append(line) }
                line = ""
                // A word wider than a line: cut between its characters.
                for character in word {
                    if !line.isEmpty, inkWidth(line + String(character)) > limit {
                        set.append(line)
                        line = ""
                    }
                    line.append(character)
                }
            }
            if !line.isEmpty { set.append(line) }
            return set
        }
        for (index, option) in options.enumerated().dropFirst() {
            let count = option.baselines.count
            // The largest size in half points at which the text takes no more lines than `count`.
            var size = min(option.largest, (room * Double(count) / whole * 2).rounded(.down) / 2)
            while size >= option.smallest, broken(limit: room / size).count > count { size -= 0.5 }
            if size < option.smallest {
                guard index == options.count - 1 else { continue }
                // Smaller than the smallest rather than cut or outside the room. It ends: at
                // `room / whole` or smaller, the whole text is one line.
                size = option.smallest
                while broken(limit: room / size).count > count { size *= 0.95 }
            }
            // Balanced: the narrowest limit that takes no more lines than the widest (a bisection).
            let fewest = broken(limit: room / size).count
            var (narrow, wide) = (whole / Double(fewest) / 2, room / size)
            for _ in 0..<12 {
                let middle = (narrow + wide) / 2
                if broken(limit: middle).count > fewest { narrow = middle } else { wide = middle }
            }
            let set = broken(limit: wide)
            let baselines = options.first { $0.baselines.count == set.count }?.baselines ?? option.baselines
            return TextSetting(lines: set, baselines: baselines, size: size)
        }
        return TextSetting(lines: [text], baselines: single.baselines, size: room / whole)  // Not reached.
    }

    /// The page: the same layout on either canvas.
    private static func draw(
        _ document: CertificateDocument, programmeName: String, verificationURL: String?, on canvas: inout some CertificateCanvas
    ) throws {
        let payload = document.payload
        let competency = payload.kind == CertificateKind.competency
        // A licence issued outside the programme (SKK Konstruksi, Lisensi K3): its record.
        let licenceName = CertificateKind.licenceName(payload.kind)

        // Border.
        canvas.setColor(red: 0.05, green: 0.25, blue: 0.45)
        canvas.strokeRectangle(x: 24, y: 24, width: width - 48, height: height - 48, lineWidth: 6)

        // A centred text fits between the borders, with a margin; a text of the left column fits
        // left of the QR code, or of the signatory's column beside it; one of the signatory's
        // column between the QR code and its left edge. A text too wide for its room is drawn
        // smaller, as small as it takes: realistic texts stay at 6 pt or larger, and no text,
        // however long a publisher or the plan makes it, leaves its room.
        let centredRoom = width - 120
        let qrLeft = width - 60 - qrSide
        let signatoryLeft = 400.0
        func text(
            _ string: String, x: Double, y: Double, size: Double, bold: Bool = false, centred: Bool = false,
            room: Double? = nil
        ) {
            let string = printable(string)
            var x = x
            var size = size
            if let room = centred ? centredRoom : room {
                let extents = canvas.inkExtents(string, size: size, bold: bold)
                let scale = extents.width > room ? room / extents.width : 1
                if centred { x = (width - extents.width * scale) / 2 - extents.xBearing * scale }
                size *= scale
            }
            canvas.text(string, x: x, y: y, size: size, bold: bold)
        }
        let leftRoom = qrLeft - 12 - 70
        let licence = payload.issuer.hasPrefix("LSP ") ? String(payload.issuer.dropFirst(4)) : payload.issuer
        canvas.setColor(red: 0.05, green: 0.25, blue: 0.45)
        text("PEMERINTAH PROVINSI KALIMANTAN TIMUR", x: 0, y: 72, size: 14, bold: true, centred: true)
        text("DINAS TENAGA KERJA DAN TRANSMIGRASI", x: 0, y: 90, size: 12, bold: true, centred: true)
        if !competency, licenceName == nil { text("UPTD \(payload.issuer)", x: 0, y: 106, size: 11, centred: true) }
        let title =
            if let licenceName { "CATATAN \(licenceName.uppercased())" } else if competency {
                "CATATAN SERTIFIKAT KOMPETENSI BNSP"
            } else { "SERTIFIKAT PELATIHAN" }
        text(title, x: 0, y: 150, size: 28, bold: true, centred: true)
        canvas.setColor(red: 0.1, green: 0.1, blue: 0.1)
        if let licenceName {
            text("\(licenceName) No. \(payload.certificateNumber)", x: 0, y: 176, size: 12, centred: true)
            if let registration = payload.registrationNumber {
                text("Nomor registrasi \(registration)", x: 0, y: 192, size: 11, centred: true)
            }
        } else if competency {
            // What this document is: a record of BNSP's certificate, not the certificate.
            let number =
                payload.certificateNumber.hasPrefix("No.") ? payload.certificateNumber : "No. \(payload.certificateNumber)"
            text("Sertifikat kompetensi BNSP \(number)", x: 0, y: 176, size: 12, centred: true)
            if let registration = payload.registrationNumber {
                text("Nomor registrasi \(registration)", x: 0, y: 192, size: 11, centred: true)
            }
        } else {
            text("Nomor: \(payload.certificateNumber)", x: 0, y: 178, size: 13, centred: true)
        }
        text("Diberikan kepada", x: 0, y: 232, size: 14, centred: true)
        let holder = printable(payload.holderName ?? payload.participantID)
        let name = setting(holder, room: centredRoom, options: nameOptions) {
            canvas.inkExtents($0, size: 24, bold: true).width / 24
        }
        for (line, baseline) in zip(name.lines, name.baselines) {
            text(line, x: 0, y: baseline, size: name.size, bold: true, centred: true)
        }
        text("Nomor peserta \(payload.participantID)", x: 0, y: 286, size: 10, centred: true)
        if let licenceName {
            let line =
                "pemegang \(licenceName), \(CertificateKind.qualificationLabel(payload.kind)) \(payload.qualification ?? "-")"
            text(line, x: 0, y: 314, size: 13, centred: true)
            text("setelah mengikuti program \(programmeName)", x: 0, y: 334, size: 13, centred: true)
            let noun = CertificateKind.licenceNoun(payload.kind)
            text(
                "Dokumen ini mencatat \(licenceName) yang \(CertificateKind.issuedBy(payload.kind)) dengan nomor dari penerbitnya; dokumen ini bukan \(noun) itu sendiri.",
                x: 0, y: 356, size: 9, centred: true)
        } else if competency {
            text(
                "yang telah dinyatakan KOMPETEN pada skema \(payload.scheme ?? "") oleh LSP berlisensi nomor \(licence)",
                x: 0, y: 314, size: 13, centred: true)
            text("Program: \(programmeName)", x: 0, y: 334, size: 13, centred: true)
            text(
                "Dokumen ini mencatat sertifikat kompetensi yang diterbitkan BNSP melalui LSP tersebut; dokumen ini bukan sertifikat BNSP.",
                x: 0, y: 356, size: 9, centred: true)
        } else {
            text("yang telah LULUS pelatihan berbasis kompetensi", x: 0, y: 314, size: 14, centred: true)
            text("Program: \(programmeName)", x: 0, y: 336, size: 14, centred: true)
        }
        // Dates as Indonesians write them: "7 Juli 2025".
        text("Diterbitkan: \(IndonesianCalendar.date(payload.issuedOn))", x: 70, y: 440, size: 11)
        text(
            "Berlaku sampai: \(payload.validUntil.map(IndonesianCalendar.date) ?? "tidak terbatas")", x: 70, y: 456, size: 11)
        text("ID sertifikat: \(payload.certificateID)", x: 70, y: 472, size: 11, room: leftRoom)
        text("Kode verifikasi:", x: 70, y: 492, size: 9)
        let code = document.verificationCode
        text(code, x: 70, y: 504, size: 9, bold: true, room: leftRoom)
        let link = verificationURL.map { $0 + code }
        if let link {
            let set = setting(printable("Periksa keaslian: \(link)"), room: leftRoom, options: linkOptions) {
                canvas.inkExtents($0, size: 8, bold: false).width / 8
            }
            for (line, baseline) in zip(set.lines, set.baselines) { text(line, x: 70, y: baseline, size: set.size) }
        }
        // Beside the signatory's name: it ends before that column.
        text(
            "Ditandatangani secara elektronik (Ed25519, kunci \(payload.keyID)).", x: 70, y: 535, size: 8,
            room: signatoryLeft - 12 - 70)
        if payload.keyID == CertificateSigner.development.keyID {
            canvas.setColor(red: 0.75, green: 0.1, blue: 0.1)
            text(
                "CONTOH — ditandatangani dengan kunci pengembangan; tidak sah sebagai sertifikat.", x: 70, y: 551, size: 9,
                bold: true)
            canvas.setColor(red: 0.1, green: 0.1, blue: 0.1)
        }
        // The official who signed: place and date, title, name.
        if let signatory = payload.signatory {
            let x = signatoryLeft
            let room = qrLeft - 12 - x
            // A licence record is signed when it is recorded, not on the issuer's date.
            let signedOn = licenceName != nil ? payload.signedOn ?? payload.issuedOn : payload.issuedOn
            text("\(signatory.place), \(IndonesianCalendar.date(signedOn))", x: x, y: 440, size: 10, room: room)
            text(signatory.title, x: x, y: 455, size: 10, room: room)
            // Below the printed link, which may run under this column.
            text(signatory.name, x: x, y: 535, size: 10, bold: true, room: room)
        }

        // QR code with the verification address (or code), bottom right.
        guard let qr = QRcode_encodeString(link ?? code, 0, QR_ECLEVEL_M, QR_MODE_8, 1) else {
            throw CertificateError(.rendering, "libqrencode cannot encode the verification code")
        }
        defer { QRcode_free(qr) }
        let modules = Int(qr.pointee.width)
        guard modules > 0, modules <= 177 else { throw CertificateError(.rendering, "libqrencode gave no QR code") }
        let dark = (0..<modules * modules).map { qr.pointee.data[$0] & 1 == 1 }
        try canvas.qrCode(dark: dark, modules: modules, x: qrLeft, y: height - 60 - qrSide, side: qrSide)
    }
}
