import AMQP
import Contracts
import Foundation
import Jobs
import TestSupport
import Testing
import Topology

struct TopologyNamingTests {
    @Test func namesFollowTheRoleAndTheRetryTiers() {
        let topology = RoleTopology(
            role: .intake, retryDelays: [.milliseconds(250), .seconds(5), .seconds(30), .seconds(300), .seconds(7200)])
        #expect(topology.exchange == "kaltim.events")
        #expect(topology.queue == "kaltim.intake")
        #expect(topology.deadLetterQueue == "kaltim.intake.dead")
        #expect(
            topology.retryQueues.map(\.name) == [
                "kaltim.intake.retry.250ms", "kaltim.intake.retry.5s", "kaltim.intake.retry.30s", "kaltim.intake.retry.5m",
                "kaltim.intake.retry.2h",
            ])
        #expect(topology.queueSpec.arguments["x-queue-type"] == "quorum")
        #expect(topology.queueSpec.arguments["x-delivery-limit"] == .int64(20))
        #expect(topology.queueSpec.arguments["x-dead-letter-routing-key"] == "kaltim.intake.dead")
    }
}

/// The role topology against the real broker, each test under its own name prefix.
@Suite(
    .enabled(
        if: BrokerEnvironment.enabled,
        "needs the private broker: scripts/broker.sh start; export RABBITMQ_TEST_URL=$(scripts/broker.sh url)"),
    .timeLimit(.minutes(10))
)
struct TopologyBrokerTests {
    func topology(
        deliveryLimit: Int = 20, delay: Duration = .milliseconds(300), retryQueueType: RoleTopology.RetryQueueType = .classic
    ) -> RoleTopology {
        RoleTopology(
            role: .intake, retryDelays: [delay], deliveryLimit: deliveryLimit, prefix: uniqueName("topo") + ".",
            retryQueueType: retryQueueType)
    }

    @Test func declaringTwiceIsIdempotentAndEventsReachTheRoleQueue() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let topology = topology()
        try await topology.declare(on: connection)
        try await topology.declare(on: connection)

        try await connection.publish(
            Data("event".utf8), exchange: topology.exchange, routingKey: "registration.submitted", mandatory: true)
        await #expect(throws: AMQPError.self) {
            try await connection.publish(
                Data("other".utf8), exchange: topology.exchange, routingKey: "certificate.issued", mandatory: true)
        }
        try await waitUntil(timeout: .seconds(60), "the routed event in the role queue") {
            try await connection.queueState(topology.queue).messageCount == 1
        }
        await topology.delete(on: connection)
    }

    @Test(arguments: RoleTopology.RetryQueueType.allCases)
    func aRetryTierReturnsTheMessageToTheRoleQueueAfterItsDelay(type: RoleTopology.RetryQueueType) async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let topology = topology(delay: .milliseconds(400), retryQueueType: type)
        try await topology.declare(on: connection)
        let body = Data((0..<512).map { UInt8($0 % 251) })
        let retry = try #require(topology.retryQueues.first)
        let sentAt = ContinuousClock.now
        try await connection.publish(
            body, routingKey: retry.name, properties: AMQPProperties(headers: ["x-attempt": 2], messageID: "m-1"), mandatory: true
        )
        try await waitUntil(timeout: .seconds(60), "the message back in the role queue") {
            try await connection.queueState(topology.queue).messageCount == 1
        }
        #expect(ContinuousClock.now - sentAt >= .milliseconds(400))
        let delivery = try #require(try await connection.get(queue: topology.queue))
        #expect(delivery.body == body)
        #expect(delivery.properties.messageID == "m-1")
        #expect(delivery.properties.headers?["x-attempt"] == 2)
        try await delivery.ack()
        await topology.delete(on: connection)
    }

    @Test func theBrokerDeadLettersARejectedMessageAndACrashLoop() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let topology = topology(deliveryLimit: 2)
        try await topology.declare(on: connection)
        try await connection.publish(
            Data("poison".utf8), routingKey: topology.queue, properties: AMQPProperties(messageID: "poison"))
        try await connection.publish(Data("loop".utf8), routingKey: topology.queue, properties: AMQPProperties(messageID: "loop"))

        // Rejected without requeue: dead-lettered at once.
        let inbox = DeliveryInbox(try await connection.consume(queue: topology.queue, prefetch: 1))
        let poison = try await inbox.next()
        #expect(poison.properties.messageID == "poison")
        try await poison.reject(requeue: false)
        // Requeued again and again (a worker that crashes on it): dead-lettered past the limit.
        // Each requeue comes straight back; the deadlines only bound a failure.
        for attempt in 1...3 {
            let delivery = try await inbox.next(within: .seconds(30))
            #expect(delivery.properties.messageID == "loop", "delivery \(attempt)")
            try await delivery.nack(requeue: true)
        }
        // Delivered once plus twice more, then dead-lettered: once both are in the dead-letter
        // queue, no fourth delivery can be on its way.
        try await waitUntil(timeout: .seconds(30), "both in the dead-letter queue") {
            try await connection.queueState(topology.deadLetterQueue).messageCount == 2
        }
        #expect(inbox.poll() == nil, "no fourth delivery past the limit")
        await topology.delete(on: connection)
    }

    @Test func aMismatchedExistingQueueFailsLoudlyWithAFix() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let topology = topology()
        try await connection.declareQueue(.classic(topology.queue))
        await #expect {
            try await topology.declare(on: connection)
        } throws: { error in
            let error = try #require(error as? TopologyError)
            return error.object == "queue \(topology.queue)" && error.brokerText.contains("inequivalent arg")
                && error.fix.contains("delete_queue")
        }
        #expect(connection.isConnected)
        await topology.delete(on: connection)
    }

}
