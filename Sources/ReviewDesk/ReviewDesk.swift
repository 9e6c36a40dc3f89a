// The officers' review desk (verifikasi): the case file intake keeps for a registration in
// review, reading the cases from intake's store, and turning what an officer chose into a
// `registration.reviewed` decision. Intake writes the case files; `kaltim-worker review` and
// the console read them and publish decisions, so the format and the checks live here once.
import ContractKit
public import Contracts
public import Foundation
public import Jobs

/// What an officer sees of a registration in review: the reasons, the data the applicant
/// declared beside the civil-registry record, and the facts the documents are checked against.
/// Personal data, kept in intake's store only while the review is open: the case file is
/// removed when the officer approves or rejects (the decision and its audit stay).
public struct ReviewCaseFile: Codable, Sendable, Equatable {
    /// What the applicant declared.
    public struct Declared: Codable, Sendable, Equatable {
        public var fullName: String
        public var birthDate: String
        public var birthPlace: String
        public var sex: Sex
        /// The domicile's Kemendagri region code (the address itself is not needed to decide).
        public var domicileRegion: String
        public var education: EducationLevel
        public var employmentStatus: RegistrationSubmittedV2.EmploymentStatus?
        /// Whether the applicant has a kartu AK/I (the number is not needed to decide).
        public var hasJobSeekerCard: Bool
        public var declaredTrainings: [DeclaredTraining]

        public init(
            fullName: String, birthDate: String, birthPlace: String, sex: Sex, domicileRegion: String,
            education: EducationLevel, employmentStatus: RegistrationSubmittedV2.EmploymentStatus?, hasJobSeekerCard: Bool,
            declaredTrainings: [DeclaredTraining]
        ) {
            self.fullName = fullName
            self.birthDate = birthDate
            self.birthPlace = birthPlace
            self.sex = sex
            self.domicileRegion = domicileRegion
            self.education = education
            self.employmentStatus = employmentStatus
            self.hasJobSeekerCard = hasJobSeekerCard
            self.declaredTrainings = declaredTrainings
        }
    }

    /// What the registry extract holds on the NIK: the name, the birth date and the domicile's
    /// province (a case file written before the extract was reduced may also have a sex and a
    /// village code; they are not read).
    public struct Registry: Codable, Sendable, Equatable {
        public var fullName: String
        public var birthDate: String
        /// The province's Kemendagri code, 2 digits.
        public var regionCode: String
        public var livesInKaltim: Bool

        public init(fullName: String, birthDate: String, regionCode: String, livesInKaltim: Bool) {
            self.fullName = fullName
            self.birthDate = birthDate
            self.regionCode = regionCode
            self.livesInKaltim = livesInKaltim
        }
    }

    /// The NIK masked to its last four digits (`************9901`): the case file also holds the
    /// birth date and sex, from which the middle digits of the log mask could be rebuilt.
    public var maskedNIK: String
    public var declared: Declared
    /// `nil` when the registry has no record of the NIK.
    public var registry: Registry?

    public init(maskedNIK: String, declared: Declared, registry: Registry?) {
        self.maskedNIK = maskedNIK
        self.declared = declared
        self.registry = registry
    }
}

/// One registration in review, as `kaltim-worker review` and the console's case-file page read
/// it from intake's store.
public struct ReviewCase: Sendable, Equatable {
    /// `open` or `documents-requested` while pending; `approved` or `rejected` once decided.
    public var state: String
    public var registrationID: String
    public var centre: String
    public var programme: String
    public var openedAt: Date
    /// Why intake could not decide alone.
    public var reasons: [RegistrationReason]
    /// `nil` once decided (the case file is removed).
    public var caseFile: ReviewCaseFile?
    /// The officer of the last decision, and its reason code.
    public var officer: String?
    public var decisionCode: String?
    /// Whether intake could make a participant of it (a valid NIK gave it a participant id and
    /// a priority tier); a case without one can only be rejected.
    public var canBeApproved: Bool

    /// Whether an officer still has to decide.
    public var isPending: Bool { state == "open" || state == "documents-requested" }

    /// The cases in intake's store, oldest first; `pendingOnly` leaves out the decided.
    public static func read(
        from store: any MessageStore, pendingOnly: Bool = true, registrationID: String? = nil
    ) async throws -> [ReviewCase] {
        var sql = "SELECT * FROM intake_reviews"
        var arguments: [SQLValue] = []
        var conditions: [String] = []
        if pendingOnly { conditions.append("state IN ('open', 'documents-requested')") }
        if let registrationID {
            conditions.append("registration_id = ?")
            arguments.append(.text(registrationID))
        }
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        sql += " ORDER BY opened_at, registration_id"
        return try await store.read(sql, arguments).map(ReviewCase.init(row:))
    }

    /// A row of `intake_reviews`.
    public init(row: [String: SQLValue]) {
        let decoder = JSONDecoder()
        state = row["state"]?.text ?? ""
        registrationID = row["registration_id"]?.text ?? ""
        centre = row["centre"]?.text ?? ""
        programme = row["programme"]?.text ?? ""
        openedAt = (row["opened_at"]?.text).flatMap(ReviewTime.parse) ?? .distantPast
        reasons = (row["reasons"]?.text).flatMap { try? decoder.decode([RegistrationReason].self, from: Data($0.utf8)) } ?? []
        caseFile = (row["case_file"]?.text).flatMap { try? decoder.decode(ReviewCaseFile.self, from: Data($0.utf8)) }
        officer = row["officer"]?.text
        decisionCode = row["decision_code"]?.text
        canBeApproved = row["participant_id"]?.text != nil && row["priority_tier"]?.integer != nil
    }
}

/// Times in intake's review tables: ISO 8601 with milliseconds, UTC (sorts as text).
public enum ReviewTime {
    public static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    public static func parse(_ text: String) -> Date? {
        try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}

/// Why an officer's decision cannot be made: a code to switch on (the console words it in
/// Bahasa Indonesia) and an English text for the command line.
public struct ReviewDecisionError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case wrongCase, alreadyDecided, officerName, approvalWithReason, reasonsNotVerified, cannotBeApproved
        case verifiedWithoutApproval, reasonMissing, answerDateWithRejection, answerDateInvalid, answerDatePast
        case verifiedReasonsInvalid, reasonCodeInvalid, reasonTextLength, reasonTextPersonalData
    }

    public let code: Code
    public let description: String
    /// What the code concerns (the unverified reasons, a date), when there is something to name.
    public let detail: String?

    public init(_ code: Code, _ description: String, detail: String? = nil) {
        self.code = code
        self.description = description
        self.detail = detail
    }
}

/// What an officer chose on a review, before it becomes a `registration.reviewed` event: the
/// same checks for the command line and the console, made before anything is published (intake
/// checks them again when it carries the decision out).
public struct OfficerDecision: Sendable, Equatable {
    public var registrationID: String
    public var decision: RegistrationReviewedV1.Decision
    public var officer: String
    /// The review reasons the documents confirmed (an approval needs every open one).
    public var verifiedReasons: [String]
    /// For the applicant, with a reject or a request for documents.
    public var reason: RegistrationReason?
    /// For a request for documents: the last day, `YYYY-MM-DD`.
    public var respondBy: String?

    public init(
        registrationID: String, decision: RegistrationReviewedV1.Decision, officer: String, verifiedReasons: [String] = [],
        reason: RegistrationReason? = nil, respondBy: String? = nil
    ) {
        self.registrationID = registrationID
        self.decision = decision
        self.officer = officer
        self.verifiedReasons = verifiedReasons
        self.reason = reason
        self.respondBy = respondBy
    }

    /// The decision as an event, after checking it against the case it decides; `today`
    /// (`YYYY-MM-DD`, WITA) rules out an answer date already past.
    /// - Throws: ``ReviewDecisionError`` saying what is wrong.
    public func reviewed(of reviewCase: ReviewCase, today: String? = nil) throws -> RegistrationReviewedV1 {
        guard reviewCase.registrationID == registrationID else {
            throw ReviewDecisionError(
                .wrongCase, "the decision names \(registrationID), the case is \(reviewCase.registrationID)")
        }
        guard reviewCase.isPending else {
            throw ReviewDecisionError(
                .alreadyDecided,
                "registration \(registrationID) was already \(reviewCase.state) by \(reviewCase.officer ?? "an officer")")
        }
        let name = officer.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, name.count <= 200 else {
            throw ReviewDecisionError(.officerName, "the officer has a name of 1 to 200 characters")
        }
        switch decision {
        case .approve:
            guard reason == nil, respondBy == nil else {
                throw ReviewDecisionError(
                    .approvalWithReason, "an approval carries no reason for the applicant and no answer date")
            }
            let missing = Set(reviewCase.reasons.map(\.code)).subtracting(verifiedReasons).sorted()
            guard missing.isEmpty else {
                throw ReviewDecisionError(
                    .reasonsNotVerified,
                    "an approval verifies every open reason; not verified: \(missing.joined(separator: ", "))",
                    detail: missing.joined(separator: ", "))
            }
            guard reviewCase.canBeApproved else {
                throw ReviewDecisionError(
                    .cannotBeApproved,
                    "registration \(registrationID) has no valid NIK to make a participant of; it can only be rejected")
            }
        case .reject, .requestDocuments:
            guard verifiedReasons.isEmpty else {
                throw ReviewDecisionError(.verifiedWithoutApproval, "verified reasons belong to an approval")
            }
            guard let reason else {
                throw ReviewDecisionError(
                    .reasonMissing, "a rejection or a request for documents gives the applicant a reason (code and text)")
            }
            try Self.checkApplicantReason(reason)
            if decision == .reject, respondBy != nil {
                throw ReviewDecisionError(.answerDateWithRejection, "an answer date belongs to a request for documents")
            }
            if let respondBy, !Self.isCalendarDate(respondBy) {
                throw ReviewDecisionError(.answerDateInvalid, "the answer date is a date, YYYY-MM-DD")
            }
            if let respondBy, let today, respondBy < today {
                throw ReviewDecisionError(
                    .answerDatePast, "the answer date \(respondBy) is already past (today is \(today))", detail: respondBy)
            }
        }
        guard verifiedReasons.count <= 20, verifiedReasons.allSatisfy({ $0.wholeMatch(of: /[A-Z][A-Z0-9_]{1,63}/) != nil })
        else { throw ReviewDecisionError(.verifiedReasonsInvalid, "verified reasons are at most 20 UPPER_SNAKE codes") }
        return RegistrationReviewedV1(
            registrationID: registrationID, decision: decision, officer: name, verifiedReasons: verifiedReasons,
            reason: reason.map {
                RegistrationReason(code: $0.code, message: $0.message.trimmingCharacters(in: .whitespacesAndNewlines))
            },
            respondBy: respondBy)
    }

    /// A reason an officer writes for the applicant: an UPPER_SNAKE code and a text of at most
    /// 500 characters with no personal data in it (a NIK however written, a phone number, an
    /// e-mail address): none belongs in a text that travels and is kept.
    public static func checkApplicantReason(_ reason: RegistrationReason) throws {
        guard reason.code.wholeMatch(of: /[A-Z][A-Z0-9_]{1,63}/) != nil else {
            throw ReviewDecisionError(.reasonCodeInvalid, "a reason code is UPPER_SNAKE, e.g. DOKUMEN_TIDAK_SESUAI")
        }
        let text = reason.message.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty, text.count <= 500 else {
            throw ReviewDecisionError(.reasonTextLength, "a reason's text for the applicant has 1 to 500 characters")
        }
        guard PersonalData.mask(text) == text else {
            throw ReviewDecisionError(
                .reasonTextPersonalData, "a reason's text must not carry personal data (a NIK, a phone number, an e-mail)")
        }
    }

    /// Today in East Kalimantan (WITA, UTC+8), `YYYY-MM-DD`.
    public static func today(_ now: Date = Date()) -> String {
        CivilDay.text(now, offset: CivilDay.wita) ?? "0000-00-00"
    }

    /// Whether `text` is a real calendar day written `YYYY-MM-DD`.
    public static func isCalendarDate(_ text: String) -> Bool {
        CivilDay.days(text) != nil
    }
}
