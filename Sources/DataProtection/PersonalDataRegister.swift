import ContractKit
import Contracts
import Topology

/// Which of a person's identifiers a column holds: how a subject's rows are found (export, and
/// the scans of the tests) without reading a NIK in clear.
public enum SubjectKey: String, Sendable, CaseIterable, Codable {
    /// The NIK's blind index (HMAC-SHA-256 under intake's key).
    case nikIndex = "nik-index"
    /// A registration number (`REG-…`), one per submission.
    case registrationID = "registration-id"
    /// A participant id (`PST-2025-…`), given at acceptance.
    case participantID = "participant-id"
    /// A certificate id.
    case certificateID = "certificate-id"
    /// An LSP's assessment id.
    case assessmentID = "assessment-id"
    /// A registration number or a participant id (a staff action's subject).
    case personID = "registration-or-participant-id"
    /// A JSON text that mentions any of the person's identifiers (an outbox row's event).
    case mentionsAnyID = "mentions-any-id"
}

/// Where personal data lives: a table in a store, a broker stream or queue, or a file.
public enum DataLocationKind: String, Sendable, Codable {
    case table, stream, queue, file
}

/// What `kaltim-admin subject erase` does to a person's rows of a table.
public enum Erasure: Sendable {
    /// Nothing of the person beyond pseudonymous ids, codes and dates, or a record the law keeps
    /// (the certificate): the rows stay.
    case keep
    /// The rows are the person's data and nothing else: deleted.
    case deleteRows
    /// These columns are set to these SQL values (`NULL`, `'****'`, `'{}'`); the rest of the row
    /// (ids, codes, dates) stays, so that counts, seats and certificates stay consistent.
    case clear([(column: String, value: String)])
    /// Published outbox rows whose event names the person are deleted; unpublished ones stay
    /// (they are still owed to the broker) and are reported.
    case publishedEvents
    /// Rows no id of the person finds (a digest of an address), which the role itself deletes
    /// within a day: an erasure leaves them to that.
    case expiresWithinADay

    /// How the register's document says it.
    public var summary: String {
        switch self {
        case .keep: "kept"
        case .deleteRows: "rows deleted"
        case .clear(let columns): columns.map { "`\($0.column)` → \($0.value)" }.joined(separator: ", ")
        case .publishedEvents: "published rows naming the person deleted"
        case .expiresWithinADay: "left to expire (deleted after 24 hours; no id of the person finds them)"
        }
    }
}

/// One line of the register of personal data: a place, what of a person it holds, why, for how
/// long, and who may read it.
public struct RegisterEntry: Sendable {
    public var kind: DataLocationKind
    /// The role whose store holds the table, or `broker` / `host` for the other places.
    public var holder: String
    /// A table, stream, queue or file name (a queue name without the deployment's prefix).
    public var name: String
    /// Fields that are personal data on their own: they name, reach or describe a person
    /// (NIK, name, birth data, contacts, address, a free text, a staff member's user name).
    public var personal: [String]
    /// Fields that link a row to a person (pseudonymous identifiers), with which identifier.
    public var keys: [(field: String, key: SubjectKey)]
    /// Every other field of a table (facts about the person or the process, personal only
    /// through the keys). Together with ``personal`` and ``keys`` these are all its columns.
    public var other: [String]
    public var purpose: String
    public var retention: String
    public var readers: String
    /// What an erasure does to the person's rows (tables only).
    public var erasure: Erasure
    /// A row whose `column` is not `value` is not trusted to belong to the person it was found
    /// through by the NIK's blind index (someone else may have registered with that NIK): the
    /// export and the erasure learn no identifier from it through that index.
    public var trustedWhen: (column: String, value: String)?

    public init(
        _ kind: DataLocationKind, holder: String, name: String, personal: [String] = [],
        keys: [(field: String, key: SubjectKey)] = [], other: [String] = [], purpose: String, retention: String,
        readers: String, erasure: Erasure = .keep, trustedWhen: (column: String, value: String)? = nil
    ) {
        self.kind = kind
        self.holder = holder
        self.name = name
        self.personal = personal
        self.keys = keys
        self.other = other
        self.purpose = purpose
        self.retention = retention
        self.readers = readers
        self.erasure = erasure
        self.trustedWhen = trustedWhen
    }

    /// Every field the entry names.
    public var fields: [String] { personal + keys.map(\.field) + other }
}

/// The register of personal data (UU 27/2022; DOMAIN.md §6): every table of every role's store,
/// every broker queue and stream, and every file the system writes, with the personal fields
/// it holds. The tables are checked against the stores' migrations by a test (a column the
/// register does not classify fails it); the queues are derived from the contracts' personal
/// fields and the roles' bindings; docs/OPERATIONS.md carries ``markdown()``, also checked.
public enum PersonalDataRegister {
    /// The roles whose stores the register covers, in pipeline order.
    public static let storeRoles = ["intake", "scheduling", "grading", "certificates", "notifications", "console"]

    /// Every entry: tables, then broker queues and streams, then files.
    public static var entries: [RegisterEntry] { tables + brokerEntries + files }

    /// The tables of one role's store (the bookkeeping tables every store has included).
    public static func tables(of role: String) -> [RegisterEntry] {
        tables.filter { $0.holder == role || $0.holder == everyStore }
    }

    /// The holder of the tables every role's store has (inbox and outbox).
    public static let everyStore = "every role"

    static let yearAndAudit = "not purged yet: to be deleted after the programme year and its audit window (a client decision)"
    static let participantDays = "not purged yet: kept while the participant is in the programme (see Retention)"

    /// The tables, role by role.
    public static let tables: [RegisterEntry] =
        [
            RegisterEntry(
                .table, holder: everyStore, name: "jobs_inbox", other: ["message_id", "processed_at"],
                purpose: "ids of the messages handled, so that a redelivery is not handled twice (no personal data)",
                retention: "90 days (`--inbox-retention-days`), purged by the worker", readers: "the worker"),
            RegisterEntry(
                .table, holder: everyStore, name: "jobs_handling_attempts",
                other: ["message_key", "attempts", "last_attempt_at"],
                purpose: "how often a redelivered message was tried (a message key, no personal data)",
                retention: "deleted once the message is handled", readers: "the worker"),
            RegisterEntry(
                .table, holder: everyStore, name: "jobs_outbox", personal: ["body"],
                keys: [("body", .mentionsAnyID)],
                other: [
                    "id", "exchange", "routing_key", "message_id", "type", "correlation_id", "app_id", "timestamp",
                    "contract_version", "created_at", "published_at",
                ],
                purpose: "the events the role publishes, kept until the broker confirms them (transactional outbox)",
                retention: "7 days after publication (`--outbox-retention-days`), purged by the worker; unpublished rows stay",
                readers: "the worker", erasure: .publishedEvents),
        ] + intakeTables + schedulingTables + gradingTables + certificateTables + notificationTables + consoleTables

    static let intakeTables = [
        RegisterEntry(
            .table, holder: "intake", name: "intake_registry", personal: ["full_name", "birth_date", "sex", "region_code"],
            keys: [("nik_index", .nikIndex)],
            purpose:
                "the Dukcapil extract the registration is checked against, reduced to what the check needs: name, birth date and the domicile's province (`region_code`, 2 digits); `sex` stays empty",
            retention:
                "until the next extract replaces it (`import-registry --replace` also deletes the records it no longer has) or an erasure (DOMAIN.md §6.4: a cache of the registry)",
            readers: "intake; an officer sees one person's record in a case file after an audited reveal", erasure: .deleteRows),
        RegisterEntry(
            .table, holder: "intake", name: "intake_registrations", personal: ["masked_nik"],
            keys: [("nik_index", .nikIndex), ("registration_id", .registrationID), ("participant_id", .participantID)],
            other: ["year", "programme", "outcome", "reasons", "decided_at"],
            purpose: "the decision on each registration, and one registration per person and year (N10)",
            retention:
                "for an earlier programme year, masked NIK and blind index cleared 730 days (by default) after the decision (`--registration-retention-days`) by the intake worker; the row (ids, outcome, dates) is not purged yet",
            readers: "intake", erasure: .clear([("masked_nik", "'****'"), ("nik_index", "NULL")]),
            trustedWhen: ("outcome", "accepted")),
        RegisterEntry(
            .table, holder: "intake", name: "intake_profiles", personal: ["regency", "sex", "age_band", "education"],
            keys: [("registration_id", .registrationID)], other: ["year", "decided_at"],
            purpose:
                "what the console's reports count by: the domicile's kabupaten/kota (4-digit code), the declared sex, the age band on the programme's reference date, the education level; never sent on the broker",
            retention:
                "for an earlier programme year, deleted 730 days (by default) after the decision (`--registration-retention-days`) by the intake worker",
            readers: "intake; the console's reports, which show counts only (through its read-only `--intake-store`)",
            erasure: .deleteRows),
        RegisterEntry(
            .table, holder: "intake", name: "intake_history", keys: [("nik_index", .nikIndex)],
            other: ["programme", "year", "outcome", "source", "reference"],
            purpose: "earlier trainings and their outcome: the priority tier (never trained, failed before)",
            retention: "until replaced by the next history import or an erasure", readers: "intake", erasure: .deleteRows),
        RegisterEntry(
            .table, holder: "intake", name: "intake_reviews", personal: ["case_file", "officer"],
            keys: [("registration_id", .registrationID), ("participant_id", .participantID)],
            other: [
                "opened_at", "reasons", "centre", "programme", "priority_tier", "priority_reasons",
                "apprenticeship_interest", "submitted_at", "state", "decision_code", "decided_at",
            ],
            purpose: "a registration an officer must check: the case file (declared data beside the registry's)",
            retention:
                "the case file is deleted when the review is approved or rejected; the row (codes, dates) stays",
            readers: "intake; officers through the console or `kaltim-worker review` (the case file after an audited reveal)",
            erasure: .clear([("case_file", "NULL")])),
        RegisterEntry(
            .table, holder: "intake", name: "intake_consents", personal: ["guardian_name", "recorded_by"],
            keys: [("registration_id", .registrationID)],
            other: [
                "given_at", "text_version", "guardian_relation", "guardian_given_at", "guardian_text_version", "withdrawn_at",
                "withdrawn_by", "withdrawal_reference",
            ],
            purpose:
                "the consent a registration was accepted or put in review on: the applicant's, a parent's or guardian's for an applicant under 18 (UU 27/2022 Art. 25); and withdrawals of consent, for any registration",
            retention:
                "for an earlier programme year, the parent's or guardian's name cleared 730 days (by default) after the registration's decision (`--registration-retention-days`) by the intake worker; the rest is not purged yet",
            readers: "intake, auditors", erasure: .clear([("guardian_name", "NULL")])),
        RegisterEntry(
            .table, holder: "intake", name: "intake_review_log", personal: ["officer"],
            keys: [("registration_id", .registrationID)],
            other: ["message_id", "decision", "verified_reasons", "reason_code", "decided_at"],
            purpose: "every officer decision, for accountability", retention: yearAndAudit, readers: "intake, auditors"),
    ]

    static let schedulingTables = [
        RegisterEntry(
            .table, holder: "scheduling", name: "sched_classes",
            other: ["class_id", "centre", "programme", "cohort", "capacity", "start_date", "end_date"],
            purpose: "the classes (no personal data)", retention: "the programme year", readers: "scheduling"),
        RegisterEntry(
            .table, holder: "scheduling", name: "sched_applicants",
            keys: [("participant_id", .participantID), ("registration_id", .registrationID)],
            other: [
                "preferred_centre", "programme", "tier", "arrival", "apprenticeship_interest", "status", "class_id", "seat",
                "waitlist_position", "correlation_id",
            ],
            purpose: "each accepted person's place: seat, waiting list, tier", retention: participantDays,
            readers: "scheduling"),
        RegisterEntry(
            .table, holder: "scheduling", name: "sched_apprenticeships", keys: [("participant_id", .participantID)],
            other: ["placement_id", "company"], purpose: "apprenticeship placements", retention: participantDays,
            readers: "scheduling"),
        RegisterEntry(
            .table, holder: "scheduling", name: "sched_apprenticeships_released", keys: [("participant_id", .participantID)],
            other: ["placement_id", "company"], purpose: "placements given back (their numbers are never reused)",
            retention: participantDays, readers: "scheduling"),
        RegisterEntry(
            .table, holder: "scheduling", name: "sched_reregistrations", personal: ["recorded_by"],
            keys: [("participant_id", .participantID)], other: ["class_id", "attended"],
            purpose: "daftar ulang as the BLKI recorded it", retention: participantDays, readers: "scheduling"),
        RegisterEntry(
            .table, holder: "scheduling", name: "sched_offers", keys: [("participant_id", .participantID)],
            other: ["class_id", "answer_by", "replacing", "status"],
            purpose: "seats offered at the other BLKI and the answers", retention: participantDays, readers: "scheduling"),
        RegisterEntry(
            .table, holder: "scheduling", name: "sched_withdrawals", personal: ["requested_by"],
            keys: [("participant_id", .participantID)], other: ["class_id", "reason", "left_on", "refilled"],
            purpose: "withdrawals and who asked for them (a reason code, no free text)", retention: participantDays,
            readers: "scheduling"),
        RegisterEntry(
            .table, holder: "scheduling", name: "sched_reserves", keys: [("participant_id", .participantID)],
            other: ["class_id", "named", "rank", "status"], purpose: "reserves (peserta cadangan) named for full classes",
            retention: participantDays, readers: "scheduling"),
    ]

    static let gradingTables = [
        RegisterEntry(
            .table, holder: "grading", name: "grading_enrolments", keys: [("participant_id", .participantID)],
            other: ["class_id", "programme", "start_date", "withdrawn"], purpose: "who may be assessed in which scheme",
            retention: participantDays, readers: "grading"),
        RegisterEntry(
            .table, holder: "grading", name: "grading_assessments",
            keys: [("assessment_id", .assessmentID), ("participant_id", .participantID)],
            other: ["scheme", "assessed_on", "submitted_at", "outcome", "status"],
            purpose: "the LSPs' assessments and their verdicts", retention: participantDays, readers: "grading"),
        RegisterEntry(
            .table, holder: "grading", name: "grading_units", keys: [("participant_id", .participantID)],
            other: ["scheme", "unit", "result", "attempts"], purpose: "results per competency unit (uji ulang)",
            retention: participantDays, readers: "grading"),
        RegisterEntry(
            .table, holder: "grading", name: "grading_appeals",
            keys: [("assessment_id", .assessmentID), ("participant_id", .participantID)],
            other: ["scheme", "status", "filed_on", "decided_on"], purpose: "appeals (banding)",
            retention: participantDays, readers: "grading"),
        RegisterEntry(
            .table, holder: "grading", name: "grading_licences", keys: [("assessment_id", .assessmentID)],
            other: ["lsp_licence"], purpose: "the LSP of each graded assessment", retention: participantDays,
            readers: "grading"),
    ]

    static let certificateTables = [
        RegisterEntry(
            .table, holder: "certificates", name: "cert_enrolments", keys: [("participant_id", .participantID)],
            other: ["centre", "programme", "end_date"], purpose: "the class a certificate is for",
            retention: participantDays, readers: "certificates"),
        RegisterEntry(
            .table, holder: "certificates", name: "cert_certificates",
            personal: ["document"], keys: [("certificate_id", .certificateID), ("participant_id", .participantID)],
            other: ["scheme", "kind", "issuer_code", "year", "serial"],
            purpose:
                "the certificate records and their signed documents (the holder's name and participant id; no NIK); a licence record's signed document also holds the number and registration number LPJK or Kemnaker gave the holder, and its `scheme` column the programme's scheme and the record's id (a person may have several records over time), as does a certificate reissued under a corrected name",
            retention: "kept: the certificate and its verification data outlive the programme (DOMAIN.md §6.3 rule 5)",
            readers: "certificates, `kaltim-worker verify-certificate`"),
        RegisterEntry(
            .table, holder: "certificates", name: "cert_revocations", keys: [("certificate_id", .certificateID)],
            other: ["reason"], purpose: "revoked certificates", retention: "kept with the certificate",
            readers: "certificates"),
        RegisterEntry(
            .table, holder: "certificates", name: "cert_grades",
            personal: ["competent", "certificate_number", "registration_number"],
            keys: [("assessment_id", .assessmentID), ("participant_id", .participantID)],
            other: ["scheme", "supersedes", "graded_at", "lsp_licence", "issued_on"],
            purpose:
                "each graded assessment with the one it corrected and what its competency record would carry (the result, the BNSP numbers the LSP gave): the one no other supersedes is the result in force, whatever order corrections arrive in",
            retention: participantDays, readers: "certificates", erasure: .deleteRows),
        RegisterEntry(
            .table, holder: "certificates", name: "cert_correction_revocations",
            keys: [("certificate_id", .certificateID), ("assessment_id", .assessmentID)],
            purpose:
                "the competency records revoked because a correction said BELUM KOMPETEN: only these are issued again when a later correction says KOMPETEN",
            retention: "kept with the certificate", readers: "certificates"),
        RegisterEntry(
            .table, holder: "certificates", name: "cert_office_revocations", keys: [("certificate_id", .certificateID)],
            other: ["reason"], purpose: "the revocations the office made (`revoke-certificate`), which no correction undoes",
            retention: "kept with the certificate", readers: "certificates"),
        RegisterEntry(
            .table, holder: "certificates", name: "cert_licence_numbers",
            keys: [("certificate_id", .certificateID), ("participant_id", .participantID)], other: ["kind", "number_key"],
            purpose:
                "each licence record's number in a comparable form (upper case, no spaces): no number is in force for two people",
            retention: "kept with the certificate", readers: "certificates"),
        RegisterEntry(
            .table, holder: "certificates", name: "cert_licence_recorders", personal: ["recorded_by"],
            keys: [("certificate_id", .certificateID)],
            purpose: "who at the office recorded each licence record (a staff member's name, as the office sent it)",
            retention: "kept with the certificate", readers: "certificates"),
        RegisterEntry(
            .table, holder: "certificates", name: "cert_pending",
            keys: [("assessment_id", .assessmentID), ("participant_id", .participantID)], other: ["scheme", "reason"],
            purpose: "certificates waiting for a condition (training result, enrolment)", retention: participantDays,
            readers: "certificates"),
        RegisterEntry(
            .table, holder: "certificates", name: "cert_seats", keys: [("participant_id", .participantID)],
            other: ["class_id"], purpose: "the class of each seat", retention: participantDays, readers: "certificates"),
        RegisterEntry(
            .table, holder: "certificates", name: "cert_withdrawals", keys: [("participant_id", .participantID)],
            other: ["reason"], purpose: "who left (no certificate of attendance)", retention: participantDays,
            readers: "certificates"),
        RegisterEntry(
            .table, holder: "certificates", name: "cert_training_results", keys: [("participant_id", .participantID)],
            other: ["class_id", "result"], purpose: "the BLKI's training result (the training certificate's condition)",
            retention: participantDays, readers: "certificates"),
        RegisterEntry(
            .table, holder: "certificates", name: "cert_holders", personal: ["full_name"],
            keys: [("participant_id", .participantID)], other: ["as_of"],
            purpose: "the name the participant's certificates carry (`participant.named`, from intake)",
            retention:
                "deleted when the participant leaves without a certificate; kept beside the certificate record, which carries the name too; one never seated keeps it until an erasure (no purge yet)",
            readers:
                "certificates; the console (`--certificates-store`): its name search (officers, admins, a BLKI administrator for their own BLKI; each search audited), the Kemnaker export and a class's printable daftar hadir (a BLKI administrator, their own classes; each audited)",
            erasure: .deleteRows),
        RegisterEntry(
            .table, holder: "certificates", name: "cert_files", keys: [("certificate_id", .certificateID)],
            other: ["programme_name", "attempts"], purpose: "certificate files not written yet",
            retention: "deleted once the file is written", readers: "certificates"),
        RegisterEntry(
            .table, holder: "certificates", name: "cert_file_waits", keys: [("certificate_id", .certificateID)],
            other: ["not_before"], purpose: "when a certificate whose files failed is tried again",
            retention: "deleted once the file is written or given up", readers: "certificates"),
    ]

    static let notificationTables = [
        RegisterEntry(
            .table, holder: "notifications", name: "notif_contacts", personal: ["name", "phone", "whatsapp", "email"],
            keys: [("registration_id", .registrationID), ("participant_id", .participantID)], other: ["updated_at"],
            purpose: "how to reach the person, from the registration",
            retention:
                "365 days after the person's last message, none waiting (`--contact-retention-days`), deleted by the notifications worker",
            readers: "notifications", erasure: .deleteRows),
        RegisterEntry(
            .table, holder: "notifications", name: "notif_messages", personal: ["parameters", "routes", "last_error"],
            keys: [("registration_id", .registrationID), ("participant_id", .participantID)],
            other: [
                "notification_id", "event_id", "event_type", "template", "route_index", "urgent", "correlation_id", "state",
                "attempts", "created_at", "event_time", "next_attempt_at", "claimed_until", "claimed_by", "sent_at",
                "channel_used", "provider_id",
            ],
            purpose: "each message to a person: the template's values and the addresses, until sent or given up",
            retention:
                "parameters, addresses and the last gateway reply cleared 30 days after the message settled (`--message-data-retention-days`); the row (template, times, outcome) stays",
            readers: "notifications", erasure: .clear([("parameters", "'{}'"), ("routes", "'[]'"), ("last_error", "NULL")])),
        RegisterEntry(
            .table, holder: "notifications", name: "notif_certificates", keys: [("certificate_id", .certificateID)],
            other: ["certificate_number"], purpose: "certificate numbers for the messages", retention: participantDays,
            readers: "notifications"),
        RegisterEntry(
            .table, holder: "notifications", name: "notif_licence_records", keys: [("certificate_id", .certificateID)],
            other: ["kind"], purpose: "which certificates are records of a licence (their revocation is told as a record's)",
            retention: participantDays, readers: "notifications"),
        RegisterEntry(
            .table, holder: "notifications", name: "notif_certificate_holders",
            keys: [("certificate_id", .certificateID), ("participant_id", .participantID)], other: ["certificate_number"],
            purpose:
                "whose each certificate is: a revocation for a reissue under a corrected name is told once the replacement is known",
            retention: participantDays, readers: "notifications"),
        RegisterEntry(
            .table, holder: "notifications", name: "notif_revoked_certificates", keys: [("certificate_id", .certificateID)],
            purpose: "the certificates whose revocation was told (a revoked one is no replacement)",
            retention: participantDays, readers: "notifications"),
        RegisterEntry(
            .table, holder: "notifications", name: "notif_withdrawals",
            keys: [("registration_id", .registrationID), ("participant_id", .participantID)], other: ["withdrawn_at"],
            purpose: "people who withdrew their consent: nothing more is sent to them (ids and the time only)",
            retention: participantDays, readers: "notifications"),
        RegisterEntry(
            .table, holder: "notifications", name: "notif_registrations", keys: [("registration_id", .registrationID)],
            other: ["message_id"],
            purpose:
                "registration numbers taken and the message each came in: the same number under another message id is refused (ids only)",
            retention: participantDays, readers: "notifications"),
        RegisterEntry(
            .table, holder: "notifications", name: "notif_training_results", keys: [("participant_id", .participantID)],
            other: ["result"], purpose: "training results for the messages", retention: participantDays,
            readers: "notifications"),
        RegisterEntry(
            .table, holder: "notifications", name: "notif_address_load", personal: ["address_key"], other: ["queued_at"],
            purpose:
                "the acknowledgements and rejections each number or address got in the last day, by an unsalted SHA-256 digest of it (a number can be found again by trying numbers: personal data): at most ten a day, whoever submits registrations naming it",
            retention: "24 hours (then deleted by the notification dispatcher, every 10 minutes)", readers: "notifications",
            erasure: .expiresWithinADay),
        RegisterEntry(
            .table, holder: "notifications", name: "notif_seats", keys: [("participant_id", .participantID)],
            other: ["class_id", "scheduled_at"],
            purpose: "each participant's class: a training result is told only for the class they sit in (ids only)",
            retention: participantDays, readers: "notifications"),
    ]

    static let consoleTables = [
        RegisterEntry(
            .table, holder: "console", name: "console_registrations",
            keys: [("registration_id", .registrationID), ("participant_id", .participantID)],
            other: ["centre", "programme", "sector", "registered_at", "accepted_at", "rejected_at"],
            purpose: "the funnel's counts (no name, NIK or contact)", retention: participantDays,
            readers: "console staff (counts; ids in rosters)"),
        RegisterEntry(
            .table, holder: "console", name: "console_participants",
            keys: [("participant_id", .participantID), ("certificate_id", .certificateID)],
            other: [
                "scheduled_at", "waitlisted_at", "withdrawn_at", "apprenticed_at", "assessed_at", "graded_at", "competent",
                "certified_at", "notified_at",
            ],
            purpose: "each participant's progress (dates)", retention: participantDays, readers: "console staff"),
        RegisterEntry(
            .table, holder: "console", name: "console_revocations", keys: [("certificate_id", .certificateID)],
            other: ["revoked_at"], purpose: "revoked certificates, for the counts", retention: participantDays,
            readers: "console staff"),
        RegisterEntry(
            .table, holder: "console", name: "console_competency_certificates",
            keys: [("certificate_id", .certificateID), ("participant_id", .participantID)],
            purpose: "each participant's competency records, so that a reissued one keeps them counted",
            retention: participantDays, readers: "console staff (counts)"),
        RegisterEntry(
            .table, holder: "console", name: "console_reviews", keys: [("registration_id", .registrationID)],
            other: ["opened_at", "reasons", "documents_requested_at", "respond_by", "documents_reason"],
            purpose: "the review queue (reasons' codes and dates; the case file stays in intake)",
            retention: participantDays, readers: "officers, admins"),
        RegisterEntry(
            .table, holder: "console", name: "console_priorities", keys: [("registration_id", .registrationID)],
            other: ["tier"], purpose: "the reports' breakdown by priority tier", retention: participantDays,
            readers: "console staff (counts)"),
        RegisterEntry(
            .table, holder: "console", name: "console_assessments", keys: [("participant_id", .participantID)],
            other: ["assessment_id", "lsp", "scheme", "result", "assessed_on", "certificate_number", "recorded_at"],
            purpose: "an LSP coordinator's desk: their assessments' results (participant ids)",
            retention: participantDays, readers: "the LSP's coordinators (their own LSP's)"),
        RegisterEntry(
            .table, holder: "console", name: "console_assessment_refusals", keys: [("participant_id", .participantID)],
            other: ["event_id", "assessment_id", "lsp", "scheme", "reasons", "recorded_at"],
            purpose: "an LSP coordinator's desk: the submissions grading refused, with the reasons (participant ids)",
            retention: participantDays, readers: "the LSP's coordinators (their own LSP's)"),
        RegisterEntry(
            .table, holder: "console", name: "console_retakes", keys: [("participant_id", .participantID)],
            other: ["graded_at", "retake_available"], purpose: "whether an uji ulang is still possible",
            retention: participantDays, readers: "console staff"),
        RegisterEntry(
            .table, holder: "console", name: "console_seats", keys: [("participant_id", .participantID)],
            other: [
                "class_id", "centre", "programme", "start_date", "end_date", "reregistration_start", "reregistration_end",
                "seated_at",
            ],
            purpose: "class rosters (participant ids)", retention: participantDays, readers: "the BLKI's staff, admins"),
        RegisterEntry(
            .table, holder: "console", name: "console_seat_records", keys: [("participant_id", .participantID)],
            other: ["class_id", "reregistered", "attendance", "training_passed", "withdrawn_at", "withdrawal_reason"],
            purpose: "daftar ulang, attendance and training results per seat", retention: participantDays,
            readers: "the BLKI's staff, admins"),
        RegisterEntry(
            .table, holder: "console", name: "console_staff_actions", personal: ["staff"],
            keys: [("subject", .personID)], other: ["event_id", "recorded_at", "role", "action", "class_id", "once_key"],
            purpose: "what staff recorded through the console, and who", retention: yearAndAudit,
            readers: "admins, auditors"),
    ]

    /// The broker's queues and the console's history stream, derived from the roles' bindings
    /// and the contracts' personal fields: a queue holds what the events routed to it carry
    /// (its dead-letter queue keeps the whole body of a message that failed).
    public static var brokerEntries: [RegisterEntry] {
        var entries: [RegisterEntry] = []
        for role in WorkerRole.all + [WorkerRole.console] {
            let personal = personalFields(of: role.consumes)
            entries.append(
                RegisterEntry(
                    .queue, holder: "broker", name: role.queue, personal: personal,
                    purpose: "the \(role.name) role's work: \(role.consumes.joined(separator: ", "))",
                    retention: "until the role acknowledges the message (retry queues: the tier's delay)",
                    readers: "the \(role.name) role's broker user"))
            entries.append(
                RegisterEntry(
                    .queue, holder: "broker", name: role.queue + ".dead", personal: personal,
                    purpose: "messages the \(role.name) role could not handle, whole, with a failure record",
                    retention:
                        "90 days (the dead-letter policy's `message-ttl`), or until an admin replays or purges them",
                    readers: "admins (personal data masked unless revealed, which is audited)"))
        }
        entries.append(
            RegisterEntry(
                .stream, holder: "broker", name: WorkerRole.consoleHistoryStream,
                personal: personalFields(of: WorkerRole.console.consumes),
                purpose: "the console's events, from which its read model is rebuilt",
                retention: "400 days (`x-max-age`); an entry cannot be deleted, so only events without personal fields are bound",
                readers: "the console's broker user"))
        return entries
    }

    /// The files the system writes.
    public static let files = [
        RegisterEntry(
            .file, holder: "host", name: "certificate files (`<number>.pdf`, `.json`)", personal: ["holder's name"],
            keys: [("participant id, certificate number", .participantID)],
            purpose: "the certificate the participant receives (name, participant id, programme, dates)",
            retention: "kept, as the certificate record", readers: "the participant, who receives it; the certificates role"),
        RegisterEntry(
            .file, holder: "host", name: "exported credentials (`kaltim-worker export-credential`, `<id>.vc.json`)",
            personal: ["holder's name"], keys: [("participant id, certificate id", .participantID)],
            purpose:
                "the certificate as a Verifiable Credential for the participant's wallet (name, participant id, programme, dates)",
            retention: "handed to the participant; the export folder is not kept by the system",
            readers: "the participant, and whoever they show it to"),
        RegisterEntry(
            .file, holder: "staff", name: "Kemnaker export (console, `/laporan/kemnaker.csv`, downloaded)",
            personal: [
                "holder's name", "daftar ulang", "attendance", "training result", "withdrawal day and reason",
                "assessment result", "BNSP certificate number",
            ], keys: [("participant id, registration id", .participantID)],
            purpose:
                "a BLKI's data entry into Kemnaker's systems: each seat with daftar ulang, attendance, training result, assessment and the BNSP number (no NIK)",
            retention:
                "downloaded by the staff member, audited (`kemnaker-export`); not kept by the system: the office deletes it once entered",
            readers: "officers, admins, a BLKI administrator (their own BLKI's rows)"),
        RegisterEntry(
            .file, holder: "staff", name: "waiting list (console, `/laporan/daftar-tunggu.csv`, downloaded)",
            personal: ["priority tier (officers and admins only)", "day joined the waiting list"],
            keys: [("participant id, registration id", .participantID)],
            purpose: "who waits for a seat of a BLKI's programme, in the order seats are given",
            retention:
                "downloaded by the staff member, audited (`waiting-list-export`); not kept by the system: deleted once the seats are given",
            readers: "officers, admins, a BLKI administrator (their own BLKI's lists)"),
        RegisterEntry(
            .file, holder: "staff", name: "daftar hadir (console, `/blki/class/daftar-hadir`, printed)",
            personal: ["holder's name", "signatures"], keys: [("participant id", .participantID)],
            purpose:
                "the participants of a class who hold their seat sign in for each training day; the BLKI's record of attendance",
            retention:
                "printed by the BLKI administrator, audited (`attendance-sheet`, the class and how many); the paper is kept by the BLKI with its training records, not by the system",
            readers: "the BLKI's administrators and instructors (their own BLKI's classes)"),
        RegisterEntry(
            .file, holder: "host", name: "notification log (`--notification-log`, JSON lines)",
            personal: ["recipient address", "message text"], keys: [("participant or registration id", .personID)],
            purpose: "the local run's channel instead of a gateway: every message as it would be sent",
            retention:
                "lines deleted 30 days after they were written (`--message-data-retention-days`, with the messages' data), by the notification worker",
            readers: "whoever runs the local job"),
        RegisterEntry(
            .file, holder: "host", name: "audit log (`KALTIM_AUDIT_LOG`, JSON lines)", personal: ["staff user name"],
            keys: [("subject", .personID)],
            purpose:
                "every admin or staff action that changes something or reveals personal data (NIK only masked), and the console's wrong passwords for an account",
            retention: "append-only; kept for accountability", readers: "admins, auditors"),
        RegisterEntry(
            .file, holder: "host", name: "worker and console logs (standard error)",
            purpose: "operations; every field a contract marks personal is masked, a NIK-shaped number anywhere too",
            retention: "the host's log rotation (journald)", readers: "operators"),
    ]

    /// The personal fields (`data.` paths) the events of these types carry, at any version.
    static func personalFields(of eventTypes: [String]) -> [String] {
        var paths: [String] = []
        for type in ContractCatalogue.all where eventTypes.contains(type.eventType) {
            for field in type.personalFields {
                let path = field.path.joined(separator: ".")
                if !paths.contains(path) { paths.append(path) }
            }
        }
        return paths
    }
}
