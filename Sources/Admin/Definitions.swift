import AMQP
public import ContractKit
import Contracts
public import Foundation
public import Jobs

/// The topology of every role as a RabbitMQ definitions document (the format of
/// `rabbitmqctl import_definitions` and the management UI): the events exchange, each role's
/// queue, retry tiers and dead-letter queue with their arguments, and the bindings.
public enum TopologyDefinitions {
    /// The definitions of `roles`, as a JSON object.
    public static func document(
        roles: [WorkerRole], retryDelays: [Duration]? = nil, deliveryLimit: Int = 20, prefix: String = "", vhost: String = "/",
        retryQueueType: RoleTopology.RetryQueueType
    )
        -> [String: Any]
    {
        var queues: [[String: Any]] = []
        var bindings: [[String: Any]] = []
        var exchanges: [String: [String: Any]] = [:]
        for role in roles {
            let topology =
                retryDelays.map {
                    RoleTopology(
                        role: role, retryDelays: $0, deliveryLimit: deliveryLimit, prefix: prefix, retryQueueType: retryQueueType)
                }
                ?? RoleTopology(role: role, deliveryLimit: deliveryLimit, prefix: prefix, retryQueueType: retryQueueType)
            exchanges[topology.exchange] = [
                "name": topology.exchange, "vhost": vhost, "type": "topic", "durable": true, "auto_delete": false,
                "internal": false, "arguments": [String: Any](),
            ]
            exchanges[topology.failureExchange] = [
                "name": topology.failureExchange, "vhost": vhost, "type": "topic", "durable": true, "auto_delete": false,
                "internal": false, "arguments": [String: Any](),
            ]
            for name in topology.failureQueues {
                bindings.append([
                    "source": topology.failureExchange, "vhost": vhost, "destination": name, "destination_type": "queue",
                    "routing_key": name, "arguments": [String: Any](),
                ])
            }
            for spec in topology.queueSpecs {
                queues.append([
                    "name": spec.name, "vhost": vhost, "durable": spec.durable, "auto_delete": spec.autoDelete,
                    "arguments": spec.arguments.mapValues(json),
                ])
            }
            for type in role.consumes {
                bindings.append([
                    "source": topology.exchange, "vhost": vhost, "destination": topology.queue, "destination_type": "queue",
                    "routing_key": type, "arguments": [String: Any](),
                ])
            }
        }
        return [
            "rabbit_version": "3.10.8", "rabbitmq_version": "3.10.8",
            "exchanges": exchanges.keys.sorted().compactMap { exchanges[$0] }, "queues": queues, "bindings": bindings,
        ]
    }

    /// The document as pretty, sorted JSON.
    public static func json(roles: [WorkerRole], prefix: String = "", retryQueueType: RoleTopology.RetryQueueType) throws -> Data
    {
        try JSONSerialization.data(
            withJSONObject: document(roles: roles, prefix: prefix, retryQueueType: retryQueueType),
            options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }

    static func json(_ value: AMQPFieldValue) -> Any {
        switch value {
        case .bool(let v): v
        case .string(let v): v
        case .int8(let v): Int(v)
        case .uint8(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int64(let v): Int(v)
        case .float(let v): Double(v)
        case .double(let v): v
        default: "\(value)"
        }
    }
}

/// A RabbitMQ policy: settings the broker applies to every queue whose name matches, also to
/// queues that already exist (queue arguments could only be changed by deleting the queue).
public struct BrokerPolicy: Sendable, Equatable {
    /// One setting's value.
    public enum Value: Sendable, Equatable {
        case integer(Int)
        case text(String)

        var json: Any {
            switch self {
            case .integer(let value): value
            case .text(let value): value
            }
        }
    }

    public let name: String
    /// A regular expression over queue names.
    public let pattern: String
    public let priority: Int
    public let definition: [String: Value]

    /// The body of the management API's `PUT /api/policies/{vhost}/{name}` (and, with `name`
    /// and `vhost`, an entry of a definitions document).
    public var jsonObject: [String: Any] {
        ["pattern": pattern, "apply-to": "queues", "priority": priority, "definition": definition.mapValues(\.json)]
    }
}

/// Bounds on the dead-letter queues that never drop a message silently.
///
/// A role's dead-letter queue holds at most ``defaultMaximumLength`` messages
/// (``defaultMaximumBytes``) and then refuses
/// more (`overflow: reject-publish`): a worker's failure copy is nacked, so the worker keeps the
/// original and returns it to its queue, and after the delivery limit the broker dead-letters it
/// **at least once** (`dead-letter-strategy: at-least-once` on the role queue, with the
/// `overflow: reject-publish` that RabbitMQ requires for it; the role queue has no bound, so it
/// refuses nothing itself): the message stays
/// in the role queue, counted as waiting (`messages_dlx`), until the dead letters have room, and
/// then moves in by itself (the broker tries again every 3 minutes by default:
/// `dead_letter_worker_publisher_confirm_timeout`). As policies, not queue arguments, so that existing queues take them
/// without being deleted; `deploy/`'s definitions carry them, `kaltim-admin topology apply
/// --management-url` applies them.
public enum DeadLetterBounds {
    /// 100,000 dead letters per role: far above what a bad day produces (the main job's whole
    /// run dead-letters 6).
    public static let defaultMaximumLength = 100_000
    /// And at most 1 GiB of bodies per role, so that a flood of large messages cannot fill the
    /// broker's disk (a message is at most 1 MiB: `max_message_size`).
    public static let defaultMaximumBytes = 1 << 30
    /// Dead letters hold whole bodies, personal data included: they expire after 90 days (the
    /// inbox's retention, beyond which a replay would be handled again anyway; RabbitMQ
    /// `message-ttl`, which quorum queues honour since 3.10). Replay or export them before.
    public static let defaultRetention: Duration = .seconds(90 * 86_400)

    /// Two policies per role, named after its queues (so that applying them for one role
    /// leaves the others' alone): its dead-letter queue bounded and expiring after `retention`,
    /// its queue dead-lettering at least once.
    public static func policies(
        roles: [WorkerRole], prefix: String = "", maximumLength: Int = defaultMaximumLength,
        maximumBytes: Int = defaultMaximumBytes, retention: Duration = defaultRetention
    ) -> [BrokerPolicy] {
        let retentionMilliseconds =
            Int(retention.components.seconds) * 1_000 + Int(retention.components.attoseconds / 1_000_000_000_000_000)
        return roles.flatMap { role -> [BrokerPolicy] in
            let topology = RoleTopology(role: role, prefix: prefix)
            return [
                BrokerPolicy(
                    name: topology.deadLetterQueue + ".bounded", pattern: DeploymentFiles.regex([topology.deadLetterQueue]),
                    priority: 10,
                    definition: [
                        "max-length": .integer(maximumLength), "max-length-bytes": .integer(maximumBytes),
                        "overflow": .text("reject-publish"), "message-ttl": .integer(retentionMilliseconds),
                    ]),
                BrokerPolicy(
                    name: topology.queue + ".dead-letter-at-least-once", pattern: DeploymentFiles.regex([topology.queue]),
                    priority: 10,
                    definition: ["dead-letter-strategy": .text("at-least-once"), "overflow": .text("reject-publish")]),
            ]
        }
    }
}
