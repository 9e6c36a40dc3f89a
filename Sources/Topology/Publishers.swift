import ContractKit
import Contracts

/// Who may publish each event type: the pipeline's own authorisation, checked by every
/// consumer against the `user_id` the broker validated (docs/ARCHITECTURE.md, "Trust
/// boundary"). The broker's topic permissions say the same thing at the door; a consumer does
/// not rely on them alone, because a routing key says nothing about the body behind it.
///
/// A principal is a name such as `portal` or `intake`; its broker user is `kaltim-<name>`
/// (``brokerUser(_:prefix:)``), as in the definitions under `deploy/`.
public enum ContractPublishers {
    /// A system outside the pipeline that publishes events.
    public struct External: Sendable {
        /// The principal, e.g. `portal`.
        public let name: String
        public let summary: String
        /// The event types it may publish.
        public let publishes: [String]
        /// The event types it needs to read (its inbox queue `kaltim.<name>.inbox` is bound to
        /// them): the portal the offers it must let applicants answer, the LSPs what grading
        /// decided about their submissions.
        public let reads: [String]

        public init(name: String, summary: String, publishes: [String], reads: [String] = []) {
            self.name = name
            self.summary = summary
            self.publishes = publishes
            self.reads = reads
        }

        /// Its inbox queue (`kaltim.<name>.inbox`), when it reads anything.
        public func inbox(prefix: String = "") -> String? { reads.isEmpty ? nil : "\(prefix)kaltim.\(name).inbox" }
    }

    /// The external publishers and what each may publish.
    public static let external: [External] = [
        External(
            name: "portal",
            summary:
                "the registration portal (registrations, applicants' answers to offers and withdrawals of consent)",
            publishes: [RegistrationSubmittedV3.eventType, EnrolmentTransferAnsweredV1.eventType, ConsentWithdrawnV1.eventType],
            reads: [EnrolmentTransferOfferedV1.eventType]),
        External(
            name: "lsp", summary: "the LSPs' assessment systems",
            publishes: [AssessmentSubmittedV3.eventType, AssessmentAppealedV1.eventType],
            reads: [AssessmentGradedV3.eventType, AssessmentRejectedV1.eventType, AssessmentAppealRecordedV1.eventType]),
        External(
            name: "office",
            summary:
                "the programme office (open-classes, withdrawals, revoke-certificate, officers' review decisions, notification requests, corrections of contact data, withdrawals of consent, records of SKK Konstruksi and Lisensi K3 licences)",
            publishes: [
                ClassOpenedV1.eventType, EnrolmentWithdrawalRequestedV1.eventType, CertificateRevokedV1.eventType,
                RegistrationReviewedV1.eventType, NotificationRequestedV1.eventType, RegistrationCorrectedV1.eventType,
                ConsentWithdrawnV1.eventType, LicenceRecordedV1.eventType,
            ]),
        External(
            name: "blki", summary: "the BLKI offices (daftar ulang records, withdrawals, training results)",
            publishes: [
                EnrolmentReRegisteredV1.eventType, EnrolmentWithdrawalRequestedV1.eventType, TrainingCompletedV1.eventType,
            ]),
    ]

    /// The broker user of a principal: `kaltim-portal`, `kaltim-intake`.
    public static func brokerUser(_ principal: String, prefix: String = "") -> String { "\(prefix)kaltim-\(principal)" }

    /// The principals that may publish `type`: the external systems and the roles that list it.
    public static func principals(publishing type: String) -> Set<String> {
        Set(external.filter { $0.publishes.contains(type) }.map(\.name))
            .union((WorkerRole.all + [.console]).filter { $0.publishes.contains(type) }.map(\.name))
    }

    /// Every event type with the broker users allowed to publish it (users named with `prefix`,
    /// as a test's private users are).
    public static func allowedUsers(prefix: String = "") -> [String: Set<String>] {
        var allowed: [String: Set<String>] = [:]
        for publisher in external {
            for type in publisher.publishes { allowed[type, default: []].insert(brokerUser(publisher.name, prefix: prefix)) }
        }
        for role in WorkerRole.all + [.console] {
            for type in role.publishes { allowed[type, default: []].insert(brokerUser(role.name, prefix: prefix)) }
        }
        return allowed
    }
}
