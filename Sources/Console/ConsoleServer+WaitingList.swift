// A BLKI's waiting list for one programme, in the order scheduling seats it: priority tier,
// then the time the registration was submitted (the order of `sched_applicants`), with the
// participants' numbers only. For officers, admins and a BLKI administrator (their own BLKI).
import Admin
import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import Jobs
import Logging
import NIOCore
import Programme

extension ConsoleServer {
    /// One applicant waiting for a seat.
    struct WaitingApplicant: Sendable, Equatable {
        let participantID: String
        let registrationID: String
        let tier: Int?
        let submittedAt: Date?
        let waitlistedAt: Date?
    }

    /// The applicants accepted at `centre` for `programme` who wait: on a waiting list, without
    /// a seat, not withdrawn; in scheduling's order (tier, submission, registration number).
    static func waitingList(centre: String, programme: String, in store: any MessageStore) async throws
        -> [WaitingApplicant]
    {
        try await store.read(
            """
            SELECT r.registration_id, r.participant_id, q.tier, COALESCE(r.registered_at, r.accepted_at) AS submitted_at,
                p.waitlisted_at
            FROM console_registrations r JOIN console_participants p ON p.participant_id = r.participant_id
            LEFT JOIN console_priorities q ON q.registration_id = r.registration_id
            WHERE r.centre = ? AND r.programme = ? AND r.accepted_at IS NOT NULL AND p.waitlisted_at IS NOT NULL
                AND p.scheduled_at IS NULL AND p.withdrawn_at IS NULL
            ORDER BY COALESCE(q.tier, 99), submitted_at, r.registration_id, r.participant_id
            """, [.text(centre), .text(programme)]
        ).compactMap { row in
            guard let participant = row["participant_id"]?.text, let registration = row["registration_id"]?.text else {
                return nil
            }
            return WaitingApplicant(
                participantID: participant, registrationID: registration, tier: row["tier"]?.integer.map(Int.init),
                submittedAt: row["submitted_at"]?.real.map(Date.init(timeIntervalSince1970:)),
                waitlistedAt: row["waitlisted_at"]?.real.map(Date.init(timeIntervalSince1970:)))
        }
    }

    /// The BLKI and programme a request names, when this user may see that list: a known BLKI
    /// (a BLKI administrator's own only) and a programme code of the plan.
    func waitingListScope(_ session: ConsoleSession, _ request: Request) -> (centre: String, programme: String)? {
        let centre = String(request.uri.queryParameters["blki"] ?? "")
        let programme = String(request.uri.queryParameters["program"] ?? "")
        guard TrainingCentre(rawValue: centre) != nil, reportCentre(session).map({ $0 == centre }) ?? true,
            configuration.catalogue.centres.contains(where: { $0.programmes.contains { $0.code == programme } })
        else { return nil }
        return (centre, programme)
    }

    /// `GET /laporan/daftar-tunggu?blki=…&program=…`: the list, with its CSV; audited.
    func waitingListPage(_ session: ConsoleSession, request: Request, csv: Bool) async throws -> Response {
        guard let (centre, programme) = waitingListScope(session, request) else {
            return deskRefusal(
                session, "Daftar tunggu", "Tidak ada daftar tunggu itu untuk Anda: pilih BLKI dan program dari laporan.",
                .notFound, active: "reports")
        }
        let waiting = try await Self.waitingList(centre: centre, programme: programme, in: store)
        // The tier tells why someone is ahead (never trained, failed before): only for those
        // who decide on applicants, as in the reports.
        let showsTier = session.role.allows(.seeSmallFigures)
        do {
            try configuration.auditLog.append(
                .init(
                    who: who(session), action: csv ? "waiting-list-export" : "waiting-list",
                    target: "\(centre)/\(programme)", count: waiting.count, details: ["via": "console"]))
        } catch {
            logger.error("console: cannot write the audit log", metadata: ["error": "\(error)"])
            return deskRefusal(
                session, "Daftar tunggu", "Log audit tidak dapat ditulis; daftar tunggu tidak ditampilkan.",
                .serviceUnavailable, active: "reports")
        }
        if csv {
            var text =
                "\u{FEFF}urutan,nomor_peserta,nomor_pendaftaran" + (showsTier ? ",tingkat_prioritas" : "")
                + ",masuk_daftar_tunggu\r\n"
            for (index, applicant) in waiting.enumerated() {
                var fields = [String(index + 1), applicant.participantID, applicant.registrationID]
                if showsTier { fields.append(applicant.tier.map(String.init) ?? "") }
                fields.append(applicant.waitlistedAt.map(IndonesianText.dateTime) ?? "")
                text += fields.map(Self.csvField).joined(separator: ",") + "\r\n"
            }
            return csvDownload(text, filename: "daftar-tunggu-\(centre)-\(programme).csv")
        }
        var body: HTML = """
            <p class="muted">Diterima untuk \(IndonesianText.centre(centre)), program \(programmeName(programme)), belum \
            mendapat kursi dan tidak mengundurkan diri, dalam urutan penjadwalan: tingkat prioritas (belum pernah \
            dilatih atau pernah gagal lebih dahulu), lalu waktu pendaftaran. Kursi yang kosong diberikan menurut urutan \
            ini (peserta cadangan sebuah kelas lebih dahulu untuk kelas itu). Hanya nomor peserta dan nomor \
            pendaftaran; tampilan ini dicatat di log audit.</p>
            <p class="no-print"><a href="/laporan/daftar-tunggu.csv?blki=\(query: centre)&amp;program=\(query: programme)" \
            id="waiting-csv">Unduh CSV</a> · <a href="/laporan">Kembali ke laporan</a></p>
            """
        if waiting.isEmpty {
            body += "<p id=\"no-one-waiting\">Tidak ada yang menunggu.</p>"
        } else {
            body += """
                <table id="waiting-list"><tr><th>Urutan</th><th>No. peserta</th><th>No. pendaftaran</th>\
                \(showsTier ? "<th>Tingkat prioritas</th>" as HTML : "")<th>Masuk daftar tunggu</th></tr>
                """
            for (index, applicant) in waiting.enumerated() {
                let tier: HTML = showsTier ? "<td class=\"number\">\(applicant.tier.map(String.init) ?? "–")</td>" : ""
                body += """
                    <tr class="waiting" data-participant="\(applicant.participantID)"><td class="number">\(index + 1)</td>\
                    <td>\(applicant.participantID)</td><td>\(applicant.registrationID)</td>\(tier)\
                    <td>\(applicant.waitlistedAt.map(IndonesianText.dateTime) ?? "–")</td></tr>
                    """
            }
            body += "</table>"
        }
        return html(
            Page.frame(
                title: "Daftar tunggu \(IndonesianText.centre(centre)) · \(programmeName(programme))", session: session,
                active: "reports", body: body))
    }
}
