public import ContractKit

/// An officer's decision on a registration that intake sent to review
/// (`registration.review-needed`): published by the programme office (an officer of
/// Disnakertrans, through `kaltim-worker review decide`) and carried out by intake, which owns
/// the registration's state.
///
/// An approval enters scheduling as an acceptance with the original submission time and the
/// priority tier intake worked out when it opened the review; a rejection frees the NIK for a
/// later registration; a request for documents keeps the review open.
public struct RegistrationReviewedV1: ContractMessage {
    public static let eventType = "registration.reviewed"
    public static let version = 1

    /// What the officer decided.
    public enum Decision: String, SchemaEnumeration {
        /// The documents confirm the registration: it is accepted.
        case approve = "DISETUJUI"
        /// The registration is refused, with ``RegistrationReviewedV1/reason``.
        case reject = "DITOLAK"
        /// The applicant must bring or send documents first (``RegistrationReviewedV1/reason``
        /// says which); the review stays open.
        case requestDocuments = "PERLU_DOKUMEN"
    }

    public var registrationID: String
    public var decision: Decision
    /// The officer who decided (name or staff number), kept in intake's audit of the review.
    public var officer: String
    /// The review reasons (codes of `registration.review-needed`) the officer checked against
    /// the documents. An approval must name every open reason.
    public var verifiedReasons: [String]
    /// Why, for the applicant: required for a rejection and a request for documents.
    public var reason: RegistrationReason?
    /// For a request for documents: the last day to bring them, `YYYY-MM-DD`.
    public var respondBy: String?

    public init(
        registrationID: String, decision: Decision, officer: String, verifiedReasons: [String],
        reason: RegistrationReason?, respondBy: String?
    ) {
        self.registrationID = registrationID
        self.decision = decision
        self.officer = officer
        self.verifiedReasons = verifiedReasons
        self.reason = reason
        self.respondBy = respondBy
    }
}

/// An officer asked the applicant for documents before deciding: the review stays open.
public struct RegistrationDocumentsRequestedV1: ContractMessage {
    public static let eventType = "registration.documents-requested"
    public static let version = 1

    public var registrationID: String
    /// The BLKI the applicant chose, where the documents go.
    public var centre: TrainingCentre
    /// Which documents and why, for the applicant.
    public var reason: RegistrationReason
    /// The last day to bring them, `YYYY-MM-DD`, when the officer set one.
    public var respondBy: String?

    public init(registrationID: String, centre: TrainingCentre, reason: RegistrationReason, respondBy: String?) {
        self.registrationID = registrationID
        self.centre = centre
        self.reason = reason
        self.respondBy = respondBy
    }
}

/// The programme office corrected how to reach an applicant, at the applicant's request (UU
/// 27/2022 Art. 6, the right to have one's data corrected): only the fields given change, in the
/// stores that keep them (the notification worker's contacts). Published by `kaltim-admin
/// subject correct`, as the office.
public struct RegistrationCorrectedV1: ContractMessage {
    public static let eventType = "registration.corrected"
    public static let version = 1

    public var registrationID: String
    /// The name as on the KTP, when it was wrong.
    public var fullName: String?
    /// A mobile number (+62…), when it changed.
    public var phone: String?
    /// A WhatsApp number (+62…), when it changed.
    public var whatsApp: String?
    /// An e-mail address, when it changed.
    public var email: String?
    /// Who made the correction (staff name or number), and the request's reference.
    public var correctedBy: String
    public var reference: String

    public init(
        registrationID: String, fullName: String?, phone: String?, whatsApp: String?, email: String?, correctedBy: String,
        reference: String
    ) {
        self.registrationID = registrationID
        self.fullName = fullName
        self.phone = phone
        self.whatsApp = whatsApp
        self.email = email
        self.correctedBy = correctedBy
        self.reference = reference
    }

    /// The name and the addresses.
    public static let personalFields: [PersonalField] = [
        PersonalField("fullName", .name), PersonalField("phone", .phone), PersonalField("whatsApp", .phone),
        PersonalField("email", .email),
    ]
}

/// An applicant, or the parent or guardian who consented for an applicant under 18, withdrew
/// the consent to the processing of their data (UU 27/2022 Art. 9: consent can be withdrawn).
/// Processing stops: intake ends a registration in review (`registration.rejected`,
/// `CONSENT_WITHDRAWN`) and asks scheduling to withdraw an accepted participant from their class
/// or the waiting list; the notification worker sends that person nothing more. What was
/// already done stays recorded (a certificate issued before stays valid). Published by the
/// portal (a withdrawal made online) or by `kaltim-admin subject withdraw-consent`, as the office.
public struct ConsentWithdrawnV1: ContractMessage {
    public static let eventType = "consent.withdrawn"
    public static let version = 1

    /// Who withdrew it.
    public enum WithdrawnBy: String, SchemaEnumeration {
        case applicant = "PENDAFTAR"
        case parentOrGuardian = "ORANG_TUA_WALI"
    }

    public var registrationID: String
    public var withdrawnBy: WithdrawnBy
    /// ISO 8601 time the withdrawal was received.
    public var withdrawnAt: String
    /// Who recorded it (staff name or number), 1–200 characters, and the request's reference.
    public var recordedBy: String
    public var reference: String

    public init(registrationID: String, withdrawnBy: WithdrawnBy, withdrawnAt: String, recordedBy: String, reference: String) {
        self.registrationID = registrationID
        self.withdrawnBy = withdrawnBy
        self.withdrawnAt = withdrawnAt
        self.recordedBy = recordedBy
        self.reference = reference
    }
}
