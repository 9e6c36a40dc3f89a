import ContractKit
import Contracts
public import Foundation

/// The documents generated from the contract types: one JSON Schema per (type, version) and the
/// AsyncAPI document. `swift run contracts-export` writes them into the repository; a test
/// fails when the committed copies are stale.
public enum ContractDocuments {
    /// The topic exchange every domain event is published to; the routing key is the type.
    public static let exchange = "kaltim.events"
    /// The topic exchange a worker routes its failed messages through, into its own retry tiers
    /// and dead letters (the routing key is the queue's name). A topic exchange, so that the
    /// broker's topic permissions let each role's user reach its own queues only; nothing
    /// writes to the default exchange but the broker and the admin.
    public static let failureExchange = "kaltim.failures"

    /// Relative path → file contents.
    /// - Parameter examples: golden fixtures by name (`registration.submitted.v2`), included as
    ///   message examples in the AsyncAPI document.
    public static func generate(examples: [String: Data]) throws -> [String: Data] {
        var files: [String: Data] = [:]
        var channels: [String: Any] = [:]
        var operations: [String: Any] = [:]
        var messages: [String: Any] = [:]
        for contract in ContractCatalogue.all {
            let name = "\(contract.eventType).v\(contract.version)"
            var schema = try envelopeSchema(contract).jsonObject
            schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
            schema["$id"] = "https://kaltim.example/schemas/\(name).schema.json"
            schema["title"] = "\(contract.eventType) version \(contract.version)"
            if !contract.personalFields.isEmpty {
                // Which fields hold personal data (UU 27/2022), and of what kind: consumers mask
                // them by these names in every view that is not meant to show them.
                schema["x-personal-data"] = Dictionary(
                    uniqueKeysWithValues: contract.personalFields.map {
                        ((["data"] + $0.path).joined(separator: "."), $0.kind.rawValue)
                    })
            }
            files["schemas/\(name).schema.json"] = try json(schema)

            var message: [String: Any] = [
                "name": name, "title": "\(contract.eventType) v\(contract.version)", "contentType": "application/json",
                "payload": ["$ref": "../schemas/\(name).schema.json"],
                "headers": [
                    "type": "object",
                    "properties": ["x-contract-version": ["type": "integer", "const": contract.version]],
                ],
                "bindings": ["amqp": ["deliveryMode": 2, "messageType": contract.eventType, "bindingVersion": "0.3.0"]],
            ]
            if let example = examples[name], let object = try? JSONSerialization.jsonObject(with: example) {
                message["examples"] = [["name": "golden fixture", "payload": object]]
            }
            messages[name] = message

            var channel =
                channels[contract.eventType] as? [String: Any] ?? [
                    "address": contract.eventType,
                    "description": "Routing key \(contract.eventType) on the topic exchange \(exchange).",
                    "messages": [String: Any](),
                    "bindings": [
                        "amqp": [
                            "is": "routingKey", "bindingVersion": "0.3.0",
                            "exchange": ["name": exchange, "type": "topic", "durable": true, "autoDelete": false, "vhost": "/"],
                        ]
                    ],
                ]
            var channelMessages = channel["messages"] as? [String: Any] ?? [:]
            channelMessages[name] = ["$ref": "#/components/messages/\(name)"]
            channel["messages"] = channelMessages
            channels[contract.eventType] = channel
            operations["publish.\(contract.eventType)"] = [
                "action": "send", "channel": ["$ref": "#/channels/\(contract.eventType)"],
                "messages": channelMessages.keys.sorted().map { ["$ref": "#/channels/\(contract.eventType)/messages/\($0)"] },
            ]
        }
        for role in WorkerRole.all {
            var roleMessages: [String: Any] = [:]
            for contract in ContractCatalogue.all where role.consumes.contains(contract.eventType) {
                let name = "\(contract.eventType).v\(contract.version)"
                roleMessages[name] = ["$ref": "#/components/messages/\(name)"]
            }
            let channelName = "queue.\(role.name)"
            channels[channelName] = [
                "address": role.queue,
                "description":
                    "\(role.summary) Bound to \(exchange) with routing keys: \(role.consumes.joined(separator: ", ")).",
                "messages": roleMessages,
                "bindings": [
                    "amqp": [
                        "is": "queue", "bindingVersion": "0.3.0",
                        "queue": ["name": role.queue, "durable": true, "exclusive": false, "autoDelete": false, "vhost": "/"],
                    ]
                ],
            ]
            operations["receive.\(role.name)"] = [
                "action": "receive", "channel": ["$ref": "#/channels/\(channelName)"],
                "messages": roleMessages.keys.sorted().map { ["$ref": "#/channels/\(channelName)/messages/\($0)"] },
            ]
        }
        let document: [String: Any] = [
            "asyncapi": "3.0.0",
            "info": [
                "title": "Kaltim certification pipeline: domain events",
                "version": "1.0.0",
                "description":
                    "Events of the 2025 job-seeker certification programme on RabbitMQ. Publish to the durable topic exchange "
                    + "\(exchange) with the event type as routing key, persistent (delivery mode 2), content type "
                    + "application/json, the envelope id as message_id, and the header x-contract-version. Every older version "
                    + "of a contract stays accepted and is upcast to the newest.",
            ],
            "defaultContentType": "application/json",
            "servers": ["broker": ["host": "localhost:5672", "protocol": "amqp", "protocolVersion": "0.9.1"]],
            "channels": channels,
            "operations": operations,
            "components": ["messages": messages],
        ]
        files["docs/asyncapi.json"] = try json(document)
        return files
    }

    private static func envelopeSchema(_ contract: any ContractMessage.Type) throws -> JSONSchema {
        func open<M: ContractMessage>(_ type: M.Type) throws -> JSONSchema { try JSONSchema.envelope(of: type) }
        return try open(contract)
    }

    private static func json(_ object: Any) throws -> Data {
        var data = try JSONSerialization.data(
            withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        data.append(0x0A)
        return data
    }
}
