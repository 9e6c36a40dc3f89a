// The officers' review desk (meja verifikasi), in Bahasa Indonesia: a registration's case file
// from intake's store, its personal data masked until the officer reveals it (audited), and the
// decision, which the console records and publishes as `registration.reviewed` through its own
// outbox.
import Admin
import ContractKit
import Contracts
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Jobs
import Logging
import NIOCore
import ReviewDesk
import Topology

extension ConsoleServer {
    /// The reason codes an officer picks from for a rejection or a request for documents, with
    /// the text the applicant reads unless the officer writes their own.
    static let officerReasons: [(code: String, text: String)] = [
        ("DOKUMEN_TIDAK_LENGKAP", "Dokumen pendaftaran belum lengkap."),
        ("DOKUMEN_TIDAK_SESUAI", "Dokumen yang diunggah tidak sesuai dengan data pendaftaran."),
        ("DATA_TIDAK_SESUAI_DUKCAPIL", "Data pendaftaran tidak sesuai dengan data kependudukan."),
        ("DOMISILI_DI_LUAR_KALTIM", "Domisili tidak berada di Provinsi Kalimantan Timur."),
        ("USIA_DI_LUAR_BATAS", "Usia tidak memenuhi syarat program."),
        ("PENDIDIKAN_TIDAK_MEMENUHI", "Pendidikan terakhir tidak memenuhi syarat program."),
    ]

    /// The case file page: `reveal` shows the personal data in clear (the caller has audited it).
    func reviewCasePage(_ session: ConsoleSession, registrationID: String, reveal: Bool, flash: HTML = .empty)
        async throws -> Response
    {
        guard let intake = configuration.intakeStore else {
            return html(
                Page.frame(
                    title: "Berkas verifikasi", session: session, active: "reviews",
                    body: Page.message(
                        "Berkas kasus tidak tersedia: konsol ini dijalankan tanpa --intake-store (penyimpanan intake).",
                        kind: "error"), language: "id"), .serviceUnavailable)
        }
        guard Self.isRegistrationID(registrationID),
            let reviewCase = try await ReviewCase.read(from: intake, pendingOnly: false, registrationID: registrationID).first
        else {
            return deskRefusal(
                session, "Berkas verifikasi", "Pendaftaran ini tidak sedang dalam verifikasi.", .notFound, active: "reviews")
        }
        let sent = try await sentDecisions(registrationID)
        var body: HTML = flash
        body += """
            <dl class="case" id="case" data-state="\(reviewCase.state)"><dt>No. pendaftaran</dt><dd>\(reviewCase.registrationID)</dd>\
            <dt>Status</dt><dd id="case-state">\(Self.stateLabel(reviewCase.state))</dd>\
            <dt>BLKI</dt><dd>\(IndonesianText.centre(reviewCase.centre))</dd>\
            <dt>Program</dt><dd>\(programmeName(reviewCase.programme))</dd>\
            <dt>Masuk verifikasi</dt><dd>\(IndonesianText.dateTime(reviewCase.openedAt))</dd></dl>
            <h2>Alasan pemeriksaan</h2><ul id="case-reasons">
            """
        for reason in reviewCase.reasons { body += "<li><code>\(reason.code)</code> \(reason.message)</li>" }
        body += "</ul>"
        if let file = reviewCase.caseFile {
            body += caseFileTable(file, reveal: reveal)
            if !reveal {
                body += """
                    <form method="post" action="/reviews/case/reveal">\(csrfField(session))\
                    <input type="hidden" name="id" value="\(reviewCase.registrationID)">\
                    <button type="submit" id="reveal-case">Tampilkan data lengkap (dicatat di log audit)</button></form>
                    """
            }
        } else {
            body += "<p>Data pribadi berkas sudah dihapus setelah keputusan (\(reviewCase.officer ?? "–")).</p>"
        }
        if !sent.isEmpty {
            body += "<h2>Keputusan yang dikirim dari konsol</h2><ul id=\"sent-decisions\">"
            for decision in sent {
                body += "<li>\(IndonesianText.dateTime(decision.at)): \(decision.action) oleh \(decision.staff)</li>"
            }
            body += "</ul>"
        }
        if reviewCase.isPending && !sent.contains(where: \.isFinal) {
            body += decisionForm(session, reviewCase)
        } else if reviewCase.isPending {
            body += Page.message("Keputusan akhir sudah dikirim; intake sedang memprosesnya.")
        }
        return html(
            Page.frame(
                title: "Berkas verifikasi \(reviewCase.registrationID)", session: session, active: "reviews", body: body,
                language: "id"))
    }

    /// The declared data beside the registry's: by default only whether they agree; revealed,
    /// the values themselves. The NIK is never more than its last four digits (intake keeps no more).
    private func caseFileTable(_ file: ReviewCaseFile, reveal: Bool) -> HTML {
        let registry = file.registry
        let rows: [(String, String, String?)] = [
            ("Nama", file.declared.fullName, registry?.fullName),
            ("Tanggal lahir", file.declared.birthDate, registry?.birthDate),
            // The extract keeps no sex (the NIK's check compares it) and only the province.
            ("Jenis kelamin", file.declared.sex.rawValue, nil),
            (
                "Kode provinsi domisili", String(file.declared.domicileRegion.prefix(2)),
                registry.map { String($0.regionCode.prefix(2)) }
            ),
        ]
        var table: HTML = """
            <h2>Data pendaftar dan data kependudukan</h2>
            <p>NIK: <code id="case-nik">\(file.maskedNIK)</code>\
            \(registry == nil ? " — tidak ditemukan di data kependudukan" : "")</p>
            <table id="case-file"><tr><th>Data</th><th>Diisi pendaftar</th><th>Data kependudukan</th><th>Cocok</th></tr>
            """
        for (label, declared, recorded) in rows {
            let agrees =
                recorded.map {
                    $0.trimmingCharacters(in: .whitespaces).lowercased()
                        == declared.trimmingCharacters(in: .whitespaces).lowercased()
                }
            let verdict = agrees.map { $0 ? "cocok" : "BERBEDA" } ?? "–"
            let shownDeclared = reveal ? declared : "disamarkan"
            let shownRecorded = recorded.map { reveal ? $0 : "disamarkan" } ?? "–"
            table += """
                <tr><td>\(label)</td><td class="declared">\(shownDeclared)</td><td class="recorded">\(shownRecorded)</td>\
                <td class="\(agrees == false ? "mismatch" : "match")">\(verdict)</td></tr>
                """
        }
        table += "</table><ul id=\"case-facts\">"
        table += "<li>Tempat lahir (diisi): \(reveal ? file.declared.birthPlace : "disamarkan")</li>"
        table += "<li>Pendidikan terakhir: \(file.declared.education.rawValue)</li>"
        table += "<li>Kartu AK/I: \(file.declared.hasJobSeekerCard ? "ada" : "tidak ada")</li>"
        table += "<li>Status kerja (diisi): \(file.declared.employmentStatus?.rawValue ?? "–")</li>"
        if let registry {
            table += "<li>Domisili menurut data kependudukan di Kalimantan Timur: \(registry.livesInKaltim ? "ya" : "tidak")</li>"
        }
        for training in file.declared.declaredTrainings {
            table += "<li>Pelatihan sebelumnya: \(training.programme) \(training.year) \(training.outcome.rawValue)</li>"
        }
        return table + "</ul>"
    }

    private func decisionForm(_ session: ConsoleSession, _ reviewCase: ReviewCase) -> HTML {
        var form: HTML = """
            <h2>Keputusan petugas</h2>
            <form method="post" action="/reviews/decide" id="decide">\(csrfField(session))\
            <input type="hidden" name="id" value="\(reviewCase.registrationID)">
            <fieldset><legend>Keputusan</legend>\
            <label><input type="radio" name="decision" value="approve" required> Setujui (semua alasan sudah diperiksa)</label>\
            <label><input type="radio" name="decision" value="request-documents"> Minta dokumen</label>\
            <label><input type="radio" name="decision" value="reject"> Tolak</label></fieldset>
            <fieldset><legend>Alasan yang sudah dibuktikan dengan dokumen (untuk persetujuan)</legend>
            """
        for reason in reviewCase.reasons {
            form += "<label><input type=\"checkbox\" name=\"verified\" value=\"\(reason.code)\"> \(reason.code)</label>"
        }
        form += """
            </fieldset><fieldset><legend>Untuk penolakan atau permintaan dokumen</legend>\
            <label for="reason_code">Alasan</label><select id="reason_code" name="reason_code"><option value="">–</option>
            """
        for reason in Self.officerReasons { form += "<option value=\"\(reason.code)\">\(reason.text)</option>" }
        form += """
            </select><label for="reason_text">Pesan untuk pendaftar (kosongkan untuk teks baku; tanpa NIK, nomor HP atau e-mail)</label>\
            <textarea id="reason_text" name="reason_text" maxlength="500"></textarea>\
            <label for="respond_by">Batas kirim dokumen</label><input type="date" id="respond_by" name="respond_by"></fieldset>
            <p><button type="submit" id="send-decision">Kirim keputusan</button></p></form>
            """
        return form
    }

    /// `POST /reviews/case/reveal`: the case file in clear, after an audit entry.
    func revealCaseFile(_ session: ConsoleSession, _ form: Form) async throws -> Response {
        let id = form.first("id") ?? ""
        guard Self.isRegistrationID(id) else {
            return deskRefusal(session, "Berkas verifikasi", "Nomor pendaftaran tidak sah.", .badRequest, active: "reviews")
        }
        // Audited before anything is shown: an audit log that cannot be written shows nothing.
        try configuration.auditLog.append(
            AuditLog.Entry(
                who: who(session), action: "reveal-case-file", target: id, count: 1, details: ["via": "console"]))
        logger.notice("console: case file revealed", metadata: ["user": "\(session.user)", "registration": "\(id)"])
        return try await reviewCasePage(session, registrationID: id, reveal: true)
    }

    /// `POST /reviews/decide`: checks the officer's decision against the case and records it
    /// with its event in one transaction of the console's store; the outbox publishes it.
    func decideReview(_ session: ConsoleSession, _ form: Form) async throws -> Response {
        let id = form.first("id") ?? ""
        func refuse(_ text: String, _ status: HTTPResponse.Status = .unprocessableContent) async throws -> Response {
            guard Self.isRegistrationID(id) else {
                return deskRefusal(session, "Keputusan ditolak", text, status, active: "reviews")
            }
            var response = try await reviewCasePage(
                session, registrationID: id, reveal: false, flash: Page.message("Keputusan tidak dikirim: \(text)", kind: "error")
            )
            response.status = status
            return response
        }
        guard Self.isRegistrationID(id) else { return try await refuse("nomor pendaftaran tidak sah.", .badRequest) }
        guard let intake = configuration.intakeStore else {
            return try await refuse("konsol ini dijalankan tanpa --intake-store.", .serviceUnavailable)
        }
        guard let reviewCase = try await ReviewCase.read(from: intake, pendingOnly: false, registrationID: id).first else {
            return try await refuse("pendaftaran ini tidak sedang dalam verifikasi.", .notFound)
        }
        let decision: RegistrationReviewedV1.Decision
        switch form.first("decision") {
        case "approve": decision = .approve
        case "reject": decision = .reject
        case "request-documents": decision = .requestDocuments
        default: return try await refuse("pilih keputusan: setujui, minta dokumen atau tolak.")
        }
        var reason: RegistrationReason?
        if decision != .approve {
            let code = form.first("reason_code") ?? ""
            guard let known = Self.officerReasons.first(where: { $0.code == code }) else {
                return try await refuse("pilih alasan untuk pendaftar.")
            }
            let written = (form.first("reason_text") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            reason = RegistrationReason(code: known.code, message: written.isEmpty ? known.text : written)
        }
        let respondBy = (form.first("respond_by") ?? "").trimmingCharacters(in: .whitespaces)
        let reviewed: RegistrationReviewedV1
        do {
            reviewed = try OfficerDecision(
                registrationID: id, decision: decision, officer: session.user,
                verifiedReasons: decision == .approve ? form.all("verified") : [], reason: reason,
                respondBy: decision == .requestDocuments && !respondBy.isEmpty ? respondBy : nil
            ).reviewed(of: reviewCase, today: configuration.today())
        } catch let error as ReviewDecisionError {
            return try await refuse(Self.indonesian(error))
        }
        if try await sentDecisions(id).contains(where: \.isFinal) {
            return try await refuse("keputusan akhir untuk pendaftaran ini sudah dikirim.", .conflict)
        }
        let envelope = EventEnvelope(
            id: "reviewed-\(id)-\(UUID().uuidString)", source: "/kaltim/console/verifikasi", subject: id, data: reviewed)
        // A final decision once; the same request for documents (same date) once, so that a
        // double click does not message the applicant twice.
        // An identical request for documents (same reason, text and date) is a double click.
        let requestKey = reviewed.reason.map {
            let digest = SHA256.hash(data: Data("\($0.code)\n\($0.message)\n\(reviewed.respondBy ?? "-")".utf8))
            return "request-documents:\(id):" + digest.map { String(format: "%02x", $0) }.joined()
        }
        let recorded = try await record(
            envelope, session: session, action: decision.rawValue, subject: id, classID: nil,
            once: decision == .requestDocuments ? requestKey : "final-decision:\(id)")
        guard recorded else {
            return try await refuse(
                decision == .requestDocuments
                    ? "permintaan dokumen yang sama sudah dikirim." : "keputusan akhir untuk pendaftaran ini sudah dikirim.",
                .conflict)
        }
        return redirect(
            session, to: Self.path("/reviews/case", id: id),
            flash: Page.message(
                "Keputusan \(decision.rawValue) untuk \(id) dicatat atas nama \(session.user) dan dikirim ke intake.", kind: "ok")
        )
    }

    /// Appends a staff action to the audit log, then records it and its event in one
    /// transaction of the console's store (the outbox publishes the event as the console's
    /// broker user). False when an action with the same `once` key was recorded before: a
    /// unique column, so two submissions at once cannot both pass.
    func record<M: ContractMessage>(
        _ envelope: EventEnvelope<M>, session: ConsoleSession, action: String, subject: String, classID: String?,
        once: String?, details: [String: String] = [:]
    ) async throws -> Bool {
        let event = try OutgoingEvent(envelope, exchange: configuration.topologyPrefix + ContractDocuments.exchange)
        let user = session.user
        let role = session.role.rawValue
        let onceKey: SQLValue = once.map(SQLValue.text) ?? .null
        if let once, try await !store.read("SELECT 1 FROM console_staff_actions WHERE once_key = ?", [.text(once)]).isEmpty {
            return false
        }
        // Audited before it is recorded: an audit log that cannot be written records nothing.
        // (A submission that loses a race for the same key below leaves an entry for an action
        // that was refused; its event id is not in `console_staff_actions`.)
        try configuration.auditLog.append(
            AuditLog.Entry(
                who: who(session), action: "\(M.eventType) \(action)", target: subject, count: 1,
                details: ["event_id": envelope.id, "via": "console"].merging(classID.map { ["class_id": $0] } ?? [:]) { a, _ in a
                }.merging(details) { a, _ in a }))
        do {
            // Not the event's own id: the console consumes some of these events, and its inbox
            // must not take them for already handled.
            _ = try await store.process(messageID: "staff-action-\(envelope.id)") { transaction in
                if let once,
                    !(try transaction.query("SELECT event_id FROM console_staff_actions WHERE once_key = ?", [.text(once)]))
                        .isEmpty
                {
                    throw AlreadyRecorded()
                }
                try transaction.execute(
                    """
                    INSERT INTO console_staff_actions (event_id, recorded_at, staff, role, action, subject, class_id, once_key)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .text(envelope.id), .real(Date().timeIntervalSince1970), .text(user), .text(role), .text(action),
                        .text(subject), classID.map(SQLValue.text) ?? .null, onceKey,
                    ])
                return [event]
            }
        } catch is AlreadyRecorded {
            return false
        } catch {
            // A concurrent submission with the same key won the unique index (PostgreSQL).
            if let once,
                !(try await store.read("SELECT event_id FROM console_staff_actions WHERE once_key = ?", [.text(once)]))
                    .isEmpty
            {
                return false
            }
            throw error
        }
        logger.info(
            "console: staff action recorded",
            metadata: ["user": "\(user)", "type": "\(M.eventType)", "action": "\(action)", "subject": "\(subject)"])
        return true
    }

    struct SentDecision {
        let at: Date
        let action: String
        let staff: String
        var isFinal: Bool { action == "DISETUJUI" || action == "DITOLAK" }
    }

    func sentDecisions(_ registrationID: String) async throws -> [SentDecision] {
        try await store.read(
            "SELECT recorded_at, action, staff FROM console_staff_actions WHERE subject = ? ORDER BY recorded_at",
            [.text(registrationID)]
        ).compactMap { row in
            guard let at = row["recorded_at"]?.real, let action = row["action"]?.text, let staff = row["staff"]?.text,
                ["DISETUJUI", "DITOLAK", "PERLU_DOKUMEN"].contains(action)
            else { return nil }
            return SentDecision(at: Date(timeIntervalSince1970: at), action: action, staff: staff)
        }
    }

    /// A desk's page that only says why nothing was done, in Bahasa Indonesia.
    func deskRefusal(
        _ session: ConsoleSession, _ title: String, _ text: String, _ status: HTTPResponse.Status, active: String
    ) -> Response {
        html(
            Page.frame(
                title: title, session: session, active: active, body: Page.message(text, kind: "error"), language: "id"),
            status)
    }

    static func isRegistrationID(_ id: String) -> Bool { id.wholeMatch(of: /[A-Za-z0-9][A-Za-z0-9_.-]{0,127}/) != nil }

    static func stateLabel(_ state: String) -> String {
        switch state {
        case "open": "menunggu keputusan"
        case "documents-requested": "menunggu dokumen dari pendaftar"
        case "approved": "disetujui"
        case "rejected": "ditolak"
        default: state
        }
    }

    /// The desk's refusals in Bahasa Indonesia (the command line keeps the English ones).
    static func indonesian(_ error: ReviewDecisionError) -> String {
        switch error.code {
        case .wrongCase: "keputusan tidak cocok dengan berkas ini."
        case .alreadyDecided: "pendaftaran ini sudah diputuskan."
        case .officerName: "nama akun petugas tidak sah."
        case .approvalWithReason: "persetujuan tidak memuat alasan atau batas kirim dokumen."
        case .reasonsNotVerified:
            "persetujuan memerlukan semua alasan pemeriksaan sudah dibuktikan; belum: \(error.detail ?? "")."
        case .cannotBeApproved: "NIK pendaftaran ini tidak sah sehingga tidak dapat disetujui; pendaftaran hanya dapat ditolak."
        case .verifiedWithoutApproval: "alasan yang dibuktikan hanya untuk persetujuan."
        case .reasonMissing: "penolakan atau permintaan dokumen memerlukan alasan untuk pendaftar."
        case .answerDateWithRejection: "batas kirim dokumen hanya untuk permintaan dokumen."
        case .answerDateInvalid: "batas kirim dokumen harus tanggal yang sah."
        case .answerDatePast: "batas kirim dokumen sudah lewat."
        case .verifiedReasonsInvalid: "daftar alasan yang dibuktikan tidak sah."
        case .reasonCodeInvalid: "kode alasan tidak sah."
        case .reasonTextLength: "pesan untuk pendaftar berisi 1 sampai 500 karakter."
        case .reasonTextPersonalData: "pesan untuk pendaftar tidak boleh memuat data pribadi (NIK, nomor HP, e-mail)."
        }
    }
}

/// A staff action already recorded (its `once` key is taken).
private struct AlreadyRecorded: Error {}
