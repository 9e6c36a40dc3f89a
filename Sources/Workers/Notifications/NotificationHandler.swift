public import ContractKit
import Contracts
import Crypto
public import Foundation
import IntakeRules
public import Jobs
import Metrics
public import Programme
public import Topology

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
public struct NotificationHandler: TypedMessageHandler {
    public let templates: NotificationTemplates
    public let catalogue: ProgrammeCatalogue
    /// Base of the certificate verification link, e.g. `https://sertifikat.example.id/verifikasi`.
    public let verificationBaseURL: String
    /// Each planned class by its id: messages name a class by its programme, BLKI, cohort and
    /// dates, never by its id.
    let plannedClasses: [String: ClassOpenedV1]

    /// The worker's clock: the 24 hours of ``unverifiedPerAddress``.
    let now: @Sendable () -> Date

    /// - Parameter now: the worker's clock (injected by tests).
    public init(
        templates: NotificationTemplates, catalogue: ProgrammeCatalogue, verificationBaseURL: String,
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.now = now
        self.templates = templates
        self.catalogue = catalogue
        self.verificationBaseURL = verificationBaseURL
        plannedClasses = Dictionary(
            catalogue.plannedClasses.map { ($0.classID, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public var migrations: [String] {
        [
            """
            CREATE TABLE IF NOT EXISTS notif_contacts (
                registration_id TEXT PRIMARY KEY, participant_id TEXT, name TEXT NOT NULL, phone TEXT,
                whatsapp TEXT, email TEXT, updated_at REAL NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS notif_contacts_participant ON notif_contacts (participant_id)",
            // The acknowledgements and rejections each number or address got in the last day,
            // by a digest of it (``admitUnverified(_:in:)``).
            "CREATE TABLE IF NOT EXISTS notif_address_load (address_key TEXT NOT NULL, queued_at REAL NOT NULL)",
            "CREATE INDEX IF NOT EXISTS notif_address_load_key ON notif_address_load (address_key, queued_at)",
            "CREATE INDEX IF NOT EXISTS notif_address_load_time ON notif_address_load (queued_at)",
            """
            CREATE TABLE IF NOT EXISTS notif_messages (
                notification_id TEXT PRIMARY KEY, event_id TEXT NOT NULL, event_type TEXT NOT NULL,
                template TEXT NOT NULL, parameters TEXT NOT NULL, routes TEXT NOT NULL, route_index INTEGER NOT NULL DEFAULT 0,
                urgent INTEGER NOT NULL, registration_id TEXT, participant_id TEXT, correlation_id TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
                created_at REAL NOT NULL, event_time REAL NOT NULL, next_attempt_at REAL NOT NULL, claimed_until REAL,
                claimed_by TEXT, sent_at REAL, channel_used TEXT, provider_id TEXT, last_error TEXT)
            """,
            // The dispatcher's order (due time, then arrival) is read from this index, never
            // sorted. The index before it lacked created_at: every new message is due at 0, so
            // each claim sorted the whole backlog (67 ms to claim 50 with 76,000 waiting, in the sqlite3 shell).
            "DROP INDEX IF EXISTS notif_messages_due",
            "CREATE INDEX IF NOT EXISTS notif_messages_due_order ON notif_messages (state, next_attempt_at, created_at)",
            "CREATE TABLE IF NOT EXISTS notif_certificates (certificate_id TEXT PRIMARY KEY, certificate_number TEXT NOT NULL)",
            // The certificates that are records of a licence (SKK Konstruksi, Lisensi K3): their
            // revocation is told as a record's.
            "CREATE TABLE IF NOT EXISTS notif_licence_records (certificate_id TEXT PRIMARY KEY, kind TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS notif_training_results (participant_id TEXT PRIMARY KEY, result TEXT NOT NULL)",
            // Each participant's class, from class.scheduled: a BLKI's training result is told
            // only for the class the participant has a seat in (ids only).
            """
            CREATE TABLE IF NOT EXISTS notif_seats (
                participant_id TEXT PRIMARY KEY, class_id TEXT NOT NULL, scheduled_at REAL NOT NULL)
            """,
            // Whose each certificate is, and which were revoked: a revocation NAME_CORRECTED is
            // told once its replacement (the holder's, the same number, not revoked) is known.
            """
            CREATE TABLE IF NOT EXISTS notif_certificate_holders (
                certificate_id TEXT PRIMARY KEY, participant_id TEXT NOT NULL, certificate_number TEXT NOT NULL)
            """,
            """
            CREATE INDEX IF NOT EXISTS notif_certificate_holders_participant
                ON notif_certificate_holders (participant_id, certificate_number)
            """,
            "CREATE TABLE IF NOT EXISTS notif_revoked_certificates (certificate_id TEXT PRIMARY KEY)",
            // A person's messages, for the contacts' retention (and an erasure).
            "CREATE INDEX IF NOT EXISTS notif_messages_registration ON notif_messages (registration_id)",
            "CREATE INDEX IF NOT EXISTS notif_messages_participant ON notif_messages (participant_id)",
            // People who withdrew their consent: sent nothing more (ids and the time only).
            """
            CREATE TABLE IF NOT EXISTS notif_withdrawals (
                registration_id TEXT PRIMARY KEY, participant_id TEXT, withdrawn_at REAL NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS notif_withdrawals_participant ON notif_withdrawals (participant_id)",
            // Each registration number taken, with the message it came in (no personal data):
            // the same number under another message id is refused even after the contact is
            // gone (consent withdrawn, erased, past its retention).
            """
            CREATE TABLE IF NOT EXISTS notif_registrations (registration_id TEXT PRIMARY KEY, message_id TEXT NOT NULL)
            """,
        ]
    }

    public func handle(_ input: NotificationsInput, event: DecodedEvent, in transaction: any StoreTransaction) throws
        -> [OutgoingEvent]
    {
        switch input {
        case .submitted(let submitted): try notify(submitted, event: event, in: transaction)
        case .accepted(let accepted): try notify(accepted, event: event, in: transaction)
        case .rejected(let rejected): try notify(rejected, event: event, in: transaction)
        case .reviewNeeded(let review): try notify(review, event: event, in: transaction)
        case .documentsRequested(let documents): try notify(documents, event: event, in: transaction)
        case .scheduled(let scheduled): try notify(scheduled, event: event, in: transaction)
        case .waitlisted(let waitlisted): try notify(waitlisted, event: event, in: transaction)
        case .transferOffered(let offer): try notify(offer, event: event, in: transaction)
        case .reserveDesignated(let reserve): try notify(reserve, event: event, in: transaction)
        case .apprenticeshipPlaced(let placed): try notify(placed, event: event, in: transaction)
        case .graded(let graded): try notify(graded, event: event, in: transaction)
        case .appealRecorded(let appeal): try notify(appeal, event: event, in: transaction)
        case .trainingCompleted(let completed): try notify(completed, event: event, in: transaction)
        case .certificateIssued(let issued): try notify(issued, event: event, in: transaction)
        case .certificateRevoked(let revoked): try notify(revoked, event: event, in: transaction)
        case .withdrawn(let withdrawn): try notify(withdrawn, event: event, in: transaction)
        case .requested(let requested): try notify(requested, event: event, in: transaction)
        case .corrected(let correction): try correct(correction, event: event, in: transaction)
        case .consentWithdrawn(let withdrawal): try withdrawConsent(withdrawal, in: transaction)
        }
        return []
    }

    /// Where a notification goes: a channel and an address.
    struct Route: Codable, Equatable, Sendable {
        let channel: NotificationChannel
        let recipient: String
    }

    /// A contact's channels in the order they are tried: WhatsApp, SMS, e-mail.
    static func routes(of contact: [String: SQLValue]) -> [Route] {
        var routes: [Route] = []
        if let whatsApp = contact["whatsapp"]?.text, !whatsApp.isEmpty {
            routes.append(Route(channel: .whatsApp, recipient: whatsApp))
        }
        if let phone = contact["phone"]?.text, !phone.isEmpty { routes.append(Route(channel: .sms, recipient: phone)) }
        if let email = contact["email"]?.text, !email.isEmpty { routes.append(Route(channel: .email, recipient: email)) }
        return routes
    }

    enum ContactKey {
        case registration(String)
        case participant(String)
    }

    static let revocationReasons = [
        "DATA_ERROR": "kesalahan data pada sertifikat", "FRAUD": "ditemukan kecurangan",
        "SUPERSEDED": "digantikan oleh sertifikat yang baru", "ASSESSMENT_ANNULLED": "hasil uji kompetensi dibatalkan",
        "ASSESSMENT_CORRECTED": "hasil uji kompetensi dikoreksi oleh LSP",
        // The certificates role's own reissue under a corrected name (CertificateHandler.nameCorrected).
        "NAME_CORRECTED":
            "nama Anda diperbaiki; sertifikat pengganti atas nama yang benar (nomor sama, kode verifikasi baru) dikirim dalam pesan terpisah",
    ]

    /// The reasons for a licence record (the record is revoked, not the holder's licence).
    static let licenceRecordRevocationReasons = [
        "DATA_ERROR": "kesalahan data pada catatan", "FRAUD": "ditemukan kecurangan",
        "SUPERSEDED": "digantikan oleh catatan yang baru",
    ]

    /// The reason of a revocation in words a job seeker understands; a code without words here
    /// is never shown as it is.
    static func revocationReason(_ code: String, licenceRecord: Bool = false) -> String {
        if licenceRecord {
            return licenceRecordRevocationReasons[code] ?? "keputusan Disnakertrans (Disnakertrans dapat menjelaskan alasannya)"
        }
        return revocationReasons[code] ?? "keputusan penerbit sertifikat (BLKI dapat menjelaskan alasannya)"
    }

    func queue<Values: TemplateValues>(
        _ values: Values, for event: DecodedEvent, contact key: ContactKey, in transaction: any StoreTransaction
    ) throws {
        let template = Values.template
        guard try !hasWithdrawnConsent(key, in: transaction) else { return }
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
                .contactUnknown, "no contact details yet for \(event.header.type) (registration.submitted not seen yet)")
        }
        let routes = Self.routes(of: contact)
        guard !routes.isEmpty else { throw Failure.permanent(.noContactChannel, "the contact has no phone and no e-mail") }
        var parameters = try values.parameters()
        parameters["nama"] = name
        let notificationID = "\(event.header.id):\(template)"
        if Self.unverifiedTemplates.contains(template), try !admitUnverified(routes, in: transaction) {
            // Kept as a row, with no values and no address, so that staff can see what was held back.
            try transaction.execute(
                """
                INSERT INTO notif_messages (notification_id, event_id, event_type, template, parameters, routes, urgent,
                    registration_id, correlation_id, created_at, event_time, next_attempt_at, state, last_error)
                VALUES (?, ?, ?, ?, '{}', '[]', 0, ?, ?, ?, ?, 0, 'limited', 'RECIPIENT_LIMIT')
                ON CONFLICT (notification_id) DO NOTHING
                """,
                [
                    .text(notificationID), .text(event.header.id), .text(event.header.type), .text(template),
                    contact["registration_id"] ?? .null, .text(event.header.correlationID), .real(now().timeIntervalSince1970),
                    .real(event.header.time.timeIntervalSince1970),
                ])
            Counter(label: "notifications_recipient_limited_total").increment()
            return
        }
        try insert(
            notificationID: notificationID, event: event, template: template, parameters: parameters,
            routes: routes, urgent: templates.templates[template]?.urgent ?? false,
            registrationID: contact["registration_id"]?.text, participantID: contact["participant_id"]?.text, in: transaction)
    }

    /// The messages a registration gets before anyone has checked it: its acknowledgement
    /// (sent on `registration.submitted`, before intake) and its rejection. Anyone can submit a
    /// registration naming someone else's number: without a bound, a flood of registrations
    /// was a flood of these to one person.
    static let unverifiedTemplates: Set<String> = [
        EventTemplates.RegistrationReceived.template, EventTemplates.RegistrationRejected.template,
    ]

    /// The most ``unverifiedTemplates`` messages one number or address is sent in 24 hours: a
    /// family registering several children on one phone stays under it. The messages a
    /// person must act on (documents, review, a seat) are never held.
    static let unverifiedPerAddress = 10

    /// Whether one more ``unverifiedTemplates`` message may go to `routes`: none of their
    /// addresses had ``unverifiedPerAddress`` in the last 24 hours (the worker's clock). When it
    /// may, it is counted for each address. The count is kept by a digest of the address
    /// (``addressKey(_:)``) in `notif_address_load` (the dispatcher deletes rows older than a
    /// day), so that neither a consent withdrawal nor an erasure of the registrations resets it.
    func admitUnverified(_ routes: [Route], in transaction: any StoreTransaction) throws -> Bool {
        let now = now().timeIntervalSince1970
        let keys = Set(routes.map { Self.addressKey($0.recipient) })
        for key in keys {
            let row = try transaction.query(
                "SELECT COUNT(*) AS n FROM notif_address_load WHERE address_key = ? AND queued_at >= ?",
                [.text(key), .real(now - 86_400)]
            ).first
            if (row?["n"]?.integer ?? 0) >= Int64(Self.unverifiedPerAddress) { return false }
        }
        for key in keys {
            try transaction.execute(
                "INSERT INTO notif_address_load (address_key, queued_at) VALUES (?, ?)", [.text(key), .real(now)])
        }
        return true
    }

    /// A digest of a number or an address as one mailbox or phone receives it: an e-mail address
    /// in lower case, without a `+tag` in its local part (`Victim+1@Example.id` is
    /// `victim@example.id`); a number as stored (in +62 form).
    static func addressKey(_ recipient: String) -> String {
        var address = recipient.lowercased()
        if let at = address.lastIndex(of: "@") {
            let local = address[..<at]
            address = String(local.prefix { $0 != "+" }) + address[at...]
        }
        return Hex.lowercase(SHA256.hash(data: Data(address.utf8)))
    }

    func insert(
        notificationID: String, event: DecodedEvent, template: String, parameters: [String: String], routes: [Route],
        urgent: Bool, registrationID: String?, participantID: String?, in transaction: any StoreTransaction
    ) throws {
        let createdAt = now().timeIntervalSince1970
        try transaction.execute(
            """
            INSERT INTO notif_messages (notification_id, event_id, event_type, template, parameters, routes, urgent,
                registration_id, participant_id, correlation_id, created_at, event_time, next_attempt_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (notification_id) DO NOTHING
            """,
            [
                .text(notificationID), .text(event.header.id), .text(event.header.type), .text(template),
                .text(FlatJSON.object(parameters)), .text(FlatJSON.routes(routes)), .integer(urgent ? 1 : 0),
                registrationID.map { .text($0) } ?? .null, participantID.map { .text($0) } ?? .null,
                .text(event.header.correlationID), .real(createdAt), .real(event.header.time.timeIntervalSince1970), .real(0),
            ])
    }

    func programmeName(_ code: String) -> String {
        for centre in catalogue.centres {
            if let programme = centre.programmes.first(where: { $0.code == code }) { return programme.name }
        }
        return code
    }

    func centreName(_ centre: TrainingCentre) -> String {
        switch centre {
        case .balikpapan: "BLKI Balikpapan"
        case .bontang: "BLKI Bontang"
        }
    }

    func reasons(_ reasons: [RegistrationReason]) -> String {
        reasons.map(\.message).joined(separator: "; ")
    }
}
