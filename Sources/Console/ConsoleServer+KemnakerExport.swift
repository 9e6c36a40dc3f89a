// The export for Kemnaker's systems (Sisnaker / SIAPkerja data entry): one row per participant
// with a seat (their latest: the read model keeps one per participant), with the BLKI's daftar ulang, attendance and training result, the
// competency assessment and the BNSP certificate's number as the LSP gave it. Columns are
// documented in docs/OPERATIONS.md (The web console, *Ekspor untuk Kemnaker*).
import Admin
import Foundation
import HTTPTypes
import Hummingbird
import Jobs
import Logging
import NIOCore

extension ConsoleServer {
    /// The columns, in order: what a BLKI operator types into Kemnaker's forms.
    static let kemnakerColumns = [
        "nomor_peserta", "nomor_pendaftaran", "nama", "blki", "kode_program", "program", "kelas", "tanggal_mulai",
        "tanggal_selesai", "daftar_ulang", "kehadiran_persen", "hasil_pelatihan", "tanggal_keluar", "alasan_keluar",
        "skema", "hasil_uji", "tanggal_uji", "nomor_sertifikat_bnsp", "nomor_catatan_sertifikat", "sertifikat_dicabut",
    ]

    /// `GET /laporan/kemnaker.csv`: every participant's latest seat (a BLKI administrator's own
    /// BLKI's only), with
    /// the holder's name when the console reads the certificates role's store
    /// (`--certificates-store`; empty otherwise). No NIK: the pipeline keeps none in clear; the
    /// BLKI matches the rows to its own records by participant number. Audited
    /// (`kemnaker-export`, the rows) before it is sent; not cached.
    func kemnakerExport(_ session: ConsoleSession) async throws -> Response {
        var sql = """
            SELECT s.participant_id, s.class_id, s.centre, s.programme, s.start_date, s.end_date,
                r.reregistered, r.attendance, r.training_passed, r.withdrawn_at, r.withdrawal_reason,
                p.certificate_id, x.certificate_id AS revoked,
                (SELECT MIN(g.registration_id) FROM console_registrations g
                    WHERE g.participant_id = s.participant_id AND g.accepted_at IS NOT NULL) AS registration_id
            FROM console_seats s
            LEFT JOIN console_seat_records r ON r.participant_id = s.participant_id AND r.class_id = s.class_id
            LEFT JOIN console_participants p ON p.participant_id = s.participant_id
            LEFT JOIN console_revocations x ON x.certificate_id = p.certificate_id
            """
        var arguments: [SQLValue] = []
        if let centre = reportCentre(session) {
            sql += " WHERE s.centre = ?"
            arguments.append(.text(centre))
        }
        let seats = try await store.read(sql + " ORDER BY s.centre, s.class_id, s.participant_id", arguments)
        // The latest assessment of each participant by its day (a retake replaces the first; a
        // correction of the first, recorded later, does not), then by when it was recorded.
        var assessments: [String: [String: SQLValue]] = [:]
        for row in try await store.read(
            """
            SELECT participant_id, scheme, result, assessed_on, certificate_number, recorded_at FROM console_assessments
            ORDER BY participant_id, COALESCE(assessed_on, ''), recorded_at, assessment_id
            """)
        {
            guard let participant = row["participant_id"]?.text else { continue }
            assessments[participant] = row  // the last in that order wins
        }
        // The names, 500 participants a query.
        var names: [String: String] = [:]
        if let certificates = configuration.certificatesStore {
            let ids = seats.compactMap { $0["participant_id"]?.text }
            for start in stride(from: 0, to: ids.count, by: 500) {
                let chunk = Array(ids[start..<min(start + 500, ids.count)])
                for row in try await certificates.read(
                    "SELECT participant_id, full_name FROM cert_holders WHERE participant_id IN ("
                        + Array(repeating: "?", count: chunk.count).joined(separator: ", ") + ")", chunk.map(SQLValue.text))
                {
                    if let id = row["participant_id"]?.text, let name = row["full_name"]?.text { names[id] = name }
                }
            }
        }
        func day(_ seconds: Double?) -> String {
            guard let seconds else { return "" }
            let parts = IndonesianText.calendar().dateComponents(
                [.year, .month, .day], from: Date(timeIntervalSince1970: seconds))
            return String(format: "%04d-%02d-%02d", parts.year ?? 1970, parts.month ?? 1, parts.day ?? 1)
        }
        // A byte-order mark first: a spreadsheet then reads the file as UTF-8.
        var csv = "\u{FEFF}" + Self.kemnakerColumns.joined(separator: ",") + "\r\n"
        for seat in seats {
            let participant = seat["participant_id"]?.text ?? ""
            let assessment = assessments[participant]
            let withdrawn = seat["withdrawn_at"]?.real
            let fields: [String] = [
                participant, seat["registration_id"]?.text ?? "", names[participant] ?? "", seat["centre"]?.text ?? "",
                seat["programme"]?.text ?? "", programmeName(seat["programme"]?.text ?? ""), seat["class_id"]?.text ?? "",
                seat["start_date"]?.text ?? "", seat["end_date"]?.text ?? "",
                seat["reregistered"]?.integer.map { $0 == 1 ? "HADIR" : "TIDAK HADIR" } ?? "",
                seat["attendance"]?.real.map { String(format: "%.1f", $0) } ?? "",
                seat["training_passed"]?.integer.map { $0 == 1 ? "LULUS" : "TIDAK LULUS" } ?? "",
                day(withdrawn), withdrawn == nil ? "" : Self.withdrawalLabel(seat["withdrawal_reason"]?.text),
                assessment?["scheme"]?.text ?? "",
                assessment?["result"]?.text.map { $0.replacingOccurrences(of: "_", with: " ") } ?? "",
                assessment?["assessed_on"]?.text ?? "", assessment?["certificate_number"]?.text ?? "",
                seat["certificate_id"]?.text ?? "", seat["revoked"]?.text == nil ? "" : "YA",
            ]
            csv += fields.map(Self.csvField).joined(separator: ",") + "\r\n"
        }
        do {
            try configuration.auditLog.append(
                .init(
                    who: who(session), action: "kemnaker-export", target: reportCentre(session) ?? "semua BLKI",
                    count: seats.count,
                    details: ["via": "console", "names": configuration.certificatesStore == nil ? "no" : "yes"]))
        } catch {
            logger.error("console: cannot write the audit log", metadata: ["error": "\(error)"])
            return Response(
                status: .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: "log audit tidak dapat ditulis; tidak diekspor\n")))
        }
        return csvDownload(csv, filename: "ekspor-kemnaker.csv")
    }
}
