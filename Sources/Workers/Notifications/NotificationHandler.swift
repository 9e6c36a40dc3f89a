public import Contracts
import Crypto
import Foundation
import IntakeRules
public import Jobs
public import Programme

/// The notification worker's message side: learns each job seeker's contact details from
/// `registration.submitted`, and turns every event that matters to a job seeker into one
/// queued notification (a row of `notif_messages`), in the same transaction as the inbox row.
/// Sending is the ``NotificationDispatcher``'s job, outside any message transaction, so that
/// quiet hours, rate limits and gateway retries never hold a delivery.
///
/// - One notification per event and template (its id is derived from the event id), so a
///   redelivered or replayed event queues nothing new.
/// - The route is the person's channels in order: WhatsApp (when given), SMS, e-mail (when
///   given); the dispatcher moves to the next only when one fails permanently.
/// - An event about someone whose contact details have not arrived yet fails transiently and
///   comes back after the retry delay.
public struct NotificationHandler: MessageHandler {
    public let templates: NotificationTemplates
    public let catalogue: ProgrammeCatalogue
    /// Base of the certificate verification link, e.g. `https://sertifikat.example.id/verifikasi`.
    public let verificationBaseURL: String

    public init(templates: NotificationTemplates, catalogue: ProgrammeCatalogue, verificationBaseURL: String) {
        self.templates = templates
        self.catalogue = catalogue
        self.verificationBaseURL = verificationBaseURL
    }

    public var migrations: [String] {
        [
            """
            CREATE TABLE IF NOT EXISTS notif_contacts (
                registration_id TEXT PRIMARY KEY, participant_id TEXT, name TEXT NOT NULL, phone TEXT,
                whatsapp TEXT, email TEXT, updated_at REAL NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS notif_contacts_participant ON notif_contacts (participant_id)",
            """
            CREATE TABLE IF NOT EXISTS notif_messages (
                notification_id TEXT PRIMARY KEY, event_id TEXT NOT NULL, event_type TEXT NOT NULL,
                template TEXT NOT NULL, parameters TEXT NOT NULL, routes TEXT NOT NULL, route_index INTEGER NOT NULL DEFAULT 0,
                urgent INTEGER NOT NULL, registration_id TEXT, participant_id TEXT, correlation_id TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
                created_at REAL NOT NULL, event_time REAL NOT NULL, next_attempt_at REAL NOT NULL, claimed_until REAL,
                claimed_by TEXT, sent_at REAL, channel_used TEXT, provider_id TEXT, last_error TEXT)
            """,
            "CREATE INDEX IF NOT EXISTS notif_messages_due ON notif_messages (state, next_attempt_at)",
        ]
    }

    public func handle(_ event: DecodedEvent, in transaction: any StoreTransaction) throws -> [OutgoingEvent] {
        switch event.payload {
        case let submitted as RegistrationSubmittedV2:
            try transaction.execute(
                """
                INSERT INTO notif_contacts (registration_id, name, phone, whatsapp, email, updated_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (registration_id) DO UPDATE SET name = excluded.name, phone = excluded.phone,
                    whatsapp = excluded.whatsapp, email = excluded.email, updated_at = excluded.updated_at
                """,
                [
                    // Numbers in +62 form, as intake checked them; one that is not a valid
                    // Indonesian mobile number is not used (intake rejects a bad phone and warns
                    // that a bad WhatsApp number will not be used).
                    .text(submitted.registrationID), .text(submitted.fullName),
                    PhoneNumber.normalise(submitted.phone).map { .text($0) } ?? .null,
                    submitted.whatsApp.flatMap(PhoneNumber.normalise).map { .text($0) } ?? .null,
                    submitted.email.map { .text($0) } ?? .null, .real(Date().timeIntervalSince1970),
                ])
            try queue(
                "pendaftaran_diterima", for: event, contact: .registration(submitted.registrationID), in: transaction,
                [
                    "no_pendaftaran": submitted.registrationID, "program": programmeName(submitted.programme),
                    "blki": centreName(submitted.preferredCentre), "nik_tersamar": PersonalData.maskNIK(submitted.nik),
                ])
        case let accepted as RegistrationAcceptedV2:
            try transaction.execute(
                "UPDATE notif_contacts SET participant_id = ? WHERE registration_id = ?",
                [.text(accepted.participantID), .text(accepted.registrationID)])
            try queue(
                "lulus_seleksi", for: event, contact: .registration(accepted.registrationID), in: transaction,
                [
                    "no_pendaftaran": accepted.registrationID, "no_peserta": accepted.participantID,
                    "program": programmeName(accepted.programme), "blki": centreName(accepted.centre),
                    "minat_magang": accepted.apprenticeshipInterest ? "true" : "false",
                ])
        case let rejected as RegistrationRejectedV1:
            try queue(
                "pendaftaran_ditolak", for: event, contact: .registration(rejected.registrationID), in: transaction,
                ["no_pendaftaran": rejected.registrationID, "alasan": reasons(rejected.reasons)])
        case let review as RegistrationReviewNeededV1:
            try queue(
                "pendaftaran_ditinjau", for: event, contact: .registration(review.registrationID), in: transaction,
                ["no_pendaftaran": review.registrationID, "alasan": reasons(review.reasons)])
        case let scheduled as ClassScheduledV1:
            let programme = catalogue.programme(scheduled.programme, at: scheduled.centre)
            try queue(
                "jadwal_kelas", for: event, contact: .participant(scheduled.participantID), in: transaction,
                [
                    "no_peserta": scheduled.participantID, "program": programme?.name ?? scheduled.programme,
                    "blki": centreName(scheduled.centre), "kode_kelas": scheduled.classID,
                    "hari_mulai": IndonesianCalendar.weekday(scheduled.startDate),
                    "tanggal_mulai": IndonesianCalendar.date(scheduled.startDate),
                    "tanggal_selesai": IndonesianCalendar.date(scheduled.endDate),
                    "jumlah_minggu": programme.map { String($0.weeks) } ?? "", "jam_latihan": catalogue.weeklyHours,
                    "jam_mulai": catalogue.startTime(on: scheduled.startDate)
                        ?? catalogue.sessions[0].start.replacingOccurrences(of: ":", with: "."),
                ])
        case let waitlisted as EnrolmentWaitlistedV1:
            try queue(
                "daftar_tunggu", for: event, contact: .participant(waitlisted.participantID), in: transaction,
                [
                    "no_peserta": waitlisted.participantID, "program": programmeName(waitlisted.programme),
                    "blki": centreName(waitlisted.centre), "posisi": String(waitlisted.position),
                ])
        case let placed as ApprenticeshipPlacedV1:
            try queue(
                "penempatan_magang", for: event, contact: .participant(placed.participantID), in: transaction,
                [
                    "no_peserta": placed.participantID, "perusahaan": placed.companyName,
                    "tanggal_mulai": IndonesianCalendar.date(placed.startDate),
                    "tanggal_selesai": IndonesianCalendar.date(placed.endDate),
                ])
        case let graded as AssessmentGradedV2:
            let programme = catalogue.programme(scheme: graded.scheme)
            try queue(
                "hasil_uji_kompetensi", for: event, contact: .participant(graded.participantID), in: transaction,
                [
                    "no_peserta": graded.participantID,
                    "skema": programme.map { "\($0.name) (\(graded.scheme))" } ?? graded.scheme,
                    "program": programme?.name ?? graded.scheme,
                    "tanggal": graded.assessedOn.map(IndonesianCalendar.date) ?? "-",
                    "hasil": graded.outcome == .competent ? "KOMPETEN" : "BELUM KOMPETEN",
                    "kompeten": graded.outcome == .competent ? "true" : "false",
                    "unit_belum_kompeten": graded.notYetCompetentUnits.joined(separator: ", "),
                    "lsp": graded.lspLicence ?? "-",
                    "hasil_pelatihan": graded.trainingOutcome == .failed ? "TIDAK LULUS" : "LULUS",
                    "lulus_pelatihan": graded.trainingOutcome == .failed ? "false" : "true",
                    "kehadiran": graded.attendancePercent.map { String(format: "%.0f%%", $0) } ?? "-",
                ])
        case let issued as CertificateIssuedV1:
            let programme = issued.scheme.flatMap { catalogue.programme(scheme: $0) }
            try queue(
                "sertifikat_terbit", for: event, contact: .participant(issued.participantID), in: transaction,
                [
                    "no_peserta": issued.participantID,
                    "jenis": issued.kind == .competency ? "Sertifikat Kompetensi" : "Sertifikat Pelatihan",
                    "kompetensi": issued.kind == .competency ? "true" : "false",
                    "no_sertifikat": issued.certificateNumber, "no_registrasi": issued.registrationNumber ?? "",
                    "ada_no_registrasi": issued.registrationNumber == nil ? "false" : "true",
                    "skema": programme.map { "\($0.name) (\($0.scheme.code))" } ?? issued.scheme ?? "-",
                    "program": programme?.name ?? "-",
                    "tanggal_terbit": IndonesianCalendar.date(issued.issuedOn),
                    "berlaku_sd": issued.validUntil.map(IndonesianCalendar.date) ?? "",
                    "ada_masa_berlaku": issued.validUntil == nil ? "false" : "true",
                    "kode_verifikasi": issued.verificationCode,
                    "tautan_verifikasi": verificationBaseURL + "/" + issued.verificationCode,
                ])
        case let revoked as CertificateRevokedV1:
            try queue(
                "sertifikat_dicabut", for: event, contact: .participant(revoked.participantID), in: transaction,
                [
                    "no_peserta": revoked.participantID, "no_sertifikat": revoked.certificateID,
                    "alasan": Self.revocationReasons[revoked.reasonCode] ?? revoked.reasonCode,
                ])
        case let requested as NotificationRequestedV1:
            guard let template = templates.templates[requested.template] else {
                throw Failure.permanent("unknown-template", "no notification template named \(requested.template)")
            }
            let missing = template.fields.subtracting(requested.parameters.keys)
            guard missing.isEmpty else {
                throw Failure.permanent(
                    "missing-template-values",
                    "template \(requested.template) needs \(missing.sorted().joined(separator: ", "))")
            }
            try insert(
                notificationID: "req:" + requested.notificationID, event: event, template: requested.template,
                parameters: requested.parameters, routes: [Route(channel: requested.channel, recipient: requested.recipient)],
                urgent: template.urgent, registrationID: requested.registrationID, participantID: requested.participantID,
                in: transaction)
        default:
            throw Failure.permanent("unexpected-type", "the notification worker does not handle \(event.header.type)")
        }
        return []
    }

    /// Where a notification goes: a channel and an address.
    struct Route: Codable, Equatable, Sendable {
        let channel: NotificationChannel
        let recipient: String
    }

    enum ContactKey {
        case registration(String)
        case participant(String)
    }

    static let revocationReasons = [
        "DATA_ERROR": "kesalahan data pada sertifikat", "FRAUD": "ditemukan kecurangan",
        "SUPERSEDED": "digantikan oleh sertifikat yang baru", "ASSESSMENT_ANNULLED": "hasil uji kompetensi dibatalkan",
    ]

    private func queue(
        _ template: String, for event: DecodedEvent, contact key: ContactKey, in transaction: any StoreTransaction,
        _ values: [String: String]
    ) throws {
        let rows: [[String: SQLValue]]
        switch key {
        case .registration(let id):
            rows = try transaction.query("SELECT * FROM notif_contacts WHERE registration_id = ?", [.text(id)])
        case .participant(let id):
            rows = try transaction.query(
                "SELECT * FROM notif_contacts WHERE participant_id = ? ORDER BY updated_at DESC LIMIT 1", [.text(id)])
        }
        guard let contact = rows.first, let name = contact["name"]?.text else {
            throw Failure.transient(
                "contact-unknown", "no contact details yet for \(event.header.type) (registration.submitted not seen yet)")
        }
        var routes: [Route] = []
        if let whatsApp = contact["whatsapp"]?.text, !whatsApp.isEmpty {
            routes.append(Route(channel: .whatsApp, recipient: whatsApp))
        }
        if let phone = contact["phone"]?.text, !phone.isEmpty { routes.append(Route(channel: .sms, recipient: phone)) }
        if let email = contact["email"]?.text, !email.isEmpty { routes.append(Route(channel: .email, recipient: email)) }
        guard !routes.isEmpty else { throw Failure.permanent("no-contact-channel", "the contact has no phone and no e-mail") }
        var parameters = values
        parameters["nama"] = name
        try insert(
            notificationID: "\(event.header.id):\(template)", event: event, template: template, parameters: parameters,
            routes: routes, urgent: templates.templates[template]?.urgent ?? false,
            registrationID: contact["registration_id"]?.text, participantID: contact["participant_id"]?.text, in: transaction)
    }

    private func insert(
        notificationID: String, event: DecodedEvent, template: String, parameters: [String: String], routes: [Route],
        urgent: Bool, registrationID: String?, participantID: String?, in transaction: any StoreTransaction
    ) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let now = Date().timeIntervalSince1970
        try transaction.execute(
            """
            INSERT INTO notif_messages (notification_id, event_id, event_type, template, parameters, routes, urgent,
                registration_id, participant_id, correlation_id, created_at, event_time, next_attempt_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (notification_id) DO NOTHING
            """,
            [
                .text(notificationID), .text(event.header.id), .text(event.header.type), .text(template),
                .text(String(decoding: try encoder.encode(parameters), as: UTF8.self)),
                .text(String(decoding: try encoder.encode(routes), as: UTF8.self)), .integer(urgent ? 1 : 0),
                registrationID.map { .text($0) } ?? .null, participantID.map { .text($0) } ?? .null,
                .text(event.header.correlationID), .real(now), .real(event.header.time.timeIntervalSince1970), .real(0),
            ])
    }

    private func programmeName(_ code: String) -> String {
        for centre in catalogue.centres {
            if let programme = centre.programmes.first(where: { $0.code == code }) { return programme.name }
        }
        return code
    }

    private func centreName(_ centre: TrainingCentre) -> String {
        switch centre {
        case .balikpapan: "BLKI Balikpapan"
        case .bontang: "BLKI Bontang"
        }
    }

    private func reasons(_ reasons: [RegistrationReason]) -> String {
        reasons.map(\.message).joined(separator: "; ")
    }
}
