public import ContractKit
public import Foundation

/// Intake accepted a registration: the applicant is now a participant, named from here on by
/// ``participantID`` (never by NIK).
public struct RegistrationAcceptedV1: ContractMessage {
    public static let eventType = "registration.accepted"
    public static let version = 1

    /// Selection priority: lower tiers are served first.
    public enum PriorityTier: Int, SchemaEnumeration {
        /// Never had competency training.
        case neverTrained = 1
        /// Trained before but failed or did not complete.
        case previouslyFailed = 2
        /// Trained and passed before.
        case previouslyTrained = 3
    }

    public var registrationID: String
    public var participantID: String
    public var centre: TrainingCentre
    public var programme: String
    public var priorityTier: PriorityTier
    /// Why this tier, in machine-readable codes (e.g. `NO_DECLARED_TRAINING`).
    public var priorityReasons: [String]
    public var apprenticeshipInterest: Bool

    public init(
        registrationID: String, participantID: String, centre: TrainingCentre, programme: String, priorityTier: PriorityTier,
        priorityReasons: [String], apprenticeshipInterest: Bool
    ) {
        self.registrationID = registrationID
        self.participantID = participantID
        self.centre = centre
        self.programme = programme
        self.priorityTier = priorityTier
        self.priorityReasons = priorityReasons
        self.apprenticeshipInterest = apprenticeshipInterest
    }
}

extension RegistrationAcceptedV1 {
    /// The same acceptance as version 2: the submission time is unknown.
    public func upcast() -> RegistrationAcceptedV2 {
        RegistrationAcceptedV2(
            registrationID: registrationID, participantID: participantID, centre: centre, programme: programme,
            priorityTier: priorityTier, priorityReasons: priorityReasons, apprenticeshipInterest: apprenticeshipInterest,
            submittedAt: nil)
    }
}

/// Intake accepted a registration, version 2: adds when the registration was submitted (the
/// registration portal's envelope time), so that scheduling serves applicants of one tier in
/// the order they registered, not in the order intake happened to decide (several intake
/// replicas decide in no fixed order).
public struct RegistrationAcceptedV2: ContractMessage {
    public static let eventType = "registration.accepted"
    public static let version = 2

    public var registrationID: String
    public var participantID: String
    public var centre: TrainingCentre
    public var programme: String
    public var priorityTier: RegistrationAcceptedV1.PriorityTier
    /// Why this tier, in machine-readable codes (e.g. `NO_DECLARED_TRAINING`).
    public var priorityReasons: [String]
    public var apprenticeshipInterest: Bool
    /// When the registration was submitted; `nil` when upcast from version 1.
    public var submittedAt: Date?

    public init(
        registrationID: String, participantID: String, centre: TrainingCentre, programme: String,
        priorityTier: RegistrationAcceptedV1.PriorityTier, priorityReasons: [String], apprenticeshipInterest: Bool,
        submittedAt: Date?
    ) {
        self.registrationID = registrationID
        self.participantID = participantID
        self.centre = centre
        self.programme = programme
        self.priorityTier = priorityTier
        self.priorityReasons = priorityReasons
        self.apprenticeshipInterest = apprenticeshipInterest
        self.submittedAt = submittedAt
    }
}

/// A reason for a rejection or a review: a stable code and a text in Bahasa Indonesia.
public struct RegistrationReason: Codable, Sendable, Equatable {
    /// e.g. `NIK_FORMAT`, `AGE_OUT_OF_RANGE`, `DUPLICATE_REGISTRATION`, `CONSENT_MISSING`.
    public var code: String
    /// For the applicant, e.g. "NIK harus terdiri dari 16 digit angka."
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// Intake received a registration: what the programme's counts need of it and nothing
/// personal (no NIK, name, birth data or contact). Published with intake's decision on it, so
/// that readers who only count (the console, its 400-day history stream) never need the
/// `registration.submitted` body, which carries the applicant's personal data.
public struct RegistrationReceivedV1: ContractMessage {
    public static let eventType = "registration.received"
    public static let version = 1

    public var registrationID: String
    /// The BLKI and programme the applicant chose.
    public var centre: TrainingCentre
    public var programme: String
    /// When the applicant submitted it (the submission's envelope time).
    public var submittedAt: Date

    public init(registrationID: String, centre: TrainingCentre, programme: String, submittedAt: Date) {
        self.registrationID = registrationID
        self.centre = centre
        self.programme = programme
        self.submittedAt = submittedAt
    }
}

/// Intake rejected a registration (a business outcome, not a failure).
public struct RegistrationRejectedV1: ContractMessage {
    public static let eventType = "registration.rejected"
    public static let version = 1

    public var registrationID: String
    public var reasons: [RegistrationReason]

    public init(registrationID: String, reasons: [RegistrationReason]) {
        self.registrationID = registrationID
        self.reasons = reasons
    }
}

/// Intake could not decide alone: an officer must look (e.g. a NIK outside Kaltim with a
/// Kaltim domicile, a birth date that differs from the NIK's).
public struct RegistrationReviewNeededV1: ContractMessage {
    public static let eventType = "registration.review-needed"
    public static let version = 1

    public var registrationID: String
    public var reasons: [RegistrationReason]

    public init(registrationID: String, reasons: [RegistrationReason]) {
        self.registrationID = registrationID
        self.reasons = reasons
    }
}

/// The name a participant's certificates carry, from intake to the certificates role only:
/// published when a registration is accepted (at once or after review), and again when the
/// office corrects the name of an accepted registration (`registration.corrected`).
///
/// Why a separate event and not a field of `registration.accepted`: scheduling, notifications
/// and the console read acceptances and need no name; only the certificates role prints one.
/// So the name travels once, to the one queue bound to this type, and the certificates role
/// keeps it only until the participant's certificates are issued or they leave the programme.
public struct ParticipantNamedV1: ContractMessage {
    public static let eventType = "participant.named"
    public static let version = 1

    public var participantID: String
    public var registrationID: String
    /// The name as on the KTP (as declared at registration, or as the office corrected it).
    public var fullName: String

    public init(participantID: String, registrationID: String, fullName: String) {
        self.participantID = participantID
        self.registrationID = registrationID
        self.fullName = fullName
    }

    /// The name.
    public static let personalFields: [PersonalField] = [PersonalField("fullName", .name)]
}
