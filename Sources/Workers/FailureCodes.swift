public import Jobs

/// The failure codes of the pipeline's workers, beside the runtime's own (``Failure/Code``): what
/// a dead letter's `x-failure-code` or a retry's metric label says, and what to do about it.
extension Failure.Code {
    // MARK: Intake

    /// A registration number already decided under another message id (permanent): the
    /// publisher resent a registration with a new message id, or reused a number.
    public static let registrationNumberReused = Self(rawValue: "registration-number-reused")
    /// A correction of a registration intake has not decided yet (transient: the submission is
    /// on its way).
    public static let registrationUnknown = Self(rawValue: "registration-unknown")
    /// An officer's decision on a registration that is not in review (permanent).
    public static let reviewUnknown = Self(rawValue: "review-unknown")
    /// An officer's decision on a review already approved or rejected (permanent): a decision
    /// is not changed by a second one.
    public static let reviewAlreadyDecided = Self(rawValue: "review-already-decided")
    /// An officer's decision that cannot be carried out as it is (permanent): no officer, an
    /// approval that leaves a reason unverified, a rejection without a reason for the applicant.
    public static let invalidReviewDecision = Self(rawValue: "invalid-review-decision")
    /// A withdrawal of consent without a valid time, or without who recorded it and the
    /// request's reference (permanent).
    public static let invalidConsentWithdrawal = Self(rawValue: "invalid-consent-withdrawal")

    // MARK: Scheduling

    /// An acceptance for a programme the plan does not have at that BLKI (permanent).
    public static let unknownProgramme = Self(rawValue: "unknown-programme")
    /// A class opening with no seats (permanent).
    public static let invalidClass = Self(rawValue: "invalid-class")
    /// A daftar ulang record for a participant with no seat in that class, or without who
    /// recorded it (permanent).
    public static let invalidReRegistration = Self(rawValue: "invalid-reregistration")
    /// A daftar ulang record that contradicts the one already recorded (permanent).
    public static let reRegistrationConflict = Self(rawValue: "reregistration-conflict")
    /// A withdrawal request for a class the participant does not hold, for a no-show, or without
    /// a date or who recorded it (permanent).
    public static let invalidWithdrawal = Self(rawValue: "invalid-withdrawal")
    /// A withdrawal request for a participant scheduling has not seen accepted yet (transient:
    /// the `registration.accepted` event may be waiting for a retry; after the last retry tier it
    /// is dead-lettered, as a request for someone unknown should be).
    public static let participantNotYetKnown = Self(rawValue: "participant-not-yet-known")
    /// An answer to a transfer offer the participant was not made for that class (permanent).
    public static let invalidTransferAnswer = Self(rawValue: "invalid-transfer-answer")
    /// An answer that contradicts the one already recorded, or comes after the participant
    /// left (permanent).
    public static let transferAnswerConflict = Self(rawValue: "transfer-answer-conflict")
    /// The role's own state contradicts itself (permanent): a bug, not a bad message.
    public static let brokenInvariant = Self(rawValue: "broken-invariant")

    // MARK: Grading

    /// An uji ulang or an appeal step about an assessment the role has not seen yet, or an
    /// appeal's decision before its filing (transient: the earlier message is on its way).
    public static let assessmentNotYetKnown = Self(rawValue: "assessment-not-yet-known")

    // MARK: Certificates

    /// A training result with an attendance outside 0–100 %, or LULUS below 80 % (permanent).
    public static let invalidTrainingResult = Self(rawValue: "invalid-training-result")
    /// A training result that contradicts the one already recorded (permanent).
    public static let trainingResultConflict = Self(rawValue: "training-result-conflict")
    /// A licence record (`licence.recorded`) with a malformed number, qualification or date, for
    /// a programme that does not lead to that licence, dated before the training ended or after
    /// today, expired, for someone who left or did not pass the training, under a name that is
    /// not the participant's, or with the number of their BNSP competency record (permanent).
    public static let invalidLicence = Self(rawValue: "invalid-licence")
    /// A licence record that contradicts one in force (not revoked, not expired): another
    /// number while the person's record of that kind is in force, other details under a number
    /// in force, or a number in force for someone else (permanent; revoking the record in force
    /// makes room).
    public static let licenceConflict = Self(rawValue: "licence-conflict")
    /// A licence record for a participant whose training result has not arrived (transient:
    /// `training.completed` is on its way).
    public static let trainingResultUnknown = Self(rawValue: "training-result-unknown")

    /// A grade for a participant whose class the role has not seen yet (transient: the
    /// `class.scheduled` event is on its way).
    public static let enrolmentUnknown = Self(rawValue: "enrolment-unknown")
    /// A certificate for a participant whose name has not arrived (transient: intake's
    /// `participant.named` is on its way).
    public static let holderUnknown = Self(rawValue: "holder-unknown")
    /// A `participant.named` whose name is empty, too long or has control characters (permanent).
    public static let invalidHolderName = Self(rawValue: "invalid-holder-name")
    /// A `participant.named` dated more than 5 minutes ahead of the worker's clock (transient: a
    /// clock set wrong is put right, or the message ends in the dead letters).
    public static let nameDatedAhead = Self(rawValue: "name-dated-ahead")
    /// An `assessment.graded` dated more than 5 minutes ahead of the worker's clock (transient):
    /// the latest result decides between results no other corrects, so it waits.
    public static let gradeDatedAhead = Self(rawValue: "grade-dated-ahead")
    /// A `certificate.revoked` for a certificate id the certificates role never issued
    /// (permanent: a revocation recorded ahead would stand against a record not yet issued).
    public static let unknownCertificate = Self(rawValue: "unknown-certificate")
    /// A grade whose scheme code carries a '#', which separates a scheme from a certificate id
    /// in the certificates role's keys (permanent; the plan's codes have none).
    public static let invalidScheme = Self(rawValue: "invalid-scheme")

    // MARK: Notifications

    /// A notification for someone whose contact details have not arrived yet (transient: the
    /// `registration.submitted` event is on its way).
    public static let contactUnknown = Self(rawValue: "contact-unknown")
    /// A revocation of a certificate whose issuance has not arrived yet (transient: the
    /// `certificate.issued` event is on its way).
    public static let certificateUnknown = Self(rawValue: "certificate-unknown")
    /// A revocation `NAME_CORRECTED` whose replacement (the same number under another id) has
    /// not arrived (transient: the certificates role publishes both in one transaction; one that
    /// never comes was not the certificates role's, and ends in the dead letters).
    public static let replacementUnknown = Self(rawValue: "replacement-unknown")
    /// A contact with neither a phone number nor an e-mail address (permanent).
    public static let noContactChannel = Self(rawValue: "no-contact-channel")
    /// A correction of contact data that names no field, or whose name, number or address is
    /// not valid (permanent).
    public static let invalidCorrection = Self(rawValue: "invalid-correction")
    /// A notification request naming a template that does not exist (permanent).
    public static let unknownTemplate = Self(rawValue: "unknown-template")
    /// A `notification.requested` naming a template the worker sends for an event (permanent):
    /// only free templates are requested.
    public static let templateNotRequestable = Self(rawValue: "template-not-requestable")
    /// A notification request without every value its template needs (permanent).
    public static let missingTemplateValues = Self(rawValue: "missing-template-values")
    /// A notification request whose recipient is not an address of its channel: an Indonesian
    /// mobile number for WhatsApp and SMS, a valid e-mail address for e-mail (permanent).
    public static let invalidRecipient = Self(rawValue: "invalid-recipient")
}
