public import AMQP
public import ContractKit
import Foundation

/// The RabbitMQ objects of one worker role, declared idempotently from code at start-up. Every
/// name comes from the ``WorkerRole`` the application gives (its queue and its exchanges) and
/// the prefix; the runtime knows no name of its own.
///
/// ```
///  <events exchange> (topic) ──<event types>──▶ <queue> (quorum; x-delivery-limit,
///                                                  │        dead letters ──▶ <queue>.dead)
///        worker: transient failure ──▶ <queue>.retry.5s  (TTL 5 s, expires back into <queue>)
///                                      <queue>.retry.30s, <queue>.retry.5m, …
///        worker: permanent failure ──▶ <queue>.dead (quorum), with a failure record in headers
/// ```
///
/// - The role queue is a quorum queue bound to the event types the role consumes.
/// - Each retry tier is a queue without consumers whose messages expire after the tier's delay
///   and are dead-lettered back into the role queue; every message in one tier has the same
///   TTL, so expiry at the head never blocks. By default a durable classic queue (version 1:
///   see ``AMQP/AMQPQueueSpec/classic(_:arguments:)``); on a cluster a quorum queue
///   (``RetryQueueType/quorum``), replicated like the role queue, whose expired messages are
///   dead-lettered at least once (`x-dead-letter-strategy: at-least-once`, which needs
///   `x-overflow: reject-publish`). A classic tier lives on one node: while that node is down,
///   the tier and the messages in it are unavailable, and declaring the topology fails.
/// - The dead-letter queue receives what the worker gives up on (with its failure record) and,
///   as a safety net, what the broker dead-letters itself: a message redelivered more than
///   `deliveryLimit` times (a crash loop) or rejected without requeue.
public struct RoleTopology: Sendable {
    /// The queue type of the retry tiers.
    public enum RetryQueueType: String, Sendable, CaseIterable {
        /// Classic (version 1) queues: the default, for a single node.
        case classic
        /// Quorum queues with at-least-once dead-lettering: for a cluster.
        case quorum

        /// Reads a setting (`classic` or `quorum`, in any case); classic when `nil` or empty,
        /// `nil` when it is anything else. The application reads the setting where it reads its
        /// configuration and passes the result to every ``RoleTopology`` it builds.
        public init?(setting: String?) {
            let value = setting?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            guard !value.isEmpty else {
                self = .classic
                return
            }
            self.init(rawValue: value.lowercased())
        }
    }

    public let role: WorkerRole
    /// Prepended to every name (`""` in production; tests isolate themselves with one).
    public let prefix: String
    public let retryDelays: [Duration]
    /// Deliveries of one message before the broker dead-letters it (RabbitMQ 3.10 has no
    /// default; 4.x defaults to 20).
    public let deliveryLimit: Int
    public let retryQueueType: RetryQueueType

    /// Creates the topology of `role`.
    /// - Parameters:
    ///   - retryDelays: the backoff tiers, shortest first (default 5 s, 30 s, 5 min).
    ///   - deliveryLimit: the broker-level redelivery limit (default 20).
    ///   - prefix: a name prefix, for test isolation.
    ///   - retryQueueType: the tiers' queue type (default classic, for a single node; every
    ///     process of one deployment must pass the same type).
    public init(
        role: WorkerRole, retryDelays: [Duration] = [.seconds(5), .seconds(30), .seconds(300)], deliveryLimit: Int = 20,
        prefix: String = "", retryQueueType: RetryQueueType = .classic
    ) {
        precondition(!retryDelays.isEmpty && retryDelays.allSatisfy { $0 >= .milliseconds(1) }, "retry delays must be positive")
        precondition(deliveryLimit > 0, "the delivery limit must be positive")
        self.role = role
        self.retryDelays = retryDelays
        self.deliveryLimit = deliveryLimit
        self.prefix = prefix
        self.retryQueueType = retryQueueType
    }

    /// The exchange the role's events arrive through (``WorkerRole/exchange``).
    public var exchange: String { prefix + role.exchange }
    /// The exchange the failure router publishes through (``WorkerRole/failureExchange``).
    public var failureExchange: String { prefix + role.failureExchange }
    public var queue: String { prefix + role.queue }
    public var deadLetterQueue: String { queue + ".dead" }

    /// The retry queue of each tier, e.g. `<queue>.retry.30s`.
    public var retryQueues: [(name: String, delay: Duration)] {
        retryDelays.map { ("\(queue).retry.\(Self.label($0))", $0) }
    }

    /// The role queue's arguments.
    public var queueSpec: AMQPQueueSpec {
        .quorum(
            queue,
            arguments: [
                "x-delivery-limit": .int64(Int64(deliveryLimit)),
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": .string(deadLetterQueue),
            ])
    }

    /// The queues of the role with their arguments: the dead-letter queue, the role queue and
    /// the retry tiers (what ``declare(on:)`` declares, and what definitions exports list).
    public var queueSpecs: [AMQPQueueSpec] {
        [.quorum(deadLetterQueue), queueSpec]
            + retryQueues.map { name, delay in
                let arguments: [String: AMQPFieldValue] = [
                    "x-message-ttl": .int64(Int64(delay.milliseconds)),
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": .string(queue),
                ]
                switch retryQueueType {
                case .classic: return AMQPQueueSpec.classic(name, arguments: arguments)
                case .quorum:
                    return AMQPQueueSpec.quorum(
                        name,
                        arguments: arguments.merging([
                            "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish",
                        ]) { old, _ in old })
                }
            }
    }

    /// The queues the failure router publishes to, each bound from ``failureExchange`` under its
    /// own name: the retry tiers and the dead letters.
    public var failureQueues: [String] { retryQueues.map(\.name) + [deadLetterQueue] }

    /// Declares the exchanges, the queues and the bindings; safe to run again. Checks the broker
    /// version first.
    /// - Throws: ``TopologyError`` naming what differs from an existing object and how to fix it.
    public func declare(on connection: AMQPConnection) async throws {
        try Self.checkBrokerVersion(connection.serverVersion)
        try await step("exchange \(exchange)") { try await connection.declareExchange(exchange, type: .topic) }
        try await step("exchange \(failureExchange)") { try await connection.declareExchange(failureExchange, type: .topic) }
        for spec in queueSpecs {
            try await step("queue \(spec.name)") { try await connection.declareQueue(spec) }
        }
        for name in failureQueues {
            try await step("binding \(failureExchange) → \(name)") {
                try await connection.bindQueue(name, exchange: failureExchange, routingKey: name)
            }
        }
        for type in role.consumes {
            try await step("binding \(exchange) → \(queue) (\(type))") {
                try await connection.bindQueue(queue, exchange: exchange, routingKey: type)
            }
        }
    }

    private func step(_ what: String, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as AMQPError where error.replyCode == 406 {
            throw TopologyError(
                object: what, brokerText: error.replyText ?? error.message,
                fix: "the existing object was declared with other properties or arguments. Compare it with "
                    + "`rabbitmqctl list_queues name arguments` (or list_exchanges); to change a queue's type or "
                    + "arguments, drain it and delete it (`rabbitmqctl delete_queue NAME`) so the worker can declare it "
                    + "again, or move the setting into a policy.")
        }
    }

    /// RabbitMQ 3.10 or newer (quorum queue dead-lettering and message TTL).
    static func checkBrokerVersion(_ version: String?) throws {
        guard let version else { return }
        let numbers = version.split(separator: ".").compactMap { Int($0.prefix { $0.isNumber }) }
        guard numbers.count >= 2 else { return }
        if numbers[0] < 3 || (numbers[0] == 3 && numbers[1] < 10) {
            throw TopologyError(
                object: "broker", brokerText: "RabbitMQ \(version)",
                fix: "RabbitMQ 3.10 or newer is required (quorum queue message TTL and dead-lettering).")
        }
    }

    static func label(_ delay: Duration) -> String {
        let ms = delay.milliseconds
        if ms % 3_600_000 == 0 { return "\(ms / 3_600_000)h" }
        if ms % 60_000 == 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }
}

/// A broker object exists with properties other than the ones the worker declares.
public struct TopologyError: Error, CustomStringConvertible {
    /// What was being declared, e.g. `queue <queue>`.
    public let object: String
    /// The broker's explanation, e.g. `PRECONDITION_FAILED - inequivalent arg 'x-queue-type' …`.
    public let brokerText: String
    /// What to do about it.
    public let fix: String

    public var description: String { "cannot declare \(object): \(brokerText). Fix: \(fix)" }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
