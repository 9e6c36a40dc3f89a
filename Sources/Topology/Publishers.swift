public import ContractKit
import Contracts
public import Foundation

/// Who may publish each event type: the pipeline's own authorisation, checked by every
/// consumer against the `user_id` the broker validated (docs/ARCHITECTURE.md, "Trust
/// boundary"). The broker's topic permissions say the same thing at the door; a consumer does
/// not rely on them alone, because a routing key says nothing about the body behind it.
///
/// A principal is a name such as `portal` or `intake`; its broker user is `kaltim-<name>`
/// (``brokerUser(_:prefix:)``), as in the definitions under `deploy/`.
public enum ContractPublishers {
    /// The party a publisher of several of a kind speaks for (one LSP, one BLKI), and how an
    /// event names it. Each party has a broker user of its own, `kaltim-<principal>-<party>`
    /// (``brokerUser(_:party:prefix:)``), and a consumer takes such an event only from the user
    /// of the party it names (`PublisherPolicy.PartyRule` in Jobs).
    public struct Party: Sendable {
        /// What the party is, e.g. "the LSP's BNSP licence".
        public let summary: String
        /// The party an event speaks for, read from its body; nil when it names none.
        public let of: @Sendable (any ContractMessage) -> String?
        /// The party an event it reads is for (an LSP's graded result: that LSP), read from its
        /// body; the event reaches that party's inbox only (``carbonCopies(type:body:)``).
        public var addressee: @Sendable (any ContractMessage) -> String? = { _ in nil }
    }

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
        /// When it is one of several of a kind: what each speaks for. Its events are then
        /// published by the party's own user, and the principal's user (`kaltim-<name>`) only
        /// reads the inbox, if there is one.
        public let party: Party?

        public init(name: String, summary: String, publishes: [String], reads: [String] = [], party: Party? = nil) {
            self.name = name
            self.summary = summary
            self.publishes = publishes
            self.reads = reads
            self.party = party
        }

        /// Its inbox queue (`kaltim.<name>.inbox`), when it reads anything and has no parties
        /// (a party has an inbox of its own: ``ContractPublishers/inbox(_:party:prefix:)``).
        public func inbox(prefix: String = "") -> String? {
            reads.isEmpty || party != nil ? nil : "\(prefix)kaltim.\(name).inbox"
        }
    }

    /// One party's inbox queue: `kaltim.lsp.BNSP-LSP-0123-ID.inbox`.
    public static func inbox(_ principal: String, party: String, prefix: String = "") -> String {
        "\(prefix)kaltim.\(principal).\(party).inbox"
    }

    /// The routing key of one party's inbox binding (`lsp.BNSP-LSP-0123-ID`): an event for
    /// that party names it in its `CC` header (``carbonCopies(type:body:)``). No event type
    /// begins with a principal's name, so no role queue is bound to it.
    public static func partyKey(_ principal: String, party: String) -> String { "\(principal).\(party)" }

    /// Whether `party` may name a broker user, a queue and a routing key: 1–64 letters, digits,
    /// dots and dashes (an LSP's licence, a BLKI's code).
    public static func isPartyName(_ party: String) -> Bool {
        (1...64).contains(party.utf8.count)
            && party.utf8.allSatisfy {
                (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || $0 == 0x2E || $0 == 0x2D
            }
    }

    /// The registry that reads an event's body for ``carbonCopies(type:body:)``.
    private static let registry = ContractRegistry.pipeline

    /// The readers with parties, by each event type they read.
    private static let partyReaders: [String: [External]] = {
        var readers: [String: [External]] = [:]
        for publisher in external where publisher.party != nil {
            for type in publisher.reads { readers[type, default: []].append(publisher) }
        }
        return readers
    }()

    /// The routing keys an event a role publishes is also routed to, in its `CC` header: the
    /// inbox of the party it is for (grading's answer to an LSP reaches that LSP's inbox, and no
    /// other LSP's). Empty for every other event, without reading its body.
    @Sendable public static func carbonCopies(type: String, body: Data) -> [String] {
        guard let readers = partyReaders[type], let event = try? registry.decode(body) else { return [] }
        return readers.compactMap { reader in
            guard let party = reader.party?.addressee(event.payload), isPartyName(party) else { return nil }
            return partyKey(reader.name, party: party)
        }
    }

    /// The LSP an assessment or an appeal is for: its BNSP licence (letters, digits, dots and
    /// dashes, as grading requires).
    static let lspLicence = Party(
        summary: "the LSP's BNSP licence, e.g. BNSP-LSP-0123-ID",
        of: { payload in
            switch payload {
            case let submitted as AssessmentSubmittedV3: submitted.lspLicence
            case let appealed as AssessmentAppealedV1: appealed.lspLicence
            default: nil
            }
        },
        addressee: { payload in
            switch payload {
            case let graded as AssessmentGradedV3: graded.lspLicence
            case let rejected as AssessmentRejectedV1: rejected.lspLicence
            case let recorded as AssessmentAppealRecordedV1: recorded.lspLicence
            default: nil
            }
        })

    /// The BLKI of the class a record is for: the code its class ids begin with (`BPN` in
    /// `BPN-2025-LAS-01`; scheduling opens no class whose id does not begin with its BLKI's
    /// code). A withdrawal that names no class names no BLKI: it is the office's.
    static let classCentre = Party(
        summary: "the BLKI's code, which its class ids begin with, e.g. BPN",
        of: { payload in
            let classID: String? =
                switch payload {
                case let completed as TrainingCompletedV1: completed.classID
                case let record as EnrolmentReRegisteredV1: record.classID
                case let request as EnrolmentWithdrawalRequestedV1: request.classID
                default: nil
                }
            guard let classID, let dash = classID.firstIndex(of: "-"), dash > classID.startIndex else { return nil }
            return String(classID[..<dash])
        })

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
            reads: [AssessmentGradedV3.eventType, AssessmentRejectedV1.eventType, AssessmentAppealRecordedV1.eventType],
            party: lspLicence),
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
            ],
            party: classCentre),
    ]

    /// The broker user of a principal: `kaltim-portal`, `kaltim-intake`.
    public static func brokerUser(_ principal: String, prefix: String = "") -> String { "\(prefix)kaltim-\(principal)" }

    /// The broker user of one party of a principal: `kaltim-lsp-BNSP-LSP-0123-ID`, `kaltim-blki-BPN`.
    public static func brokerUser(_ principal: String, party: String, prefix: String = "") -> String {
        brokerUser(principal, prefix: prefix) + "-" + party
    }

    /// The parties of the external publishers that have them, as a programme plan names them:
    /// the LSPs by licence, the BLKIs by code. The deployment's broker users are made from these.
    public static func parties(lspLicences: [String], centreCodes: [String]) -> [String: [String]] {
        ["lsp": lspLicences, "blki": centreCodes]
    }

    /// Every event type that party publishers send, with the prefix of their broker users and
    /// how an event names its party (for `PublisherPolicy.enforcing(_:parties:)`).
    public static func partyRules(prefix: String = "") -> [String: (
        userPrefix: String, party: @Sendable (any ContractMessage) -> String?
    )] {
        var rules: [String: (userPrefix: String, party: @Sendable (any ContractMessage) -> String?)] = [:]
        for publisher in external {
            guard let party = publisher.party else { continue }
            for type in publisher.publishes { rules[type] = (brokerUser(publisher.name, prefix: prefix) + "-", party.of) }
        }
        return rules
    }

    /// The principals that may publish `type`: the external systems and the roles that list it.
    public static func principals(publishing type: String) -> Set<String> {
        Set(external.filter { $0.publishes.contains(type) }.map(\.name))
            .union((WorkerRole.all + [.console]).filter { $0.publishes.contains(type) }.map(\.name))
    }

    /// The users the parties of a principal shared before each had its own (`kaltim-lsp`,
    /// `kaltim-blki`), with the types they published: only for events of the past, such as the
    /// console's history. `deploy/` no longer has them.
    public static func retiredUsers(prefix: String = "") -> [String: Set<String>] {
        var retired: [String: Set<String>] = [:]
        for publisher in external where publisher.party != nil {
            for type in publisher.publishes { retired[type, default: []].insert(brokerUser(publisher.name, prefix: prefix)) }
        }
        return retired
    }

    /// Every event type with the broker users allowed to publish it (users named with `prefix`,
    /// as a test's private users are).
    public static func allowedUsers(prefix: String = "") -> [String: Set<String>] {
        var allowed: [String: Set<String>] = [:]
        // A principal with parties publishes through its parties' users (``partyRules(prefix:)``).
        for publisher in external where publisher.party == nil {
            for type in publisher.publishes { allowed[type, default: []].insert(brokerUser(publisher.name, prefix: prefix)) }
        }
        for role in WorkerRole.all + [.console] {
            for type in role.publishes { allowed[type, default: []].insert(brokerUser(role.name, prefix: prefix)) }
        }
        return allowed
    }
}
