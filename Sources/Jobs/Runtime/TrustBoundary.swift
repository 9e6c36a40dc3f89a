public import AMQP
public import ContractKit
public import Foundation

/// Who may publish which event type, checked by the worker against each delivery's `user_id`,
/// which the broker validates (it refuses a message whose `user_id` is not the publishing
/// connection's user). The broker's topic permissions only say which routing keys a user may
/// publish; this check, with ``DeliveryProvenance/check(_:policy:)``'s routing-key rule, makes
/// the body agree with them.
public struct PublisherPolicy: Sendable {
    /// Publishers that each speak for one party among several of a kind (one LSP among the
    /// LSPs, one BLKI among the BLKIs): the prefix their broker users share, and the party an
    /// event speaks for, read from its body. Such an event may come from the user named by the
    /// prefix and that party (the LSPs' prefix followed by `BNSP-LSP-0123-ID`) and from no other user with
    /// the prefix: one LSP cannot send results under another's licence.
    public struct PartyRule: Sendable {
        /// The prefix the party publishers' broker users share (the principal's user and a dash).
        public let userPrefix: String
        /// The party the event speaks for; nil when it names none (refused).
        public let party: @Sendable (any ContractMessage) -> String?

        public init(userPrefix: String, party: @escaping @Sendable (any ContractMessage) -> String?) {
            self.userPrefix = userPrefix
            self.party = party
        }
    }

    /// The broker users allowed to publish each event type; nil lets any user publish any type.
    public let allowedUsers: [String: Set<String>]?
    /// The event types party publishers may publish (``PartyRule``), besides `allowedUsers`.
    public let parties: [String: PartyRule]

    /// Enforces `allowedUsers` and `parties` (by event type, the prefix of the party
    /// publishers' users and how an event names its party: ``PartyRule``): a type missing from
    /// both may be published by nobody.
    public static func enforcing(
        _ allowedUsers: [String: Set<String>],
        parties: [String: (userPrefix: String, party: @Sendable (any ContractMessage) -> String?)] = [:]
    ) -> PublisherPolicy {
        PublisherPolicy(allowedUsers: allowedUsers, parties: parties.mapValues { PartyRule(userPrefix: $0.0, party: $0.1) })
    }

    /// Any broker user may publish any event type: for local runs in which every process logs
    /// in as one user. A worker with this policy says so in a warning at start.
    public static let anyPublisher = PublisherPolicy(allowedUsers: nil, parties: [:])

    /// Whether publishers are checked.
    public var isEnforced: Bool { allowedUsers != nil }
}

/// Where a delivery came from, and which of the worker-owned headers on it can be believed.
///
/// A message reaches a role queue on one of two paths:
/// - **from a publisher**, through the events exchange under the routing key it was published
///   with. Everything on it is the publisher's: headers such as `x-attempt` or `x-failure-*` are
///   ignored, whatever their type or value.
/// - **internally**, through the default exchange with the role queue's own name as routing key:
///   the broker dead-lettering an expired message out of the role's retry tier, or an audited
///   admin replay. No publisher and no other role has write permission on the default exchange
///   in `deploy/`, so the attempt count and the first failure there were written by this role's
///   failure router (a replay removes them; the router drops a publisher's `CC` and `BCC`, so
///   its copy reaches only its own tier), and the user the message was first published with
///   by the router or the admin tool (``FailureRouter/Header``). The recorded routing key may
///   still be a publisher's on a replayed letter the broker dead-lettered; the publisher check
///   bounds it to the types that publisher may send anyway.
public struct DeliveryProvenance: Sendable, Equatable {
    /// The two ways into a role queue.
    public enum Path: Sendable, Equatable {
        case publisher
        case `internal`
    }

    /// The most failed attempts a header may claim; a retry budget is far below it.
    public static let attemptCeiling = 1000

    public let path: Path
    /// The routing key the event was first published with (on the internal path, as recorded
    /// there; nil when nothing was recorded).
    public let routingKey: String?
    /// The broker-validated user that first published the event (nil when it set no `user_id`).
    public let publisher: String?
    /// Failed attempts before this delivery: 0 from a publisher, at most ``attemptCeiling``.
    public let previousAttempts: Int
    /// When the message first failed (internal path only).
    public let firstFailureAt: Date?

    /// The provenance of `delivery` in the role whose queue is `roleQueue`.
    public init(_ delivery: AMQPDelivery, roleQueue: String) {
        self.init(
            exchange: delivery.exchange, routingKey: delivery.routingKey, userID: delivery.properties.userID,
            headers: delivery.properties.headers ?? [:], roleQueue: roleQueue)
    }

    /// The provenance of a delivery with these fields (``init(_:roleQueue:)``, for tests).
    public init(exchange: String, routingKey: String, userID: String?, headers: AMQPTable, roleQueue: String) {
        if exchange.isEmpty && routingKey == roleQueue {
            path = .internal
            self.routingKey = headers[FailureRouter.Header.publishedRoutingKey]?.stringValue
            publisher = headers[FailureRouter.Header.publishedBy]?.stringValue
            let claimed = headers[FailureRouter.Header.attempt]?.intValue ?? 0
            previousAttempts = Int(min(max(claimed, 0), Int64(Self.attemptCeiling)))
            if case .timestamp(let date) = headers[FailureRouter.Header.firstFailureAt] {
                firstFailureAt = date
            } else {
                firstFailureAt = nil
            }
        } else {
            path = .publisher
            self.routingKey = routingKey
            publisher = userID
            previousAttempts = 0
            firstFailureAt = nil
        }
    }

    /// The inbox key of an event with envelope id `messageID`: the publisher and the id, so that
    /// nobody can take another publisher's message ids (a forged `issued-…` id would otherwise
    /// make a consumer drop the real event as a duplicate). An event with no `user_id` keeps its
    /// bare id, as every inbox row before this rule did.
    public func inboxKey(messageID: String) -> String {
        guard let publisher, !publisher.isEmpty else { return messageID }
        return publisher + "/" + messageID
    }

    /// Checks a decoded event against where it came from: the routing key (and the AMQP `type`
    /// property, when set) must be the envelope's type (`type-mismatch`), and the publisher must
    /// be one `policy` allows for that type (`publisher-not-allowed`). Both are permanent.
    public func check(_ event: DecodedEvent, typeProperty: String?, policy: PublisherPolicy) -> Failure? {
        let type = event.header.type
        if routingKey != type {
            let key = routingKey.map { "routing key '\(Self.printable($0))'" } ?? "no recorded routing key"
            return .permanent(.typeMismatch, "an event of type \(type) arrived under \(key)")
        }
        if let typeProperty, typeProperty != type {
            return .permanent(
                .typeMismatch, "the AMQP type property '\(Self.printable(typeProperty))' is not the envelope's type \(type)")
        }
        if let allowed = policy.allowedUsers {
            guard let publisher else {
                return .permanent(.publisherNotAllowed, "an event of type \(type) without user_id: the publisher is unknown")
            }
            if let rule = policy.parties[type], publisher.hasPrefix(rule.userPrefix) {
                let party = rule.party(event.payload)
                guard let party, !party.isEmpty, publisher == rule.userPrefix + party else {
                    let named = party.map { "for '\(Self.printable($0))'" } ?? "naming no party"
                    return .permanent(
                        .publisherNotAllowed,
                        "the broker user '\(Self.printable(publisher))' may not publish \(type) \(named): it speaks for "
                            + "'\(Self.printable(String(publisher.dropFirst(rule.userPrefix.count))))' only")
                }
            } else if allowed[type]?.contains(publisher) != true {
                return .permanent(
                    .publisherNotAllowed, "the broker user '\(Self.printable(publisher))' may not publish \(type)")
            }
        }
        return nil
    }

    /// At most 64 characters of an outside string, control characters replaced, for a failure
    /// message.
    static func printable(_ text: String) -> String {
        let cleaned = String(String.UnicodeScalarView(text.unicodeScalars.prefix(64).map { $0.value < 0x20 ? "?" : $0 }))
        return text.unicodeScalars.count > 64 ? cleaned + "…" : cleaned
    }
}
