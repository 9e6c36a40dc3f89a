import ContractKit
import Contracts
public import Foundation
import IntakeRules
import Jobs
import ReviewDesk

extension IntakeHandler {
    static let reviewTables = [
        """
        CREATE TABLE IF NOT EXISTS intake_reviews (
            registration_id TEXT PRIMARY KEY, opened_at TEXT NOT NULL, reasons TEXT NOT NULL,
            centre TEXT NOT NULL, programme TEXT NOT NULL, participant_id TEXT, priority_tier INTEGER,
            priority_reasons TEXT, apprenticeship_interest INTEGER NOT NULL, submitted_at TEXT, case_file TEXT,
            state TEXT NOT NULL CHECK (state IN ('open', 'documents-requested', 'approved', 'rejected')),
            officer TEXT, decision_code TEXT, decided_at TEXT)
        """,
        "CREATE INDEX IF NOT EXISTS intake_reviews_pending ON intake_reviews (state, opened_at)",
        """
        CREATE TABLE IF NOT EXISTS intake_review_log (
            message_id TEXT PRIMARY KEY, registration_id TEXT NOT NULL, decision TEXT NOT NULL, officer TEXT NOT NULL,
            verified_reasons TEXT NOT NULL, reason_code TEXT, decided_at TEXT NOT NULL)
        """,
    ]

    /// Times in intake's tables: ISO 8601 with milliseconds, UTC (sorts as text).
    public static func formatTime(_ date: Date) -> String { ReviewTime.format(date) }

    static func parseTime(_ text: String) -> Date? { ReviewTime.parse(text) }

    /// Opens the review of a registration: what the officer needs to decide, and what intake
    /// needs to accept it later as if it had been accepted now (participant id, tier, the
    /// submission time).
    func openReview(
        _ registration: RegistrationSubmittedV3, event: DecodedEvent, reasons: [RegistrationReason], nikIndex: String?,
        maskedNIK: String, participantID: String?, in transaction: any StoreTransaction
    ) throws {
        let tier = try nikIndex.map { try priority(registration, nikIndex: $0, in: transaction) }
        let record = try nikIndex.flatMap { try registry.record(nikIndex: $0, in: transaction) }
        let caseFile = ReviewCaseFile(
            maskedNIK: maskedNIK,
            declared: .init(
                fullName: registration.fullName, birthDate: registration.birthDate, birthPlace: registration.birthPlace,
                sex: registration.sex, domicileRegion: registration.domicile.regionCode, education: registration.education,
                employmentStatus: registration.employmentStatus,
                hasJobSeekerCard: !(registration.jobSeekerCardNumber ?? "").isEmpty,
                declaredTrainings: registration.declaredTrainings),
            registry: record.map {
                .init(
                    fullName: $0.fullName, birthDate: $0.birthDate, regionCode: String($0.regionCode.prefix(2)),
                    livesInKaltim: $0.livesInKaltim)
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let reasonsJSON = String(decoding: try encoder.encode(reasons), as: UTF8.self)
        let caseJSON = String(decoding: try encoder.encode(caseFile), as: UTF8.self)
        let tierValue: SQLValue = tier.map { .integer(Int64($0.0.rawValue)) } ?? .null
        let tierReasons: SQLValue = tier.map { .text($0.1.joined(separator: ",")) } ?? .null
        let submittedAt: SQLValue = .text(Self.formatTime(event.header.time))
        let participant: SQLValue = participantID.map(SQLValue.text) ?? .null
        let arguments: [SQLValue] = [
            .text(registration.registrationID), .text(Self.formatTime(Date())), .text(reasonsJSON),
            .text(registration.preferredCentre.rawValue), .text(registration.programme), participant, tierValue, tierReasons,
            .integer(registration.apprenticeshipInterest ? 1 : 0), submittedAt, .text(caseJSON),
        ]
        try transaction.execute(
            """
            INSERT INTO intake_reviews (registration_id, opened_at, reasons, centre, programme, participant_id, priority_tier,
                priority_reasons, apprenticeship_interest, submitted_at, case_file, state)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open')
            """, arguments)
    }

    /// Carries out an officer's decision on a registration in review.
    ///
    /// A decision on a registration that is not in review, or was already approved or
    /// rejected, is refused (a permanent failure: the dead letter shows the officer's message
    /// and why), as is an approval that leaves an open reason unverified, or a rejection or a
    /// request for documents without a reason for the applicant.
    func carryOut(_ review: RegistrationReviewedV1, event: DecodedEvent, in transaction: any StoreTransaction) throws
        -> [OutgoingEvent]
    {
        guard
            let row = try transaction.query(
                "SELECT * FROM intake_reviews WHERE registration_id = ?", [.text(review.registrationID)]
            ).first
        else {
            throw Failure.permanent(
                .reviewUnknown, "registration \(review.registrationID) is not in review; nothing to decide")
        }
        let reviewCase = ReviewCase(row: row)
        guard reviewCase.isPending else {
            throw Failure.permanent(
                .reviewAlreadyDecided,
                "registration \(review.registrationID) was already \(reviewCase.state) by \(reviewCase.officer ?? "an officer"); "
                    + "a decision is not changed by a second one")
        }
        let officer = review.officer.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !officer.isEmpty, officer.count <= 200 else {
            throw Failure.permanent(.invalidReviewDecision, "a review decision names its officer (1 to 200 characters)")
        }
        if let reason = review.reason {
            do { try OfficerDecision.checkApplicantReason(reason) } catch let error as ReviewDecisionError {
                throw Failure.permanent(.invalidReviewDecision, error.description)
            }
        }
        guard review.verifiedReasons.count <= 20,
            review.verifiedReasons.allSatisfy({ $0.wholeMatch(of: /[A-Z][A-Z0-9_]{1,63}/) != nil })
        else {
            throw Failure.permanent(.invalidReviewDecision, "verified reasons are at most 20 UPPER_SNAKE codes")
        }
        let now = Self.formatTime(Date())
        let outgoing: any ContractMessage
        switch review.decision {
        case .approve:
            let missing = Set(reviewCase.reasons.map(\.code)).subtracting(review.verifiedReasons)
            guard missing.isEmpty else {
                throw Failure.permanent(
                    .invalidReviewDecision,
                    "an approval verifies every open reason; not verified: \(missing.sorted().joined(separator: ", "))")
            }
            guard let participantID = row["participant_id"]?.text, let tierValue = row["priority_tier"]?.integer,
                let tier = RegistrationAcceptedV1.PriorityTier(rawValue: Int(tierValue)),
                let centre = TrainingCentre(rawValue: reviewCase.centre)
            else {
                throw Failure.permanent(
                    .invalidReviewDecision,
                    "registration \(review.registrationID) has no valid NIK to make a participant of; it can only be rejected")
            }
            try transaction.execute(
                "UPDATE intake_registrations SET outcome = 'accepted', participant_id = ? WHERE registration_id = ?",
                [.text(participantID), .text(review.registrationID)])
            outgoing = RegistrationAcceptedV2(
                registrationID: review.registrationID, participantID: participantID, centre: centre,
                programme: reviewCase.programme, priorityTier: tier,
                priorityReasons: (row["priority_reasons"]?.text ?? "").split(separator: ",").map(String.init),
                apprenticeshipInterest: row["apprenticeship_interest"]?.integer == 1,
                submittedAt: (row["submitted_at"]?.text).flatMap(Self.parseTime))
        case .reject:
            guard let reason = review.reason else {
                throw Failure.permanent(.invalidReviewDecision, "a rejection gives the applicant a reason")
            }
            try transaction.execute(
                "UPDATE intake_registrations SET outcome = 'rejected' WHERE registration_id = ?", [.text(review.registrationID)])
            outgoing = RegistrationRejectedV1(registrationID: review.registrationID, reasons: [reason])
        case .requestDocuments:
            guard let reason = review.reason else {
                throw Failure.permanent(.invalidReviewDecision, "a request for documents says which documents")
            }
            if let respondBy = review.respondBy, !OfficerDecision.isCalendarDate(respondBy) {
                throw Failure.permanent(.invalidReviewDecision, "respondBy is a date, YYYY-MM-DD")
            }
            guard let centre = TrainingCentre(rawValue: reviewCase.centre) else {
                throw Failure.permanent(.brokenInvariant, "review \(review.registrationID) names no known BLKI")
            }
            outgoing = RegistrationDocumentsRequestedV1(
                registrationID: review.registrationID, centre: centre, reason: reason, respondBy: review.respondBy)
        }
        let state =
            switch review.decision {
            case .approve: "approved"
            case .reject: "rejected"
            case .requestDocuments: "documents-requested"
            }
        // Decided: the personal data of the case file is no longer needed.
        try transaction.execute(
            """
            UPDATE intake_reviews SET state = ?, officer = ?, decision_code = ?, decided_at = ?,
                case_file = CASE WHEN ? IN ('approved', 'rejected') THEN NULL ELSE case_file END
            WHERE registration_id = ?
            """,
            [
                .text(state), .text(officer), review.reason.map { .text($0.code) } ?? .null, .text(now), .text(state),
                .text(review.registrationID),
            ])
        try transaction.execute(
            """
            INSERT INTO intake_review_log (message_id, registration_id, decision, officer, verified_reasons, reason_code,
                decided_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .text(event.header.id), .text(review.registrationID), .text(review.decision.rawValue), .text(officer),
                .text(review.verifiedReasons.joined(separator: ",")), review.reason.map { .text($0.code) } ?? .null,
                .text(now),
            ])
        var events = [try self.outgoing(outgoing, causedBy: event, subject: review.registrationID)]
        if let accepted = outgoing as? RegistrationAcceptedV2, let name = reviewCase.caseFile?.declared.fullName {
            events.append(try named(accepted.participantID, review.registrationID, fullName: name, causedBy: event))
        }
        return events
    }

}
