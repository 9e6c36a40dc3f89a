import AMQP
import ContractKit
import Contracts
import Foundation
import Jobs
import TestSupport
import Testing

/// An event whose id or correlation id came from a publisher's envelope, longer than an AMQP
/// short string: its message's properties are cut to fit (the same text gives the same cut),
/// its body keeps them whole, and the broker takes it.
@Suite(
    .enabled(
        if: BrokerEnvironment.enabled,
        "needs the private broker: scripts/broker.sh start; export RABBITMQ_TEST_URL=$(scripts/broker.sh url)"),
    .timeLimit(.minutes(5))
)
struct OutgoingEventTests {
    @Test func idsLongerThanAMQPCarriesAreCutInThePropertiesAndKeptInTheBody() async throws {
        let long = String(repeating: "é", count: 150) + "-tail"  // 305 bytes
        var envelope = EventEnvelope(
            id: "intake-" + long, source: "/test",
            data: EnrolmentWithdrawnV1(participantID: "P-1", classID: "C-1", reason: .administrative))
        envelope.correlationID = long
        let event = try OutgoingEvent(envelope, exchange: "")
        let properties = event.amqpMessage.properties
        for (cut, whole) in [(properties.messageID, "intake-" + long), (properties.correlationID, long)] {
            let cut = try #require(cut)
            #expect(cut.utf8.count <= 255 && cut.hasPrefix(String(whole.prefix(90))) && cut != whole, "\(cut)")
            #expect(cut == OutgoingEvent.shortString(whole), "the same text, the same cut")
        }
        #expect(OutgoingEvent.shortString(long + "x") != OutgoingEvent.shortString(long), "another text, another cut")
        #expect(OutgoingEvent.shortString("short") == "short")
        let body = try ContractRegistry.pipeline.decode(event.body)
        #expect(body.header.id == "intake-" + long && body.header.correlationID == long)

        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let queue = uniqueName()
        try await connection.declareQueue(AMQPQueueSpec(name: queue, durable: false, autoDelete: true))
        let message = event.amqpMessage
        try await connection.publish(
            message.body, routingKey: queue, properties: message.properties, mandatory: true)
        #expect(try await connection.get(queue: queue)?.properties.messageID == properties.messageID)
    }
}
