/// The worker roles of the pipeline, the queue each consumes, and the event types bound to it.
/// Part of the published contract (the AsyncAPI document lists them) and the source of the
/// topology the runtime declares.
public struct WorkerRole: Sendable, Hashable {
    /// The role's name, used for the process's subcommand, its queue and its database file.
    public let name: String
    /// The role's quorum queue.
    public var queue: String { "kaltim.\(name)" }
    /// The topic exchange the role's events arrive through (``ContractDocuments/exchange``).
    public var exchange: String { ContractDocuments.exchange }
    /// The exchange its retries and dead letters go through (``ContractDocuments/failureExchange``).
    public var failureExchange: String { ContractDocuments.failureExchange }
    /// Event types bound from ``exchange`` to the queue.
    public let consumes: [String]
    /// Event types the role publishes (its broker user may publish only these).
    public let publishes: [String]
    public let summary: String

    public static let intake = WorkerRole(
        name: "intake", consumes: [RegistrationSubmittedV2.eventType, AssessmentGradedV1.eventType],
        publishes: [RegistrationAcceptedV2.eventType, RegistrationRejectedV1.eventType, RegistrationReviewNeededV1.eventType],
        summary:
            "Validates registrations (NIK, region, eligibility, duplicates), ranks priority, accepts, rejects or asks for review."
    )
    public static let scheduling = WorkerRole(
        name: "scheduling",
        consumes: [ClassOpenedV1.eventType, RegistrationAcceptedV1.eventType, EnrolmentWithdrawnV1.eventType],
        publishes: [ClassScheduledV1.eventType, EnrolmentWaitlistedV1.eventType, ApprenticeshipPlacedV1.eventType],
        summary: "Seats accepted participants in classes by priority, keeps the waiting lists, places apprentices.")
    public static let grading = WorkerRole(
        name: "grading",
        consumes: [AssessmentSubmittedV1.eventType, ClassScheduledV1.eventType, EnrolmentWithdrawnV1.eventType],
        publishes: [AssessmentGradedV2.eventType, AssessmentRejectedV1.eventType],
        summary: "Takes in LSP assessment results per SKKNI unit and grades them.")
    public static let certificates = WorkerRole(
        name: "certificates",
        consumes: [AssessmentGradedV2.eventType, ClassScheduledV1.eventType, CertificateRevokedV1.eventType],
        publishes: [CertificateIssuedV1.eventType, CertificateRevokedV1.eventType],
        summary: "Issues and revokes certificates with verification codes.")
    public static let notifications = WorkerRole(
        name: "notifications",
        consumes: [
            RegistrationSubmittedV2.eventType, RegistrationAcceptedV1.eventType, RegistrationRejectedV1.eventType,
            RegistrationReviewNeededV1.eventType, ClassScheduledV1.eventType, EnrolmentWaitlistedV1.eventType,
            ApprenticeshipPlacedV1.eventType, AssessmentGradedV2.eventType, CertificateIssuedV1.eventType,
            CertificateRevokedV1.eventType, NotificationRequestedV1.eventType,
        ],
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
    /// to the events that move a job seeker through the programme and its own store. It
    /// publishes nothing, so it is not one of the pipeline's roles (``all``).
    public static let console = WorkerRole(
        name: "console",
        consumes: [
            RegistrationSubmittedV2.eventType, RegistrationAcceptedV1.eventType, RegistrationRejectedV1.eventType,
            ClassScheduledV1.eventType, EnrolmentWaitlistedV1.eventType, EnrolmentWithdrawnV1.eventType,
            ApprenticeshipPlacedV1.eventType, AssessmentGradedV2.eventType, CertificateIssuedV1.eventType,
            CertificateRevokedV1.eventType, NotificationDeliveredV1.eventType,
        ],
        publishes: [],
        summary: "Counts the programme's progress for the web console (registered → … → notified), per BLKI and sector.")
}
