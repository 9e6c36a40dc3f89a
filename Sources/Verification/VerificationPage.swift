import HTMLEscaping
import Programme

/// The pages of the verification service, in Bahasa Indonesia.
enum VerificationPage {
    static let css = """
        body{font-family:sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
        h1{font-size:1.4rem;color:#0d4073}.status{font-size:1.6rem;font-weight:bold;padding:.6rem 1rem;border-radius:.4rem}
        .VALID{background:#e3f4e5;color:#145a1e}.REVOKED,.INVALID{background:#fbe4e4;color:#8a1010}
        .EXPIRED,.NOT_YET_VALID,.UNKNOWN{background:#fff4d6;color:#6b4a00}
        dl{display:grid;grid-template-columns:max-content 1fr;gap:.4rem 1rem}dt{color:#555}dd{margin:0;font-weight:bold}
        input{font-size:1rem;padding:.4rem;width:24rem;max-width:100%}button{font-size:1rem;padding:.4rem 1rem}
        .muted{color:#666;font-size:.9rem}
        """

    /// Text for the page (``HTMLEscaping``'s escaper, per Unicode scalar).
    static func escape(_ text: String) -> String { htmlEscaped(text) }

    static func document(_ title: String, _ body: String) -> String {
        """
        <!doctype html><html lang="id"><head><meta charset="utf-8">\
        <meta name="viewport" content="width=device-width, initial-scale=1">\
        <title>\(escape(title))</title><link rel="stylesheet" href="/static/verifikasi.css"></head><body>\
        <h1>Verifikasi Sertifikat</h1>\
        <p class="muted">Program Sertifikasi Pencari Kerja, Dinas Tenaga Kerja dan Transmigrasi Provinsi Kalimantan Timur</p>\
        \(body)</body></html>
        """
    }

    static func form(code: String) -> String {
        document("Verifikasi Sertifikat", formBlock(code: code))
    }

    static func formBlock(code: String) -> String {
        """
        <form method="get" action="/v"><label for="kode">Kode verifikasi (tertera di bawah kode QR)</label><br>\
        <input id="kode" name="kode" value="\(escape(String(code.prefix(CertificateLookup.maximumCodeLength))))" \
        maxlength="\(CertificateLookup.maximumCodeLength)" autocomplete="off" required> <button type="submit">Periksa</button></form>
        """
    }

    static func tooMany() -> String {
        document(
            "Terlalu banyak permintaan",
            #"<p class="status UNKNOWN" id="status">TERLALU BANYAK PERMINTAAN</p><p>Coba lagi dalam satu menit.</p>"#)
    }

    static func result(_ result: VerificationResult, code: String) -> String {
        let licence = ["SKK_KONSTRUKSI", "LISENSI_K3"].contains(result.kind ?? "")
        let (label, explanation): (String, String) =
            switch result.status {
            case .valid where licence:
                (
                    "SAH",
                    "Catatan ini asli, tercatat di Disnakertrans, dan berlaku. Keabsahan lisensi atau sertifikat itu sendiri dapat diperiksa pada penerbitnya."
                )
            case .revoked where licence:
                (
                    "DICABUT",
                    "Catatan Disnakertrans ini telah dicabut. Pencabutan ini mengenai catatan, bukan dokumen dari penerbitnya; keabsahan dokumen itu dapat diperiksa pada penerbitnya."
                )
            case .expired where licence:
                ("KEDALUWARSA", "Catatan ini asli tetapi masa berlaku yang tertulis dari penerbitnya telah habis.")
            case .notYetValid where licence: ("BELUM BERLAKU", "Catatan ini asli tetapi belum mulai berlaku.")
            case .valid: ("SAH", "Sertifikat ini asli, tercatat, dan berlaku.")
            case .revoked: ("DICABUT", "Sertifikat ini tercatat tetapi telah dicabut dan tidak berlaku lagi.")
            case .expired: ("KEDALUWARSA", "Sertifikat ini asli tetapi masa berlakunya telah habis.")
            case .notYetValid: ("BELUM BERLAKU", "Sertifikat ini asli tetapi belum mulai berlaku.")
            case .invalid:
                (
                    "TIDAK SAH",
                    "Catatan sertifikat dengan kode ini tidak dapat dibuktikan keasliannya. Hubungi Disnakertrans Provinsi Kalimantan Timur."
                )
            case .unknown:
                ("TIDAK DITEMUKAN", "Tidak ada sertifikat dengan kode ini. Periksa kembali kode yang tertera pada sertifikat.")
            }
        var body = """
            <p class="status \(result.status.rawValue)" id="status">\(label)</p><p id="explanation">\(escape(explanation))</p>
            """
        if [.valid, .revoked, .expired, .notYetValid].contains(result.status) {
            let kind =
                switch result.kind {
                case "KOMPETENSI": "Catatan sertifikat kompetensi BNSP (sertifikatnya diterbitkan BNSP melalui LSP)"
                case "SKK_KONSTRUKSI": "Catatan SKK Konstruksi (teregistrasi di LPJK), dicatat Disnakertrans"
                case "LISENSI_K3": "Catatan Lisensi K3 / SIO (diterbitkan Kemnaker), dicatat Disnakertrans"
                default: "Sertifikat pelatihan"
                }
            let skk = result.kind == "SKK_KONSTRUKSI"
            let rows: [(String, String)] =
                [("Jenis", kind)]
                + (result.qualification.map { [(skk ? "Jabatan kerja" : "Kualifikasi", $0)] } ?? []) + [
                    ("Nama pemegang", result.holder ?? "—"), ("Program", result.programme ?? "—"),
                    (
                        licence ? "Dicatat oleh" : "Penerbit",
                        licence ? "Disnakertrans Provinsi Kalimantan Timur" : result.issuer ?? "—"
                    ),
                    ("Tanggal terbit", result.issuedOn.map(IndonesianCalendar.date) ?? "—"),
                    ("Berlaku sampai", result.validUntil.map(IndonesianCalendar.date) ?? "tidak terbatas"),
                    ("ID sertifikat", result.certificateID ?? "—"),
                ]
            body +=
                "<dl>"
                + rows.map { "<dt>\(escape($0.0))</dt><dd>\(escape($0.1))</dd>" }.joined()
                + "</dl><p class=\"muted\">Nama ditampilkan sebagian. Cocokkan dengan KTP pemegang sertifikat.</p>"
        }
        return document("Verifikasi Sertifikat — \(label)", body + formBlock(code: code))
    }
}
