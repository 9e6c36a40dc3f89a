public import ContractKit
public import Contracts

/// The worker roles of the pipeline, the queue each consumes, and the event types bound to it.
/// Part of the published contract (the AsyncAPI document lists them) and the source of the
/// topology the runtime declares. Each role's consumed types come from its input (below), the
/// enum its handler switches over.
extension WorkerRole {
    /// A role of the pipeline: queue `kaltim.<name>`, the pipeline's exchanges.
    static func pipeline<Input: RoleInput>(
        _ name: String, input: Input.Type, publishes: [String], summary: String
    ) -> WorkerRole {
        WorkerRole(
            name: name, queue: "kaltim.\(name)", exchange: ContractDocuments.exchange,
            failureExchange: ContractDocuments.failureExchange, input: input, publishes: publishes, summary: summary)
    }

    public static let intake = pipeline(
        "intake", input: IntakeInput.self,
        publishes: [
            RegistrationReceivedV1.eventType, RegistrationAcceptedV2.eventType, RegistrationRejectedV1.eventType,
            RegistrationReviewNeededV1.eventType, RegistrationDocumentsRequestedV1.eventType,
            EnrolmentWithdrawalRequestedV1.eventType, ParticipantNamedV1.eventType,
        ],
        summary:
            "Validates registrations (NIK, region, eligibility, consent, duplicates), ranks priority, accepts, rejects or asks for review; carries out officers' review decisions; stops a registration whose consent was withdrawn; gives the certificates role each participant's name (and its corrections)."
    )
    public static let scheduling = pipeline(
        "scheduling", input: SchedulingInput.self,
        publishes: [
            ClassScheduledV2.eventType, EnrolmentWaitlistedV1.eventType, ApprenticeshipPlacedV1.eventType,
            EnrolmentWithdrawnV1.eventType, EnrolmentTransferOfferedV1.eventType, EnrolmentReserveDesignatedV1.eventType,
            EnrolmentAllocationContinuedV1.eventType,
        ],
        summary:
            "Seats accepted participants in classes by priority, keeps the waiting lists, places apprentices; offers a seat at the other BLKI and waits for the answer; names each full class's reserves (cadangan) and gives the seat of whoever misses daftar ulang to the class's first reserve, or the next on the waiting list."
    )
    public static let grading = pipeline(
        "grading", input: GradingInput.self,
        publishes: [AssessmentGradedV3.eventType, AssessmentRejectedV1.eventType, AssessmentAppealRecordedV1.eventType],
        summary: "Takes in LSP assessment results per SKKNI unit and grades them.")
    public static let certificates = pipeline(
        "certificates", input: CertificatesInput.self,
        publishes: [CertificateIssuedV2.eventType, CertificateRevokedV1.eventType],
        summary:
            "Issues and revokes certificates with verification codes, in the holder's name; records the LSP's BNSP certificates and the SKK Konstruksi and Lisensi K3 licences, from their numbers."
    )
    public static let notifications = pipeline(
        "notifications", input: NotificationsInput.self,
        publishes: [NotificationDeliveredV1.eventType, NotificationFailedV1.eventType],
        summary:
            "Tells job seekers, in Bahasa Indonesia, about each step (WhatsApp, SMS, e-mail), never twice for one event; reports delivery."
    )

    /// The console's event history: a stream bound to the console's events, from which its
    /// read model can be rebuilt.
    public static let consoleHistoryStream = "kaltim.console.history"
    /// How long the history stream keeps events (RabbitMQ `x-max-age`).
    public static let consoleHistoryRetention = "400D"
    /// The routing key of a rebuild's end marker, which the console's own user publishes to the
    /// events exchange and only the history stream is bound to.
    public static let consoleHistoryMarker = "console.history.marker"

    /// Every role of the pipeline.
    public static let all: [WorkerRole] = [intake, scheduling, grading, certificates, notifications]

    /// The web console's read model: one more independent consumer, with its own queue bound
    /// to the events that move a job seeker through the programme and its own store. It is not
    /// one of the pipeline's roles (``all``): it decides nothing. It publishes what signed-in
    /// staff record in it (``consoleStaffEvents``), through its own outbox.
    public static let console = pipeline(
        "console", input: ConsoleInput.self, publishes: consoleStaffEvents,
        summary:
            "Counts the programme's progress for the web console (registered → … → notified), per BLKI and sector; publishes what officers and BLKI staff record in it."
    )

    /// Event types the console once read and no longer binds (``ConsoleInput``'s retired
    /// routes): `registration.submitted` carries the applicant's personal data, which the
    /// console's queue and its 400-day stream must not hold (it counts intake's
    /// `registration.received`). It still takes them, to acknowledge and drop what a binding
    /// left by an earlier version brings (rather than dead-letter a body full of personal data),
    /// and `kaltim-console serve`/`rebuild` and `kaltim-admin topology apply` remove such
    /// bindings.
    public static var consoleRetiredKeys: [String] { ConsoleInput.routes.retiredEventTypes }

    /// What staff record in the console, each published as the console's broker user and
    /// naming the person who recorded it: officers' review decisions, and a BLKI's daftar
    /// ulang records, training results and withdrawal requests.
    public static let consoleStaffEvents = [
        RegistrationReviewedV1.eventType, EnrolmentReRegisteredV1.eventType, TrainingCompletedV1.eventType,
        EnrolmentWithdrawalRequestedV1.eventType, RegistrationCorrectedV1.eventType, ConsentWithdrawnV1.eventType,
    ]
}

/// What intake handles: registrations, officers' decisions on those in review, graded
/// assessments (a competency verdict makes a later registration of the same person a
/// re-registration), withdrawals of consent, and corrections (a corrected name goes on to the
/// certificates role).
public enum IntakeInput: RoleInput {
    case registration(RegistrationSubmittedV3)
    case reviewed(RegistrationReviewedV1)
    case graded(AssessmentGradedV3)
    case consentWithdrawn(ConsentWithdrawnV1)
    case corrected(RegistrationCorrectedV1)

    public static let routes = InputRoutes<Self>()
        .on(RegistrationSubmittedV3.self, Self.registration)
        .on(RegistrationReviewedV1.self, Self.reviewed)
        .on(AssessmentGradedV3.self, Self.graded)
        .on(ConsentWithdrawnV1.self, Self.consentWithdrawn)
        .on(RegistrationCorrectedV1.self, Self.corrected)
}

/// What scheduling handles: classes opening, acceptances, daftar ulang, withdrawals, answers to
/// offers, and its own notes to carry on an allocation.
public enum SchedulingInput: RoleInput {
    case classOpened(ClassOpenedV1)
    case accepted(RegistrationAcceptedV2)
    case reRegistered(EnrolmentReRegisteredV1)
    case withdrawalRequested(EnrolmentWithdrawalRequestedV1)
    case transferAnswered(EnrolmentTransferAnsweredV1)
    case allocationContinued(EnrolmentAllocationContinuedV1)

    public static let routes = InputRoutes<Self>()
        .on(ClassOpenedV1.self, Self.classOpened)
        .on(RegistrationAcceptedV2.self, Self.accepted)
        .on(EnrolmentReRegisteredV1.self, Self.reRegistered)
        .on(EnrolmentWithdrawalRequestedV1.self, Self.withdrawalRequested)
        .on(EnrolmentTransferAnsweredV1.self, Self.transferAnswered)
        .on(EnrolmentAllocationContinuedV1.self, Self.allocationContinued)
}

/// What grading handles: the LSPs' submissions, and who is enrolled where.
public enum GradingInput: RoleInput {
    case submitted(AssessmentSubmittedV3)
    case appealed(AssessmentAppealedV1)
    case scheduled(ClassScheduledV2)
    case withdrawn(EnrolmentWithdrawnV1)

    public static let routes = InputRoutes<Self>()
        .on(AssessmentSubmittedV3.self, Self.submitted)
        .on(AssessmentAppealedV1.self, Self.appealed)
        .on(ClassScheduledV2.self, Self.scheduled)
        .on(EnrolmentWithdrawnV1.self, Self.withdrawn)
}

/// What the certificates role handles: grades (the competency record), the BLKI's training
/// results (the training certificate), the office's licence records (SKK Konstruksi, Lisensi
/// K3), enrolments (the class of each), revocations, and the holder's name from intake.
public enum CertificatesInput: RoleInput {
    case graded(AssessmentGradedV3)
    case trainingCompleted(TrainingCompletedV1)
    case scheduled(ClassScheduledV2)
    case withdrawn(EnrolmentWithdrawnV1)
    case revoked(CertificateRevokedV1)
    case named(ParticipantNamedV1)
    case licence(LicenceRecordedV1)

    public static let routes = InputRoutes<Self>()
        .on(AssessmentGradedV3.self, Self.graded)
        .on(TrainingCompletedV1.self, Self.trainingCompleted)
        .on(LicenceRecordedV1.self, Self.licence)
        .on(ClassScheduledV2.self, Self.scheduled)
        .on(EnrolmentWithdrawnV1.self, Self.withdrawn)
        .on(CertificateRevokedV1.self, Self.revoked)
        .on(ParticipantNamedV1.self, Self.named)
}

/// What the notifications role tells job seekers about, and the office's own requests.
public enum NotificationsInput: RoleInput {
    case submitted(RegistrationSubmittedV3)
    case accepted(RegistrationAcceptedV2)
    case rejected(RegistrationRejectedV1)
    case reviewNeeded(RegistrationReviewNeededV1)
    case documentsRequested(RegistrationDocumentsRequestedV1)
    case scheduled(ClassScheduledV2)
    case waitlisted(EnrolmentWaitlistedV1)
    case transferOffered(EnrolmentTransferOfferedV1)
    case reserveDesignated(EnrolmentReserveDesignatedV1)
    case apprenticeshipPlaced(ApprenticeshipPlacedV1)
    case graded(AssessmentGradedV3)
    case appealRecorded(AssessmentAppealRecordedV1)
    case trainingCompleted(TrainingCompletedV1)
    case certificateIssued(CertificateIssuedV2)
    case certificateRevoked(CertificateRevokedV1)
    case withdrawn(EnrolmentWithdrawnV1)
    case requested(NotificationRequestedV1)
    case corrected(RegistrationCorrectedV1)
    case consentWithdrawn(ConsentWithdrawnV1)

    public static let routes = InputRoutes<Self>()
        .on(RegistrationSubmittedV3.self, Self.submitted)
        .on(RegistrationAcceptedV2.self, Self.accepted)
        .on(RegistrationRejectedV1.self, Self.rejected)
        .on(RegistrationReviewNeededV1.self, Self.reviewNeeded)
        .on(RegistrationDocumentsRequestedV1.self, Self.documentsRequested)
        .on(ClassScheduledV2.self, Self.scheduled)
        .on(EnrolmentWaitlistedV1.self, Self.waitlisted)
        .on(EnrolmentTransferOfferedV1.self, Self.transferOffered)
        .on(EnrolmentReserveDesignatedV1.self, Self.reserveDesignated)
        .on(ApprenticeshipPlacedV1.self, Self.apprenticeshipPlaced)
        .on(AssessmentGradedV3.self, Self.graded)
        .on(AssessmentAppealRecordedV1.self, Self.appealRecorded)
        .on(TrainingCompletedV1.self, Self.trainingCompleted)
        .on(CertificateIssuedV2.self, Self.certificateIssued)
        .on(CertificateRevokedV1.self, Self.certificateRevoked)
        .on(EnrolmentWithdrawnV1.self, Self.withdrawn)
        .on(NotificationRequestedV1.self, Self.requested)
        .on(RegistrationCorrectedV1.self, Self.corrected)
        .on(ConsentWithdrawnV1.self, Self.consentWithdrawn)
}

/// What the console's read model counts.
public enum ConsoleInput: RoleInput {
    /// A `registration.submitted` a retired binding brought: acknowledged, nothing kept.
    case retired(RegistrationSubmittedV3)
    case received(RegistrationReceivedV1)
    case accepted(RegistrationAcceptedV2)
    case rejected(RegistrationRejectedV1)
    case reviewNeeded(RegistrationReviewNeededV1)
    case documentsRequested(RegistrationDocumentsRequestedV1)
    case scheduled(ClassScheduledV2)
    case waitlisted(EnrolmentWaitlistedV1)
    case withdrawn(EnrolmentWithdrawnV1)
    case apprenticeshipPlaced(ApprenticeshipPlacedV1)
    case graded(AssessmentGradedV3)
    /// A submission grading refused: the LSP coordinator's desk shows it with its reasons.
    case assessmentRejected(AssessmentRejectedV1)
    case certificateIssued(CertificateIssuedV2)
    case certificateRevoked(CertificateRevokedV1)
    case notificationDelivered(NotificationDeliveredV1)
    case reRegistered(EnrolmentReRegisteredV1)
    case trainingCompleted(TrainingCompletedV1)

    public static let routes = InputRoutes<Self>()
        .retired(RegistrationSubmittedV3.self, Self.retired)
        .on(RegistrationReceivedV1.self, Self.received)
        .on(RegistrationAcceptedV2.self, Self.accepted)
        .on(RegistrationRejectedV1.self, Self.rejected)
        .on(RegistrationReviewNeededV1.self, Self.reviewNeeded)
        .on(RegistrationDocumentsRequestedV1.self, Self.documentsRequested)
        .on(ClassScheduledV2.self, Self.scheduled)
        .on(EnrolmentWaitlistedV1.self, Self.waitlisted)
        .on(EnrolmentWithdrawnV1.self, Self.withdrawn)
        .on(ApprenticeshipPlacedV1.self, Self.apprenticeshipPlaced)
        .on(AssessmentGradedV3.self, Self.graded)
        .on(AssessmentRejectedV1.self, Self.assessmentRejected)
        .on(CertificateIssuedV2.self, Self.certificateIssued)
        .on(CertificateRevokedV1.self, Self.certificateRevoked)
        .on(NotificationDeliveredV1.self, Self.notificationDelivered)
        .on(EnrolmentReRegisteredV1.self, Self.reRegistered)
        .on(TrainingCompletedV1.self, Self.trainingCompleted)
}
