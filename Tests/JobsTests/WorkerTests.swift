import AMQP
import ContractKit
import Contracts
import Foundation
import Jobs
import Logging
import ServiceLifecycle
import Stores
import Synchronization
import TestSupport
import Testing
import Topology

/// An intake-like handler for tests: records each registration in its own table and emits
/// `registration.accepted`. Programme `TRANSIENT_ONCE` fails transiently on its first
/// attempt; programme `BROKEN` fails permanently; programme `FAN_OUT_<n>` accepts `n`
/// participants at once (one message with a large output).
final class AcceptingHandler: MessageHandler {
    let exchange: String
    /// Holds messages past a count until the test opens it (keeps work in flight on any machine).
    let gate: HandlingGate?
    private let attempts = Mutex<[String: Int]>([:])

    init(exchange: String, gate: HandlingGate? = nil) {
        self.exchange = exchange
        self.gate = gate
    }

    var migrations: [String] {
        ["CREATE TABLE IF NOT EXISTS accepted (registration_id TEXT PRIMARY KEY, programme TEXT NOT NULL)"]
    }

    func handle(_ event: DecodedEvent, in transaction: any StoreTransaction) throws -> [OutgoingEvent] {
        guard let registration = event.payload as? RegistrationSubmittedV3 else {
            throw Failure.permanent(.unexpectedType, event.header.type)
        }
        gate?.pass()
        let attempt = attempts.withLock {
            $0[registration.registrationID, default: 0] += 1
            return $0[registration.registrationID]!
        }
        if registration.programme == "TRANSIENT_ONCE" && attempt == 1 {
            throw Failure.transient(.gatewayDown, "civil registry unavailable")
        }
        if registration.programme == "BROKEN" {
            throw Failure.permanent(.brokenInvariant, "programme BROKEN cannot be handled")
        }
        try transaction.execute(
            "INSERT INTO accepted (registration_id, programme) VALUES (?, ?)",
            [.text(registration.registrationID), .text(registration.programme)])
        let accepted = RegistrationAcceptedV1(
            registrationID: registration.registrationID, participantID: "PST-" + registration.registrationID,
            centre: registration.preferredCentre,
            programme: registration.programme, priorityTier: .neverTrained, priorityReasons: ["NO_DECLARED_TRAINING"],
            apprenticeshipInterest: registration.apprenticeshipInterest)
        let fanOut = registration.programme.hasPrefix("FAN_OUT_") ? Int(registration.programme.dropFirst(8)) ?? 1 : 1
        return try (0..<fanOut).map { index in
            var one = accepted
            if fanOut > 1 { one.participantID += "-\(index)" }
            let envelope = EventEnvelope(
                id: fanOut > 1 ? "\(event.header.id)-\(index)" : EventID.random(), source: "/kaltim/workers/intake",
                subject: one.participantID, correlationID: event.header.correlationID, causationID: event.header.id,
                data: one)
            return try OutgoingEvent(envelope, exchange: exchange)
        }
    }
}

/// Lets the first `open` handlings through, then holds every other one until ``open()``:
/// a test that needs work still in flight when it acts gets it however fast or slow the
/// machine is.
final class HandlingGate: Sendable {
    let free: Int
    private let state = Mutex<(arrived: Int, open: Bool)>((0, false))

    init(free: Int) { self.free = free }

    /// Handlings that have reached the gate (held or let through).
    var arrived: Int { state.withLock { $0.arrived } }

    func open() { state.withLock { $0.open = true } }

    /// Called by the handler (on the store's thread, never the cooperative pool).
    func pass() {
        let held = state.withLock { state -> Bool in
            state.arrived += 1
            return state.arrived > free && !state.open
        }
        guard held else { return }
        while !state.withLock({ $0.open }) { usleep(1000) }
    }
}

/// A running worker with its own topology, store file and output queue, for one test.
struct WorkerHarness {
    let topology: RoleTopology
    let connection: AMQPConnection
    let store: SQLiteStore
    let storePath: String
    let outputQueue: String

    static func make(retryDelay: Duration = .milliseconds(300)) async throws -> WorkerHarness {
        let connection = try await BrokerEnvironment.connect()
        let topology = RoleTopology(role: .intake, retryDelays: [retryDelay], prefix: uniqueName("worker") + ".")
        let storePath = FileManager.default.temporaryDirectory.appendingPathComponent("\(UUID().uuidString).sqlite").path
        try await topology.declare(on: connection)
        let outputQueue = topology.queue + ".accepted-output"
        try await connection.declareQueue(AMQPQueueSpec(name: outputQueue, durable: false, autoDelete: false))
        try await connection.bindQueue(outputQueue, exchange: topology.exchange, routingKey: RegistrationAcceptedV1.eventType)
        return WorkerHarness(
            topology: topology, connection: connection, store: try SQLiteStore(path: storePath), storePath: storePath,
            outputQueue: outputQueue)
    }

    func worker(_ handler: AcceptingHandler, publishers: PublisherPolicy = .anyPublisher) -> Worker {
        var options = WorkerOptions()
        options.concurrency = 8
        options.publishers = publishers
        options.outboxFlushInterval = .milliseconds(200)
        return Worker(
            topology: topology, registry: .pipeline, handler: handler, store: store, consuming: connection,
            publishing: connection,
            instance: "intake@test", options: options)
    }

    func submit(
        _ registrationID: String, programme: String = "MEKANIK_SEPEDA_MOTOR", id: String = UUID().uuidString,
        headers: AMQPTable = [:], userID: String? = nil
    ) async throws {
        let event = try OutgoingEvent(
            EventEnvelope(
                id: id, source: "/kaltim/registration-portal", data: Self.registration(registrationID, programme: programme)),
            exchange: topology.exchange)
        var properties = event.amqpMessage.properties
        properties.headers = (properties.headers ?? [:]).merging(headers) { _, new in new }
        properties.userID = userID
        try await connection.publish(
            event.amqpMessage.body, exchange: topology.exchange, routingKey: event.routingKey, properties: properties,
            mandatory: true)
    }

    /// A registration of the test's one person.
    static func registration(_ registrationID: String, programme: String = "MEKANIK_SEPEDA_MOTOR") -> RegistrationSubmittedV1 {
        RegistrationSubmittedV1(
            registrationID: registrationID, nik: "6471054107990003", fullName: "Siti Rahmawati", birthPlace: "Balikpapan",
            birthDate: "1999-07-01", sex: .female, phone: "+6281250001001", email: nil,
            domicile: Domicile(regionCode: "6471051001", address: "Jl. Contoh 1"), education: .smk, jobSeekerCardNumber: nil,
            preferredCentre: .balikpapan, programme: programme, apprenticeshipInterest: false, declaredTrainings: [],
            consent: Consent(given: true, givenAt: "2025-03-03T01:14:10Z", textVersion: "pdp-2025-01"))
    }

    /// Takes every dead letter: its failure code and its headers.
    func deadLetters() async throws -> [(code: String, delivery: AMQPDelivery)] {
        var letters: [(String, AMQPDelivery)] = []
        while let dead = try await connection.get(queue: topology.deadLetterQueue) {
            letters.append((dead.properties.headers?[FailureRouter.Header.code]?.stringValue ?? "", dead))
            try await dead.ack()
        }
        return letters
    }

    func acceptedRows() async throws -> Int {
        try await store.count("accepted")
    }

    func cleanUp() async {
        _ = try? await connection.deleteQueue(outputQueue)
        await topology.delete(on: connection)
        await connection.close()
        try? FileManager.default.removeItem(atPath: storePath)
    }
}

extension SQLiteStore {
    /// Counts a table's rows inside a transaction that is then rolled back.
    func count(_ table: String) async throws -> Int {
        let rows = Mutex(-1)
        _ = try? await process(messageID: "count-\(UUID().uuidString)") { transaction in
            let n = Int(try transaction.query("SELECT COUNT(*) AS n FROM \(table)").first?["n"]?.integer ?? -1)
            rows.withLock { $0 = n }
            throw CancellationError()  // roll back the probe's inbox row
        }
        return rows.withLock { $0 }
    }
}

@Suite(
    .enabled(
        if: BrokerEnvironment.enabled,
        "needs the private broker: scripts/broker.sh start; export RABBITMQ_TEST_URL=$(scripts/broker.sh url)"),
    .timeLimit(.minutes(10))
)
struct WorkerTests {
    @Test func theSameMessageTwiceHasTheEffectOfOneRun() async throws {
        let harness = try await WorkerHarness.make()
        let worker = harness.worker(AcceptingHandler(exchange: harness.topology.exchange))
        let running = Task { try await worker.run() }
        try await harness.submit("REG-1", id: "same-id")
        try await harness.submit("REG-1", id: "same-id")
        try await harness.submit("REG-2")
        try await waitUntil(timeout: .seconds(20), "three messages handled") {
            worker.statistics.succeeded + worker.statistics.duplicates == 3
        }
        #expect(worker.statistics.duplicates == 1)
        #expect(try await harness.acceptedRows() == 2)
        try await waitUntil(timeout: .seconds(60), "two outputs") {
            try await harness.connection.queueState(harness.outputQueue).messageCount == 2
        }
        var causes: Set<String> = []
        while let output = try await harness.connection.get(queue: harness.outputQueue) {
            let accepted = try ContractRegistry.pipeline.decode(output.body)
            #expect(accepted.header.type == "registration.accepted")
            #expect(output.properties.headers?["x-contract-version"]?.intValue == 1)
            causes.insert(accepted.header.causationID ?? "")
            try await output.ack()
        }
        #expect(causes.count == 2 && causes.contains("same-id"), "one output per distinct message")
        running.cancel()
        _ = try? await running.value
        await harness.cleanUp()
    }

    @Test func aPoisonMessageIsDeadLetteredOnceWhileOthersFlow() async throws {
        let harness = try await WorkerHarness.make()
        let worker = harness.worker(AcceptingHandler(exchange: harness.topology.exchange))
        let running = Task { try await worker.run() }
        try await harness.connection.publish(
            Data(#"{"specversion":"1.0","id":"x","id":"y"}"#.utf8), exchange: harness.topology.exchange,
            routingKey: "registration.submitted")
        try await harness.submit("REG-BROKEN", programme: "BROKEN")
        for index in 0..<20 { try await harness.submit("REG-\(index)") }
        try await waitUntil(timeout: .seconds(20), "all handled") {
            worker.statistics.succeeded == 20 && worker.statistics.deadLettered == 2
        }
        #expect(try await harness.acceptedRows() == 20)
        try await waitUntil(timeout: .seconds(60), "two dead letters") {
            try await harness.connection.queueState(harness.topology.deadLetterQueue).messageCount == 2
        }
        var codes: Set<String> = []
        while let dead = try await harness.connection.get(queue: harness.topology.deadLetterQueue) {
            codes.insert(dead.properties.headers?[FailureRouter.Header.code]?.stringValue ?? "")
            try await dead.ack()
        }
        #expect(codes == ["duplicate-json-key", "broken-invariant"])
        running.cancel()
        _ = try? await running.value
        await harness.cleanUp()
    }

    @Test func aDeletedRoleQueueIsDeclaredAgainAndConsumedFromAgain() async throws {
        let harness = try await WorkerHarness.make()
        let worker = harness.worker(AcceptingHandler(exchange: harness.topology.exchange))
        let running = Task { try await worker.run() }
        try await waitUntil(timeout: .seconds(20), "the worker consumes") { worker.isReady }
        // An operator deletes the role queue: the broker cancels the consumer.
        _ = try await harness.connection.deleteQueue(harness.topology.queue)
        try await waitUntil(timeout: .seconds(30), "the worker declared its queue again and consumes it") {
            (try? await harness.connection.queueState(harness.topology.queue).consumerCount) == 1 && worker.isReady
        }
        try await harness.submit("REG-AGAIN")
        try await waitUntil(timeout: .seconds(20), "the registration is handled") { worker.statistics.succeeded == 1 }
        running.cancel()
        _ = try? await running.value
        await harness.cleanUp()
    }

    @Test func aTransientFailureSucceedsOnALaterAttempt() async throws {
        let harness = try await WorkerHarness.make(retryDelay: .milliseconds(300))
        let worker = harness.worker(AcceptingHandler(exchange: harness.topology.exchange))
        let running = Task { try await worker.run() }
        try await harness.submit("REG-T", programme: "TRANSIENT_ONCE")
        try await waitUntil(timeout: .seconds(20), "retried then succeeded") {
            worker.statistics.succeeded == 1 && worker.statistics.retried >= 1
        }
        #expect(worker.statistics.retried == 1)
        #expect(worker.statistics.deadLettered == 0)
        #expect(try await harness.acceptedRows() == 1)
        running.cancel()
        _ = try? await running.value
        await harness.cleanUp()
    }

    @Test func theOutboxLeftByACrashIsPublishedOnStart() async throws {
        let harness = try await WorkerHarness.make()
        // A process committed its state and outbox, then died before publishing.
        let handler = AcceptingHandler(exchange: harness.topology.exchange)
        try await harness.store.migrate(handler.migrations)
        let pending = RegistrationAcceptedV1(
            registrationID: "REG-C", participantID: "PST-REG-C", centre: .bontang, programme: "TATA_GRAHA",
            priorityTier: .previouslyFailed,
            priorityReasons: ["FAILED_BEFORE"], apprenticeshipInterest: false)
        let event = try OutgoingEvent(
            EventEnvelope(source: "/kaltim/workers/intake", data: pending), exchange: harness.topology.exchange)
        _ = try await harness.store.process(messageID: "crashed-message") { _ in [event] }
        #expect(try await harness.store.outboxDepth() == 1)

        let worker = harness.worker(handler)
        let running = Task { try await worker.run() }
        try await waitUntil(timeout: .seconds(60), "published on start") {
            try await harness.connection.queueState(harness.outputQueue).messageCount == 1
        }
        // Marked published soon after the broker's confirm (no further delivery comes: the committer marks it alone).
        try await waitUntil(timeout: .seconds(60), "the outbox row marked published") {
            try await harness.store.outboxDepth() == 0
        }
        let output = try #require(try await harness.connection.get(queue: harness.outputQueue))
        #expect(output.properties.messageID == event.messageID)
        running.cancel()
        _ = try? await running.value
        await harness.cleanUp()
    }

    @Test func anEventNoRoleSubscribesToLeavesTheOutboxOnceAndIsNotRetried() async throws {
        let harness = try await WorkerHarness.make()
        // Nobody consumes registration.accepted: the broker returns every published output.
        try await harness.connection.unbindQueue(
            harness.outputQueue, exchange: harness.topology.exchange, routingKey: RegistrationAcceptedV1.eventType)
        let worker = harness.worker(AcceptingHandler(exchange: harness.topology.exchange))
        let running = Task { try await worker.run() }
        for index in 0..<20 { try await harness.submit("REG-U\(index)") }
        try await waitUntil(timeout: .seconds(20), "every message handled and acknowledged") {
            worker.statistics.succeeded == 20
        }
        try await waitUntil(timeout: .seconds(60), "the outbox is empty") { try await harness.store.outboxDepth() == 0 }
        #expect(try await harness.connection.queueState(harness.topology.queue).messageCount == 0)
        #expect(try await harness.connection.queueState(harness.outputQueue).messageCount == 0)
        // Several flush intervals later nothing was published again.
        try await waitUntil(timeout: .seconds(60), "the publish counter caught up") { worker.statistics.published >= 20 }
        let settled = worker.statistics.published
        try await Task.sleep(for: .milliseconds(700))
        #expect(worker.statistics.published == settled && settled == 20)
        running.cancel()
        _ = try? await running.value
        await harness.cleanUp()
    }

    @Test func gracefulShutdownUnderLoadFinishesWhatWasReceivedAndAnotherWorkerTakesTheRest() async throws {
        let harness = try await WorkerHarness.make()
        let total = 200
        for index in 0..<total { try await harness.submit("REG-G\(index)") }
        // The 41st handling is held until the shutdown has begun, so the shutdown always finds
        // work left, however fast or slow the machine is.
        let gate = HandlingGate(free: 40)
        defer { gate.open() }  // also when a wait below fails: no handling stays held
        let first = harness.worker(AcceptingHandler(exchange: harness.topology.exchange, gate: gate))
        let group = ServiceGroup(services: [first], gracefulShutdownSignals: [], logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        try await waitUntil(timeout: .seconds(60), "some messages handled") { gate.arrived > 40 }
        await group.triggerGracefulShutdown()
        gate.open()
        try await withDeadline(.seconds(20), "the worker stops") { try await running.value }
        let stopped = first.statistics
        #expect(stopped.succeeded < total, "shut down while under load")
        #expect(stopped.received == stopped.succeeded, "every received message was finished, none abandoned")
        #expect(try await harness.acceptedRows() == stopped.succeeded)

        // A second worker on the same store finishes the rest; the inbox absorbs any redelivery.
        let second = harness.worker(AcceptingHandler(exchange: harness.topology.exchange))
        let secondRun = Task { try await second.run() }
        try await waitUntil(timeout: .seconds(30), "all registrations handled") {
            stopped.succeeded + second.statistics.succeeded == total
        }
        #expect(try await harness.acceptedRows() == total)
        secondRun.cancel()
        _ = try? await secondRun.value
        await harness.cleanUp()
    }
}

extension Failure.Code {
    /// The test handler's outside service is down (transient).
    static let gatewayDown = Self(rawValue: "gateway-down")
    /// The test handler refuses a programme (permanent).
    static let brokenInvariant = Self(rawValue: "broken-invariant")
    /// Codes a contract error would give (``Failure/Code/init(_:)``), for the router's tests.
    static let invalidValue = Self(rawValue: "invalid-value")
    static let missingField = Self(rawValue: "missing-field")
    static let unsupportedContractVersion = Self(rawValue: "unsupported-contract-version")
}
