public import CertificateTrust
public import ContractKit
import Contracts
public import Foundation
import IntakeRules
public import Jobs
public import Programme
public import Topology

/// The certificate issuance worker.
///
/// - A **training certificate** (PELATIHAN, issued by the participant's BLKI, no expiry, dated
///   the class's last day) when the BLKI records the training LULUS (`training.completed`;
///   LULUS needs at least 80 % attendance). The LSP's assessment does not decide it.
/// - A **licence record** (SKK_KONSTRUKSI registered with LPJK, LISENSI_K3 from Kemnaker) when
///   the office records one (`licence.recorded`) with the issuer's own numbers, dates and
///   qualification, for a participant who passed the training of a programme the plan says
///   leads to it, under the participant's name, dated between the class's last day and today.
///   The same record again changes nothing; anything contradicting one is refused. Published as
///   `certificate.issued` v2 (the other kinds as v1, which consumers not yet upgraded read).
/// - A **competency certificate record** (KOMPETENSI) for one assessed KOMPETEN, carrying the
///   BNSP certificate and registration numbers exactly as the LSP sent them; without them no
///   record is issued (it waits in `cert_pending` for a correction that brings them). Valid for
///   the scheme's years (3 by default, 5 for construction).
/// - Exactly one training certificate and one competency record issued per participant and
///   scheme (a unique key; a reissue's and a licence record's key hold their id, and the
///   licence rules are in code), whatever the redeliveries, replays and replicas, so one in
///   force at a time; the internal serial is allocated in the same transaction as the
///   certificate, so it is gap-free per issuer and year across processes sharing the store
///   (reissues have a series of their own).
/// - Each certificate is an Ed25519-signed ``CertificateDocument`` (no NIK in it). With
///   `writesFiles`, the transaction also records it in `cert_files`, and the
///   ``CertificateFileWriter`` writes its JSON and a printable PDF with a QR code after the
///   commit: cairo never runs inside the store's transaction, and a rolled-back batch leaves
///   no file.
/// - Corrections: the result in force decides the competency record, whatever order the
///   corrections arrive in (`cert_grades` keeps each graded id with the one it superseded; the
///   result no other supersedes is in force, and a result that is not changes nothing). One that
///   turns the result into BELUM KOMPETEN revokes the record (`certificate.revoked`,
///   `ASSESSMENT_CORRECTED`); one back to KOMPETEN issues a record again; one with other LSP
///   numbers or date replaces it. A record the office revoked (`revoke-certificate`, recorded
///   for verification) is never issued again by a correction.
/// - A corrected name (a newer `participant.named`) reissues the training certificates and
///   competency records in force under it: each old one revoked (`NAME_CORRECTED`), a new one
///   with the same number and dates and a new id and verification code (its row keyed, like a
///   licence record's, by "scheme#id").
public struct CertificateHandler: TypedMessageHandler {
    public let catalogue: ProgrammeCatalogue
    public let signer: CertificateSigner
    /// Whether each certificate is queued for the ``CertificateFileWriter``.
    public let writesFiles: Bool
    public let exchange: String
    public let source = "/kaltim/workers/certificates"
    /// The worker's clock: the day a certificate is signed on (``CertificateDocument/Payload/signedOn``).
    let now: @Sendable () -> Date

    public init(
        catalogue: ProgrammeCatalogue, signer: CertificateSigner, writesFiles: Bool = false,
        exchange: String = ContractDocuments.exchange, now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.catalogue = catalogue
        self.signer = signer
        self.writesFiles = writesFiles
        self.exchange = exchange
        self.now = now
    }

    public var migrations: [String] {
        [
            """
            CREATE TABLE IF NOT EXISTS cert_enrolments (
                participant_id TEXT PRIMARY KEY, centre TEXT NOT NULL, programme TEXT NOT NULL, end_date TEXT NOT NULL)
            """,
            """
            CREATE TABLE IF NOT EXISTS cert_certificates (
                certificate_id TEXT PRIMARY KEY, participant_id TEXT NOT NULL, scheme TEXT NOT NULL, kind TEXT NOT NULL,
                issuer_code TEXT NOT NULL, year INTEGER NOT NULL, serial INTEGER NOT NULL, document BLOB NOT NULL,
                UNIQUE (participant_id, scheme, kind), UNIQUE (issuer_code, year, serial))
            """,
            "CREATE TABLE IF NOT EXISTS cert_revocations (certificate_id TEXT PRIMARY KEY, reason TEXT NOT NULL)",
            // Every graded assessment with the one it corrected and what a record of it would
            // carry: the one no other supersedes (the latest of such) is the result in force,
            // whatever order they arrive in.
            """
            CREATE TABLE IF NOT EXISTS cert_grades (
                assessment_id TEXT PRIMARY KEY, participant_id TEXT NOT NULL, scheme TEXT NOT NULL, supersedes TEXT,
                graded_at TEXT NOT NULL, competent INTEGER NOT NULL, lsp_licence TEXT, certificate_number TEXT,
                registration_number TEXT, issued_on TEXT NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS cert_grades_person ON cert_grades (participant_id, scheme)",
            // The competency records this role revoked because a correction said BELUM
            // KOMPETEN (and by which assessment): only these are issued again when a later
            // correction says KOMPETEN. The office's revocations stand (`cert_office_revocations`).
            """
            CREATE TABLE IF NOT EXISTS cert_correction_revocations (
                certificate_id TEXT PRIMARY KEY, assessment_id TEXT NOT NULL)
            """,
            "CREATE TABLE IF NOT EXISTS cert_office_revocations (certificate_id TEXT PRIMARY KEY, reason TEXT NOT NULL)",

            """
            CREATE TABLE IF NOT EXISTS cert_pending (
                assessment_id TEXT PRIMARY KEY, participant_id TEXT NOT NULL, scheme TEXT NOT NULL, reason TEXT NOT NULL)
            """,
            // The class of each seat, who left it, and the BLKI's training result (one per person).
            "CREATE TABLE IF NOT EXISTS cert_seats (participant_id TEXT PRIMARY KEY, class_id TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS cert_withdrawals (participant_id TEXT PRIMARY KEY, reason TEXT NOT NULL)",
            """
            CREATE TABLE IF NOT EXISTS cert_training_results (
                participant_id TEXT PRIMARY KEY, class_id TEXT NOT NULL, result TEXT NOT NULL)
            """,
            // Certificates whose files the CertificateFileWriter has not written yet.
            """
            CREATE TABLE IF NOT EXISTS cert_files (
                certificate_id TEXT PRIMARY KEY, programme_name TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0)
            """,
            // When a certificate whose files failed may be tried again (seconds since 1970), in
            // the store so that every process writing files keeps to it.
            """
            CREATE TABLE IF NOT EXISTS cert_file_waits (certificate_id TEXT PRIMARY KEY, not_before REAL NOT NULL)
            """,
            // The number of each licence record, comparable (upper case, no spaces): the rules
            // of `record(_:event:in:)` look records up by it.
            """
            CREATE TABLE IF NOT EXISTS cert_licence_numbers (
                certificate_id TEXT PRIMARY KEY, kind TEXT NOT NULL, number_key TEXT NOT NULL, participant_id TEXT NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS cert_licence_numbers_number ON cert_licence_numbers (kind, number_key)",
            // Who at the office recorded each licence record (`recordedBy`, as the office sent it).
            "CREATE TABLE IF NOT EXISTS cert_licence_recorders (certificate_id TEXT PRIMARY KEY, recorded_by TEXT NOT NULL)",
            // The name each participant's certificates carry (participant.named, from intake).
            """
            CREATE TABLE IF NOT EXISTS cert_holders (
                participant_id TEXT PRIMARY KEY, full_name TEXT NOT NULL, as_of TEXT NOT NULL)
            """,
        ]
    }

    public func handle(_ input: CertificatesInput, event: DecodedEvent, in transaction: any StoreTransaction) throws
        -> [OutgoingEvent]
    {
        switch input {
        case .scheduled(let scheduled):
            try transaction.execute(
                """
                INSERT INTO cert_enrolments (participant_id, centre, programme, end_date) VALUES (?, ?, ?, ?)
                ON CONFLICT (participant_id) DO UPDATE SET centre = excluded.centre, programme = excluded.programme,
                    end_date = excluded.end_date
                """,
                [
                    .text(scheduled.participantID), .text(scheduled.centre.rawValue), .text(scheduled.programme),
                    .text(scheduled.endDate),
                ])
            try transaction.execute(
                """
                INSERT INTO cert_seats (participant_id, class_id) VALUES (?, ?)
                ON CONFLICT (participant_id) DO UPDATE SET class_id = excluded.class_id
                """, [.text(scheduled.participantID), .text(scheduled.classID)])
            return []
        case .withdrawn(let withdrawn):
            try transaction.execute(
                "INSERT INTO cert_withdrawals (participant_id, reason) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [.text(withdrawn.participantID), .text(withdrawn.reason.rawValue)])
            // Someone who left without a certificate gets none: their name is no longer needed.
            try transaction.execute(
                """
                DELETE FROM cert_holders WHERE participant_id = ?
                    AND NOT EXISTS (SELECT 1 FROM cert_certificates WHERE participant_id = ?)
                """, [.text(withdrawn.participantID), .text(withdrawn.participantID)])
            return []
        case .named(let named):
            let name = named.fullName.trimmingCharacters(in: .whitespacesAndNewlines)
            guard PersonName.isAcceptable(name) else {
                throw Failure.permanent(
                    .invalidHolderName, "a holder's name is 1 to 200 characters without control characters")
            }
            // Someone who left without a certificate gets none: a late name is not kept.
            let left = try transaction.query(
                """
                SELECT 1 FROM cert_withdrawals w WHERE w.participant_id = ?
                    AND NOT EXISTS (SELECT 1 FROM cert_certificates c WHERE c.participant_id = w.participant_id)
                """, [.text(named.participantID)])
            guard left.isEmpty else { return [] }
            // A correction replaces the name for the certificates still to come, and those in
            // force are issued again under it (below). The newest name wins, whatever order
            // they arrive in: an acceptance's name retried or replayed late does not undo a
            // correction.
            // Two names of one instant: the greater wins, whichever comes first (no swapping on
            // every replay). A name dated more than 5 minutes ahead of the worker's clock waits
            // (then the dead letters): kept, it would shut out every correction until that time.
            guard event.header.time <= now().addingTimeInterval(Self.allowedClockSkew) else {
                throw Failure.transient(
                    .nameDatedAhead, "a name for \(named.participantID) is dated ahead of this worker's clock; retrying")
            }
            try transaction.execute(
                """
                INSERT INTO cert_holders (participant_id, full_name, as_of) VALUES (?, ?, ?)
                ON CONFLICT (participant_id) DO UPDATE SET full_name = excluded.full_name, as_of = excluded.as_of
                WHERE excluded.as_of > cert_holders.as_of
                    OR (excluded.as_of = cert_holders.as_of AND excluded.full_name > cert_holders.full_name)
                """, [.text(named.participantID), .text(name), .text(Self.timestamp(event.header.time))])
            return try reissueUnderCurrentName(named.participantID, event: event, in: transaction)
        case .revoked(let revoked):
            // This role's own revocations come back from the exchange: already recorded, in the
            // transaction that published them. Anything else is the office's, and stands: a
            // record it revoked is not issued again by a later correction.
            let recorded = try !transaction.query(
                "SELECT 1 FROM cert_revocations WHERE certificate_id = ?", [.text(revoked.certificateID)]
            ).isEmpty
            if recorded && Self.ownRevocationReasons.contains(revoked.reasonCode) { return [] }
            // Only what this role issued: certificate ids follow a series, and a revocation
            // recorded ahead would stand against a record not yet issued.
            guard
                try !transaction.query(
                    "SELECT 1 FROM cert_certificates WHERE certificate_id = ?", [.text(revoked.certificateID)]
                ).isEmpty
            else {
                throw Failure.permanent(
                    .unknownCertificate, "no certificate \(revoked.certificateID) was issued here; nothing is revoked")
            }
            try transaction.execute(
                "INSERT INTO cert_revocations (certificate_id, reason) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [.text(revoked.certificateID), .text(revoked.reasonCode)])
            try transaction.execute(
                "INSERT INTO cert_office_revocations (certificate_id, reason) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [.text(revoked.certificateID), .text(revoked.reasonCode)])
            return []
        case .graded(let graded):
            return try issue(for: graded, event: event, in: transaction)
        case .trainingCompleted(let completed):
            return try issue(for: completed, event: event, in: transaction)
        case .licence(let licence):
            return try record(licence, event: event, in: transaction)
        }
    }

    /// The record of a licence issued outside the programme (SKK Konstruksi, Lisensi K3), with
    /// the issuer's numbers exactly as the office typed them: never generated. Each record is
    /// its own row (its `scheme` column holds the programme's scheme and its certificate id, so
    /// a person may have several over time), and `cert_licence_numbers` keeps its number in a
    /// comparable form (upper case, no spaces). The rules hold in code, under the role's serial
    /// writes: an identical record again changes nothing; no number is in force for two people
    /// or twice for one with other details; one record of a kind is in force per person until
    /// it expires or is revoked. A revoked record makes room: revoke a wrong one, then record
    /// the right one (the same number with corrected details, or another number).
    func record(_ licence: LicenceRecordedV1, event: DecodedEvent, in transaction: any StoreTransaction) throws
        -> [OutgoingEvent]
    {
        func refuse(_ reason: String) -> Failure { Failure.permanent(.invalidLicence, reason) }
        let number = licence.certificateNumber.trimmingCharacters(in: .whitespaces)
        let registration = licence.registrationNumber?.trimmingCharacters(in: .whitespaces)
        let qualification = licence.qualification.trimmingCharacters(in: .whitespaces)
        let kind: CertificateIssuedV2.Kind = licence.kind == .constructionCompetency ? .constructionCompetency : .safetyLicence
        let numberKey = Self.numberKey(number)
        // An identical record already in force: a redelivery or replay, whatever changed since.
        let numbered = try licenceRecords(kind: kind, numberKey: numberKey, in: transaction)
        for row in numbered where !row.revoked {
            if row.participantID == licence.participantID, row.payload.registrationNumber == registration,
                row.payload.qualification == qualification, row.payload.issuedOn == licence.issuedOn,
                row.payload.validUntil == licence.validUntil, row.payload.certificateNumber == number
            {
                return []
            }
        }
        guard Self.isIssuerNumber(number) else {
            throw refuse("a licence's number is 1–64 ASCII letters, digits, spaces and . / - : ( )")
        }
        guard registration.map(Self.isIssuerNumber) ?? true else {
            throw refuse("a licence's registration number is 1–64 ASCII letters, digits, spaces and . / - : ( )")
        }
        guard Self.isShortText(qualification, limit: 100) else {
            throw refuse("a licence's qualification is 1–100 characters on one line, without control characters")
        }
        let recordedBy = licence.recordedBy.trimmingCharacters(in: .whitespaces)
        guard Self.isShortText(recordedBy) else {
            throw refuse("who recorded a licence is 1–200 characters on one line, without control characters")
        }
        // These go word for word into the holder's message: never a link to follow.
        guard ![number, registration ?? "", qualification].contains(where: Self.looksLikeLink) else {
            throw refuse("a licence's number, registration number and qualification are not web addresses")
        }
        guard PersonName.isAcceptable(licence.holderName) else { throw refuse("a licence names its holder") }
        guard Self.isDay(licence.issuedOn), Self.isDay(licence.validUntil), licence.validUntil > licence.issuedOn,
            let longest = Self.adding(years: 10, to: licence.issuedOn), licence.validUntil <= longest
        else {
            throw refuse("a licence's issuedOn and validUntil are days (YYYY-MM-DD), validUntil later and within 10 years")
        }
        // Today by the worker's clock, in WITA: not the publisher's time, which it sets itself.
        let today = CertificateKeyRing.witaDay(now())
        guard licence.issuedOn <= today else { throw refuse("a licence is not dated after today") }
        guard licence.validUntil >= today else { throw refuse("a licence that has expired is not recorded") }
        guard
            let enrolment = try transaction.query(
                "SELECT centre, programme, end_date FROM cert_enrolments WHERE participant_id = ?",
                [.text(licence.participantID)]
            ).first, let centre = enrolment["centre"]?.text.flatMap(TrainingCentre.init(rawValue:)),
            let programmeCode = enrolment["programme"]?.text, let endDate = enrolment["end_date"]?.text
        else {
            throw Failure.transient(.enrolmentUnknown, "no class known for participant \(licence.participantID)")
        }
        guard let programme = catalogue.programme(programmeCode, at: centre),
            programme.licences?.contains(licence.kind) == true
        else {
            throw refuse("programme \(programmeCode) does not lead to a \(licence.kind.rawValue) in the plan")
        }
        guard licence.issuedOn >= endDate else {
            throw refuse("a licence the training led to is not dated before the class's last day (\(endDate))")
        }
        let left = try !transaction.query(
            "SELECT 1 FROM cert_withdrawals WHERE participant_id = ?", [.text(licence.participantID)]
        ).isEmpty
        guard !left else { throw refuse("\(licence.participantID) left the training; no licence is recorded") }
        // The licence follows the training: a LULUS the BLKI recorded.
        guard
            let result = try transaction.query(
                "SELECT result FROM cert_training_results WHERE participant_id = ?", [.text(licence.participantID)]
            ).first?["result"]?.text
        else {
            throw Failure.transient(
                .trainingResultUnknown, "no training result known for participant \(licence.participantID) yet")
        }
        guard result == TrainingCompletedV1.Result.passed.rawValue else {
            throw refuse("\(licence.participantID) did not pass the training; no licence is recorded")
        }
        // The name on the licence must be the participant's, word for word (in any order, any
        // case, any spacing, and the usual spellings of Muhammad): a mistyped participant id
        // would otherwise give someone else a signed record of another person's licence.
        guard let holder = try holderName(of: licence.participantID, in: transaction) else {
            throw Failure.transient(.holderUnknown, "no name known for participant \(licence.participantID)")
        }
        guard Self.sameName(licence.holderName, holder) else {
            throw refuse("the holder's name on the licence is not the name of \(licence.participantID)")
        }
        // Records in force: not revoked, not expired (an expired one makes room for a renewal).
        for row in numbered where !row.revoked && (row.payload.validUntil ?? today) >= today {
            guard row.participantID == licence.participantID else {
                throw Failure.permanent(.licenceConflict, "this \(kind.rawValue) number is in force for another participant")
            }
            throw Failure.permanent(
                .licenceConflict,
                "\(licence.participantID)'s \(kind.rawValue) with this number was recorded with other details; revoke that record, then record it again"
            )
        }
        let inForce = try transaction.query(
            """
            SELECT c.certificate_id, c.document FROM cert_certificates c
            LEFT JOIN cert_revocations r ON r.certificate_id = c.certificate_id
            WHERE c.participant_id = ? AND c.kind = ? AND r.certificate_id IS NULL
            """, [.text(licence.participantID), .text(kind.rawValue)])
        for row in inForce {
            guard case .blob(let stored) = row["document"],
                let until = (try? JSONDecoder().decode(CertificateDocument.self, from: stored))?.payload.validUntil
            else { continue }
            if until >= today {
                throw Failure.permanent(
                    .licenceConflict,
                    "\(licence.participantID) has a \(kind.rawValue) in force under another number until \(until); revoke it before recording another"
                )
            }
        }
        // An SKK is not the BNSP competency certificate recorded again under another kind.
        if kind == .constructionCompetency {
            let competency = try transaction.query(
                "SELECT document FROM cert_certificates WHERE participant_id = ? AND kind = ?",
                [.text(licence.participantID), .text(CertificateIssuedV2.Kind.competency.rawValue)])
            for row in competency {
                if case .blob(let stored) = row["document"],
                    let recorded = (try? JSONDecoder().decode(CertificateDocument.self, from: stored))?.payload
                        .certificateNumber,
                    Self.numberKey(recorded) == numberKey
                {
                    throw refuse("this number is \(licence.participantID)'s BNSP competency certificate, already recorded")
                }
            }
        }
        let (issuer, code) = kind == .constructionCompetency ? ("LPJK", "LPJK-SKK") : ("Kemnaker", "KEMNAKER-K3")
        let created = try create(
            kind: kind, issuer: issuer, issuerCode: code, idPrefix: "CATATAN", signatory: catalogue.recordSignatory,
            number: { _, _ in number }, registrationNumber: registration, participantID: licence.participantID,
            scheme: programme.scheme.code, key: { "\(programme.scheme.code)#\($0)" }, programme: programme,
            issuedOn: licence.issuedOn, validUntil: licence.validUntil, qualification: qualification, event: event,
            in: transaction)
        try transaction.execute(
            "INSERT INTO cert_licence_numbers (certificate_id, kind, number_key, participant_id) VALUES (?, ?, ?, ?)",
            [.text(created.certificateID), .text(kind.rawValue), .text(numberKey), .text(licence.participantID)])
        try transaction.execute(
            "INSERT INTO cert_licence_recorders (certificate_id, recorded_by) VALUES (?, ?)",
            [.text(created.certificateID), .text(recordedBy)])
        return [created.event]
    }

    /// A licence record of `kind` under a number (any person), with whether it was revoked.
    func licenceRecords(kind: CertificateIssuedV2.Kind, numberKey: String, in transaction: any StoreTransaction) throws
        -> [(participantID: String, payload: CertificateDocument.Payload, revoked: Bool)]
    {
        try transaction.query(
            """
            SELECT n.participant_id, c.document, r.certificate_id AS revoked FROM cert_licence_numbers n
            JOIN cert_certificates c ON c.certificate_id = n.certificate_id
            LEFT JOIN cert_revocations r ON r.certificate_id = n.certificate_id
            WHERE n.kind = ? AND n.number_key = ?
            """, [.text(kind.rawValue), .text(numberKey)]
        ).compactMap { row in
            guard let participant = row["participant_id"]?.text, case .blob(let stored) = row["document"],
                let document = try? JSONDecoder().decode(CertificateDocument.self, from: stored)
            else { return nil }
            return (participant, document.payload, row["revoked"]?.text != nil)
        }
    }

    /// An issuer's number in a comparable form: upper case, without spaces.
    static func numberKey(_ number: String) -> String { number.uppercased().filter { $0 != " " } }

    /// The same name word for word, in any order (after ``PersonName/normalise(_:)``: case,
    /// spacing, punctuation and the spellings of Muhammad do not matter; a missing or changed
    /// word does).
    static func sameName(_ a: String, _ b: String) -> Bool {
        let first = PersonName.normalise(a).split(separator: " ").sorted()
        let second = PersonName.normalise(b).split(separator: " ").sorted()
        return !first.isEmpty && first == second
    }

    /// `YYYY-MM-DD`, a real day, four-digit year.
    public static func isDay(_ text: String) -> Bool {
        CivilDay.days(text) != nil
    }

    /// An issuer's number as printed: 1–64 ASCII letters, digits, spaces and `. / - : ( )`.
    public static func isIssuerNumber(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.count <= 64
            && text.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || " ./-:()".unicodeScalars.contains($0))
            }
    }

    /// Whether a text reads as a web address (in any case: `://`, `www.`, or a domain name, a
    /// word, a dot and two or more letters not followed by a letter or digit, which messaging
    /// apps make a link of): an issuer's number or a qualification is never one, and the
    /// holder's message would carry it as a link.
    public static func looksLikeLink(_ text: String) -> Bool {
        let lowered = text.lowercased()
        return lowered.contains("://") || lowered.contains("www.")
            || lowered.contains(/[a-z0-9-]+\.[a-z]{2,}(?![a-z0-9])/)
    }

    /// One line of 1–`limit` characters (4 bytes each at most) without control or formatting
    /// characters.
    public static func isShortText(_ text: String, limit: Int = 200) -> Bool {
        !text.isEmpty && text.count <= limit && text.utf8.count <= limit * 4
            && !text.unicodeScalars.contains {
                $0.properties.generalCategory == .control || $0.properties.generalCategory == .format
                    || $0 == "\u{2028}" || $0 == "\u{2029}"
            }
    }

    func issue(for graded: AssessmentGradedV3, event: DecodedEvent, in transaction: any StoreTransaction) throws
        -> [OutgoingEvent]
    {
        guard
            let enrolment = try transaction.query(
                "SELECT centre, programme, end_date FROM cert_enrolments WHERE participant_id = ?", [.text(graded.participantID)]
            ).first, let centre = enrolment["centre"]?.text.flatMap(TrainingCentre.init(rawValue:)),
            let programmeCode = enrolment["programme"]?.text
        else {
            // The scheduling event may still be on its way: try again later (then the dead letters).
            throw Failure.transient(.enrolmentUnknown, "no class known for participant \(graded.participantID)")
        }
        // "#" separates a row's scheme from its certificate id in the unique key (reissues,
        // licence records); grading sends the plan's scheme codes, which have none.
        guard !graded.scheme.contains("#") else {
            throw Failure.permanent(.invalidScheme, "a scheme code has no '#'")
        }
        let programme = catalogue.programme(programmeCode, at: centre)
        // Grading's time orders results no other supersedes: one dated ahead of this worker's
        // clock would stay in force against every later correction. It waits.
        guard event.header.time <= now().addingTimeInterval(Self.allowedClockSkew) else {
            throw Failure.transient(
                .gradeDatedAhead, "a result for \(graded.participantID) is dated ahead of this worker's clock; retrying")
        }
        try record(graded, event: event, in: transaction)
        // The result in force decides, whichever result this message brought: a correction
        // arriving after the one that corrected it (two replicas, a retry, a replay) changes
        // nothing, and one that completes the chain lets the result at its end take effect.
        guard let head = try resultInForce(of: graded.participantID, scheme: graded.scheme, in: transaction) else {
            return []
        }
        var output: [OutgoingEvent] = []
        // The scheme's competency records, and the one in force (not revoked) if any.
        let records = try competencyRecords(of: graded.participantID, scheme: graded.scheme, in: transaction)
        let inForce = records.filter { $0.revocation == nil }
        guard head.competent else {
            // A correction took the competence back: revoke the record in force (the one
            // issued on an earlier result, or reissued under a corrected name). A first result
            // of BELUM KOMPETEN has nothing to take back.
            try transaction.execute(
                "DELETE FROM cert_pending WHERE participant_id = ? AND scheme = ?",
                [.text(graded.participantID), .text(graded.scheme)])
            guard head.supersedes != nil else { return [] }
            for record in inForce {
                output.append(
                    try revokeForCorrection(record.certificateID, of: graded.participantID, head, event: event, in: transaction))
            }
            return output
        }
        guard let number = head.certificateNumber, let registration = head.registrationNumber, let licence = head.licence
        else {
            try transaction.execute(
                """
                INSERT INTO cert_pending (assessment_id, participant_id, scheme, reason) VALUES (?, ?, ?, ?)
                ON CONFLICT DO NOTHING
                """,
                [.text(head.assessmentID), .text(graded.participantID), .text(graded.scheme), .text("LSP_NUMBERS_MISSING")])
            return []
        }
        let issuer = "LSP \(licence)"
        // The record in force already says what the result says (a redelivery, a correction of
        // something else): nothing to do.
        if inForce.contains(where: {
            $0.payload.certificateNumber == number && $0.payload.registrationNumber == registration
                && $0.payload.issuer == issuer && $0.payload.issuedOn == head.issuedOn
        }) {
            return []
        }
        // A revocation this role did not make for a correction stands: the office's (for
        // DATA_ERROR, only against a record with the same details: the office withdrew those, and
        // the LSP's corrected result gets its record), and one made before corrections were
        // recorded. A record replaced under a corrected name has its replacement among the
        // records. The result then waits in `cert_pending` (REVOCATION_STANDS), to be seen.
        let blocked = records.contains { record in
            guard let revocation = record.revocation else { return false }
            if revocation.reason == Self.nameCorrected || (revocation.byCorrection && !revocation.byOffice) { return false }
            if revocation.byOffice && revocation.reason == Self.dataError {
                return record.payload.certificateNumber == number && record.payload.registrationNumber == registration
                    && record.payload.issuer == issuer && record.payload.issuedOn == head.issuedOn
            }
            return true
        }
        guard !blocked else {
            try transaction.execute(
                """
                INSERT INTO cert_pending (assessment_id, participant_id, scheme, reason) VALUES (?, ?, ?, ?)
                ON CONFLICT DO NOTHING
                """,
                [.text(head.assessmentID), .text(graded.participantID), .text(graded.scheme), .text("REVOCATION_STANDS")])
            return []
        }
        // The LSP corrected the numbers or the date: the record in force goes, and one with the
        // corrected details takes its place.
        for record in inForce {
            output.append(
                try revokeForCorrection(record.certificateID, of: graded.participantID, head, event: event, in: transaction))
        }
        let years = programme?.scheme.validityYears ?? 3
        // The first record of the scheme is keyed by the scheme; any later one, like a reissue,
        // by "scheme#id".
        let scheme = graded.scheme
        output.append(
            try create(
                kind: .competency, issuer: issuer, issuerCode: "LSP-\(licence)", idPrefix: "KOM-\(licence)",
                signatory: catalogue.recordSignatory,
                number: { _, _ in number }, registrationNumber: registration, participantID: graded.participantID,
                scheme: scheme, key: records.isEmpty ? nil : { "\(scheme)#\($0)" }, programme: programme,
                issuedOn: head.issuedOn, validUntil: Self.adding(years: years, to: head.issuedOn), qualification: nil,
                event: event, in: transaction
            ).event)
        try transaction.execute(
            "DELETE FROM cert_pending WHERE participant_id = ? AND scheme = ?",
            [.text(graded.participantID), .text(graded.scheme)])
        return output
    }

    /// The office's reason for withdrawing a certificate whose data is wrong: a corrected result
    /// with other details gets a record again.
    public static let dataError = "DATA_ERROR"

    /// The reasons only this role revokes with (`revoke-certificate` refuses them).
    static let ownRevocationReasons: Set<String> = [nameCorrected, assessmentCorrected]

    /// The revocation reason of a competency record whose assessment a correction changed.
    public static let assessmentCorrected = "ASSESSMENT_CORRECTED"

    /// A graded result as this role keeps it: what it corrected, and what a record of it
    /// would carry.
    struct GradedResult {
        let assessmentID: String
        let supersedes: String?
        let competent: Bool
        let licence: String?
        let certificateNumber: String?
        let registrationNumber: String?
        /// The assessment's day (or, for a result without one, the day grading sent it).
        let issuedOn: String
    }

    /// Keeps `graded` (once: a redelivery or replay changes nothing).
    func record(_ graded: AssessmentGradedV3, event: DecodedEvent, in transaction: any StoreTransaction) throws {
        func text(_ value: String?) -> SQLValue { value.map(SQLValue.text) ?? .null }
        try transaction.execute(
            """
            INSERT INTO cert_grades (assessment_id, participant_id, scheme, supersedes, graded_at, competent, lsp_licence,
                certificate_number, registration_number, issued_on)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
            """,
            [
                .text(graded.assessmentID), .text(graded.participantID), .text(graded.scheme), text(graded.supersedes),
                .text(Self.timestamp(event.header.time)), .integer(graded.outcome == .competent ? 1 : 0),
                text(graded.lspLicence), text(graded.lspCertificateNumber), text(graded.lspRegistrationNumber),
                .text(graded.assessedOn ?? ProgrammeCatalogue.format(event.header.time)),
            ])
    }

    /// The result in force for a participant and scheme: the latest graded (grading's time,
    /// then the id) of the results no recorded result supersedes. Grading supersedes exactly
    /// the result it held current, so the results of a participant and scheme form one chain,
    /// which arrives here in any order.
    func resultInForce(of participant: String, scheme: String, in transaction: any StoreTransaction) throws
        -> GradedResult?
    {
        try transaction.query(
            """
            SELECT g.* FROM cert_grades g
            WHERE g.participant_id = ? AND g.scheme = ? AND NOT EXISTS (
                SELECT 1 FROM cert_grades s
                WHERE s.participant_id = g.participant_id AND s.scheme = g.scheme AND s.supersedes = g.assessment_id)
            ORDER BY g.graded_at DESC, g.assessment_id DESC LIMIT 1
            """, [.text(participant), .text(scheme)]
        ).first.flatMap { row in
            guard let id = row["assessment_id"]?.text, let issuedOn = row["issued_on"]?.text else { return nil }
            return GradedResult(
                assessmentID: id, supersedes: row["supersedes"]?.text, competent: row["competent"]?.integer == 1,
                licence: row["lsp_licence"]?.text, certificateNumber: row["certificate_number"]?.text,
                registrationNumber: row["registration_number"]?.text, issuedOn: issuedOn)
        }
    }

    /// A competency record of a participant's scheme, with its revocation if it has one.
    struct CompetencyRecord {
        let certificateID: String
        let payload: CertificateDocument.Payload
        let revocation: (reason: String, byCorrection: Bool, byOffice: Bool)?
    }

    /// Every competency record of `participant` in `scheme` (the original, keyed by the scheme,
    /// and any later one or reissue, keyed "scheme#id").
    func competencyRecords(of participant: String, scheme: String, in transaction: any StoreTransaction) throws
        -> [CompetencyRecord]
    {
        try transaction.query(
            """
            SELECT c.certificate_id, c.scheme, c.document, r.reason, k.certificate_id AS corrected,
                o.certificate_id AS office
            FROM cert_certificates c
            LEFT JOIN cert_revocations r ON r.certificate_id = c.certificate_id
            LEFT JOIN cert_correction_revocations k ON k.certificate_id = c.certificate_id
            LEFT JOIN cert_office_revocations o ON o.certificate_id = c.certificate_id
            WHERE c.participant_id = ? AND c.kind = ? ORDER BY c.certificate_id
            """, [.text(participant), .text(CertificateIssuedV2.Kind.competency.rawValue)]
        ).compactMap { row in
            guard let certificateID = row["certificate_id"]?.text, let key = row["scheme"]?.text,
                key == scheme || key.hasPrefix(scheme + "#"), case .blob(let stored) = row["document"],
                let document = try? JSONDecoder().decode(CertificateDocument.self, from: stored)
            else { return nil }
            return CompetencyRecord(
                certificateID: certificateID, payload: document.payload,
                revocation: row["reason"]?.text.map {
                    ($0, row["corrected"]?.text != nil, row["office"]?.text != nil)
                })
        }
    }

    /// Revokes a competency record because the assessment it rests on was corrected
    /// (`certificate.revoked`, ``assessmentCorrected``), noting the correction that did.
    func revokeForCorrection(
        _ certificateID: String, of participant: String, _ result: GradedResult, event: DecodedEvent,
        in transaction: any StoreTransaction
    ) throws -> OutgoingEvent {
        try transaction.execute(
            "INSERT INTO cert_revocations (certificate_id, reason) VALUES (?, ?)",
            [.text(certificateID), .text(Self.assessmentCorrected)])
        try transaction.execute(
            "INSERT INTO cert_correction_revocations (certificate_id, assessment_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [.text(certificateID), .text(result.assessmentID)])
        // A revoked record's files are not drawn any more (when still waiting).
        try transaction.execute("DELETE FROM cert_files WHERE certificate_id = ?", [.text(certificateID)])
        try transaction.execute("DELETE FROM cert_file_waits WHERE certificate_id = ?", [.text(certificateID)])
        return try outgoing(
            CertificateRevokedV1(certificateID: certificateID, participantID: participant, reasonCode: Self.assessmentCorrected),
            id: "revoked-\(certificateID)", event: event, subject: participant)
    }

    /// The revocation reason of a certificate replaced by one under the holder's corrected
    /// name (no one else revokes with it: `revoke-certificate` refuses it).
    public static let nameCorrected = "NAME_CORRECTED"

    /// What ends the issuer code and id prefix of a reissued certificate (`BTG-R-2025-PBK-00001`).
    static let reissueSuffix = "-R"

    /// Issues again, under the participant's current name, each of their training certificates
    /// and competency records in force that carries another name: the old one is revoked
    /// (``nameCorrected``) and a new one, with a new id and verification code, keeps everything
    /// else: the number, the registration number, the dates, the signatory. The holder keeps one
    /// certificate in force per kind and scheme, and an employer scanning the old one reads that
    /// it was revoked. Compares with the current name, so a name arriving again or late changes
    /// nothing. Licence records are not reissued: their name is the one the issuer printed, and
    /// the office records them again once the issuer has corrected it.
    func reissueUnderCurrentName(_ participantID: String, event: DecodedEvent, in transaction: any StoreTransaction)
        throws -> [OutgoingEvent]
    {
        // Most names come with an acceptance, before any certificate: one indexed read, then done.
        let inForce = try transaction.query(
            """
            SELECT c.certificate_id, c.scheme, c.kind, c.issuer_code, c.document FROM cert_certificates c
            LEFT JOIN cert_revocations r ON r.certificate_id = c.certificate_id
            WHERE c.participant_id = ? AND c.kind IN (?, ?) AND r.certificate_id IS NULL ORDER BY c.certificate_id
            """,
            [
                .text(participantID), .text(CertificateIssuedV2.Kind.training.rawValue),
                .text(CertificateIssuedV2.Kind.competency.rawValue),
            ])
        guard !inForce.isEmpty, let name = try holderName(of: participantID, in: transaction) else { return [] }
        let today = CertificateKeyRing.witaDay(now())
        var output: [OutgoingEvent] = []
        for row in inForce {
            // A document signed before names reached this role has none: it is not "corrected"
            // (it keeps its form; the holder was never told a name on it). An expired record is
            // not in force any more.
            guard let oldID = row["certificate_id"]?.text, let key = row["scheme"]?.text,
                let kind = row["kind"]?.text.flatMap(CertificateIssuedV2.Kind.init(rawValue:)),
                let issuerCode = row["issuer_code"]?.text, case .blob(let stored) = row["document"],
                let old = try? JSONDecoder().decode(CertificateDocument.self, from: stored),
                let oldName = old.payload.holderName, oldName != name, (old.payload.validUntil ?? today) >= today
            else { continue }
            // Reissues have a series of their own (issuer code and id prefix ending in "-R"), so
            // that the issuer's own series, whose serials its training certificates print, keeps
            // no hole: the id's prefix is the old one's (everything before "-year-kind-serial").
            // A reissue is in the series already (a record issued again after a correction is
            // keyed "scheme#id" too, but in the issuer's own series).
            let reissued = issuerCode.hasSuffix(Self.reissueSuffix)
            let oldPrefix = oldID.split(separator: "-", omittingEmptySubsequences: false).dropLast(3).joined(separator: "-")
            let idPrefix = reissued ? oldPrefix : oldPrefix + Self.reissueSuffix
            let reissuer = reissued ? issuerCode : issuerCode + Self.reissueSuffix
            let year = Int(old.payload.issuedOn.prefix(4)) ?? catalogue.year
            let (certificateID, serial) = try nextIdentity(
                idPrefix: idPrefix, issuerCode: reissuer, year: year, kind: kind, in: transaction)
            var payload = old.payload
            payload.certificateID = certificateID
            payload.holderName = name
            // The scheme the row is kept under, without any earlier reissue's id; the new row's
            // key holds its own id, as a licence record's does (one row per scheme and kind is
            // the original's).
            let scheme = String(key.split(separator: "#", maxSplits: 1).first ?? Substring(key))
            output.append(
                try store(
                    try signer.sign(payload, at: now()), kind: kind, key: "\(scheme)#\(certificateID)",
                    issuerCode: reissuer, year: year, serial: serial,
                    programmeName: catalogue.programme(scheme: scheme)?.name ?? scheme, event: event, in: transaction))
            // The revocation after the replacement, so that a consumer that tells the holder of
            // it (notifications) usually knows the replacement already.
            try transaction.execute(
                "INSERT INTO cert_revocations (certificate_id, reason) VALUES (?, ?)", [.text(oldID), .text(Self.nameCorrected)])
            // A revoked certificate's files are not drawn any more (when still waiting).
            try transaction.execute("DELETE FROM cert_files WHERE certificate_id = ?", [.text(oldID)])
            try transaction.execute("DELETE FROM cert_file_waits WHERE certificate_id = ?", [.text(oldID)])
            output.append(
                try outgoing(
                    CertificateRevokedV1(certificateID: oldID, participantID: participantID, reasonCode: Self.nameCorrected),
                    id: "revoked-\(oldID)", event: event, subject: participantID))
        }
        return output
    }

    /// The training certificate, on the BLKI's result. A LULUS below 80 % attendance, or an
    /// attendance outside 0–100, or while the class's last day is after tomorrow, is refused
    /// (the BLKI's record is wrong); a result for a
    /// participant whose class has not arrived waits (transient); TIDAK LULUS issues nothing.
    func issue(for completed: TrainingCompletedV1, event: DecodedEvent, in transaction: any StoreTransaction) throws
        -> [OutgoingEvent]
    {
        guard (0...100).contains(completed.attendancePercent),
            completed.result == .failed || completed.attendancePercent >= Self.passingAttendance
        else {
            throw Failure.permanent(
                .invalidTrainingResult,
                "a training result needs an attendance of 0–100 %, and LULUS at least \(Int(Self.passingAttendance)) %")
        }
        // One result per participant: the same again changes nothing, another is refused.
        if let earlier = try transaction.query(
            "SELECT class_id, result FROM cert_training_results WHERE participant_id = ?", [.text(completed.participantID)]
        ).first {
            guard earlier["class_id"]?.text == completed.classID, earlier["result"]?.text == completed.result.rawValue else {
                throw Failure.permanent(
                    .trainingResultConflict,
                    "the training result of \(completed.participantID) was already recorded otherwise; it is not changed by another"
                )
            }
            return []
        }
        // Only for the seat the participant holds, and not after they left it.
        let seat = try transaction.query(
            "SELECT class_id FROM cert_seats WHERE participant_id = ?", [.text(completed.participantID)]
        ).first?["class_id"]?.text
        guard let seat else {
            throw Failure.transient(.enrolmentUnknown, "no class known for participant \(completed.participantID)")
        }
        let left = try !transaction.query(
            "SELECT 1 FROM cert_withdrawals WHERE participant_id = ?", [.text(completed.participantID)]
        ).isEmpty
        guard seat == completed.classID, !left else {
            throw Failure.permanent(
                .invalidTrainingResult,
                "\(completed.participantID) holds no seat in class \(completed.classID) (withdrawn, or another class)")
        }
        // A LULUS before the class has ended is the BLKI's mistake, or someone else's: the
        // certificate would be signed, dated the class's last day, before that day came. By the
        // worker's clock, in WITA, with a day's grace.
        if completed.result == .passed,
            let end = try transaction.query(
                "SELECT end_date FROM cert_enrolments WHERE participant_id = ?", [.text(completed.participantID)]
            ).first?["end_date"]?.text, end > CertificateKeyRing.witaDay(now().addingTimeInterval(86_400))
        {
            throw Failure.permanent(
                .invalidTrainingResult, "a LULUS for a class that ends on \(end), after tomorrow: send it once the class ends")
        }
        try transaction.execute(
            "INSERT INTO cert_training_results (participant_id, class_id, result) VALUES (?, ?, ?)",
            [.text(completed.participantID), .text(completed.classID), .text(completed.result.rawValue)])
        guard completed.result == .passed else { return [] }
        guard
            let enrolment = try transaction.query(
                "SELECT centre, programme, end_date FROM cert_enrolments WHERE participant_id = ?",
                [.text(completed.participantID)]
            ).first, let centre = enrolment["centre"]?.text.flatMap(TrainingCentre.init(rawValue:)),
            let programmeCode = enrolment["programme"]?.text, let endDate = enrolment["end_date"]?.text
        else {
            throw Failure.transient(.enrolmentUnknown, "no class known for participant \(completed.participantID)")
        }
        let programme = catalogue.programme(programmeCode, at: centre)
        let scheme = programme?.scheme.code ?? programmeCode
        guard try !exists(completed.participantID, scheme: scheme, kind: .training, in: transaction) else { return [] }
        let code = catalogue.centre(centre)?.code ?? "BLKI"
        return [
            try create(
                kind: .training, issuer: centre == .balikpapan ? "BLKI Balikpapan" : "BLKI Bontang", issuerCode: "\(code)-PBK",
                idPrefix: "\(code)", signatory: catalogue.centre(centre)?.signatory,
                number: { serial, year in String(format: "%05d/PBK/%@/%d", serial, code, year) },
                registrationNumber: nil, participantID: completed.participantID, scheme: scheme, programme: programme,
                issuedOn: endDate, validUntil: nil, qualification: nil, event: event, in: transaction
            ).event
        ]
    }

    /// A sortable UTC time with milliseconds (`2025-03-03T01:20:00.000Z`), written by hand
    /// (``UTCTimestamp``); a date before 1970 or after 9999 (only a hostile publisher's) goes
    /// to `ISO8601DateFormatter`, which gave every one of these texts before.
    static func timestamp(_ date: Date) -> String {
        if let text = UTCTimestamp.iso8601(date, milliseconds: true) { return text }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// How far ahead of the worker's clock a name may be dated (``handle(_:event:in:)``).
    static let allowedClockSkew: TimeInterval = 300

    /// The attendance a LULUS training needs (DOMAIN.md §8: at least 80 %).
    static let passingAttendance = 80.0

    func exists(_ participant: String, scheme: String, kind: CertificateIssuedV2.Kind, in transaction: any StoreTransaction)
        throws -> Bool
    {
        try !transaction.query(
            "SELECT 1 FROM cert_certificates WHERE participant_id = ? AND scheme = ? AND kind = ?",
            [.text(participant), .text(scheme), .text(kind.rawValue)]
        ).isEmpty
    }

    func create(
        kind: CertificateIssuedV2.Kind, issuer: String, issuerCode: String, idPrefix: String,
        signatory: ProgrammeCatalogue.Signatory?,
        number: (Int, Int) -> String, registrationNumber: String?, participantID: String, scheme: String,
        key: ((String) -> String)? = nil, programme: ProgrammeCatalogue.Programme?, issuedOn: String, validUntil: String?,
        qualification: String?,
        event: DecodedEvent, in transaction: any StoreTransaction
    ) throws -> (certificateID: String, event: OutgoingEvent) {
        guard let holderName = try holderName(of: participantID, in: transaction) else {
            // Intake names every participant it accepts; the name is on its way.
            throw Failure.transient(.holderUnknown, "no name known for participant \(participantID)")
        }
        let year = Int(issuedOn.prefix(4)) ?? catalogue.year
        let (certificateID, serial) = try nextIdentity(
            idPrefix: idPrefix, issuerCode: issuerCode, year: year, kind: kind, in: transaction)
        let document = try signer.sign(
            CertificateDocument.Payload(
                certificateID: certificateID, kind: kind.rawValue, issuer: issuer, certificateNumber: number(serial, year),
                registrationNumber: registrationNumber, participantID: participantID,
                programme: programme?.code ?? scheme, scheme: kind == .training ? nil : scheme,
                issuedOn: issuedOn, validUntil: validUntil, holderName: holderName,
                signatory: signatory.map { .init(name: $0.name, title: $0.title, place: $0.place) },
                qualification: qualification), at: now())
        let announced = try store(
            document, kind: kind, key: key?(certificateID) ?? scheme, issuerCode: issuerCode, year: year, serial: serial,
            programmeName: programme?.name ?? scheme, event: event, in: transaction)
        return (certificateID, announced)
    }

    /// The next certificate id and serial of an issuer and year. Gap-free: the serial is taken
    /// in the transaction that stores the certificate (a rollback takes it back with it).
    func nextIdentity(
        idPrefix: String, issuerCode: String, year: Int, kind: CertificateIssuedV2.Kind,
        in transaction: any StoreTransaction
    ) throws -> (certificateID: String, serial: Int) {
        let serial =
            Int(
                try transaction.query(
                    "SELECT COALESCE(MAX(serial), 0) AS n FROM cert_certificates WHERE issuer_code = ? AND year = ?",
                    [.text(issuerCode), .integer(Int64(year))]
                ).first?["n"]?.integer ?? 0) + 1
        let suffix =
            switch kind {
            case .training: "PBK"
            case .competency: "KOM"
            case .constructionCompetency: "SKK"
            case .safetyLicence: "K3"
            }
        return (String(format: "%@-%d-%@-%05d", idPrefix, year, suffix, serial), serial)
    }

    /// Stores a signed certificate (its row keyed by `key`, its files queued when the worker
    /// writes them) and gives the `certificate.issued` that announces it.
    func store(
        _ document: CertificateDocument, kind: CertificateIssuedV2.Kind, key: String, issuerCode: String, year: Int,
        serial: Int, programmeName: String, event: DecodedEvent, in transaction: any StoreTransaction
    ) throws -> OutgoingEvent {
        let payload = document.payload
        try transaction.execute(
            """
            INSERT INTO cert_certificates (certificate_id, participant_id, scheme, kind, issuer_code, year, serial, document)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .text(payload.certificateID), .text(payload.participantID), .text(key), .text(kind.rawValue),
                .text(issuerCode), .integer(Int64(year)), .integer(Int64(serial)), .blob(try document.json()),
            ])
        if writesFiles {
            try transaction.execute(
                "INSERT INTO cert_files (certificate_id, programme_name) VALUES (?, ?)",
                [.text(payload.certificateID), .text(programmeName)])
        }
        let issued = CertificateIssuedV2(
            certificateID: payload.certificateID, participantID: payload.participantID, kind: kind, issuer: payload.issuer,
            certificateNumber: payload.certificateNumber, registrationNumber: payload.registrationNumber,
            scheme: payload.scheme, qualification: payload.qualification, issuedOn: payload.issuedOn,
            validUntil: payload.validUntil, verificationCode: document.verificationCode)
        let id = "issued-\(payload.certificateID)"
        // Version 1 for the kinds it can say, so that a consumer not yet upgraded keeps reading
        // them; only a licence record needs version 2.
        switch kind {
        case .training, .competency:
            return try outgoing(
                CertificateIssuedV1(
                    certificateID: issued.certificateID, participantID: issued.participantID,
                    kind: kind == .training ? .training : .competency, issuer: issued.issuer,
                    certificateNumber: issued.certificateNumber, registrationNumber: issued.registrationNumber,
                    scheme: issued.scheme, issuedOn: issued.issuedOn, validUntil: issued.validUntil,
                    verificationCode: issued.verificationCode),
                id: id, event: event, subject: issued.participantID)
        case .constructionCompetency, .safetyLicence:
            return try outgoing(issued, id: id, event: event, subject: issued.participantID)
        }
    }

    /// The name the participant's certificates carry (``handle(_:event:in:)``'s `participant.named`).
    func holderName(of participantID: String, in transaction: any StoreTransaction) throws -> String? {
        try transaction.query("SELECT full_name FROM cert_holders WHERE participant_id = ?", [.text(participantID)])
            .first?["full_name"]?.text
    }

    /// `date` (YYYY-MM-DD) that many years on; 29 February becomes 28 February.
    public static func adding(years: Int, to date: String) -> String? {
        guard let year = Int(date.prefix(4)) else { return nil }
        var result = String(format: "%04d", year + years) + date.dropFirst(4)
        if result.hasSuffix("-02-29"), ProgrammeCatalogue.day(result) == nil { result = String(result.dropLast(2)) + "28" }
        return result
    }

    func outgoing<M: ContractMessage>(_ message: M, id: String, event: DecodedEvent, subject: String) throws -> OutgoingEvent {
        try OutgoingEvent(
            EventEnvelope(
                id: id, source: source, subject: subject, correlationID: event.header.correlationID, causationID: event.header.id,
                data: message),
            exchange: exchange)
    }
}
