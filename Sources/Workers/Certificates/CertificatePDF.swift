import CCairo
import CQREncode
import Foundation

/// Draws a printable certificate (A4 landscape PDF) with cairo, with a QR code (libqrencode)
/// that carries the verification code.
public enum CertificatePDF {
    /// Writes the PDF of `document` to `path`.
    /// - Throws: ``CertificateError`` when cairo or libqrencode fail.
    public static func write(_ document: CertificateDocument, programmeName: String, to path: String) throws {
        let width = 842.0
        let height = 595.0
        guard let surface = cairo_pdf_surface_create(path, width, height) else {
            throw CertificateError(.rendering, "cairo cannot create \(path)")
        }
        defer { cairo_surface_destroy(surface) }
        guard let cr = cairo_create(surface) else { throw CertificateError(.rendering, "cairo cannot draw") }
        defer { cairo_destroy(cr) }
        let payload = document.payload
        let competency = payload.kind == "KOMPETENSI"

        // Border.
        cairo_set_source_rgb(cr, 0.05, 0.25, 0.45)
        cairo_set_line_width(cr, 6)
        cairo_rectangle(cr, 24, 24, width - 48, height - 48)
        cairo_stroke(cr)

        func text(_ string: String, x: Double, y: Double, size: Double, bold: Bool = false, centred: Bool = false) {
            cairo_select_font_face(
                cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
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
        cairo_set_source_rgb(cr, 0.05, 0.25, 0.45)
        text("PEMERINTAH PROVINSI KALIMANTAN TIMUR", x: 0, y: 80, size: 14, bold: true, centred: true)
        text(
            competency
                ? "Lembaga Sertifikasi Profesi \(payload.issuer.replacingOccurrences(of: "LSP ", with: "")) — lisensi BNSP"
                : "Dinas Tenaga Kerja dan Transmigrasi — \(payload.issuer)", x: 0, y: 100, size: 12, centred: true)
        text(
            competency ? "CATATAN SERTIFIKAT KOMPETENSI" : "SERTIFIKAT PELATIHAN", x: 0, y: 160, size: 30, bold: true,
            centred: true)
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1)
        let number = payload.certificateNumber
        text(number.hasPrefix("No.") ? number : "Nomor: \(number)", x: 0, y: 190, size: 13, centred: true)
        if let registration = payload.registrationNumber {
            text(registration, x: 0, y: 208, size: 12, centred: true)
        }
        text("Diberikan kepada peserta", x: 0, y: 250, size: 14, centred: true)
        text(payload.participantID, x: 0, y: 285, size: 24, bold: true, centred: true)
        text(
            competency
                ? "telah dinyatakan KOMPETEN pada skema \(payload.scheme ?? "")"
                : "telah LULUS pelatihan berbasis kompetensi", x: 0, y: 320, size: 14, centred: true)
        text("Program: \(programmeName)", x: 0, y: 342, size: 14, centred: true)
        // Dates as Indonesians write them: "7 Juli 2025".
        text("Diterbitkan: \(IndonesianCalendar.date(payload.issuedOn))", x: 70, y: 470, size: 12)
        text(
            "Berlaku sampai: \(payload.validUntil.map(IndonesianCalendar.date) ?? "tidak terbatas")", x: 70, y: 490, size: 12)
        text("ID sertifikat: \(payload.certificateID)", x: 70, y: 510, size: 12)
        text("Kode verifikasi:", x: 70, y: 530, size: 10)
        text(document.verificationCode, x: 70, y: 545, size: 10, bold: true)
        text("Dokumen ini ditandatangani secara elektronik (Ed25519). Data sintetis.", x: 70, y: 560, size: 8)

        // QR code with the verification code, bottom right.
        guard let qr = QRcode_encodeString(document.verificationCode, 0, QR_ECLEVEL_M, QR_MODE_8, 1) else {
            throw CertificateError(.rendering, "libqrencode cannot encode the verification code")
        }
        defer { QRcode_free(qr) }
        let modules = Int(qr.pointee.width)
        let side = 130.0
        let cell = side / Double(modules)
        let originX = width - 70 - side
        let originY = height - 60 - side
        cairo_set_source_rgb(cr, 0, 0, 0)
        for row in 0..<modules {
            for column in 0..<modules where qr.pointee.data[row * modules + column] & 1 == 1 {
                cairo_rectangle(cr, originX + Double(column) * cell, originY + Double(row) * cell, cell, cell)
            }
        }
        cairo_fill(cr)
        cairo_show_page(cr)
        cairo_surface_finish(surface)
        guard cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS else {
            throw CertificateError(.rendering, "cairo failed writing \(path)")
        }
    }
}
