// An LSP coordinator's desk: their LSP's assessments as grading decided them, and the
// submissions it refused with the reasons to correct (participant ids, no names).
import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import Jobs
import NIOCore
import Programme

extension ConsoleServer {
    func lspPage(_ session: ConsoleSession) async throws -> Response {
        let licence = session.lsp ?? "-"
        let name = configuration.catalogue.lspName(licence: licence).map { "\($0) (\(licence))" } ?? licence
        let graded = try await store.read(
            """
            SELECT scheme, SUM(CASE WHEN result = 'KOMPETEN' THEN 1 ELSE 0 END) AS competent,
                SUM(CASE WHEN result = 'BELUM_KOMPETEN' THEN 1 ELSE 0 END) AS not_yet
            FROM console_assessments WHERE lsp = ? GROUP BY scheme
            """, [.text(licence)])
        let refusals = try await store.read(
            "SELECT scheme, COUNT(*) AS refused FROM console_assessment_refusals WHERE lsp = ? GROUP BY scheme",
            [.text(licence)])
        var summary: [String: [String: SQLValue]] = [:]
        for row in graded + refusals {
            guard let scheme = row["scheme"]?.text else { continue }
            summary[scheme, default: [:]].merge(row) { first, _ in first }
        }
        // A refusal leaves the list once the same participant has a result in that scheme from
        // this LSP, graded at or after it.
        let refused = try await store.read(
            """
            SELECT r.assessment_id, r.participant_id, r.scheme, r.reasons, r.recorded_at FROM console_assessment_refusals r
            WHERE r.lsp = ? AND NOT EXISTS (
                SELECT 1 FROM console_assessments g WHERE g.participant_id = r.participant_id AND g.scheme = r.scheme
                    AND g.lsp = r.lsp AND g.recorded_at >= r.recorded_at)
            ORDER BY r.recorded_at DESC LIMIT 200
            """, [.text(licence)])
        let latest = try await store.read(
            """
            SELECT assessment_id, participant_id, scheme, result, assessed_on, certificate_number FROM console_assessments
            WHERE lsp = ? ORDER BY recorded_at DESC LIMIT 500
            """, [.text(licence)])
        func count(_ row: [String: SQLValue], _ key: String) -> String { IndonesianText.number(row[key]?.integer ?? 0) }
        var body: HTML = """
            <p class="muted">Asesmen yang dikirim \(name) sebagaimana diputuskan sistem penilaian: hasil per skema, \
            dan kiriman yang ditolak beserta alasannya. Perbaiki lalu kirim lagi dengan nomor asesmen baru (nomor yang \
            sudah pernah dikirim tidak diproses lagi); penolakan hilang dari daftar setelah peserta yang sama mendapat \
            hasil pada skema itu. Nomor peserta saja, tanpa nama.</p>
            <h2>Per skema (jumlah kiriman, termasuk uji ulang dan banding)</h2><table id="lsp-schemes"><tr><th>Skema</th>\
            <th>KOMPETEN</th><th>BELUM KOMPETEN</th><th>Ditolak</th></tr>
            """
        for (scheme, row) in summary.sorted(by: { $0.key < $1.key }) {
            body += """
                <tr><td>\(scheme)</td><td class="number">\(count(row, "competent"))</td>\
                <td class="number">\(count(row, "not_yet"))</td><td class="number">\(count(row, "refused"))</td></tr>
                """
        }
        body += "</table><h2>Kiriman yang ditolak</h2>"
        if refused.isEmpty {
            body += Page.message("Tidak ada kiriman yang ditolak.", kind: "ok")
        } else {
            body += """
                <table id="lsp-refused"><tr><th>Nomor asesmen</th><th>Peserta</th><th>Skema</th><th>Alasan</th>\
                <th>Ditolak pada</th></tr>
                """
            for row in refused {
                let reasons =
                    (row["reasons"]?.text).flatMap { try? JSONDecoder().decode([RegistrationReason].self, from: Data($0.utf8)) }
                    ?? []
                let text = reasons.map { "\($0.message) (\($0.code))" }.joined(separator: "; ")
                let when = row["recorded_at"]?.real.map { IndonesianText.dateTime(Date(timeIntervalSince1970: $0)) } ?? "–"
                body += """
                    <tr class="refused" data-assessment="\(row["assessment_id"]?.text ?? "")">\
                    <td>\(row["assessment_id"]?.text ?? "–")</td><td>\(row["participant_id"]?.text ?? "–")</td>\
                    <td>\(row["scheme"]?.text ?? "–")</td><td>\(text)</td><td>\(when)</td></tr>
                    """
            }
            body += "</table>"
        }
        body += """
            <h2>Hasil terbaru</h2><table id="lsp-results"><tr><th>Nomor asesmen</th><th>Peserta</th><th>Skema</th>\
            <th>Hasil</th><th>Tanggal uji</th><th>Nomor sertifikat BNSP</th></tr>
            """
        for row in latest {
            let result = row["result"]?.text == "KOMPETEN" ? "KOMPETEN" : "BELUM KOMPETEN"
            body += """
                <tr><td>\(row["assessment_id"]?.text ?? "–")</td><td>\(row["participant_id"]?.text ?? "–")</td>\
                <td>\(row["scheme"]?.text ?? "–")</td><td>\(result)</td>\
                <td>\(row["assessed_on"]?.text.map(IndonesianText.date) ?? "–")</td>\
                <td>\(row["certificate_number"]?.text ?? "–")</td></tr>
                """
        }
        body += "</table><p class=\"muted\">Paling banyak 500 hasil dan 200 penolakan terbaru.</p>"
        return html(Page.frame(title: "Asesmen LSP", session: session, active: "lsp", body: body))
    }
}
