public import AMQP
import ContractKit
public import Foundation

/// Sends a failed delivery where it belongs, then acknowledges it: to the next retry tier for
/// a transient failure with attempts left, else to the role's dead-letter queue with a bounded
/// failure record in its headers. The body is kept byte for byte, and so are the original
/// properties. The new copy is confirmed by the broker before the original is acked, so a
/// crash in between yields a duplicate, never a loss.
public struct FailureRouter: Sendable {
    /// Where a failed delivery went.
    public enum Outcome: Sendable, Equatable {
        /// To retry tier `tier` (0-based); this was failed attempt `attempt`.
        case retried(tier: Int, attempt: Int)
        /// To the dead-letter queue after `attempts` failed attempts.
        case deadLettered(attempts: Int)
    }

    /// Header names of the failure record (all bounded in size).
    public enum Header {
        public static let attempt = "x-attempt"
        public static let firstFailureAt = "x-first-failure-at"
        public static let originalExchange = "x-failure-original-exchange"
        public static let originalRoutingKey = "x-failure-original-routing-key"
        public static let originalQueue = "x-failure-original-queue"
        public static let contractType = "x-failure-contract-type"
        public static let contractVersion = "x-failure-contract-version"
        public static let role = "x-failure-role"
        public static let instance = "x-failure-instance"
        public static let attempts = "x-failure-attempts"
        public static let lastFailureAt = "x-failure-last-at"
        public static let kind = "x-failure-kind"
        public static let code = "x-failure-code"
        public static let message = "x-failure-message"
        public static let fingerprint = "x-failure-fingerprint"
        /// On a copy without the publisher's headers: they encoded to more than the router
        /// carries (``FailureRouter/carriedHeaderLimit``, or a quarter of a smaller frame).
        public static let headersDropped = "x-failure-headers-dropped"
        /// The routing key the event was first published with (on retry and dead-letter copies,
        /// which travel under queue names): the key the worker checks the type against.
        public static let publishedRoutingKey = "x-published-routing-key"
        /// The broker-validated `user_id` of the event's publisher (a copy carries the role's
        /// own user as `user_id`, since the broker accepts no other from it).
        public static let publishedBy = "x-published-by"

        /// Headers only the worker (or an audited admin replay) writes: believed on the
        /// internal path only, removed from a publisher's message before it is copied.
        public static func isWorkerOwned(_ name: String) -> Bool {
            name == attempt || name == firstFailureAt || name == publishedRoutingKey || name == publishedBy
                || name.hasPrefix("x-failure-")
        }

        /// RabbitMQ's sender-selected distribution: the broker also routes a message to the
        /// routing keys its `CC` and `BCC` headers list, on the exchange it is published to
        /// (RabbitMQ 3.10 checks no topic permission for them). A copy the worker or an admin
        /// republishes must go only where the copy is sent, so these never travel on
        /// (compared without case: a header of another case is no instruction to the broker,
        /// and none of ours).
        public static func isSenderSelectedRouting(_ name: String) -> Bool {
            name.utf8.count <= 3 && ["CC", "BCC"].contains(name.uppercased())
        }
    }

    /// The most bytes of a publisher's headers a copy carries (encoded): 16 KiB, far above an
    /// honest publisher's and far below the frame (128 KiB by default) the copy must fit in;
    /// a quarter of the frame when the broker agreed a smaller one.
    public static let carriedHeaderLimit = 16_384

    /// The longest failure message stored, in characters.
    public static let messageLimit = 512

    public let topology: RoleTopology
    /// This process, e.g. `intake@host-1:4711`.
    public let instance: String

    /// - Parameter instance: this process, e.g. `intake@host-1:4711`. A failure's message is
    ///   masked through the process's ``Redaction`` hook before it goes into the headers.
    public init(topology: RoleTopology, instance: String) {
        self.topology = topology
        self.instance = instance
    }

    /// Failed attempts allowed before a transient failure is dead-lettered: one per retry tier.
    public var maximumRetries: Int { topology.retryDelays.count }

    /// Routes `delivery` after `failure`, publishing through `publisher`, then acks it.
    /// - Parameter contract: the contract type and version, when the body could be read that far.
    /// - Throws: when the copy could not be published and confirmed (the delivery is then not
    ///   acknowledged and the broker redelivers it), or when the ack failed after the copy was
    ///   published (the broker then redelivers it too, and a second copy follows).
    @discardableResult
    public func route(
        _ delivery: AMQPDelivery, failure: Failure, contract: (type: String, version: Int)? = nil, publisher: any WorkerTransport,
        now: Date = Date()
    ) async throws -> Outcome {
        let outcome = try await publishCopy(of: delivery, failure: failure, contract: contract, publisher: publisher, now: now)
        try await delivery.ack()
        return outcome
    }

    /// The first half of ``route(_:failure:contract:publisher:now:)``: publishes the copy of
    /// `delivery` to its retry tier or the dead letters and waits for the broker's confirm,
    /// without acknowledging the delivery.
    public func publishCopy(
        of delivery: AMQPDelivery, failure: Failure, contract: (type: String, version: Int)? = nil,
        publisher: any WorkerTransport, now: Date = Date()
    ) async throws -> Outcome {
        let provenance = DeliveryProvenance(delivery, roleQueue: topology.queue)
        let attempt = provenance.previousAttempts + 1
        var properties = delivery.properties
        // A publisher's own x-attempt or x-failure-* headers are not carried into the copy.
        // Nor its CC or BCC, which would route the copy to other tiers and dead letters too.
        var newHeaders = (delivery.properties.headers ?? [:]).filter {
            !Header.isWorkerOwned($0.key) && !Header.isSenderSelectedRouting($0.key)
        }
        // Headers that fill most of a frame leave no room for the failure record: the copy's
        // header frame would not fit, its publish would tear the publishing connection down, and
        // the message would come back to fail again until the broker's delivery limit. They are
        // not carried; the copy says so, with its body and other properties whole. (A copy back
        // from a retry tier keeps the note its first copy got.)
        let limit = min(Self.carriedHeaderLimit, publisher.frameSize / 4)
        var dropped = provenance.path == .internal && delivery.properties.headers?[Header.headersDropped] == .bool(true)
        if !newHeaders.isEmpty, (try? AMQPProperties(headers: newHeaders).wireEncoded(capacity: limit)) == nil {
            newHeaders = [:]
            dropped = true
        }
        if dropped { newHeaders[Header.headersDropped] = .bool(true) }
        newHeaders[Header.firstFailureAt] = .timestamp(provenance.firstFailureAt ?? now)
        if let key = provenance.routingKey { newHeaders[Header.publishedRoutingKey] = .string(key) }
        if let user = provenance.publisher { newHeaders[Header.publishedBy] = .string(user) }
        // The broker accepts no user_id but the publishing connection's own; and a copy never
        // expires on the way (a publisher's expiration would make its own dead letter vanish).
        properties.userID = publisher.username
        properties.expiration = nil

        let outcome: Outcome
        let target: String
        if failure.kind == .transient && attempt <= maximumRetries {
            let tier = min(max(attempt - 1, 0), topology.retryQueues.count - 1)
            newHeaders[Header.attempt] = .int64(Int64(attempt))
            target = topology.retryQueues[tier].name
            outcome = .retried(tier: tier, attempt: attempt)
        } else {
            let masked = Redaction.apply(failure.message)
            let text = masked.count > Self.messageLimit ? String(masked.prefix(Self.messageLimit - 1)) + "…" : masked
            newHeaders[Header.attempt] = .int64(Int64(attempt))
            newHeaders[Header.originalExchange] = .string(delivery.exchange)
            // The key it was published with (a copy back from a retry tier travels under the
            // queue's name).
            newHeaders[Header.originalRoutingKey] = .string(provenance.routingKey ?? delivery.routingKey)
            newHeaders[Header.originalQueue] = .string(topology.queue)
            if let contract {
                newHeaders[Header.contractType] = .string(contract.type)
                newHeaders[Header.contractVersion] = .int64(Int64(contract.version))
            }
            newHeaders[Header.role] = .string(topology.role.name)
            newHeaders[Header.instance] = .string(instance)
            newHeaders[Header.attempts] = .int64(Int64(attempt))
            newHeaders[Header.lastFailureAt] = .timestamp(now)
            newHeaders[Header.kind] = .string(failure.kind == .permanent ? "permanent" : "transient-exhausted")
            newHeaders[Header.code] = .string(failure.code.rawValue)
            newHeaders[Header.message] = .string(text)
            newHeaders[Header.fingerprint] = .string(
                Self.fingerprint(role: topology.role.name, failure: failure, contract: contract?.type))
            target = topology.deadLetterQueue
            outcome = .deadLettered(attempts: attempt)
        }
        properties.headers = newHeaders
        properties.deliveryMode = .persistent
        try await publisher.publish(
            delivery.body, exchange: topology.failureExchange, routingKey: target, properties: properties, mandatory: true)
        return outcome
    }

    /// Groups failures with the same cause: role, code, contract type and the message with its
    /// digits removed (ids and counts differ between otherwise equal failures). FNV-1a, 64 bits.
    public static func fingerprint(role: String, failure: Failure, contract: String?) -> String {
        let shape = failure.message.filter { !$0.isNumber }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(role)|\(failure.code.rawValue)|\(contract ?? "")|\(shape)".utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
