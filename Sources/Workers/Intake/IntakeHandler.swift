public import ContractKit
import Contracts
public import DataProtection
import Foundation
public import IntakeRules
public import Jobs
public import Programme
import ReviewDesk
public import Topology

/// The intake validation worker: decides on each submitted registration.
///
/// Checks, in this order of outcome: the NIK rules N1–N8 (``NIKCheck``), name, phone, e-mail,
/// consent (and a parent's or guardian's for an applicant under 18) and the programme offered at
/// the chosen BLKI; one active registration per NIK per
/// programme year (N10, on the NIK's blind index); the civil-registry record (NIK known, name
/// and birth date agree, domicile in Kaltim on the record, not on the NIK prefix: N9). Any
/// rejection → `registration.rejected` with every reason; else any doubt →
/// `registration.review-needed` (a person decides; N8, N11); else `registration.accepted` with
/// the priority tier: 1 never trained, 2 failed an earlier training or assessment, 3 trained or
/// certified before (accepted, but seated only after tiers 1 and 2). A review is a case in
/// intake's store until an officer decides it (`registration.reviewed`, ``carryOut(_:event:in:)``):
/// approved, it is accepted as it would have been; rejected, the NIK is free for a later
/// registration; documents requested, it stays open. Training history comes
/// from the imported records of earlier programmes, the `assessment.graded` outcomes this
/// worker consumes, and what the applicant declared. A withdrawal of consent
/// (``withdrawConsent(_:event:in:)``) stops the registration.
public struct IntakeHandler: TypedMessageHandler {
    public let catalogue: ProgrammeCatalogue
    public let registry: any CivilRegistry
    public let regions: RegionCodes
    public let nikKey: NIKKey
    public let exchange: String
    /// How long after its decision a registration keeps its masked NIK and NIK blind index, and
    /// its consent the parent's or guardian's name, and a case file left undecided its data
    /// (``retention``); `nil`: for ever. The default, two years, is the programme year and a
    /// year's audit window.
    public let registrationRetention: Duration?
    public let source = "/kaltim/workers/intake"

    /// Two years: the programme year and a year's audit window.
    public static let defaultRegistrationRetention = Duration.seconds(730 * 86_400)

    public init(
        catalogue: ProgrammeCatalogue, registry: any CivilRegistry = RegistryExtract(), regions: RegionCodes = .kemendagri2025,
        nikKey: NIKKey, exchange: String = ContractDocuments.exchange,
        registrationRetention: Duration? = IntakeHandler.defaultRegistrationRetention
    ) {
        self.catalogue = catalogue
        self.registry = registry
        self.regions = regions
        self.nikKey = nikKey
        self.exchange = exchange
        self.registrationRetention = registrationRetention
    }

    /// What the runtime clears once ``registrationRetention`` has passed, for registrations of
    /// earlier programme years only (the current year's duplicate rule and its grades need the
    /// index): a registration's masked NIK and blind index (the ids, outcome and dates stay, for
    /// the counts and the certificate record; the training history keeps its own index, for the
    /// priority of a later programme), and a consent's parent's or guardian's name. A grade
    /// that arrives after that is not added to the history. A case file stays until an officer
    /// decides the review.
    public var retention: [TableRetention] {
        guard let keep = registrationRetention else { return [] }
        let year = Int64(catalogue.year)
        return [
            TableRetention(
                table: "intake_registrations", key: "registration_id",
                condition: "decided_at < ? AND year < \(year) AND (nik_index IS NOT NULL OR masked_nik <> '****')",
                assignments: "masked_nik = '****', nik_index = NULL", keep: keep, timeFormat: .isoText),
            TableRetention(
                table: "intake_consents", key: "registration_id",
                condition:
                    "guardian_name IS NOT NULL AND registration_id IN (SELECT registration_id FROM intake_registrations WHERE decided_at < ? AND year < \(year))",
                assignments: "guardian_name = NULL", keep: keep, timeFormat: .isoText),
            TableRetention(
                table: "intake_profiles", key: "registration_id", condition: "decided_at < ? AND year < \(year)",
                assignments: nil, keep: keep, timeFormat: .isoText),
        ]
    }

    public var migrations: [String] {
        registry.migrations + Self.ownTables + Self.reviewTables + Self.consentTables
    }

    static let ownTables = [
        """
        CREATE TABLE IF NOT EXISTS intake_registrations (
            registration_id TEXT PRIMARY KEY, nik_index TEXT, masked_nik TEXT NOT NULL, year INTEGER NOT NULL,
            participant_id TEXT, programme TEXT NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'rejected', 'review')),
            reasons TEXT NOT NULL, decided_at TEXT NOT NULL)
        """,
        "CREATE INDEX IF NOT EXISTS intake_registrations_person ON intake_registrations (nik_index, year)",
        // An assessment result finds its participant's registration by this (without it, each
        // result read every registration: 17.7 % of intake's CPU in the 10,000 main job).
        "CREATE INDEX IF NOT EXISTS intake_registrations_participant ON intake_registrations (participant_id)",
        // What the console's reports count by (kabupaten/kota, sex, age band, education), per
        // registration: coarse, read by the console through its read-only `--intake-store`,
        // never sent on the broker (the console's history stream cannot forget an entry).
        """
        CREATE TABLE IF NOT EXISTS intake_profiles (
            registration_id TEXT PRIMARY KEY, regency TEXT, sex TEXT, age_band TEXT, education TEXT,
            year INTEGER NOT NULL, decided_at TEXT NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS intake_history (
            nik_index TEXT NOT NULL, programme TEXT NOT NULL, year INTEGER NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('passed', 'failed')), source TEXT NOT NULL,
            reference TEXT NOT NULL, UNIQUE (nik_index, reference))
        """,
    ]

    public func handle(_ input: IntakeInput, event: DecodedEvent, in transaction: any StoreTransaction) throws
        -> [OutgoingEvent]
    {
        switch input {
        case .registration(let registration):
            return try decide(registration, event: event, in: transaction)
        case .reviewed(let review):
            return try carryOut(review, event: event, in: transaction)
        case .graded(let graded):
            try record(graded, in: transaction)
            return []
        case .consentWithdrawn(let withdrawal):
            return try withdrawConsent(withdrawal, event: event, in: transaction)
        case .corrected(let correction):
            return try correctName(correction, event: event, in: transaction)
        }
    }

    // MARK: Registrations

    func decide(_ registration: RegistrationSubmittedV3, event: DecodedEvent, in transaction: any StoreTransaction) throws
        -> [OutgoingEvent]
    {
        let known = try transaction.query(
            "SELECT outcome FROM intake_registrations WHERE registration_id = ?", [.text(registration.registrationID)])
        // The same message sent again never gets here (the inbox knows its id). The same
        // registration number under another message id is a publisher's error, or an attempt
        // to take over a decided registration: never decided twice, never dropped in silence.
        if let earlier = known.first?["outcome"]?.text {
            throw Failure.permanent(
                .registrationNumberReused,
                "registration number \(registration.registrationID) was already decided (\(earlier)) under another message "
                    + "id; resend a registration with its original message id, or give a new registration a new number")
        }

        // Consent withdrawn before this registration arrived (late, or waiting for a retry):
        // nothing of it is processed, not even the NIK.
        if let withdrawn = try remembered(withdrawalOf: registration, event: event, in: transaction) {
            return withdrawn
        }

        let nik = NIKCheck.check(
            registration.nik, declaredBirthDate: registration.birthDate, declaredSex: registration.sex,
            ageWindow: catalogue.ageWindow.minimum...catalogue.ageWindow.maximum, referenceDate: catalogue.referenceDate,
            regions: regions)
        var findings = nik.findings
        findings += contactFindings(registration)
        findings += consentFindings(registration, birthDateInNIK: nik.derivedBirthDate)
        if catalogue.programme(registration.programme, at: registration.preferredCentre) == nil {
            findings.append(
                .init(.reject, "PROGRAMME_NOT_OFFERED", "Program pelatihan yang dipilih tidak tersedia di BLKI tersebut."))
        }
        var nikIndex: String?
        if let normalised = nik.normalised {
            let index = nikKey.blindIndex(normalised)
            nikIndex = index
            let active = try transaction.query(
                """
                SELECT registration_id FROM intake_registrations
                WHERE nik_index = ? AND year = ? AND outcome IN ('accepted', 'review')
                """, [.text(index), .integer(Int64(catalogue.year))])
            if !active.isEmpty {
                findings.append(
                    .init(
                        .reject, "DUPLICATE_REGISTRATION",
                        "NIK ini sudah terdaftar pada program tahun \(catalogue.year); satu orang hanya dapat mendaftar satu kali."
                    ))
            }
            findings += try registryFindings(registration, nikIndex: index, in: transaction)
        }

        let rejections = findings.filter { $0.severity == .reject }
        let reviews = findings.filter { $0.severity == .review }
        let participantID = nikIndex.map { "PST-\(catalogue.year)-\($0.prefix(12).uppercased())" }
        let outcome: String
        let message: any ContractMessage
        if !rejections.isEmpty {
            outcome = "rejected"
            message = RegistrationRejectedV1(registrationID: registration.registrationID, reasons: rejections.map(\.reason))
        } else if !reviews.isEmpty || participantID == nil {
            outcome = "review"
            message = RegistrationReviewNeededV1(registrationID: registration.registrationID, reasons: reviews.map(\.reason))
            try openReview(
                registration, event: event, reasons: reviews.map(\.reason), nikIndex: nikIndex,
                maskedNIK: PersonalData.maskNIKForCitizen(nik.normalised ?? ""), participantID: participantID,
                in: transaction)
        } else {
            outcome = "accepted"
            let (tier, reasons) = try priority(registration, nikIndex: nikIndex ?? "", in: transaction)
            message = RegistrationAcceptedV2(
                registrationID: registration.registrationID, participantID: participantID ?? "",
                centre: registration.preferredCentre, programme: registration.programme, priorityTier: tier,
                priorityReasons: reasons, apprenticeshipInterest: registration.apprenticeshipInterest,
                submittedAt: event.header.time)
        }
        try transaction.execute(
            """
            INSERT INTO intake_registrations (registration_id, nik_index, masked_nik, year, participant_id, programme, outcome,
                reasons, decided_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .text(registration.registrationID), nikIndex.map(SQLValue.text) ?? .null,
                .text(PersonalData.maskNIK(nik.normalised ?? "")), .integer(Int64(catalogue.year)),
                outcome == "accepted" ? participantID.map(SQLValue.text) ?? .null : .null, .text(registration.programme),
                .text(outcome), .text(findings.map(\.code).joined(separator: ",")),
                .text(Date().formatted(.iso8601)),
            ])
        // Without a consent (the applicant's, or a parent's for a minor) nothing of the
        // applicant is kept for the reports either.
        if !findings.contains(where: { ["CONSENT_MISSING", "GUARDIAN_CONSENT_MISSING"].contains($0.code) }) {
            try recordProfile(registration, in: transaction)
        }
        if outcome != "rejected" {
            try recordConsent(registration, birthDateInNIK: nik.derivedBirthDate, in: transaction)
        }
        var events = [
            try outgoing(message, causedBy: event, subject: registration.registrationID),
            try received(registration, event: event),
        ]
        if outcome == "accepted", let participantID {
            events.append(
                try named(participantID, registration.registrationID, fullName: registration.fullName, causedBy: event))
        }
        return events
    }

    /// The coarse profile the console's reports count by: the domicile's kabupaten/kota (its
    /// 4-digit code, when the region table knows it), the declared sex, the age band on the
    /// programme's reference date and the education level.
    func recordProfile(_ registration: RegistrationSubmittedV3, in transaction: any StoreTransaction) throws {
        let digits = registration.domicile.regionCode.filter { $0 != "." }
        let regency = digits.count >= 4 ? String(digits.prefix(4)) : nil
        let known = regency.flatMap { regions.name(of: $0) } != nil ? regency : nil
        let age = NIKCheck.age(of: registration.birthDate, on: catalogue.referenceDate)
        try transaction.execute(
            """
            INSERT INTO intake_profiles (registration_id, regency, sex, age_band, education, year, decided_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .text(registration.registrationID), known.map(SQLValue.text) ?? .null, .text(registration.sex.rawValue),
                age.map { SQLValue.text(AgeBand.of(age: $0).rawValue) } ?? .null, .text(registration.education.rawValue),
                .integer(Int64(catalogue.year)), .text(Date().formatted(.iso8601)),
            ])
    }

    /// `registration.received`, which goes with each first decision: what the counts need,
    /// without the personal data of the submission (the console and its history stream read
    /// this, never `registration.submitted`). A programme the plan does not offer there is not
    /// repeated (it is the portal's text).
    func received(_ registration: RegistrationSubmittedV3, event: DecodedEvent) throws -> OutgoingEvent {
        let received = RegistrationReceivedV1(
            registrationID: registration.registrationID, centre: registration.preferredCentre,
            programme: catalogue.programme(registration.programme, at: registration.preferredCentre) == nil
                ? Self.unknownProgramme : registration.programme,
            submittedAt: event.header.time)
        // Not `intake-…`: a submission whose own id began with `received-` would collide.
        return try outgoing(
            received, causedBy: event, subject: registration.registrationID, id: "received-by-intake-\(event.header.id)")
    }

    /// `participant.named`: the certificates role's copy of the name an accepted participant's
    /// certificates carry (nobody else binds it). Dated at the event that gave the name (the
    /// submission, the officer's decision, the office's correction), not when intake handled
    /// it: the certificates role keeps the newest name, and a correction retried or replayed
    /// after a later one must not win over it.
    func named(_ participantID: String, _ registrationID: String, fullName: String, causedBy event: DecodedEvent) throws
        -> OutgoingEvent
    {
        try OutgoingEvent(
            EventEnvelope(
                id: "named-by-intake-\(event.header.id)", source: source, time: event.header.time, subject: participantID,
                correlationID: event.header.correlationID, causationID: event.header.id,
                data: ParticipantNamedV1(
                    participantID: participantID, registrationID: registrationID,
                    fullName: fullName.trimmingCharacters(in: .whitespacesAndNewlines))),
            exchange: exchange)
    }

    /// A correction of the office: a corrected name of an accepted registration goes on to the
    /// certificates role (`participant.named`); one of a registration in review replaces the
    /// declared name in the case file, so that an approval names the participant rightly. The
    /// contact details are the notification worker's; intake keeps none.
    func correctName(_ correction: RegistrationCorrectedV1, event: DecodedEvent, in transaction: any StoreTransaction) throws
        -> [OutgoingEvent]
    {
        guard let name = correction.fullName else { return [] }
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard PersonName.isAcceptable(trimmed) else {
            throw Failure.permanent(
                .invalidCorrection, "the corrected name is empty, has control characters or is over 200 characters")
        }
        let registration = try transaction.query(
            "SELECT outcome, participant_id FROM intake_registrations WHERE registration_id = ?",
            [.text(correction.registrationID)]
        ).first
        switch registration?["outcome"]?.text {
        case "accepted":
            guard let participantID = registration?["participant_id"]?.text else { return [] }
            return [try named(participantID, correction.registrationID, fullName: trimmed, causedBy: event)]
        case "review":
            guard
                let text = try transaction.query(
                    "SELECT case_file FROM intake_reviews WHERE registration_id = ? AND case_file IS NOT NULL",
                    [.text(correction.registrationID)]
                ).first?["case_file"]?.text
            else { return [] }
            var caseFile = try JSONDecoder().decode(ReviewCaseFile.self, from: Data(text.utf8))
            caseFile.declared.fullName = trimmed
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            try transaction.execute(
                "UPDATE intake_reviews SET case_file = ? WHERE registration_id = ?",
                [.text(String(decoding: try encoder.encode(caseFile), as: UTF8.self)), .text(correction.registrationID)])
            return []
        case nil:
            // Not decided here yet: the submission may be on its way (the notification worker
            // waits the same way), then the dead letters.
            throw Failure.transient(.registrationUnknown, "no registration \(correction.registrationID) known to intake yet")
        default:
            // Rejected: no participant to name.
            return []
        }
    }

    /// The programme `registration.received` names when the plan does not offer the chosen one.
    public static let unknownProgramme = "TIDAK_DITAWARKAN"

    func contactFindings(_ registration: RegistrationSubmittedV3) -> [IntakeFinding] {
        var findings: [IntakeFinding] = []
        if PersonName.normalise(registration.fullName).isEmpty {
            findings.append(.init(.reject, "NAME_MISSING", "Nama lengkap wajib diisi."))
        } else if !PersonName.isAcceptable(registration.fullName.trimmingCharacters(in: .whitespacesAndNewlines)) {
            // What a certificate cannot print: over 200 characters, or control and direction
            // characters.
            findings.append(
                .init(
                    .reject, "NAME_INVALID",
                    "Nama lengkap tidak valid: paling banyak 200 karakter, tanpa karakter kendali; tulis seperti pada KTP."))
        }
        if PhoneNumber.normalise(registration.phone) == nil {
            findings.append(
                .init(.reject, "PHONE_INVALID", "Nomor HP tidak valid; gunakan nomor seluler Indonesia (08… atau +628…)."))
        }
        if let whatsApp = registration.whatsApp, PhoneNumber.normalise(whatsApp) == nil {
            findings.append(.init(.warning, "WHATSAPP_INVALID", "Nomor WhatsApp tidak valid dan tidak akan dipakai."))
        }
        if let email = registration.email, !email.isEmpty, !EmailAddress.isValid(email) {
            findings.append(.init(.reject, "EMAIL_INVALID", "Alamat e-mail tidak valid."))
        }
        return findings
    }

    func registryFindings(_ registration: RegistrationSubmittedV3, nikIndex: String, in transaction: any StoreTransaction)
        throws -> [IntakeFinding]
    {
        guard let record = try registry.record(nikIndex: nikIndex, in: transaction) else {
            return [
                .init(
                    .review, "REGISTRY_NOT_FOUND",
                    "Data kependudukan tidak ditemukan; dokumen perlu diperiksa oleh petugas.")
            ]
        }
        var findings: [IntakeFinding] = []
        if !record.livesInKaltim {
            findings.append(
                .init(.reject, "NOT_KALTIM_RESIDENT", "Menurut data kependudukan, domisili pendaftar bukan di Kalimantan Timur."))
        }
        if !PersonName.matches(record.fullName, registration.fullName) {
            findings.append(
                .init(.review, "REGISTRY_NAME_MISMATCH", "Nama tidak sesuai dengan data kependudukan; perlu diperiksa petugas."))
        }
        if record.birthDate != registration.birthDate {
            findings.append(
                .init(
                    .review, "REGISTRY_BIRTH_DATE_MISMATCH",
                    "Tanggal lahir tidak sesuai dengan data kependudukan; perlu diperiksa petugas."))
        }
        return findings
    }

    /// The priority tier and its reasons, from the worker's history records and the
    /// applicant's declaration.
    func priority(_ registration: RegistrationSubmittedV3, nikIndex: String, in transaction: any StoreTransaction) throws
        -> (RegistrationAcceptedV1.PriorityTier, [String])
    {
        let history = try transaction.query(
            "SELECT outcome, source FROM intake_history WHERE nik_index = ? AND year < ?",
            [.text(nikIndex), .integer(Int64(catalogue.year))])
        var reasons: [String] = []
        let recordedPass = history.contains { $0["outcome"]?.text == "passed" }
        let recordedFail = history.contains { $0["outcome"]?.text == "failed" }
        let declaredPass = registration.declaredTrainings.contains { $0.outcome == .passed }
        let declaredFail = registration.declaredTrainings.contains { $0.outcome != .passed }
        if recordedPass { reasons.append("TRAINED_BEFORE_RECORDED") }
        if declaredPass { reasons.append("TRAINED_BEFORE_DECLARED") }
        if recordedPass || declaredPass { return (.previouslyTrained, reasons) }
        if recordedFail { reasons.append("FAILED_BEFORE_RECORDED") }
        if declaredFail { reasons.append("FAILED_BEFORE_DECLARED") }
        if recordedFail || declaredFail { return (.previouslyFailed, reasons) }
        return (.neverTrained, ["NO_TRAINING_RECORD"])
    }

    // MARK: Grading outcomes

    /// The registration an assessment result is kept for (argument: the participant id), by
    /// the index `intake_registrations_participant`.
    static let registrationOfParticipantQuery =
        "SELECT nik_index, programme, year FROM intake_registrations WHERE participant_id = ? AND nik_index IS NOT NULL"

    /// Keeps an assessment outcome as training history of the person (for the priority of a
    /// later registration).
    func record(_ graded: AssessmentGradedV3, in transaction: any StoreTransaction) throws {
        guard
            let row = try transaction.query(Self.registrationOfParticipantQuery, [.text(graded.participantID)]).first,
            let nikIndex = row["nik_index"]?.text
        else { return }  // a participant this worker did not accept (another year's store): nothing to keep
        try transaction.execute(
            """
            INSERT INTO intake_history (nik_index, programme, year, outcome, source, reference)
            VALUES (?, ?, ?, ?, 'assessment', ?) ON CONFLICT DO NOTHING
            """,
            [
                .text(nikIndex), row["programme"] ?? .text(graded.scheme), row["year"] ?? .integer(Int64(catalogue.year)),
                .text(graded.outcome == .competent ? "passed" : "failed"), .text("assessment:" + graded.assessmentID),
            ])
    }

    /// An event caused by `event`; its id is derived from the cause's (`intake-<id>` unless
    /// given), so a replayed decision is recognisable downstream.
    func outgoing(_ message: any ContractMessage, causedBy event: DecodedEvent, subject: String, id: String? = nil) throws
        -> OutgoingEvent
    {
        func make<M: ContractMessage>(_ message: M) throws -> OutgoingEvent {
            try OutgoingEvent(
                EventEnvelope(
                    id: id ?? "intake-\(event.header.id)", source: source, subject: subject,
                    correlationID: event.header.correlationID, causationID: event.header.id, data: message),
                exchange: exchange)
        }
        return try make(message)
    }
}

extension IntakeFinding {
    init(_ severity: Severity, _ code: String, _ message: String) {
        self.init(severity: severity, code: code, message: message)
    }

    var reason: RegistrationReason { RegistrationReason(code: code, message: message) }
}
