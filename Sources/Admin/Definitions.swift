import AMQP
public import Contracts
public import Foundation
public import Jobs

/// The topology of every role as a RabbitMQ definitions document (the format of
/// `rabbitmqctl import_definitions` and the management UI): the events exchange, each role's
/// queue, retry tiers and dead-letter queue with their arguments, and the bindings.
public enum TopologyDefinitions {
    /// The definitions of `roles`, as a JSON object.
    public static func document(
        roles: [WorkerRole], retryDelays: [Duration]? = nil, deliveryLimit: Int = 20, prefix: String = "", vhost: String = "/",
        retryQueueType: RoleTopology.RetryQueueType = RoleTopology.RetryQueueType.fromEnvironment ?? .classic
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
    public static func json(roles: [WorkerRole], prefix: String = "") throws -> Data {
        try JSONSerialization.data(
            withJSONObject: document(roles: roles, prefix: prefix),
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
