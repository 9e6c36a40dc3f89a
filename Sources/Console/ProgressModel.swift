// The console's read model: what each registration and participant has reached, written from
// the pipeline's events by the console's own worker (role `console`) into its own store.
//
// Every write sets a milestone only when it is not set yet (or keeps the latest outcome by
// event time), so the same event applied twice (a redelivery, a dead-letter replay, a rebuild)
// changes nothing, and events may arrive in any order: registrations and participants are two
// tables joined at query time, never a row that must exist before another event can land.
public import ContractKit
import Contracts
public import Foundation
public import Jobs
public import Programme
public import Topology

/// Applies the pipeline's events to the progress tables.
public struct ProgressHandler: TypedMessageHandler {
    /// Programme code → KBLI sector letter.
    let sectors: [String: String]

    public init(catalogue: ProgrammeCatalogue) {
        var sectors: [String: String] = [:]
        for centre in catalogue.centres {
            for programme in centre.programmes { sectors[programme.code] = programme.sector }
        }
        self.sectors = sectors
    }

    public var migrations: [String] {
        [
            """
            CREATE TABLE IF NOT EXISTS console_registrations (
                registration_id TEXT PRIMARY KEY, participant_id TEXT, centre TEXT, programme TEXT, sector TEXT,
                registered_at REAL, accepted_at REAL, rejected_at REAL)
            """,
            "CREATE INDEX IF NOT EXISTS console_registrations_participant ON console_registrations (participant_id)",
            """
            CREATE TABLE IF NOT EXISTS console_participants (
                participant_id TEXT PRIMARY KEY, scheduled_at REAL, waitlisted_at REAL, withdrawn_at REAL,
                apprenticed_at REAL, assessed_at REAL, graded_at REAL, competent INTEGER, certified_at REAL,
                certificate_id TEXT, notified_at REAL)
            """,
            // Revoked certificates by id (a revocation may arrive before its issuance, and a
            // revoked training certificate must not un-certify a competency one).
            "CREATE TABLE IF NOT EXISTS console_revocations (certificate_id TEXT PRIMARY KEY, revoked_at REAL)",
            // Every competency record by id: when one is revoked, another in force (the same
            // record reissued under a corrected name) keeps its holder certified.
            """
            CREATE TABLE IF NOT EXISTS console_competency_certificates (
                certificate_id TEXT PRIMARY KEY, participant_id TEXT NOT NULL)
            """,
            """
            CREATE INDEX IF NOT EXISTS console_competency_certificates_participant
                ON console_competency_certificates (participant_id)
            """,
            // Registrations intake sent to an officer's review (verifikasi): when, why (the
            // reasons' codes and Bahasa texts as JSON), and the last request for documents. A
            // review is pending while its registration is neither accepted nor rejected.
            """
            CREATE TABLE IF NOT EXISTS console_reviews (
                registration_id TEXT PRIMARY KEY, opened_at REAL, reasons TEXT,
                documents_requested_at REAL, respond_by TEXT, documents_reason TEXT)
            """,
            // Whether the participant's latest grade leaves an uji ulang possible (what could
            // close a gap to the target).
            """
            CREATE TABLE IF NOT EXISTS console_retakes (
                participant_id TEXT PRIMARY KEY, graded_at REAL NOT NULL, retake_available INTEGER NOT NULL)
            """,
            // Each participant's seat, for a BLKI's class rosters: the class and its daftar ulang
            // window (the latest seat counts). Participant ids only: the console keeps no
            // personal data.
            """
            CREATE TABLE IF NOT EXISTS console_seats (
                participant_id TEXT PRIMARY KEY, class_id TEXT NOT NULL, centre TEXT NOT NULL, programme TEXT NOT NULL,
                start_date TEXT NOT NULL, end_date TEXT NOT NULL, reregistration_start TEXT, reregistration_end TEXT,
                seated_at REAL NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS console_seats_class ON console_seats (centre, class_id)",
            // What was recorded about a participant in a class (daftar ulang, training result, a
            // withdrawal), kept apart from the seat so that it lands in any order: a record is
            // shown only beside the seat in the same class.
            """
            CREATE TABLE IF NOT EXISTS console_seat_records (
                participant_id TEXT NOT NULL, class_id TEXT NOT NULL, reregistered INTEGER, attendance REAL,
                training_passed INTEGER, withdrawn_at REAL, withdrawal_reason TEXT,
                PRIMARY KEY (participant_id, class_id))
            """,
            // What signed-in staff recorded through the console (review decisions, daftar ulang,
            // training results, withdrawal requests): who, when, on what. The event itself is
            // written to the outbox in the same transaction. `once_key` names what may be
            // recorded only once (a final review decision, a participant's daftar ulang in a
            // class); its uniqueness holds under concurrent submissions on either store.
            """
            CREATE TABLE IF NOT EXISTS console_staff_actions (
                event_id TEXT PRIMARY KEY, recorded_at REAL NOT NULL, staff TEXT NOT NULL, role TEXT NOT NULL,
                action TEXT NOT NULL, subject TEXT NOT NULL, class_id TEXT, once_key TEXT UNIQUE)
            """,
            "CREATE INDEX IF NOT EXISTS console_staff_actions_subject ON console_staff_actions (subject, action)",
            // An accepted registration's priority tier (1 never trained, 2 failed before, 3
            // trained before), for the reports' breakdown.
            "CREATE TABLE IF NOT EXISTS console_priorities (registration_id TEXT PRIMARY KEY, tier INTEGER NOT NULL)",
            // For the LSP coordinator's desk (participant ids only): each graded assessment as
            // grading last graded it (by the assessment id the LSP gave), KOMPETEN or
            // BELUM_KOMPETEN ...
            """
            CREATE TABLE IF NOT EXISTS console_assessments (
                assessment_id TEXT PRIMARY KEY, participant_id TEXT NOT NULL, lsp TEXT, scheme TEXT NOT NULL,
                result TEXT NOT NULL, assessed_on TEXT, certificate_number TEXT, recorded_at REAL NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS console_assessments_lsp ON console_assessments (lsp, recorded_at)",
            "CREATE INDEX IF NOT EXISTS console_assessments_person ON console_assessments (participant_id, scheme)",
            // ... and each refusal, by its event (grading refuses appeals, and claims on another
            // LSP's assessment, under an id it graded: a refusal is kept beside the results,
            // never in their place), with its reasons (codes and Bahasa texts as JSON).
            """
            CREATE TABLE IF NOT EXISTS console_assessment_refusals (
                event_id TEXT PRIMARY KEY, assessment_id TEXT NOT NULL, participant_id TEXT NOT NULL, lsp TEXT NOT NULL,
                scheme TEXT NOT NULL, reasons TEXT NOT NULL, recorded_at REAL NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS console_assessment_refusals_lsp ON console_assessment_refusals (lsp, recorded_at)",
        ]
    }

    public func handle(_ input: ConsoleInput, event: DecodedEvent, in transaction: any StoreTransaction) throws
        -> [OutgoingEvent]
    {
        let at = SQLValue.real(event.header.time.timeIntervalSince1970)
        switch input {
        case .retired:
            // Brought by a binding an earlier version made; the applicant's data is not kept.
            break
        case .received(let received):
            // Counted from intake's `registration.received`, which carries no personal data:
            // the console never reads a `registration.submitted` body (UU 27/2022, minimal copies).
            try transaction.execute(
                """
                INSERT INTO console_registrations (registration_id, centre, programme, sector, registered_at)
                VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (registration_id) DO UPDATE SET
                    registered_at = COALESCE(console_registrations.registered_at, excluded.registered_at),
                    centre = COALESCE(console_registrations.centre, excluded.centre),
                    programme = COALESCE(console_registrations.programme, excluded.programme),
                    sector = COALESCE(console_registrations.sector, excluded.sector)
                """,
                [
                    .text(received.registrationID), .text(received.centre.rawValue), .text(received.programme),
                    sector(received.programme), .real(received.submittedAt.timeIntervalSince1970),
                ])
        case .accepted(let accepted):
            // The acceptance's centre and programme are the ones that count (intake may move a
            // job seeker from the preferred ones).
            try transaction.execute(
                """
                INSERT INTO console_registrations (registration_id, participant_id, centre, programme, sector, accepted_at)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (registration_id) DO UPDATE SET
                    participant_id = excluded.participant_id, centre = excluded.centre,
                    programme = excluded.programme, sector = excluded.sector,
                    accepted_at = COALESCE(console_registrations.accepted_at, excluded.accepted_at)
                """,
                [
                    .text(accepted.registrationID), .text(accepted.participantID), .text(accepted.centre.rawValue),
                    .text(accepted.programme), sector(accepted.programme), at,
                ])
            try transaction.execute(
                """
                INSERT INTO console_priorities (registration_id, tier) VALUES (?, ?)
                ON CONFLICT (registration_id) DO UPDATE SET tier = excluded.tier
                """, [.text(accepted.registrationID), .integer(Int64(accepted.priorityTier.rawValue))])
        case .rejected(let rejected):
            try transaction.execute(
                """
                INSERT INTO console_registrations (registration_id, rejected_at) VALUES (?, ?)
                ON CONFLICT (registration_id) DO UPDATE SET
                    rejected_at = COALESCE(console_registrations.rejected_at, excluded.rejected_at)
                """, [.text(rejected.registrationID), at])
        case .reviewNeeded(let review):
            let reasons = try JSONEncoder().encode(review.reasons)
            try transaction.execute(
                """
                INSERT INTO console_reviews (registration_id, opened_at, reasons) VALUES (?, ?, ?)
                ON CONFLICT (registration_id) DO UPDATE SET
                    opened_at = COALESCE(console_reviews.opened_at, excluded.opened_at),
                    reasons = COALESCE(console_reviews.reasons, excluded.reasons)
                """, [.text(review.registrationID), at, .text(String(decoding: reasons, as: UTF8.self))])
        case .documentsRequested(let request):
            // The latest request counts (an officer may ask again with a new date).
            try transaction.execute(
                """
                INSERT INTO console_reviews (registration_id, documents_requested_at, respond_by, documents_reason)
                VALUES (?, ?, ?, ?)
                ON CONFLICT (registration_id) DO UPDATE SET
                    respond_by = CASE WHEN console_reviews.documents_requested_at IS NULL
                        OR excluded.documents_requested_at >= console_reviews.documents_requested_at
                        THEN excluded.respond_by ELSE console_reviews.respond_by END,
                    documents_reason = CASE WHEN console_reviews.documents_requested_at IS NULL
                        OR excluded.documents_requested_at >= console_reviews.documents_requested_at
                        THEN excluded.documents_reason ELSE console_reviews.documents_reason END,
                    documents_requested_at = CASE WHEN console_reviews.documents_requested_at IS NULL
                        OR excluded.documents_requested_at >= console_reviews.documents_requested_at
                        THEN excluded.documents_requested_at ELSE console_reviews.documents_requested_at END
                """,
                [
                    .text(request.registrationID), at, request.respondBy.map(SQLValue.text) ?? .null,
                    .text(request.reason.message),
                ])
        case .scheduled(let scheduled):
            try firstTime("scheduled_at", scheduled.participantID, at, transaction)
            // The latest seat counts (a participant who accepted an offer moves class).
            try transaction.execute(
                """
                INSERT INTO console_seats (participant_id, class_id, centre, programme, start_date, end_date,
                    reregistration_start, reregistration_end, seated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (participant_id) DO UPDATE SET
                    class_id = excluded.class_id, centre = excluded.centre, programme = excluded.programme,
                    start_date = excluded.start_date, end_date = excluded.end_date,
                    reregistration_start = excluded.reregistration_start, reregistration_end = excluded.reregistration_end,
                    seated_at = excluded.seated_at
                WHERE excluded.seated_at > console_seats.seated_at
                """,
                [
                    .text(scheduled.participantID), .text(scheduled.classID), .text(scheduled.centre.rawValue),
                    .text(scheduled.programme), .text(scheduled.startDate), .text(scheduled.endDate),
                    scheduled.reRegistration.map { .text($0.from) } ?? .null,
                    scheduled.reRegistration.map { .text($0.until) } ?? .null, at,
                ])
        case .waitlisted(let waitlisted):
            try firstTime("waitlisted_at", waitlisted.participantID, at, transaction)
        case .withdrawn(let withdrawn):
            try firstTime("withdrawn_at", withdrawn.participantID, at, transaction)
            if let classID = withdrawn.classID {
                try record(
                    withdrawn.participantID, classID,
                    ["withdrawn_at": at, "withdrawal_reason": .text(withdrawn.reason.rawValue)],
                    transaction)
            }
        case .reRegistered(let reRegistration):
            // The first record counts, as for scheduling (a contradicting one is refused there).
            try record(
                reRegistration.participantID, reRegistration.classID,
                ["reregistered": .integer(reRegistration.attended ? 1 : 0)], transaction)
        case .trainingCompleted(let result):
            try record(
                result.participantID, result.classID,
                ["attendance": .real(result.attendancePercent), "training_passed": .integer(result.result == .passed ? 1 : 0)],
                transaction)
        case .apprenticeshipPlaced(let placed):
            try firstTime("apprenticed_at", placed.participantID, at, transaction)
        case .graded(let graded):
            // A correction (a later grading) decides the outcome; the first one dates the step.
            try transaction.execute(
                """
                INSERT INTO console_participants (participant_id, assessed_at, graded_at, competent) VALUES (?, ?, ?, ?)
                ON CONFLICT (participant_id) DO UPDATE SET
                    assessed_at = COALESCE(console_participants.assessed_at, excluded.assessed_at),
                    competent = CASE WHEN console_participants.graded_at IS NULL
                        OR excluded.graded_at >= console_participants.graded_at
                        THEN excluded.competent ELSE console_participants.competent END,
                    graded_at = CASE WHEN console_participants.graded_at IS NULL
                        OR excluded.graded_at >= console_participants.graded_at
                        THEN excluded.graded_at ELSE console_participants.graded_at END
                """,
                [.text(graded.participantID), at, at, .integer(graded.outcome == .competent ? 1 : 0)])
            try transaction.execute(
                """
                INSERT INTO console_retakes (participant_id, graded_at, retake_available) VALUES (?, ?, ?)
                ON CONFLICT (participant_id) DO UPDATE SET
                    retake_available = CASE WHEN excluded.graded_at >= console_retakes.graded_at
                        THEN excluded.retake_available ELSE console_retakes.retake_available END,
                    graded_at = CASE WHEN excluded.graded_at >= console_retakes.graded_at
                        THEN excluded.graded_at ELSE console_retakes.graded_at END
                """,
                [
                    .text(graded.participantID), at,
                    .integer(graded.outcome == .notYetCompetent && graded.retakeAvailable == true ? 1 : 0),
                ])
            try recordAssessment(
                graded.assessmentID, participant: graded.participantID, lsp: graded.lspLicence, scheme: graded.scheme,
                result: graded.outcome.rawValue, assessedOn: graded.assessedOn,
                certificateNumber: graded.lspCertificateNumber, at: at, in: transaction)
        case .assessmentRejected(let rejected):
            let reasons = try JSONEncoder().encode(rejected.reasons)
            try transaction.execute(
                """
                INSERT INTO console_assessment_refusals (event_id, assessment_id, participant_id, lsp, scheme, reasons,
                    recorded_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (event_id) DO NOTHING
                """,
                [
                    .text(event.header.id), .text(rejected.assessmentID), .text(rejected.participantID),
                    .text(rejected.lspLicence), .text(rejected.scheme), .text(String(decoding: reasons, as: UTF8.self)), at,
                ])
        case .certificateIssued(let issued):
            // Only a BNSP competency certificate makes a participant "certified" (a licence record
            // is not counted: the programme's target is BNSP certification).
            guard issued.kind == .competency else { break }
            try transaction.execute(
                """
                INSERT INTO console_competency_certificates (certificate_id, participant_id) VALUES (?, ?)
                ON CONFLICT (certificate_id) DO NOTHING
                """, [.text(issued.certificateID), .text(issued.participantID)])
            // The first record counts, unless it was revoked and this one is in force (a
            // reissue under a corrected name); certified since the earliest: whatever order
            // the events arrive in.
            try transaction.execute(
                """
                INSERT INTO console_participants (participant_id, certified_at, certificate_id) VALUES (?, ?, ?)
                ON CONFLICT (participant_id) DO UPDATE SET
                    certified_at = CASE
                        WHEN console_participants.certified_at IS NULL OR excluded.certified_at < console_participants.certified_at
                        THEN excluded.certified_at ELSE console_participants.certified_at END,
                    certificate_id = CASE
                        WHEN console_participants.certificate_id IS NULL THEN excluded.certificate_id
                        WHEN EXISTS (SELECT 1 FROM console_revocations x WHERE x.certificate_id = console_participants.certificate_id)
                            AND NOT EXISTS (SELECT 1 FROM console_revocations y WHERE y.certificate_id = excluded.certificate_id)
                        THEN excluded.certificate_id
                        ELSE console_participants.certificate_id END
                """, [.text(issued.participantID), at, .text(issued.certificateID)])
        case .certificateRevoked(let revoked):
            try transaction.execute(
                """
                INSERT INTO console_revocations (certificate_id, revoked_at) VALUES (?, ?)
                ON CONFLICT (certificate_id) DO NOTHING
                """, [.text(revoked.certificateID), at])
            // The holder's counted record revoked: another of theirs in force counts instead.
            try transaction.execute(
                """
                UPDATE console_participants SET certificate_id = (
                    SELECT c.certificate_id FROM console_competency_certificates c
                    WHERE c.participant_id = console_participants.participant_id
                        AND NOT EXISTS (SELECT 1 FROM console_revocations x WHERE x.certificate_id = c.certificate_id)
                    ORDER BY c.certificate_id LIMIT 1)
                WHERE certificate_id = ? AND EXISTS (
                    SELECT 1 FROM console_competency_certificates c
                    WHERE c.participant_id = console_participants.participant_id
                        AND NOT EXISTS (SELECT 1 FROM console_revocations x WHERE x.certificate_id = c.certificate_id))
                """, [.text(revoked.certificateID)])
        case .notificationDelivered:
            // The envelope's subject is the participant; the latest delivery is kept, so that
            // "notified" can mean "told after the certificate".
            guard let participant = event.header.subject, !participant.isEmpty else { break }
            try transaction.execute(
                """
                INSERT INTO console_participants (participant_id, notified_at) VALUES (?, ?)
                ON CONFLICT (participant_id) DO UPDATE SET notified_at = CASE
                    WHEN console_participants.notified_at IS NULL OR excluded.notified_at > console_participants.notified_at
                    THEN excluded.notified_at ELSE console_participants.notified_at END
                """, [.text(participant), at])
        }
        return []
    }

    /// The tables the events make (a rebuild empties them first).
    public static let derivedTables = [
        "console_registrations", "console_participants", "console_revocations", "console_competency_certificates",
        "console_reviews", "console_retakes", "console_seats", "console_seat_records",
    ]

    /// Records facts about a participant in a class, each column set once (the first record
    /// counts, whatever order the events arrive in).
    private func record(
        _ participant: String, _ classID: String, _ values: KeyValuePairs<String, SQLValue>,
        _ transaction: any StoreTransaction
    ) throws {
        let columns = values.map(\.key)
        try transaction.execute(
            """
            INSERT INTO console_seat_records (participant_id, class_id, \(columns.joined(separator: ", ")))
            VALUES (?, ?, \(columns.map { _ in "?" }.joined(separator: ", ")))
            ON CONFLICT (participant_id, class_id) DO UPDATE SET
                \(columns.map { "\($0) = COALESCE(console_seat_records.\($0), excluded.\($0))" }.joined(separator: ", "))
            """, [.text(participant), .text(classID)] + values.map(\.value))
    }

    private func sector(_ programme: String) -> SQLValue {
        sectors[programme].map { .text($0) } ?? .null
    }

    /// Sets `column` of the participant unless it is set already.
    private func firstTime(_ column: String, _ participant: String, _ at: SQLValue, _ transaction: any StoreTransaction)
        throws
    {
        try transaction.execute(
            """
            INSERT INTO console_participants (participant_id, \(column)) VALUES (?, ?)
            ON CONFLICT (participant_id) DO UPDATE SET
                \(column) = COALESCE(console_participants.\(column), excluded.\(column))
            """, [.text(participant), at])
    }
}

/// The programme's progress as the console draws it.
public struct ProgressReport: Sendable, Equatable, Encodable {
    /// One step of the funnel.
    public struct Stage: Sendable, Equatable, Encodable {
        public let key: String
        public let label: String
        public let count: Int
    }

    /// Progress of one group (a BLKI, a sector) against its target.
    public struct Line: Sendable, Equatable, Encodable {
        public let key: String
        public let label: String
        public let accepted: Int
        public let certified: Int
        public let target: Int
    }

    /// registered → accepted → scheduled → assessed → certified → notified, labelled in Bahasa
    /// Indonesia. "certified" counts competency certificates (BNSP, recorded from the LSP) that
    /// are not revoked; a training certificate (sertifikat pelatihan) alone does not count.
    public let funnel: [Stage]
    public let rejected: Int
    public let waitlisted: Int
    public let centres: [Line]
    public let sectors: [Line]
    /// Apprenticeship placements against the places of the plan (400).
    public let apprenticeships: Line
    /// Per BLKI, while its target is not reached: what could close the gap.
    public let gaps: [Gap]
    public let updatedAt: Date

    /// What could close a BLKI's gap to its target: its BELUM KOMPETEN participants (those who
    /// may still take an uji ulang among them) and the applicants on its waiting lists.
    public struct Gap: Sendable, Equatable, Encodable {
        public let key: String
        public let label: String
        /// Target minus certified (0 once reached).
        public let gap: Int
        public let notYetCompetent: Int
        public let mayRetake: Int
        public let waiting: Int
    }

    /// Reads the report from the console's store.
    public static func read(from store: any MessageStore, catalogue: ProgrammeCatalogue) async throws -> ProgressReport {
        // A participant certified and not revoked; notified = told at or after the certificate.
        let joined = """
            FROM console_registrations r LEFT JOIN console_participants p ON p.participant_id = r.participant_id
            LEFT JOIN console_revocations x ON x.certificate_id = p.certificate_id
            """
        let totals = try await store.read(
            """
            SELECT
                SUM(CASE WHEN r.registered_at IS NOT NULL OR r.accepted_at IS NOT NULL OR r.rejected_at IS NOT NULL
                    THEN 1 ELSE 0 END) AS registered,
                SUM(CASE WHEN r.accepted_at IS NOT NULL THEN 1 ELSE 0 END) AS accepted,
                SUM(CASE WHEN r.rejected_at IS NOT NULL AND r.accepted_at IS NULL THEN 1 ELSE 0 END) AS rejected,
                SUM(CASE WHEN r.accepted_at IS NOT NULL AND p.scheduled_at IS NOT NULL THEN 1 ELSE 0 END) AS scheduled,
                SUM(CASE WHEN r.accepted_at IS NOT NULL AND p.scheduled_at IS NULL AND p.waitlisted_at IS NOT NULL
                    THEN 1 ELSE 0 END) AS waitlisted,
                SUM(CASE WHEN r.accepted_at IS NOT NULL AND p.assessed_at IS NOT NULL THEN 1 ELSE 0 END) AS assessed,
                SUM(CASE WHEN r.accepted_at IS NOT NULL AND p.certified_at IS NOT NULL AND x.certificate_id IS NULL
                    THEN 1 ELSE 0 END) AS certified,
                SUM(CASE WHEN r.accepted_at IS NOT NULL AND p.certified_at IS NOT NULL AND x.certificate_id IS NULL
                    AND p.notified_at >= p.certified_at THEN 1 ELSE 0 END) AS notified,
                SUM(CASE WHEN r.accepted_at IS NOT NULL AND p.apprenticed_at IS NOT NULL THEN 1 ELSE 0 END) AS apprenticed
            \(joined)
            """)
        let total = totals.first ?? [:]
        func count(_ row: [String: SQLValue], _ key: String) -> Int { Int(row[key]?.integer ?? 0) }
        let funnel = [
            ("registered", "Mendaftar"), ("accepted", "Diterima"), ("scheduled", "Dijadwalkan"), ("assessed", "Diuji"),
            ("certified", "Kompeten"), ("notified", "Diberi tahu"),
        ].map { Stage(key: $0.0, label: $0.1, count: count(total, $0.0)) }

        let byGroup = { (column: String) async throws -> [String: (accepted: Int, certified: Int)] in
            let rows = try await store.read(
                """
                SELECT r.\(column) AS grouping,
                    SUM(CASE WHEN r.accepted_at IS NOT NULL THEN 1 ELSE 0 END) AS accepted,
                    SUM(CASE WHEN r.accepted_at IS NOT NULL AND p.certified_at IS NOT NULL AND x.certificate_id IS NULL
                        THEN 1 ELSE 0 END) AS certified
                \(joined)
                WHERE r.\(column) IS NOT NULL GROUP BY r.\(column)
                """)
            var result: [String: (accepted: Int, certified: Int)] = [:]
            for row in rows {
                if let key = row["grouping"]?.text { result[key] = (count(row, "accepted"), count(row, "certified")) }
            }
            return result
        }
        let centreCounts = try await byGroup("centre")
        let centres = catalogue.centres.map { centre in
            let counts = centreCounts[centre.centre.rawValue] ?? (0, 0)
            return Line(
                key: centre.centre.rawValue, label: centre.centre == .balikpapan ? "BLKI Balikpapan" : "BLKI Bontang",
                accepted: counts.accepted, certified: counts.certified, target: centre.quota)
        }
        // A sector's target: the seats its programmes plan (classes × class size).
        var sectorTargets: [String: Int] = [:]
        for centre in catalogue.centres {
            for programme in centre.programmes {
                sectorTargets[programme.sector, default: 0] += programme.classes * catalogue.classSize
            }
        }
        let sectorCounts = try await byGroup("sector")
        let sectors = sectorTargets.keys.sorted().map { sector in
            let counts = sectorCounts[sector] ?? (0, 0)
            return Line(
                key: sector, label: "\(sector) · \(KBLISector.name(sector))", accepted: counts.accepted,
                certified: counts.certified, target: sectorTargets[sector] ?? 0)
        }
        let closers = try await store.read(
            """
            SELECT r.centre AS grouping,
                SUM(CASE WHEN r.accepted_at IS NOT NULL AND p.graded_at IS NOT NULL AND p.competent = 0 THEN 1 ELSE 0 END)
                    AS bk,
                SUM(CASE WHEN r.accepted_at IS NOT NULL AND p.competent = 0 AND t.retake_available = 1 THEN 1 ELSE 0 END)
                    AS retake,
                SUM(CASE WHEN r.accepted_at IS NOT NULL AND p.scheduled_at IS NULL AND p.waitlisted_at IS NOT NULL
                    AND p.withdrawn_at IS NULL THEN 1 ELSE 0 END) AS waiting
            FROM console_registrations r LEFT JOIN console_participants p ON p.participant_id = r.participant_id
            LEFT JOIN console_retakes t ON t.participant_id = r.participant_id
            WHERE r.centre IS NOT NULL GROUP BY r.centre
            """)
        var closing: [String: [String: SQLValue]] = [:]
        for row in closers { if let key = row["grouping"]?.text { closing[key] = row } }
        let gaps = centres.map { line in
            let row = closing[line.key] ?? [:]
            return Gap(
                key: line.key, label: line.label, gap: max(0, line.target - line.certified), notYetCompetent: count(row, "bk"),
                mayRetake: count(row, "retake"), waiting: count(row, "waiting"))
        }
        return ProgressReport(
            funnel: funnel, rejected: count(total, "rejected"), waitlisted: count(total, "waitlisted"), centres: centres,
            sectors: sectors,
            apprenticeships: Line(
                key: "apprenticeships", label: "Pemagangan", accepted: count(total, "accepted"),
                certified: count(total, "apprenticed"), target: catalogue.apprenticeships.places),
            gaps: gaps, updatedAt: Date())
    }
}

/// KBLI 2020 sections the programme uses.
enum KBLISector {
    static func name(_ letter: String) -> String {
        switch letter {
        case "A": "Pertanian"
        case "B": "Pertambangan"
        case "C": "Industri pengolahan"
        case "F": "Konstruksi"
        case "G": "Perdagangan"
        case "H": "Transportasi"
        case "I": "Akomodasi & makan minum"
        case "J": "Informasi & komunikasi"
        case "N": "Jasa persewaan & penunjang usaha"
        default: "Sektor \(letter)"
        }
    }
}

extension ProgressHandler {
    /// An assessment as grading graded it: a later grading (by its time) replaces an earlier
    /// one of the same assessment id, an earlier one arriving late does not.
    func recordAssessment(
        _ assessmentID: String, participant: String, lsp: String?, scheme: String, result: String, assessedOn: String?,
        certificateNumber: String?, at: SQLValue, in transaction: any StoreTransaction
    ) throws {
        try transaction.execute(
            """
            INSERT INTO console_assessments (assessment_id, participant_id, lsp, scheme, result, assessed_on,
                certificate_number, recorded_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (assessment_id) DO UPDATE SET
                participant_id = excluded.participant_id, lsp = excluded.lsp, scheme = excluded.scheme,
                result = excluded.result, assessed_on = excluded.assessed_on,
                certificate_number = excluded.certificate_number, recorded_at = excluded.recorded_at
            WHERE excluded.recorded_at >= console_assessments.recorded_at
            """,
            [
                .text(assessmentID), .text(participant), lsp.map(SQLValue.text) ?? .null, .text(scheme), .text(result),
                assessedOn.map(SQLValue.text) ?? .null, certificateNumber.map(SQLValue.text) ?? .null, at,
            ])
    }
}
