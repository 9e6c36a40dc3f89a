import AMQP
import Admin
import Contracts
import Foundation
import Jobs
import TestSupport
import Testing
import Topology

/// A full dead-letter queue refuses more, and nothing is lost: the worker's failure copy is
/// refused (so the worker keeps the original), and what the broker dead-letters waits in the role
/// queue until there is room, then moves in by itself. Without the policies the broker would drop
/// that message.
@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .serialized, .timeLimit(.minutes(10))
)
struct DeadLetterBoundsTests {
    @Test(.enabled(if: BrokerEnvironment.managementURL != nil, "needs RABBITMQ_TEST_MANAGEMENT_URL (scripts/test.sh)"))
    func aFullDeadLetterQueueRefusesMoreAndLosesNothing() async throws {
        let rig = try await DeadLetterRig.make()
        let management = try ManagementAPI(
            url: try #require(BrokerEnvironment.managementURL), virtualHost: "/", username: "guest", password: "guest")
        #expect(try await management.queue(named: rig.topology.queue + ".no-such-queue") == nil, "a missing queue is nil")
        let limit = 3
        let policies = DeadLetterBounds.policies(roles: [.intake], prefix: rig.topology.prefix, maximumLength: limit)
        for policy in policies { try await management.apply(policy) }
        try await waitUntil(timeout: .seconds(30), "both policies in effect") {
            let dead = try await management.queue(named: rig.topology.deadLetterQueue)
            let queue = try await management.queue(named: rig.topology.queue)
            return dead?.policy != nil && queue?.policy != nil
        }
        for index in 0..<12 {
            let event = try rig.registration("bounded-\(index)")
            try await rig.connection.publish(
                event.body, exchange: "", routingKey: rig.topology.queue, properties: event.amqpMessage.properties,
                mandatory: true)
        }

        // The worker's path: failure copies are confirmed until the dead letters are full, then
        // one is refused and the router keeps the original (it does not ack it).
        let router = FailureRouter(topology: rig.topology, instance: "intake@test")
        var routed = 0
        var refused: AMQPDelivery?
        for _ in 0..<12 {
            let delivery = try #require(try await rig.connection.get(queue: rig.topology.queue))
            do {
                try await router.route(
                    delivery, failure: .permanent(Failure.Code(rawValue: "broken-invariant"), "test"), publisher: rig.connection)
                routed += 1
            } catch {
                refused = delivery
                break
            }
        }
        let held = try #require(refused, "the full dead-letter queue refused a failure copy")
        let heldID = try #require(held.properties.messageID)
        #expect(routed >= limit, "the dead letters took \(routed) before refusing")
        // A quorum queue's count can lag its confirms while its leader is busy: ask until it agrees.
        let confirmedCopies = routed
        try await waitUntil(timeout: .seconds(30), "every confirmed copy is in the dead letters") {
            try await rig.depth(rig.topology.deadLetterQueue) == confirmedCopies
        }

        // What the worker does then: the original goes back to its queue. After the delivery
        // limit the broker dead-letters it itself; a reject without requeue takes the same path.
        try await held.nack(requeue: true)
        var again: AMQPDelivery?
        while again == nil {
            let delivery = try #require(try await rig.connection.get(queue: rig.topology.queue), "\(heldID) is back")
            if delivery.properties.messageID == heldID { again = delivery } else { try await delivery.nack(requeue: true) }
        }
        try await again?.reject(requeue: false)
        try await waitUntil(timeout: .seconds(60), "the message waits in the role queue for room") {
            try await management.queue(named: rig.topology.queue)?.waitingForDeadLetterRoom == 1
        }
        #expect(try await rig.depth(rig.topology.deadLetterQueue) == routed, "not in the dead letters, and not dropped")

        // Room: the waiting message moves in by itself.
        for _ in 0..<routed {
            let dead = try #require(try await rig.connection.get(queue: rig.topology.deadLetterQueue))
            try await dead.ack()
        }
        try await waitUntil(timeout: .seconds(200), "the held message reaches the dead letters") {
            try await rig.depth(rig.topology.deadLetterQueue) == 1
        }
        let arrived = try #require(try await rig.connection.get(queue: rig.topology.deadLetterQueue))
        #expect(arrived.properties.messageID == heldID)
        try await arrived.ack()
        try await waitUntil(timeout: .seconds(30), "nothing waits any more") {
            try await management.queue(named: rig.topology.queue)?.waitingForDeadLetterRoom == 0
        }

        for policy in policies { try await management.removePolicy(named: policy.name) }
        await rig.cleanUp()
    }

    /// Dead letters keep whole bodies, personal data included: past the policy's retention the
    /// broker deletes them by itself (here 1 second instead of 90 days), and the role queue's
    /// messages are not touched.
    @Test(.enabled(if: BrokerEnvironment.managementURL != nil, "needs RABBITMQ_TEST_MANAGEMENT_URL (scripts/test.sh)"))
    func deadLettersExpireAfterTheirRetention() async throws {
        let rig = try await DeadLetterRig.make()
        let management = try ManagementAPI(
            url: try #require(BrokerEnvironment.managementURL), virtualHost: "/", username: "guest", password: "guest")
        let policies = DeadLetterBounds.policies(roles: [.intake], prefix: rig.topology.prefix, retention: .seconds(1))
        #expect(DeadLetterBounds.policies(roles: [.intake]).first?.definition["message-ttl"] == .integer(7_776_000_000))
        for policy in policies { try await management.apply(policy) }
        try await waitUntil(timeout: .seconds(30), "the policy in effect") {
            try await management.queue(named: rig.topology.deadLetterQueue)?.policy != nil
        }
        for index in 0..<3 {
            let event = try rig.registration("expiring-\(index)")
            try await rig.connection.publish(
                event.body, exchange: "", routingKey: rig.topology.queue, properties: event.amqpMessage.properties,
                mandatory: true)
        }
        let router = FailureRouter(topology: rig.topology, instance: "intake@test")
        for _ in 0..<2 {
            let delivery = try #require(try await rig.connection.get(queue: rig.topology.queue))
            try await router.route(
                delivery, failure: .permanent(Failure.Code(rawValue: "broken-invariant"), "test"), publisher: rig.connection)
        }
        try await waitUntil(timeout: .seconds(120), "the dead letters expire") {
            try await rig.depth(rig.topology.deadLetterQueue) == 0
        }
        #expect(try await rig.depth(rig.topology.queue) == 1, "the role queue's message stays")
        for policy in policies { try await management.removePolicy(named: policy.name) }
        await rig.cleanUp()
    }
}
