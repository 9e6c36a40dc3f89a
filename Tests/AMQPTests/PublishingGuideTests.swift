import AMQP
import ContractKit
import Contracts
import Foundation
import TestSupport
import Testing
import Topology

/// Runs the Python (pika) publisher of docs/PUBLISHING.md against the private broker and
/// checks that what it publishes is what our consumers accept.
@Suite(
    .enabled(
        if: BrokerEnvironment.enabled,
        "needs the private broker: scripts/broker.sh start; export RABBITMQ_TEST_URL=$(scripts/broker.sh url)"),
    .timeLimit(.minutes(10))
)
struct PublishingGuideTests {
    static let example = BrokerEnvironment.repositoryRoot.appendingPathComponent("docs/examples/publish_registration.py").path

    @Test func thePythonExamplePublishesAMessageThatTheRegistryAccepts() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        try await connection.declareExchange(ContractDocuments.exchange, type: .topic)
        let queue = uniqueName()
        try await connection.declareQueue(AMQPQueueSpec(name: queue, durable: false, autoDelete: true))
        try await connection.bindQueue(queue, exchange: ContractDocuments.exchange, routingKey: "registration.submitted")

        let (status, output) = try await runProcess(
            "/usr/bin/env", ["python3", Self.example, try #require(BrokerEnvironment.url)],
            environment: ProcessInfo.processInfo.environment)
        #expect(status == 0)
        let messageID = output.trimmingCharacters(in: .whitespacesAndNewlines)

        try await waitUntil(timeout: .seconds(60), "the message in the queue") {
            try await connection.queueState(queue).messageCount == 1
        }
        let delivery = try #require(try await connection.get(queue: queue))
        #expect(delivery.properties.messageID == messageID)
        #expect(delivery.properties.contentType == "application/json")
        #expect(delivery.properties.deliveryMode == .persistent)
        #expect(delivery.properties.type == "registration.submitted")
        #expect(
            delivery.properties.userID == BrokerEnvironment.url.flatMap { URL(string: $0)?.user },
            "signed with the connection's user, as required")
        #expect(delivery.properties.headers?["x-contract-version"]?.intValue == 2)
        let event = try ContractRegistry.pipeline.decode(delivery.body)
        #expect(event.header.id == messageID)
        let registration = try #require(event.payload as? RegistrationSubmittedV3)
        #expect(registration.preferredCentre == .balikpapan)
        try await delivery.ack()
    }

    @Test func anUnroutableMessageIsReturnedToThePythonPublisher() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        try await connection.declareExchange(ContractDocuments.exchange, type: .topic)
        let (status, _) = try await runProcess(
            "/usr/bin/env",
            ["python3", Self.example, try #require(BrokerEnvironment.url), "nobody.listens.\(UUID().uuidString)"],
            environment: ProcessInfo.processInfo.environment)
        #expect(status == 1)
    }
}
