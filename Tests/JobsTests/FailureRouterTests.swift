import AMQP
import Contracts
import Foundation
import Jobs
import TestSupport
import Testing
import Topology

struct PersonalDataTests {
    /// The runtime masks a failure's message through the process's hook, which each
    /// executable installs at start (`WorkerHost.run`) as these tests do.
    init() { Redaction.install { PersonalData.mask($0) } }

    @Test func nikLikeNumbersAreMaskedAndOthersKept() {
        #expect(PersonalData.mask("NIK 6471054107990003 tidak valid") == "NIK 647105******0003 tidak valid")
        #expect(PersonalData.mask("6471054107990003,6474011203980002") == "647105******0003,647401******0002")
        #expect(
            PersonalData.mask("15 digits 647105410799000 and 17 digits 64710541079900031")
                == "15 digits 647105410799000 and 17 digits 64710541079900031")
        #expect(PersonalData.maskNIK("6471054107990003") == "647105******0003")
        #expect(PersonalData.maskNIK("123") == "****")
        #expect(!"\(Failure.permanent(.brokenInvariant, "NIK 6471054107990003"))".contains("6471054107990003"))
    }

    /// What the log handler and the failure records do with a named value: a field a contract
    /// marks is masked by its kind, whatever the value looks like; other fields as text.
    @Test func aNamedPersonalFieldIsMaskedByItsKind() {
        #expect(PersonalData.mask("Siti Rahmawati", field: "fullName") == "S*** R***")
        #expect(PersonalData.mask("6474 0112 0398 0002", field: "nik") == "647401******0002")
        #expect(PersonalData.mask("0812-5000-1001", field: "phone") == "*********001")
        #expect(PersonalData.mask("siti@contoh.id", field: "recipient") == "s***@contoh.id")
        #expect(PersonalData.mask("REG-2025-000101", field: "registration_id") == "REG-2025-000101")
        let failure = Failure.permanent(
            Failure.Code(rawValue: "registry-mismatch"), #"field "fullName": "Siti Rahmawati" differs"#)
        #expect(!failure.description.contains("Rahmawati"), "\(failure)")
    }

    @Test func fingerprintsGroupFailuresThatDifferOnlyInNumbers() {
        let a = FailureRouter.fingerprint(
            role: "intake", failure: .permanent(.invalidValue, "row 17 of REG-2025-000101"), contract: "x")
        let b = FailureRouter.fingerprint(
            role: "intake", failure: .permanent(.invalidValue, "row 3 of REG-2025-000999"), contract: "x")
        let c = FailureRouter.fingerprint(
            role: "intake", failure: .permanent(.missingField, "row 3 of REG-2025-000999"), contract: "x")
        #expect(a == b)
        #expect(a != c)
        #expect(a.count == 16)
    }
}

@Suite(
    .enabled(
        if: BrokerEnvironment.enabled,
        "needs the private broker: scripts/broker.sh start; export RABBITMQ_TEST_URL=$(scripts/broker.sh url)"),
    .timeLimit(.minutes(10))
)
struct FailureRouterBrokerTests {
    @Test func aPermanentFailureIsDeadLetteredOnceWithItsRecordAndTheBodyIntact() async throws {
        Redaction.install { PersonalData.mask($0) }  // as WorkerHost.run does at start
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let topology = RoleTopology(role: .intake, retryDelays: [.milliseconds(300)], prefix: uniqueName("fail") + ".")
        try await topology.declare(on: connection)
        let router = FailureRouter(topology: topology, instance: "intake@test:1")
        let body = Data(#"{"type":"registration.submitted","dataversion":9}"#.utf8)
        try await connection.publish(
            body, exchange: topology.exchange, routingKey: "registration.submitted",
            properties: AMQPProperties(contentType: "application/json", messageID: "msg-9", appID: "portal"), mandatory: true)

        let inbox = DeliveryInbox(try await connection.consume(queue: topology.queue, prefetch: 5))
        let delivery = try await inbox.next()
        let outcome = try await router.route(
            delivery,
            failure: .permanent(.unsupportedContractVersion, "version 9 of registration.submitted for NIK 6471054107990003"),
            contract: ("registration.submitted", 9), publisher: connection)
        #expect(outcome == .deadLettered(attempts: 1))

        try await waitUntil(timeout: .seconds(60), "one dead letter") {
            try await connection.queueState(topology.deadLetterQueue).messageCount == 1
        }
        let dead = try #require(try await connection.get(queue: topology.deadLetterQueue))
        #expect(dead.body == body)
        #expect(dead.properties.messageID == "msg-9")
        #expect(dead.properties.appID == "portal")
        let headers = try #require(dead.properties.headers)
        typealias H = FailureRouter.Header
        #expect(headers[H.originalExchange] == .string(topology.exchange))
        #expect(headers[H.originalRoutingKey] == "registration.submitted")
        #expect(headers[H.originalQueue] == .string(topology.queue))
        #expect(headers[H.contractType] == "registration.submitted")
        #expect(headers[H.contractVersion]?.intValue == 9)
        #expect(headers[H.role] == "intake")
        #expect(headers[H.instance] == "intake@test:1")
        #expect(headers[H.attempts]?.intValue == 1)
        #expect(headers[H.kind] == "permanent")
        #expect(headers[H.code] == "unsupported-contract-version")
        #expect(headers[H.message]?.stringValue?.contains("647105******0003") == true)
        #expect(headers[H.message]?.stringValue?.contains("6471054107990003") == false)
        #expect(headers[H.fingerprint]?.stringValue?.count == 16)
        try await dead.ack()
        // The original was acknowledged: nothing comes back to the role queue.
        #expect(try await connection.queueState(topology.queue).messageCount == 0)
        await #expect(throws: TestFailure.self) { _ = try await inbox.next(within: .milliseconds(500)) }
        await topology.delete(on: connection)
    }

    /// A publisher's `CC` names another queue's key on the failure exchange: the broker would
    /// route the worker's copy there too, under the worker's user. The copy goes only to its
    /// dead letters (before, the spy queue got one: checked). The broker takes `BCC` off before
    /// it delivers, so only `CC` (and `cc`, which it does not act on) reach the router here.
    @Test func aPublishersCCAndBCCDoNotRouteTheFailureCopyElsewhere() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let topology = RoleTopology(role: .intake, retryDelays: [.milliseconds(300)], prefix: uniqueName("cc") + ".")
        try await topology.declare(on: connection)
        let spy = uniqueName("spy")
        try await connection.declareQueue(AMQPQueueSpec(name: spy, durable: false, autoDelete: true))
        try await connection.bindQueue(spy, exchange: topology.failureExchange, routingKey: spy)
        let router = FailureRouter(topology: topology, instance: "intake@test:1")
        try await connection.publish(
            Data("{}".utf8), exchange: topology.exchange, routingKey: "registration.submitted",
            properties: AMQPProperties(
                headers: ["CC": .array([.string(spy)]), "BCC": .array([.string(spy)]), "cc": .array([.string(spy)])],
                messageID: "msg-cc"),
            mandatory: true)
        let inbox = DeliveryInbox(try await connection.consume(queue: topology.queue, prefetch: 5))
        let delivery = try await inbox.next()
        #expect(delivery.properties.headers?["CC"] != nil, "the broker delivers the publisher's CC")
        let outcome = try await router.route(
            delivery, failure: .permanent(.brokenInvariant, "not the contract"), publisher: connection)
        #expect(outcome == .deadLettered(attempts: 1))
        try await waitUntil(timeout: .seconds(60), "one dead letter") {
            try await connection.queueState(topology.deadLetterQueue).messageCount == 1
        }
        let dead = try #require(try await connection.get(queue: topology.deadLetterQueue))
        #expect(dead.properties.messageID == "msg-cc")
        #expect(dead.properties.headers?.keys.contains { ["CC", "BCC"].contains($0.uppercased()) } == false)
        try await dead.ack()
        // The copy's confirm came after its routing: had it gone to the spy, it would be there now.
        #expect(try await connection.queueState(spy).messageCount == 0)
        await topology.delete(on: connection)
    }

    /// Headers that fill most of a frame: the copy with its failure record would not fit one,
    /// and its publish failing took the publishing connection down (the message came back to
    /// fail again). The copy goes without them, says so, and the connection carries on.
    @Test func headersTooLargeToCarryAreLeftOutOfTheCopyAndTheConnectionStays() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let topology = RoleTopology(role: .intake, retryDelays: [.milliseconds(300)], prefix: uniqueName("big") + ".")
        try await topology.declare(on: connection)
        let router = FailureRouter(topology: topology, instance: "intake@test:1")
        let filler = String(repeating: "x", count: 65_250)
        try await connection.publish(
            Data("{}".utf8), exchange: topology.exchange, routingKey: "registration.submitted",
            properties: AMQPProperties(headers: ["a": .string(filler), "b": .string(filler)], messageID: "msg-big"),
            mandatory: true)
        let inbox = DeliveryInbox(try await connection.consume(queue: topology.queue, prefetch: 5))
        let delivery = try await inbox.next()
        #expect(delivery.properties.headers?["a"]?.stringValue?.count == 65_250)
        let outcome = try await router.route(delivery, failure: .permanent(.brokenInvariant, "refused"), publisher: connection)
        #expect(outcome == .deadLettered(attempts: 1))
        try await waitUntil(timeout: .seconds(60), "one dead letter") {
            try await connection.queueState(topology.deadLetterQueue).messageCount == 1
        }
        let dead = try #require(try await connection.get(queue: topology.deadLetterQueue))
        let headers = try #require(dead.properties.headers)
        #expect(dead.properties.messageID == "msg-big" && dead.body == Data("{}".utf8))
        #expect(headers["a"] == nil && headers["b"] == nil && headers[FailureRouter.Header.headersDropped] == .bool(true))
        #expect(headers[FailureRouter.Header.code] == "broken-invariant")
        try await dead.ack()
        // Small headers are still carried.
        try await connection.publish(
            Data("{}".utf8), exchange: topology.exchange, routingKey: "registration.submitted",
            properties: AMQPProperties(headers: ["trace": "t-1"], messageID: "msg-small"), mandatory: true)
        let small = try await inbox.next()
        _ = try await router.route(small, failure: .permanent(.brokenInvariant, "refused"), publisher: connection)
        try await waitUntil(timeout: .seconds(60), "the second dead letter") {
            try await connection.queueState(topology.deadLetterQueue).messageCount == 1
        }
        let second = try #require(try await connection.get(queue: topology.deadLetterQueue))
        #expect(
            second.properties.headers?["trace"] == "t-1" && second.properties.headers?[FailureRouter.Header.headersDropped] == nil
        )
        try await second.ack()
        await topology.delete(on: connection)
    }

    /// Over a connection whose frames are 8 KiB, 7,700 bytes of a publisher's headers with the
    /// failure record do not fit one (with a fixed 16 KiB limit the dead-letter copy's publish
    /// failed: `connectionLost`, checked): the router carries at most a quarter of the agreed
    /// frame. The note that they were left out survives a retry tier.
    @Test func theHeadersCarriedFollowTheAgreedFrameAndTheNoteSurvivesARetry() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        var small = try AMQPConfiguration(url: try #require(BrokerEnvironment.url))
        small.frameMax = 8_192
        small.reconnect = nil
        let publisher = try await AMQPConnection.connect(small)
        defer { Task { await publisher.close() } }
        #expect(publisher.frameSize == 8_192)
        let topology = RoleTopology(role: .intake, retryDelays: [.milliseconds(300)], prefix: uniqueName("frame") + ".")
        try await topology.declare(on: connection)
        let router = FailureRouter(topology: topology, instance: "intake@test:1")
        try await connection.publish(
            Data("{}".utf8), exchange: topology.exchange, routingKey: "registration.submitted",
            properties: AMQPProperties(headers: ["a": .string(String(repeating: "y", count: 7_700))], messageID: "msg-7k"),
            mandatory: true)
        let inbox = DeliveryInbox(try await connection.consume(queue: topology.queue, prefetch: 5))
        let first = try await inbox.next()
        #expect(
            try await router.route(first, failure: .transient(.gatewayDown, "down"), publisher: publisher)
                == .retried(tier: 0, attempt: 1))
        // Back from the tier (through the default exchange): it fails for good.
        let again = try await inbox.next()
        #expect(again.properties.headers?[FailureRouter.Header.headersDropped] == .bool(true))
        #expect(
            try await router.route(again, failure: .permanent(.brokenInvariant, "refused"), publisher: publisher)
                == .deadLettered(attempts: 2))
        try await waitUntil(timeout: .seconds(60), "one dead letter") {
            try await connection.queueState(topology.deadLetterQueue).messageCount == 1
        }
        let dead = try #require(try await connection.get(queue: topology.deadLetterQueue))
        #expect(
            dead.properties.headers?["a"] == nil && dead.properties.headers?[FailureRouter.Header.headersDropped] == .bool(true))
        #expect(dead.properties.headers?[FailureRouter.Header.attempts]?.intValue == 2)
        try await dead.ack()
        await topology.delete(on: connection)
    }

    @Test func aTransientFailureRetriesAfterTheDelayThenDeadLettersWhenRetriesRunOut() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let topology = RoleTopology(role: .intake, retryDelays: [.milliseconds(300)], prefix: uniqueName("retry") + ".")
        try await topology.declare(on: connection)
        let router = FailureRouter(topology: topology, instance: "intake@test:2")
        try await connection.publish(
            Data("payload".utf8), routingKey: topology.queue, properties: AMQPProperties(messageID: "t-1"))
        let inbox = DeliveryInbox(try await connection.consume(queue: topology.queue, prefetch: 5))

        let first = try await inbox.next()
        #expect(first.properties.headers?[FailureRouter.Header.attempt] == nil)
        let failedAt = ContinuousClock.now
        #expect(
            try await router.route(first, failure: .transient(.storeUnavailable, "database is locked"), publisher: connection)
                == .retried(tier: 0, attempt: 1))

        let second = try await inbox.next(within: .seconds(10))
        #expect(ContinuousClock.now - failedAt >= .milliseconds(300), "came back only after the tier's delay")
        #expect(second.properties.messageID == "t-1")
        #expect(second.properties.headers?[FailureRouter.Header.attempt]?.intValue == 1)
        let firstFailureAt = second.properties.headers?[FailureRouter.Header.firstFailureAt]
        #expect(firstFailureAt != nil)
        #expect(
            try await router.route(second, failure: .transient(.storeUnavailable, "database is locked"), publisher: connection)
                == .deadLettered(attempts: 2))

        try await waitUntil(timeout: .seconds(60), "dead-lettered") {
            try await connection.queueState(topology.deadLetterQueue).messageCount == 1
        }
        let dead = try #require(try await connection.get(queue: topology.deadLetterQueue))
        #expect(dead.properties.headers?[FailureRouter.Header.kind] == "transient-exhausted")
        #expect(dead.properties.headers?[FailureRouter.Header.attempts]?.intValue == 2)
        #expect(dead.properties.headers?[FailureRouter.Header.firstFailureAt] == firstFailureAt)
        try await dead.ack()
        await topology.delete(on: connection)
    }

}
