public import Jobs

/// The failure codes of the pipeline's workers, beside the runtime's own (``Failure/Code``): what
/// a dead letter's `x-failure-code` or a retry's metric label says, and what to do about it.
extension Failure.Code {
    // MARK: Intake

    /// A registration number already decided under another message id (permanent): the
    /// publisher resent a registration with a new message id, or reused a number.
    public static let registrationNumberReused = Self(rawValue: "registration-number-reused")

    // MARK: Scheduling

    /// An acceptance for a programme the plan does not have at that BLKI (permanent).
    public static let unknownProgramme = Self(rawValue: "unknown-programme")
    /// A class opening with no seats (permanent).
    public static let invalidClass = Self(rawValue: "invalid-class")
    /// The role's own state contradicts itself (permanent): a bug, not a bad message.
    public static let brokenInvariant = Self(rawValue: "broken-invariant")

    // MARK: Certificates

    /// A grade for a participant whose class the role has not seen yet (transient: the
    /// `class.scheduled` event is on its way).
    public static let enrolmentUnknown = Self(rawValue: "enrolment-unknown")

    // MARK: Notifications

    /// A notification for someone whose contact details have not arrived yet (transient: the
    /// `registration.submitted` event is on its way).
    public static let contactUnknown = Self(rawValue: "contact-unknown")
    /// A contact with neither a phone number nor an e-mail address (permanent).
    public static let noContactChannel = Self(rawValue: "no-contact-channel")
    /// A notification request naming a template that does not exist (permanent).
    public static let unknownTemplate = Self(rawValue: "unknown-template")
    /// A notification request without every value its template needs (permanent).
    public static let missingTemplateValues = Self(rawValue: "missing-template-values")
}
