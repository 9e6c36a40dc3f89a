import CertificateTrust
public import ContractKit
import Contracts
public import Foundation
public import Jobs
public import Programme
public import Topology

/// The assessment grading intake worker: checks each LSP submission against what it learnt
/// from scheduling, grades it, and keeps the latest assessment per participant and scheme.
///
/// - `class.scheduled` / `enrolment.withdrawn` tell it who trains in which class, from when.
/// - `assessment.submitted` is checked: the participant is enrolled (not withdrawn) in a class
///   whose programme is assessed on that scheme; the assessment is not dated before the
///   training started; every unit of the scheme has exactly one result and no other unit does;
///   unit codes are well-formed SKKNI codes; assessor registration and TUK are present;
///   attendance is 0–100. Any problem → `assessment.rejected` with every reason (code and
///   Bahasa Indonesia text), so the LSP system can correct and resubmit.
/// - A valid one → `assessment.graded` (v3): KOMPETEN when every unit is K, else BELUM
///   KOMPETEN with the BK units; the training result (LULUS at attendance ≥ 80 %) is reported
///   apart from the competency result.
/// - Corrections: a newer whole submission for the same participant and scheme (later
///   assessment date, or the same date and a later envelope time) supersedes the current one
///   and says so (`supersedes`); an older one arriving late is recorded as stale and publishes
///   nothing. A correction counts an attempt for each unit it turns from BK to K.
/// - Banding (`assessment.appealed`): an appeal against the current BELUM KOMPETEN result is
///   filed, then upheld (the units it names become K and the whole result is graded again) or
///   dismissed; each step is told with `assessment.appeal-recorded`. No uji ulang while an
///   appeal is pending.
/// - Uji ulang (v3 `retakeOf`): a BELUM KOMPETEN candidate re-assessed on units still BK. It
///   must follow the current result, be dated after it, and name only BK units that have
///   attempts left (the plan's `assessmentAttemptsPerUnit`, 3 by default: the first
///   assessment counts). The re-assessed units take their new result, the others keep
///   theirs, and the graded outcome is the whole scheme's. `retakeAvailable` tells whether a
///   BK unit may still be re-assessed.
public struct GradingHandler: TypedMessageHandler {
    public let catalogue: ProgrammeCatalogue
    public let exchange: String
    public let source = "/kaltim/workers/grading"
    /// Attendance needed for a training pass (Permenaker 6/2025 Art. 33).
    public let passingAttendance = 80.0

    /// The worker's clock: no assessment or appeal may be dated after tomorrow in WITA.
    let now: @Sendable () -> Date

    /// The most units an assessment, or an upheld appeal, may name: a scheme has a few dozen.
    public static let maximumUnits = 200
    /// The most reasons a rejection lists; the rest are counted in a last one.
    public static let maximumReasons = 20

    /// - Parameter now: the worker's clock (injected by tests).
    public init(
        catalogue: ProgrammeCatalogue, exchange: String = ContractDocuments.exchange,
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.catalogue = catalogue
        self.exchange = exchange
        self.now = now
    }

    /// Whether `date` (`YYYY-MM-DD`) is after tomorrow in WITA, by the worker's clock (not the
    /// publisher's time, which it sets itself).
    func isInTheFuture(_ date: String) -> Bool {
        date > CertificateKeyRing.witaDay(now().addingTimeInterval(86_400))
    }

    /// Whether a BNSP certificate or registration number an LSP sends may be signed into a
    /// record and sent to its holder: what a licence record's numbers may be
    /// (``CertificateHandler/isIssuerNumber(_:)``), never a web address.
    static func isLSPNumber(_ number: String) -> Bool {
        CertificateHandler.isIssuerNumber(number) && !CertificateHandler.looksLikeLink(number)
    }

    /// `reasons`, at most ``maximumReasons``: past that, the first ones and a last that says how
    /// many more there were (a rejection listing one reason per named unit could outgrow what
    /// the broker takes).
    static func capped(_ reasons: [RegistrationReason]) -> [RegistrationReason] {
        guard reasons.count > maximumReasons else { return reasons }
        return Array(reasons.prefix(maximumReasons - 1)) + [
            RegistrationReason(
                code: "MORE_REASONS",
                message: "Dan \(reasons.count - maximumReasons + 1) alasan lain; perbaiki yang di atas dahulu.")
        ]
    }

    public var migrations: [String] {
        [
            """
            CREATE TABLE IF NOT EXISTS grading_enrolments (
                participant_id TEXT PRIMARY KEY, class_id TEXT NOT NULL, programme TEXT NOT NULL, start_date TEXT NOT NULL,
                withdrawn INTEGER NOT NULL DEFAULT 0)
            """,
            """
            CREATE TABLE IF NOT EXISTS grading_assessments (
                assessment_id TEXT PRIMARY KEY, participant_id TEXT NOT NULL, scheme TEXT NOT NULL, assessed_on TEXT NOT NULL,
                submitted_at TEXT NOT NULL, outcome TEXT,
                status TEXT NOT NULL CHECK (status IN ('current', 'superseded', 'stale', 'rejected')))
            """,
            "CREATE INDEX IF NOT EXISTS grading_assessments_person ON grading_assessments (participant_id, scheme, status)",
            // The candidate's result per unit of a scheme, with how many times the unit was
            // assessed (the first assessment, each uji ulang, and a correction that turns it from
            // BK to K).
            """
            CREATE TABLE IF NOT EXISTS grading_units (
                participant_id TEXT NOT NULL, scheme TEXT NOT NULL, unit TEXT NOT NULL,
                result TEXT NOT NULL CHECK (result IN ('K', 'BK')), attempts INTEGER NOT NULL,
                PRIMARY KEY (participant_id, scheme, unit))
            """,
            // Appeals (banding) against a result: filed, then upheld or dismissed.
            """
            CREATE TABLE IF NOT EXISTS grading_appeals (
                assessment_id TEXT PRIMARY KEY, participant_id TEXT NOT NULL, scheme TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('DIAJUKAN', 'DITERIMA', 'DITOLAK')), filed_on TEXT NOT NULL,
                decided_on TEXT)
            """,
            // The LSP of each assessment id kept: an appeal, a correction and an uji ulang come
            // from the LSP that assessed, and an id is one LSP's (ids refused before this rule
            // was kept for every status have no row).
            "CREATE TABLE IF NOT EXISTS grading_licences (assessment_id TEXT PRIMARY KEY, lsp_licence TEXT NOT NULL)",
        ]
    }

    public func handle(_ input: GradingInput, event: DecodedEvent, in transaction: any StoreTransaction) throws
        -> [OutgoingEvent]
    {
        switch input {
        case .scheduled(let scheduled):
            try transaction.execute(
                """
                INSERT INTO grading_enrolments (participant_id, class_id, programme, start_date, withdrawn) VALUES (?, ?, ?, ?, 0)
                ON CONFLICT (participant_id) DO UPDATE SET class_id = excluded.class_id, programme = excluded.programme,
                    start_date = excluded.start_date
                """,
                [
                    .text(scheduled.participantID), .text(scheduled.classID), .text(scheduled.programme),
                    .text(scheduled.startDate),
                ])
            return []
        case .withdrawn(let withdrawn):
            // A withdrawal is final (scheduling never seats a withdrawn participant again), and
            // holds whatever order the two events arrive in: a seat that lands after it (a retry
            // tier, a replay) does not undo it.
            try transaction.execute(
                """
                INSERT INTO grading_enrolments (participant_id, class_id, programme, start_date, withdrawn)
                VALUES (?, '', '', '', 1)
                ON CONFLICT (participant_id) DO UPDATE SET withdrawn = 1
                """, [.text(withdrawn.participantID)])
            return []
        case .submitted(let submitted):
            return try grade(submitted, event: event, in: transaction)
        case .appealed(let appealed):
            return try appeal(appealed, event: event, in: transaction)
        }
    }

    func grade(_ submitted: AssessmentSubmittedV3, event: DecodedEvent, in transaction: any StoreTransaction) throws
        -> [OutgoingEvent]
    {
        let known = try transaction.query(
            "SELECT status FROM grading_assessments WHERE assessment_id = ?", [.text(submitted.assessmentID)])
        if let status = known.first?["status"]?.text {
            // The same LSP's graded id sent again: the grade it had stands. Its refused id sent
            // again, corrected or not, is refused again, so the LSP hears why nothing was graded
            // (it was dropped without a word, and a correction under the old id was lost). An id
            // another LSP used is refused without saying whose it was or what became of it.
            let owner = try licence(of: submitted.assessmentID, in: transaction)
            let ours = owner == nil || owner == submitted.lspLicence
            if ours && status != "rejected" { return [] }
            let message =
                ours
                ? "Nomor asesmen ini sudah dipakai kiriman yang ditolak; kirim perbaikannya dengan nomor asesmen baru."
                : "Nomor asesmen ini sudah dipakai; kirim dengan nomor asesmen baru."
            return [
                try outgoing(
                    AssessmentRejectedV1(
                        assessmentID: submitted.assessmentID, participantID: submitted.participantID,
                        lspLicence: submitted.lspLicence, scheme: submitted.scheme,
                        reasons: [RegistrationReason(code: "ASSESSMENT_ID_USED", message: message)]),
                    event: event, subject: submitted.participantID)
            ]
        }
        let submittedAt = String(format: "%017.6f", event.header.time.timeIntervalSince1970)
        var reasons = try problems(submitted, in: transaction)
        let current = try currentAssessment(of: submitted.participantID, scheme: submitted.scheme, in: transaction)
        // Only the LSP of the participant's current result may correct it or re-assess them:
        // another LSP's result would replace it (and its answer would name the result it replaced).
        if let current, let owner = try licence(of: current.id, in: transaction), owner != submitted.lspLicence {
            reasons.append(
                RegistrationReason(
                    code: "LSP_MISMATCH",
                    message:
                        "Hasil uji peserta pada skema ini tercatat dari LSP lain; koreksi dan uji ulang hanya oleh LSP tersebut."
                ))
        }
        let stale =
            submitted.retakeOf == nil
            && current.map { ($0.assessedOn, $0.submittedAt) > (submitted.assessedOn, submittedAt) }
                ?? false
        if reasons.isEmpty, !stale, submitted.retakeOf == nil, let current {
            reasons += try correctionProblems(submitted, replacing: current.id, in: transaction)
        }
        guard reasons.isEmpty else {
            // A reserved id is not kept: it belongs to the result an upheld appeal will grade.
            if !reasons.contains(where: { $0.code == "ASSESSMENT_ID_RESERVED" }) {
                try record(submitted, submittedAt: submittedAt, outcome: nil, status: "rejected", in: transaction)
            }
            return [
                try outgoing(
                    AssessmentRejectedV1(
                        assessmentID: submitted.assessmentID, participantID: submitted.participantID,
                        lspLicence: submitted.lspLicence, scheme: submitted.scheme, reasons: Self.capped(reasons)),
                    event: event, subject: submitted.participantID)
            ]
        }
        if stale {
            // Older than what we already graded: keep it for the record, change nothing.
            try record(submitted, submittedAt: submittedAt, outcome: nil, status: "stale", in: transaction)
            return []
        }
        let supersedes = current?.id
        if let supersedes {
            try transaction.execute(
                "UPDATE grading_assessments SET status = 'superseded' WHERE assessment_id = ?", [.text(supersedes)])
        }
        // The units' results: an uji ulang sets the units it re-assessed and counts an attempt
        // each; a whole assessment sets every unit, and as a correction it counts an attempt
        // for each unit it turns from BK to K (a correction cannot reset the limit).
        let increment =
            submitted.retakeOf != nil
            ? "1" : "CASE WHEN grading_units.result = 'BK' AND excluded.result = 'K' THEN 1 ELSE 0 END"
        for unit in submitted.units {
            try transaction.execute(
                """
                INSERT INTO grading_units (participant_id, scheme, unit, result, attempts) VALUES (?, ?, ?, ?, 1)
                ON CONFLICT (participant_id, scheme, unit) DO UPDATE SET result = excluded.result,
                    attempts = grading_units.attempts + \(increment)
                """,
                [.text(submitted.participantID), .text(submitted.scheme), .text(unit.code), .text(unit.result.rawValue)])
        }
        let whole = try wholeResult(of: submitted.participantID, scheme: submitted.scheme, in: transaction)
        let (notYetCompetent, retakeAvailable) = (whole.notYetCompetent, whole.retakeAvailable)
        let outcome: AssessmentGradedV1.Outcome = notYetCompetent.isEmpty ? .competent : .notYetCompetent
        let assessed = Set(submitted.units.map(\.code))
        let attempt = whole.units.filter { assessed.contains($0.code) }.map(\.attempts).max() ?? 1
        try record(submitted, submittedAt: submittedAt, outcome: outcome.rawValue, status: "current", in: transaction)
        let graded = AssessmentGradedV3(
            assessmentID: submitted.assessmentID, participantID: submitted.participantID, scheme: submitted.scheme,
            outcome: outcome, notYetCompetentUnits: notYetCompetent, lspLicence: submitted.lspLicence,
            assessedOn: submitted.assessedOn, attendancePercent: submitted.attendancePercent,
            trainingOutcome: submitted.attendancePercent >= passingAttendance ? .passed : .failed, supersedes: supersedes,
            lspCertificateNumber: submitted.certificateNumber, lspRegistrationNumber: submitted.registrationNumber,
            retakeOf: submitted.retakeOf, attempt: attempt, retakeAvailable: retakeAvailable)
        return [try outgoing(graded, event: event, subject: submitted.participantID)]
    }

    /// A step of an appeal (banding) as the LSP reports it. Filed: the result appealed against
    /// must be the current BELUM KOMPETEN one, and an uji ulang waits until the appeal is
    /// decided. Upheld: the units it names (BK units of that result) become K, and the new whole
    /// result is graded. Dismissed: the result stands. A step already recorded is a repeat and
    /// changes nothing; one that contradicts it is rejected.
    func appeal(_ appeal: AssessmentAppealedV1, event: DecodedEvent, in transaction: any StoreTransaction) throws
        -> [OutgoingEvent]
    {
        let earlier = try transaction.query(
            "SELECT status, filed_on FROM grading_appeals WHERE assessment_id = ?", [.text(appeal.assessmentID)]
        ).first
        let earlierStatus = earlier?["status"]?.text.flatMap(AppealStatus.init(rawValue:))
        if earlierStatus == appeal.status { return [] }  // the same step again
        let knownAssessment = try !transaction.query(
            "SELECT 1 FROM grading_assessments WHERE assessment_id = ?", [.text(appeal.assessmentID)]
        ).isEmpty
        let current = try currentAssessment(of: appeal.participantID, scheme: appeal.scheme, in: transaction)
        let appealable =
            current?.id == appeal.assessmentID && current?.outcome == AssessmentGradedV1.Outcome.notYetCompetent.rawValue
        if !knownAssessment || (earlierStatus == nil && appeal.status != .filed && appealable) {
            // The result, or the filing, may still be on its way (several processes, a retry).
            throw Failure.transient(
                .assessmentNotYetKnown, "appeal step for \(appeal.assessmentID) before its result or its filing")
        }
        var reasons: [RegistrationReason] = []
        func add(_ code: String, _ message: String) { reasons.append(RegistrationReason(code: code, message: message)) }
        if !Self.isLicence(appeal.lspLicence) {
            add("LSP_LICENCE_INVALID", "Nomor lisensi LSP hanya boleh berisi huruf, angka, titik dan tanda hubung (maks. 64).")
        }
        let units = try unitResults(of: appeal.participantID, scheme: appeal.scheme, in: transaction)
        if current?.id != appeal.assessmentID {
            add("APPEAL_NOT_CURRENT", "Banding harus merujuk hasil uji kompetensi terakhir peserta pada skema ini.")
        } else if current?.outcome != AssessmentGradedV1.Outcome.notYetCompetent.rawValue {
            add("APPEAL_NOT_BK", "Banding hanya dapat diajukan atas hasil BELUM KOMPETEN.")
        }
        // An appeal goes to the LSP that assessed (results graded before licences were kept
        // have none to compare with).
        if let licence = try licence(of: appeal.assessmentID, in: transaction), licence != appeal.lspLicence {
            // Without the licence: it is another LSP's.
            add("APPEAL_LSP_MISMATCH", "Banding hanya dapat diputuskan oleh LSP yang menguji peserta ini.")
        }
        if ProgrammeCatalogue.day(appeal.on) == nil {
            add("DATE_INVALID", "Tanggal banding harus berformat YYYY-MM-DD.")
        } else if isInTheFuture(appeal.on) {
            add("DATE_IN_FUTURE", "Tanggal banding tidak boleh sesudah besok.")
        } else if let current, appeal.on < current.assessedOn {
            add("APPEAL_DATE_INVALID", "Tanggal banding tidak boleh sebelum tanggal uji kompetensi.")
        } else if let filedOn = earlier?["filed_on"]?.text, appeal.on < filedOn {
            add("APPEAL_DATE_INVALID", "Tanggal keputusan banding tidak boleh sebelum tanggal pengajuannya.")
        }
        switch (appeal.status, earlierStatus) {
        case (.filed, nil), (.upheld, .filed), (.dismissed, .filed): break
        case (.filed, _): add("APPEAL_ALREADY_FILED", "Banding atas hasil ini sudah pernah diajukan.")
        case (_, nil): add("APPEAL_NOT_FILED", "Keputusan banding memerlukan pengajuan banding lebih dahulu.")
        default: add("APPEAL_ALREADY_DECIDED", "Banding atas hasil ini sudah diputuskan.")
        }
        for number in [appeal.certificateNumber, appeal.registrationNumber].compactMap({ $0 }) where !Self.isLSPNumber(number) {
            add(
                "NUMBER_INVALID",
                "Nomor sertifikat dan registrasi BNSP: 1–64 huruf, angka, spasi dan . / - : ( ), bukan alamat web.")
        }
        if appeal.status == .upheld {
            if appeal.revisedUnits.isEmpty {
                add("APPEAL_NO_UNITS", "Banding yang diterima harus menyebut unit yang dinyatakan kompeten.")
            }
            if appeal.revisedUnits.count > Self.maximumUnits {
                add("UNITS_TOO_MANY", "Banding menyebut lebih dari \(Self.maximumUnits) unit.")
            }
            for code in Set(appeal.revisedUnits.prefix(Self.maximumUnits)).sorted()
            where !units.contains(where: { $0.code == code && $0.result == .notYetCompetent }) {
                add("APPEAL_UNIT_NOT_BK", "Unit \(code) bukan unit BELUM KOMPETEN pada hasil yang dibanding.")
            }
        } else if !appeal.revisedUnits.isEmpty {
            add("APPEAL_UNITS_UNEXPECTED", "Hanya banding yang diterima yang dapat mengubah hasil unit.")
        }
        guard reasons.isEmpty, let current else {
            return [
                try outgoing(
                    AssessmentRejectedV1(
                        assessmentID: appeal.assessmentID, participantID: appeal.participantID, lspLicence: appeal.lspLicence,
                        scheme: appeal.scheme, reasons: Self.capped(reasons)),
                    event: event, subject: appeal.participantID)
            ]
        }
        if appeal.status == .filed {
            try transaction.execute(
                """
                INSERT INTO grading_appeals (assessment_id, participant_id, scheme, status, filed_on)
                VALUES (?, ?, ?, 'DIAJUKAN', ?)
                """, [.text(appeal.assessmentID), .text(appeal.participantID), .text(appeal.scheme), .text(appeal.on)])
        } else {
            try transaction.execute(
                "UPDATE grading_appeals SET status = ?, decided_on = ? WHERE assessment_id = ?",
                [.text(appeal.status.rawValue), .text(appeal.on), .text(appeal.assessmentID)])
        }
        var output: [OutgoingEvent] = []
        var retakeAvailable = try wholeResult(of: appeal.participantID, scheme: appeal.scheme, in: transaction)
            .retakeAvailable
        if appeal.status == .upheld {
            // The units the appeal found competent become K; the whole result is graded again.
            for code in Set(appeal.revisedUnits) {
                try transaction.execute(
                    "UPDATE grading_units SET result = 'K' WHERE participant_id = ? AND scheme = ? AND unit = ?",
                    [.text(appeal.participantID), .text(appeal.scheme), .text(code)])
            }
            let revised = try wholeResult(of: appeal.participantID, scheme: appeal.scheme, in: transaction)
            let notYetCompetent = revised.notYetCompetent
            retakeAvailable = revised.retakeAvailable
            let outcome: AssessmentGradedV1.Outcome = notYetCompetent.isEmpty ? .competent : .notYetCompetent
            let resultID = appeal.assessmentID + Self.appealResultSuffix
            try transaction.execute(
                "UPDATE grading_assessments SET status = 'superseded' WHERE assessment_id = ?", [.text(current.id)])
            try transaction.execute(
                """
                INSERT INTO grading_assessments (assessment_id, participant_id, scheme, assessed_on, submitted_at, outcome, status)
                VALUES (?, ?, ?, ?, ?, ?, 'current')
                """,
                [
                    .text(resultID), .text(appeal.participantID), .text(appeal.scheme), .text(appeal.on),
                    .text(String(format: "%017.6f", event.header.time.timeIntervalSince1970)), .text(outcome.rawValue),
                ])
            try transaction.execute(
                "INSERT INTO grading_licences (assessment_id, lsp_licence) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [.text(resultID), .text(appeal.lspLicence)])
            let attempt = revised.units.filter { appeal.revisedUnits.contains($0.code) }.map(\.attempts).max() ?? 1
            output.append(
                try outgoing(
                    AssessmentGradedV3(
                        assessmentID: resultID, participantID: appeal.participantID, scheme: appeal.scheme, outcome: outcome,
                        notYetCompetentUnits: notYetCompetent, lspLicence: appeal.lspLicence, assessedOn: appeal.on,
                        attendancePercent: nil, trainingOutcome: nil, supersedes: current.id,
                        lspCertificateNumber: appeal.certificateNumber, lspRegistrationNumber: appeal.registrationNumber,
                        retakeOf: nil, attempt: attempt, retakeAvailable: retakeAvailable),
                    event: event, subject: appeal.participantID, idSuffix: "-graded"))
        }
        output.insert(
            try outgoing(
                AssessmentAppealRecordedV1(
                    assessmentID: appeal.assessmentID, participantID: appeal.participantID, scheme: appeal.scheme,
                    lspLicence: appeal.lspLicence, status: appeal.status, on: appeal.on, retakeAvailable: retakeAvailable),
                event: event, subject: appeal.participantID),
            at: 0)
        return output
    }

    /// The id suffix of a result an upheld appeal grades (`<appealed id>-BANDING`); an LSP's own
    /// assessment id may not end with it.
    static let appealResultSuffix = "-BANDING"

    /// The LSP licence recorded with a graded result.
    func licence(of assessment: String, in transaction: any StoreTransaction) throws -> String? {
        try transaction.query("SELECT lsp_licence FROM grading_licences WHERE assessment_id = ?", [.text(assessment)])
            .first?["lsp_licence"]?.text
    }

    /// The participant's current assessment of a scheme, if any.
    func currentAssessment(of participant: String, scheme: String, in transaction: any StoreTransaction) throws -> (
        id: String, assessedOn: String, submittedAt: String, outcome: String?
    )? {
        guard
            let row = try transaction.query(
                """
                SELECT assessment_id, assessed_on, submitted_at, outcome FROM grading_assessments
                WHERE participant_id = ? AND scheme = ? AND status = 'current'
                """, [.text(participant), .text(scheme)]
            ).first, let id = row["assessment_id"]?.text, let on = row["assessed_on"]?.text,
            let at = row["submitted_at"]?.text
        else { return nil }
        return (id, on, at, row["outcome"]?.text)
    }

    /// The candidate's whole result for a scheme: every unit of the scheme (one with no result
    /// counts as BK), the BK ones, and whether one of them has attempts left.
    func wholeResult(of participant: String, scheme: String, in transaction: any StoreTransaction) throws -> (
        units: [(code: String, result: AssessmentSubmittedV1.UnitResult, attempts: Int)], notYetCompetent: [String],
        retakeAvailable: Bool
    ) {
        let units = try unitResults(of: participant, scheme: scheme, in: transaction)
        let byCode = Dictionary(units.map { ($0.code, $0) }, uniquingKeysWith: { first, _ in first })
        let codes = catalogue.programme(scheme: scheme)?.scheme.units ?? units.map(\.code)
        let notYetCompetent = codes.filter { byCode[$0]?.result != .competent }.sorted()
        // With no per-unit results (graded before they were kept) no uji ulang can follow.
        let retakeAvailable =
            !units.isEmpty && notYetCompetent.contains { (byCode[$0]?.attempts ?? 0) < catalogue.attemptsPerUnit }
        return (units, notYetCompetent, retakeAvailable)
    }

    /// What is wrong with a whole assessment that replaces the current one (a correction): not
    /// while an appeal against it is pending, and a unit it turns from BK to K counts as an
    /// attempt, so a unit that has used its attempts can only change through banding.
    func correctionProblems(_ submitted: AssessmentSubmittedV3, replacing current: String, in transaction: any StoreTransaction)
        throws -> [RegistrationReason]
    {
        var reasons: [RegistrationReason] = []
        if try appealPending(on: current, in: transaction) {
            reasons.append(
                RegistrationReason(
                    code: "APPEAL_PENDING",
                    message: "Banding atas hasil ini masih diproses; hasil baru dapat dikirim setelah banding diputuskan."))
        }
        let units = Dictionary(
            try unitResults(of: submitted.participantID, scheme: submitted.scheme, in: transaction).map { ($0.code, $0) },
            uniquingKeysWith: { first, _ in first })
        for unit in submitted.units.sorted(by: { $0.code < $1.code }) where unit.result == .competent {
            guard let before = units[unit.code], before.result == .notYetCompetent,
                before.attempts >= catalogue.attemptsPerUnit
            else { continue }
            reasons.append(
                RegistrationReason(
                    code: "RETAKE_LIMIT_REACHED",
                    message:
                        "Unit \(unit.code) sudah diuji \(before.attempts) kali dan belum kompeten; hasilnya hanya dapat diubah melalui banding."
                ))
        }
        return reasons
    }

    func appealPending(on assessment: String, in transaction: any StoreTransaction) throws -> Bool {
        try transaction.query("SELECT status FROM grading_appeals WHERE assessment_id = ?", [.text(assessment)]).first?[
            "status"]?.text == AppealStatus.filed.rawValue
    }

    /// The participant's result and attempts per unit of a scheme.
    func unitResults(of participant: String, scheme: String, in transaction: any StoreTransaction) throws -> [(
        code: String, result: AssessmentSubmittedV1.UnitResult, attempts: Int
    )] {
        try transaction.query(
            "SELECT unit, result, attempts FROM grading_units WHERE participant_id = ? AND scheme = ? ORDER BY unit",
            [.text(participant), .text(scheme)]
        ).compactMap { row in
            guard let code = row["unit"]?.text,
                let result = row["result"]?.text.flatMap(AssessmentSubmittedV1.UnitResult.init(rawValue:)),
                let attempts = row["attempts"]?.integer
            else { return nil }
            return (code, result, Int(attempts))
        }
    }

    /// Everything wrong with a submission, in a stable order.
    func problems(_ submitted: AssessmentSubmittedV3, in transaction: any StoreTransaction) throws -> [RegistrationReason] {
        var reasons: [RegistrationReason] = []
        func add(_ code: String, _ message: String) { reasons.append(RegistrationReason(code: code, message: message)) }
        let enrolment = try transaction.query(
            "SELECT programme, start_date, withdrawn FROM grading_enrolments WHERE participant_id = ?",
            [.text(submitted.participantID)]
        ).first
        let scheme = catalogue.programme(scheme: submitted.scheme)?.scheme
        if enrolment == nil || enrolment?["withdrawn"]?.integer == 1 {
            add("NOT_ENROLLED", "Peserta tidak terdaftar (atau sudah mengundurkan diri) pada kelas pelatihan 2025.")
        } else if scheme == nil {
            add("SCHEME_UNKNOWN", "Skema \(submitted.scheme) tidak dikenal dalam program pelatihan 2025.")
        } else if let programme = enrolment?["programme"]?.text,
            catalogue.centres.flatMap(\.programmes).first(where: { $0.code == programme })?.scheme.code != submitted.scheme
        {
            add("SCHEME_MISMATCH", "Skema \(submitted.scheme) tidak sesuai dengan program pelatihan peserta.")
        }
        // The licence becomes part of a certificate's id and file name: letters, digits, dots
        // and dashes only, as BNSP writes them (`BNSP-LSP-0123-ID`).
        if !Self.isLicence(submitted.lspLicence) {
            add("LSP_LICENCE_INVALID", "Nomor lisensi LSP hanya boleh berisi huruf, angka, titik dan tanda hubung (maks. 64).")
        }
        if submitted.assessmentID.hasSuffix(Self.appealResultSuffix) {
            add(
                "ASSESSMENT_ID_RESERVED",
                "Nomor asesmen yang berakhiran \(Self.appealResultSuffix) dipakai untuk hasil banding; gunakan nomor lain.")
        }
        if ProgrammeCatalogue.day(submitted.assessedOn) == nil {
            add("DATE_INVALID", "Tanggal uji kompetensi harus berformat YYYY-MM-DD.")
        } else if isInTheFuture(submitted.assessedOn) {
            // A date to come would make every later correction, uji ulang and appeal older.
            add("DATE_IN_FUTURE", "Tanggal uji kompetensi tidak boleh sesudah besok.")
        } else if let start = enrolment?["start_date"]?.text, submitted.assessedOn <= start {
            // After the training started: not before it, nor on its first day.
            add("ASSESSED_BEFORE_TRAINING", "Tanggal uji kompetensi harus sesudah hari pertama pelatihan.")
        }
        // The LSP's numbers are signed into the record and sent word for word to the holder.
        for number in [submitted.certificateNumber, submitted.registrationNumber].compactMap({ $0 })
        where !Self.isLSPNumber(number) {
            add(
                "NUMBER_INVALID",
                "Nomor sertifikat dan registrasi BNSP: 1–64 huruf, angka, spasi dan . / - : ( ), bukan alamat web.")
        }
        if submitted.units.count > Self.maximumUnits {
            add("UNITS_TOO_MANY", "Hasil uji menyebut lebih dari \(Self.maximumUnits) unit.")
        }
        // The first units only: past the bound the result is refused anyway, and each unit's
        // check below costs a reason of its own.
        let codes = submitted.units.prefix(Self.maximumUnits).map(\.code)
        for code in codes where !Self.isUnitCode(code) {
            add("UNIT_CODE_INVALID", "Kode unit \(code) tidak sesuai format SKKNI.")
        }
        var times: [String: Int] = [:]
        for code in codes { times[code, default: 0] += 1 }
        for code in times.filter({ $0.value > 1 }).keys.sorted() {
            add("UNIT_DUPLICATED", "Unit \(code) dinilai lebih dari satu kali.")
        }
        if let scheme {
            if submitted.retakeOf == nil {
                for code in scheme.units where !codes.contains(code) {
                    add("UNIT_MISSING", "Hasil unit \(code) belum ada.")
                }
            }
            for code in Set(codes).subtracting(scheme.units).sorted() where Self.isUnitCode(code) {
                add("UNIT_UNKNOWN", "Unit \(code) bukan bagian dari skema \(scheme.code).")
            }
        }
        if submitted.assessorRegistration.trimmingCharacters(in: .whitespaces).isEmpty {
            add("ASSESSOR_MISSING", "Nomor registrasi asesor (MET) wajib diisi.")
        }
        if submitted.testSite.trimmingCharacters(in: .whitespaces).isEmpty {
            add("TEST_SITE_MISSING", "Tempat Uji Kompetensi (TUK) wajib diisi.")
        }
        if !(0...100).contains(submitted.attendancePercent) {
            add("ATTENDANCE_INVALID", "Persentase kehadiran harus antara 0 dan 100.")
        }
        // An uji ulang of a result not seen yet is tried again later, unless something else is
        // wrong with it already (then it is refused with those reasons).
        if let retakeOf = submitted.retakeOf, reasons.isEmpty {
            reasons += try retakeProblems(submitted, retakeOf: retakeOf, in: transaction)
        }
        return reasons
    }

    /// What is wrong with an uji ulang: it must follow the candidate's current BELUM KOMPETEN
    /// result, be dated after it, and re-assess only units still BK with attempts left.
    func retakeProblems(_ submitted: AssessmentSubmittedV3, retakeOf: String, in transaction: any StoreTransaction) throws
        -> [RegistrationReason]
    {
        var reasons: [RegistrationReason] = []
        func add(_ code: String, _ message: String) { reasons.append(RegistrationReason(code: code, message: message)) }
        let current = try currentAssessment(of: submitted.participantID, scheme: submitted.scheme, in: transaction)
        // After an upheld appeal the current result is `<id>-BANDING`; the LSP may name either.
        guard let current, current.id == retakeOf || current.id == retakeOf + Self.appealResultSuffix else {
            if try transaction.query(
                "SELECT 1 FROM grading_assessments WHERE assessment_id = ?", [.text(retakeOf)]
            ).isEmpty {
                // The result it follows may still be on its way: try again later.
                throw Failure.transient(
                    .assessmentNotYetKnown, "the assessment \(retakeOf) this uji ulang follows has not arrived yet")
            }
            add("RETAKE_NOT_CURRENT", "Uji ulang harus merujuk hasil uji kompetensi terakhir peserta pada skema ini.")
            return reasons
        }
        guard current.outcome == AssessmentGradedV1.Outcome.notYetCompetent.rawValue else {
            add("RETAKE_NOT_NEEDED", "Peserta sudah KOMPETEN pada skema ini; uji ulang tidak diperlukan.")
            return reasons
        }
        if try appealPending(on: current.id, in: transaction) {
            add(
                "RETAKE_APPEAL_PENDING",
                "Banding atas hasil ini masih diproses; uji ulang dapat diajukan setelah banding diputuskan.")
        }
        if submitted.units.isEmpty {
            add("RETAKE_NO_UNITS", "Uji ulang harus memuat hasil sedikitnya satu unit.")
        }
        if ProgrammeCatalogue.day(submitted.assessedOn) != nil, submitted.assessedOn <= current.assessedOn {
            add("RETAKE_DATE_INVALID", "Tanggal uji ulang harus sesudah tanggal uji kompetensi sebelumnya.")
        }
        let units = Dictionary(
            try unitResults(of: submitted.participantID, scheme: submitted.scheme, in: transaction).map { ($0.code, $0) },
            uniquingKeysWith: { first, _ in first })
        guard !units.isEmpty else {
            // A result graded before per-unit results were kept: nothing to re-assess against.
            add(
                "RETAKE_NO_UNIT_RESULTS",
                "Hasil per unit uji kompetensi sebelumnya tidak tercatat; kirim hasil uji kompetensi lengkap.")
            return reasons
        }
        for code in Set(submitted.units.map(\.code)).sorted() {
            guard let unit = units[code] else {
                // A unit of the scheme with no result yet counts as BK with no attempt; one
                // outside the scheme is UNIT_UNKNOWN.
                continue
            }
            if unit.result != .notYetCompetent {
                add("RETAKE_UNIT_COMPETENT", "Unit \(code) sudah kompeten; uji ulang hanya untuk unit yang belum kompeten.")
            } else if unit.attempts >= catalogue.attemptsPerUnit {
                add(
                    "RETAKE_LIMIT_REACHED",
                    "Unit \(code) sudah diuji \(unit.attempts) kali; batasnya \(catalogue.attemptsPerUnit) kali per unit.")
            }
        }
        return reasons
    }

    /// A BNSP licence number as it may become part of a certificate's id and file name: letters,
    /// digits, dots and dashes, at most 64.
    static func isLicence(_ licence: String) -> Bool {
        licence.wholeMatch(of: /[A-Za-z0-9][A-Za-z0-9.-]{0,63}/) != nil
    }

    /// An SKKNI unit code: the 2012 format `X.000000.000.00` (Permenakertrans 8/2012), or an
    /// older one still found in schemes (`OTO.SM01.001.01`, `PAR.HT02.026.01`, `G.45OTO01.001.1`).
    public static func isUnitCode(_ code: String) -> Bool {
        code.wholeMatch(of: /[A-U]\.\d{6}\.\d{3}\.\d{2}/) != nil
            // Older codes have letters in the middle part (a 2012 code with a digit missing must fail).
            || code.wholeMatch(of: /[A-Z]{1,4}\.(?=[0-9]*[A-Z])[A-Z0-9]{4,8}\.\d{3}\.\d{1,2}/) != nil
    }

    func record(
        _ submitted: AssessmentSubmittedV3, submittedAt: String, outcome: String?, status: String,
        in transaction: any StoreTransaction
    ) throws {
        try transaction.execute(
            """
            INSERT INTO grading_assessments (assessment_id, participant_id, scheme, assessed_on, submitted_at, outcome, status)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .text(submitted.assessmentID), .text(submitted.participantID), .text(submitted.scheme),
                .text(submitted.assessedOn), .text(submittedAt), outcome.map(SQLValue.text) ?? .null, .text(status),
            ])
        // Whose the id is, for every id kept (an appeal goes to the LSP that assessed; an id is
        // one LSP's).
        try transaction.execute(
            "INSERT INTO grading_licences (assessment_id, lsp_licence) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [.text(submitted.assessmentID), .text(submitted.lspLicence)])
    }

    func outgoing<M: ContractMessage>(_ message: M, event: DecodedEvent, subject: String, idSuffix: String = "") throws
        -> OutgoingEvent
    {
        try OutgoingEvent(
            EventEnvelope(
                id: "grading-\(event.header.id)\(idSuffix)", source: source, subject: subject,
                correlationID: event.header.correlationID,
                causationID: event.header.id, data: message),
            exchange: exchange)
    }
}
