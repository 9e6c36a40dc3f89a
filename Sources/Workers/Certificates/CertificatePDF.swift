import CCairo
import CQREncode
public import CertificateTrust
import Foundation
import Programme

/// Draws a printable certificate (A4 landscape PDF) with cairo, with a QR code (libqrencode)
/// that carries the verification address (or the bare code when no address is configured).
public enum CertificatePDF {
    /// Whether this process draws certificates with the system's sans-serif without its hinting
    /// (smaller PDFs, less to compress), rather than with cairo's own face of it
    /// (``CertificateFonts``).
    public static var drawsWithoutHinting: Bool { CertificateFonts.unhinted }

    /// Writes the PDF of `document` to `path`.
    /// - Parameter verificationURL: the verification service's address; the QR code and the
    ///   printed link are this followed by the verification code.
    /// - Throws: ``CertificateError`` when cairo or libqrencode fail.
    public static func write(
        _ document: CertificateDocument, programmeName: String, verificationURL: String? = nil, to path: String
    ) throws {
        let width = 842.0
        let height = 595.0
        guard let surface = cairo_pdf_surface_create(path, width, height) else {
            throw CertificateError(.rendering, "cairo cannot create \(path)")
        }
        defer { cairo_surface_destroy(surface) }
        guard let cr = cairo_create(surface) else { throw CertificateError(.rendering, "cairo cannot draw") }
        defer { cairo_destroy(cr) }
        let payload = document.payload
        let competency = payload.kind == CertificateKind.competency
        // A licence issued outside the programme (SKK Konstruksi, Lisensi K3): its record.
        let licenceName = CertificateKind.licenceName(payload.kind)

        // Border.
        cairo_set_source_rgb(cr, 0.05, 0.25, 0.45)
        cairo_set_line_width(cr, 6)
        cairo_rectangle(cr, 24, 24, width - 48, height - 48)
        cairo_stroke(cr)

        func text(_ string: String, x: Double, y: Double, size: Double, bold: Bool = false, centred: Bool = false) {
            CertificateFonts.select(cr, bold: bold)
            cairo_set_font_size(cr, size)
            var x = x
            if centred {
                var extents = cairo_text_extents_t()
                cairo_text_extents(cr, string, &extents)
                x = (width - extents.width) / 2 - extents.x_bearing
            }
            cairo_move_to(cr, x, y)
            cairo_show_text(cr, string)
        }
        let licence = payload.issuer.hasPrefix("LSP ") ? String(payload.issuer.dropFirst(4)) : payload.issuer
        cairo_set_source_rgb(cr, 0.05, 0.25, 0.45)
        text("PEMERINTAH PROVINSI KALIMANTAN TIMUR", x: 0, y: 72, size: 14, bold: true, centred: true)
        text("DINAS TENAGA KERJA DAN TRANSMIGRASI", x: 0, y: 90, size: 12, bold: true, centred: true)
        if !competency, licenceName == nil { text("UPTD \(payload.issuer)", x: 0, y: 106, size: 11, centred: true) }
        let title =
            if let licenceName { "CATATAN \(licenceName.uppercased())" } else if competency {
                "CATATAN SERTIFIKAT KOMPETENSI BNSP"
            } else { "SERTIFIKAT PELATIHAN" }
        text(title, x: 0, y: 150, size: 28, bold: true, centred: true)
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1)
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
        // The name at 24 pt, smaller when it would not fit between the borders.
        let holder = payload.holderName ?? payload.participantID
        CertificateFonts.select(cr, bold: true)
        cairo_set_font_size(cr, 24)
        var nameExtents = cairo_text_extents_t()
        cairo_text_extents(cr, holder, &nameExtents)
        let nameSize = nameExtents.width > width - 120 ? max(8, 24 * (width - 120) / nameExtents.width) : 24
        text(holder, x: 0, y: 266, size: nameSize, bold: true, centred: true)
        text("Nomor peserta \(payload.participantID)", x: 0, y: 286, size: 10, centred: true)
        if let licenceName {
            let line =
                "pemegang \(licenceName), \(CertificateKind.qualificationLabel(payload.kind)) \(payload.qualification ?? "-")"
            // At 13 pt, smaller when a long qualification would not fit between the borders.
            CertificateFonts.select(cr, bold: false)
            cairo_set_font_size(cr, 13)
            var lineExtents = cairo_text_extents_t()
            cairo_text_extents(cr, line, &lineExtents)
            let lineSize = lineExtents.width > width - 120 ? max(6, 13 * (width - 120) / lineExtents.width) : 13
            text(line, x: 0, y: 314, size: lineSize, centred: true)
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
        text("ID sertifikat: \(payload.certificateID)", x: 70, y: 472, size: 11)
        text("Kode verifikasi:", x: 70, y: 494, size: 9)
        text(document.verificationCode, x: 70, y: 507, size: 9, bold: true)
        let link = verificationURL.map { $0 + document.verificationCode }
        if let link { text("Periksa keaslian: \(link)", x: 70, y: 521, size: 8) }
        text("Ditandatangani secara elektronik (Ed25519, kunci \(payload.keyID)).", x: 70, y: 535, size: 8)
        if payload.keyID == CertificateSigner.development.keyID {
            cairo_set_source_rgb(cr, 0.75, 0.1, 0.1)
            text(
                "CONTOH — ditandatangani dengan kunci pengembangan; tidak sah sebagai sertifikat.", x: 70, y: 551, size: 9,
                bold: true)
            cairo_set_source_rgb(cr, 0.1, 0.1, 0.1)
        }
        // The official who signed: place and date, title, name.
        if let signatory = payload.signatory {
            let x = 400.0
            // A licence record is signed when it is recorded, not on the issuer's date.
            let signedOn = licenceName != nil ? payload.signedOn ?? payload.issuedOn : payload.issuedOn
            text("\(signatory.place), \(IndonesianCalendar.date(signedOn))", x: x, y: 440, size: 10)
            text(signatory.title, x: x, y: 455, size: 10)
            text(signatory.name, x: x, y: 515, size: 10, bold: true)
        }

        // QR code with the verification address (or code), bottom right.
        guard let qr = QRcode_encodeString(link ?? document.verificationCode, 0, QR_ECLEVEL_M, QR_MODE_8, 1) else {
            throw CertificateError(.rendering, "libqrencode cannot encode the verification code")
        }
        defer { QRcode_free(qr) }
        // The modules as a one-byte-per-pixel mask, one pixel each, scaled up without smoothing:
        // cairo writes it as a 1-bit image mask with /Interpolate false (sharp at any resolution),
        // a few hundred bytes. Drawn as one rectangle per dark module instead, a code of a few
        // hundred modules cost cairo three times the rest of the page (number formatting and
        // compression of the path).
        let modules = Int(qr.pointee.width)
        guard modules > 0, let mask = cairo_image_surface_create(CAIRO_FORMAT_A8, Int32(modules), Int32(modules)),
            cairo_surface_status(mask) == CAIRO_STATUS_SUCCESS, let pixels = cairo_image_surface_get_data(mask)
        else { throw CertificateError(.rendering, "cairo cannot hold the QR code") }
        defer { cairo_surface_destroy(mask) }
        cairo_surface_flush(mask)
        let stride = Int(cairo_image_surface_get_stride(mask))
        for row in 0..<modules {
            for column in 0..<modules {
                pixels[row * stride + column] = qr.pointee.data[row * modules + column] & 1 == 1 ? 255 : 0
            }
        }
        cairo_surface_mark_dirty(mask)
        let side = 120.0
        cairo_save(cr)
        cairo_translate(cr, width - 60 - side, height - 60 - side)
        cairo_scale(cr, side / Double(modules), side / Double(modules))
        guard let pattern = cairo_pattern_create_for_surface(mask) else {
            throw CertificateError(.rendering, "cairo cannot draw the QR code")
        }
        defer { cairo_pattern_destroy(pattern) }
        cairo_pattern_set_filter(pattern, CAIRO_FILTER_NEAREST)
        cairo_set_source_rgb(cr, 0, 0, 0)
        cairo_mask(cr, pattern)
        cairo_restore(cr)
        cairo_show_page(cr)
        cairo_surface_finish(surface)
        guard cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS else {
            throw CertificateError(.rendering, "cairo failed writing \(path)")
        }
    }
}
