import ContractKit
import Contracts
import Foundation
import IntakeRules
import Jobs
import Programme

/// Consent: the applicant's own, a parent's or guardian's for an applicant under 18 (UU 27/2022
/// Art. 25), and its withdrawal (Art. 9), which stops the registration.
extension IntakeHandler {
    static let consentTables = [
        // The consent a registration was accepted or put in review on: the applicant's (time and
        // text version), the parent's or guardian's for a child. A withdrawal is added to it, or
        // is a row of its own when it concerns a registration decided otherwise or not yet.
        """
        CREATE TABLE IF NOT EXISTS intake_consents (
            registration_id TEXT PRIMARY KEY, given_at TEXT, text_version TEXT, guardian_name TEXT,
            guardian_relation TEXT, guardian_given_at TEXT, guardian_text_version TEXT, withdrawn_at TEXT,
            withdrawn_by TEXT, recorded_by TEXT, withdrawal_reference TEXT)
        """,
        // The retention's search (``IntakeHandler/retention``).
        "CREATE INDEX IF NOT EXISTS intake_registrations_decided ON intake_registrations (year, decided_at)",
    ]

    /// Whether the applicant is under 18 on the reference date by the declared birth date or by
    /// the one in the NIK: either is enough, so that a child's data is never processed on a
    /// typing error.
    func isChild(_ registration: RegistrationSubmittedV3, birthDateInNIK: String?) -> Bool {
        [registration.birthDate, birthDateInNIK].compactMap { $0 }
            .compactMap { NIKCheck.age(of: $0, on: catalogue.referenceDate) }
            .contains { $0 < ConsentRules.adultAge }
    }

    func consentFindings(_ registration: RegistrationSubmittedV3, birthDateInNIK: String?) -> [IntakeFinding] {
        var findings: [IntakeFinding] = []
        if !registration.consent.given {
            findings.append(.init(.reject, "CONSENT_MISSING", "Persetujuan pemrosesan data pribadi belum diberikan."))
        }
        if isChild(registration, birthDateInNIK: birthDateInNIK),
            !(registration.guardianConsent.map(ConsentRules.isComplete) ?? false)
        {
            findings.append(
                .init(
                    .reject, "GUARDIAN_CONSENT_MISSING",
                    "Pendaftar berusia di bawah \(ConsentRules.adultAge) tahun: persetujuan orang tua atau wali wajib diberikan saat mendaftar."
                ))
        }
        return findings
    }

    /// Keeps the consent a registration accepted or in review is processed on; a parent's or
    /// guardian's only for a child (an adult's is not needed, so not kept).
    func recordConsent(_ registration: RegistrationSubmittedV3, birthDateInNIK: String?, in transaction: any StoreTransaction)
        throws
    {
        let guardian = isChild(registration, birthDateInNIK: birthDateInNIK) ? registration.guardianConsent : nil
        func text(_ value: String?) -> SQLValue { value.map { .text($0) } ?? .null }
        try transaction.execute(
            """
            INSERT INTO intake_consents (registration_id, given_at, text_version, guardian_name, guardian_relation,
                guardian_given_at, guardian_text_version)
            VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (registration_id) DO NOTHING
            """,
            [
                // The applicant's own consent is not checked beyond `given` (v1 and v2 senders):
                // its time is kept only when it is one, its text version only when it is a short
                // line, whatever a publisher sent.
                .text(registration.registrationID),
                text(ConsentRules.time(registration.consent.givenAt).map { Self.formatTime($0) }),
                text(ConsentRules.isShortText(registration.consent.textVersion) ? registration.consent.textVersion : nil),
                text(guardian.map { $0.guardianName.trimmingCharacters(in: .whitespacesAndNewlines) }),
                text(guardian?.relation.rawValue), text(guardian?.givenAt), text(guardian?.textVersion),
            ])
    }

    /// When a withdrawal of consent for this registration was recorded, if one was.
    func withdrawal(of registrationID: String, in transaction: any StoreTransaction) throws -> String? {
        try transaction.query(
            "SELECT withdrawn_at FROM intake_consents WHERE registration_id = ? AND withdrawn_at IS NOT NULL",
            [.text(registrationID)]
        ).first?["withdrawn_at"]?.text
    }

    /// A registration whose consent was withdrawn before it arrived: rejected `CONSENT_WITHDRAWN`
    /// without looking at the NIK (no blind index, no masked NIK, no registry lookup). A
    /// withdrawal recorded before the registration's submission time only: one for a number not
    /// given out yet (a typo) is dropped when a later registration gets that number. `nil`: no
    /// such withdrawal, decide as usual.
    func remembered(withdrawalOf registration: RegistrationSubmittedV3, event: DecodedEvent, in transaction: any StoreTransaction)
        throws -> [OutgoingEvent]?
    {
        guard let recorded = try withdrawal(of: registration.registrationID, in: transaction) else { return nil }
        guard let withdrawnAt = Self.parseTime(recorded),
            ConsentRules.withdrawal(at: withdrawnAt, concernsSubmissionAt: event.header.time)
        else {
            try transaction.execute(
                "DELETE FROM intake_consents WHERE registration_id = ?", [.text(registration.registrationID)])
            return nil
        }
        try transaction.execute(
            """
            INSERT INTO intake_registrations (registration_id, nik_index, masked_nik, year, participant_id, programme, outcome,
                reasons, decided_at)
            VALUES (?, NULL, '****', ?, NULL, ?, 'rejected', ?, ?)
            """,
            [
                .text(registration.registrationID), .integer(Int64(catalogue.year)), .text(registration.programme),
                .text(Self.withdrawnReason.code), .text(Date().formatted(.iso8601)),
            ])
        return [
            try outgoing(
                RegistrationRejectedV1(registrationID: registration.registrationID, reasons: [Self.withdrawnReason]),
                causedBy: event, subject: registration.registrationID),
            try received(registration, event: event),
        ]
    }

    /// Carries out a withdrawal of consent: processing of that registration stops.
    ///
    /// - In review: the case is closed and its file deleted, and the registration ends as
    ///   rejected (`CONSENT_WITHDRAWN`).
    /// - Accepted: scheduling is asked to withdraw the participant from their class or the
    ///   waiting list (`enrolment.withdrawal-requested`, MENGUNDURKAN_DIRI, on the day intake
    ///   handles it, as the recorder).
    /// - Rejected: nothing more to stop.
    /// - Not decided yet (the submission is late, waiting for a retry or in the dead letters):
    ///   the withdrawal is remembered, and the registration, when it comes, is rejected
    ///   `CONSENT_WITHDRAWN`.
    ///
    /// A registration in review ends as rejected, so the NIK is free for a later registration
    /// made with a new consent; an accepted participant who withdrew stays the year's
    /// registration of that NIK (scheduling does not seat a withdrawn participant again). A
    /// repeat changes nothing.
    func withdrawConsent(_ withdrawal: ConsentWithdrawnV1, event: DecodedEvent, in transaction: any StoreTransaction) throws
        -> [OutgoingEvent]
    {
        if let problem = ConsentRules.problem(with: withdrawal) {
            throw Failure.permanent(.invalidConsentWithdrawal, "a withdrawal of consent cannot be recorded: \(problem)")
        }
        let registration = SQLValue.text(withdrawal.registrationID)
        if try self.withdrawal(of: withdrawal.registrationID, in: transaction) != nil { return [] }  // a repeat
        let withdrawnAt = ConsentRules.time(withdrawal.withdrawnAt) ?? Date()
        let recordedBy = SQLValue.text(withdrawal.recordedBy.trimmingCharacters(in: .whitespacesAndNewlines))
        try transaction.execute(
            """
            INSERT INTO intake_consents (registration_id, withdrawn_at, withdrawn_by, recorded_by,
                withdrawal_reference)
            VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (registration_id) DO UPDATE SET withdrawn_at = excluded.withdrawn_at,
                withdrawn_by = excluded.withdrawn_by, recorded_by = excluded.recorded_by,
                withdrawal_reference = excluded.withdrawal_reference
            """,
            [
                registration, .text(Self.formatTime(withdrawnAt)), .text(withdrawal.withdrawnBy.rawValue), recordedBy,
                .text(withdrawal.reference.trimmingCharacters(in: .whitespacesAndNewlines)),
            ])
        // Counted no more: the reports' profile goes with the consent.
        try transaction.execute("DELETE FROM intake_profiles WHERE registration_id = ?", [registration])
        guard
            let decided = try transaction.query(
                "SELECT outcome, participant_id FROM intake_registrations WHERE registration_id = ?", [registration]
            ).first
        else { return [] }  // remembered: the registration is rejected when it arrives
        switch decided["outcome"]?.text {
        case "review":
            try transaction.execute(
                """
                UPDATE intake_reviews SET state = 'rejected', officer = ?, decision_code = ?, decided_at = ?, case_file = NULL
                WHERE registration_id = ? AND state IN ('open', 'documents-requested')
                """, [recordedBy, .text(Self.withdrawnReason.code), .text(Self.formatTime(Date())), registration])
            try transaction.execute(
                """
                UPDATE intake_registrations SET outcome = 'rejected',
                    reasons = CASE WHEN reasons = '' THEN ? ELSE reasons || ',' || ? END
                WHERE registration_id = ?
                """, [.text(Self.withdrawnReason.code), .text(Self.withdrawnReason.code), registration])
            return [
                try outgoing(
                    RegistrationRejectedV1(registrationID: withdrawal.registrationID, reasons: [Self.withdrawnReason]),
                    causedBy: event, subject: withdrawal.registrationID)
            ]
        case "accepted":
            guard let participantID = decided["participant_id"]?.text else { return [] }
            // The day intake handles it, not the publisher's time: whether the seat is given to
            // someone else depends on it (a class that has started is not refilled).
            let on = CivilDay.text(Date(), offset: CivilDay.wita) ?? "0000-00-00"
            return [
                try outgoing(
                    EnrolmentWithdrawalRequestedV1(
                        participantID: participantID, classID: nil, reason: .participantResigned, on: on,
                        requestedBy: withdrawal.recordedBy.trimmingCharacters(in: .whitespacesAndNewlines)),
                    causedBy: event, subject: participantID)
            ]
        default:
            return []
        }
    }

    /// The reason a registration in review ends when its consent is withdrawn.
    static let withdrawnReason = RegistrationReason(
        code: "CONSENT_WITHDRAWN", message: "Persetujuan pemrosesan data pribadi ditarik; pendaftaran dihentikan.")
}
