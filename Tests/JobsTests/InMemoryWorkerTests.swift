import AMQP
import ContractKit
import Contracts
import Foundation
import Jobs
import Stores
import Synchronization
import TestSupport
import Testing
import Topology

/// A ``Worker`` on an ``InMemoryTransport``: the runtime's decisions (exactly-once effects,
/// failure routing, trust boundary, outbox) tested without a broker, so they run in any build.
/// The broker tests (`WorkerTests`) stay, for what only RabbitMQ shows.
struct InMemoryRig {
    let broker = InMemoryTransport.Broker()
    let topology = RoleTopology(role: .intake, retryDelays: [.seconds(5)], prefix: "memory.")
    let storePath = FileManager.default.temporaryDirectory.appendingPathComponent("\(UUID().uuidString).sqlite").path
    let store: SQLiteStore
    let outputQueue = "memory.accepted-output"
    /// The worker's broker user.
    var transport: InMemoryTransport { InMemoryTransport(broker: broker, username: "kaltim-intake") }

    private init() throws {
        store = try SQLiteStore(path: storePath)
        broker.declareQueue(outputQueue)
        broker.bind(outputQueue, exchange: topology.exchange, routingKey: RegistrationAcceptedV1.eventType)
    }

    /// A rig whose role topology is declared (as the broker tests' harness does before the
    /// worker starts, so nothing published before the worker's own declaration is lost).
    static func make() async throws -> InMemoryRig {
        let rig = try InMemoryRig()
        try await rig.transport.declare(rig.topology)
        return rig
    }

    func worker(publishers: PublisherPolicy = .anyPublisher, flushInterval: Duration? = nil) -> Worker {
        var options = WorkerOptions()
        options.concurrency = 8
        options.publishers = publishers
        if let flushInterval { options.outboxFlushInterval = flushInterval }
        return Worker(
            topology: topology, registry: .pipeline, handler: AcceptingHandler(exchange: topology.exchange), store: store,
            consuming: transport, publishing: transport, instance: "intake@memory", options: options)
    }

    /// A worker of the accepting handler over other transports (a publisher that reconnects,
    /// refuses or stalls), another store, or other options.
    func worker(
        consuming: any WorkerTransport, publishing: any WorkerTransport, store: (any MessageStore)? = nil,
        options: WorkerOptions = WorkerOptions()
    ) -> Worker {
        Worker(
            topology: topology, registry: .pipeline, handler: AcceptingHandler(exchange: topology.exchange),
            store: store ?? self.store, consuming: consuming, publishing: publishing, instance: "intake@memory",
            options: options)
    }

    /// Publishes a body that is not JSON, under `messageID`.
    func publishMalformed(_ messageID: String) async throws {
        try await transport.publish(
            Data("{not json".utf8), exchange: topology.exchange, routingKey: "registration.submitted",
            properties: AMQPProperties(messageID: messageID), mandatory: true)
    }

    /// Publishes as `user` (the portal's user by default), as the portal would.
    func submit(
        _ registrationID: String, programme: String = "MEKANIK_SEPEDA_MOTOR", id: String = UUID().uuidString,
        user: String = "kaltim-portal"
    ) async throws {
        let event = try OutgoingEvent(
            EventEnvelope(
                id: id, source: "/kaltim/registration-portal",
                data: WorkerHarness.registration(registrationID, programme: programme)),
            exchange: topology.exchange)
        var properties = event.amqpMessage.properties
        properties.userID = user
        try await InMemoryTransport(broker: broker, username: user).publish(
            event.amqpMessage.body, exchange: topology.exchange, routingKey: event.routingKey, properties: properties,
            mandatory: true)
    }

    /// A worker consuming and publishing through `transport` (concurrency 8), holding a failed
    /// message for the given waits while its copy cannot be published; running until cancelled.
    func runningWorker(
        through transport: any WorkerTransport, routeRetryDelays: [Duration]
    ) -> (worker: Worker, running: Task<Void, any Error>) {
        var options = WorkerOptions()
        options.concurrency = 8
        options.routeRetryDelays = routeRetryDelays
        let worker = worker(consuming: transport, publishing: transport, options: options)
        return (worker, Task { try await worker.run() })
    }

    func code(_ message: (body: Data, properties: AMQPProperties)) -> String {
        message.properties.headers?[FailureRouter.Header.code]?.stringValue ?? ""
    }

    func cleanUp() {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: storePath + suffix) }
    }
}

@Suite(.timeLimit(.minutes(10)))
struct InMemoryWorkerTests {
    @Test func theSameMessageTwiceHasTheEffectOfOneRunAndEveryDeliveryIsAcknowledged() async throws {
        let rig = try await InMemoryRig.make()
        let worker = rig.worker()
        let running = Task { try await worker.run() }
        try await rig.submit("REG-1", id: "same-id")
        try await rig.submit("REG-1", id: "same-id")
        try await rig.submit("REG-2")
        try await waitUntil(timeout: .seconds(60), "three messages settled") {
            worker.statistics.succeeded + worker.statistics.duplicates == 3
                && rig.broker.unacknowledged(in: rig.topology.queue) == 0
        }
        #expect(worker.statistics.duplicates == 1)
        #expect(try await rig.store.count("accepted") == 2)
        let outputs = rig.broker.messages(in: rig.outputQueue)
        #expect(outputs.count == 2, "one output per distinct message")
        #expect(outputs.allSatisfy { $0.properties.userID == "kaltim-intake" }, "outputs carry the worker's user")
        let causes = try Set(outputs.map { try ContractRegistry.pipeline.decode($0.body).header.causationID ?? "" })
        #expect(causes.contains("same-id"))
        #expect(rig.broker.messages(in: rig.topology.queue).isEmpty)
        running.cancel()
        _ = try? await running.value
        rig.cleanUp()
    }

    /// One message whose output is larger than the chunk the runtime turns into broker
    /// messages at once: every event is published once and confirmed, the message is acked,
    /// and nothing is left in the outbox.
    @Test func aMessageWithThousandsOfEventsIsPublishedInChunksAndWhole() async throws {
        let rig = try await InMemoryRig.make()
        // No flusher during the test: every event must go out with its message.
        let worker = rig.worker(flushInterval: .seconds(3_600))
        let running = Task { try await worker.run() }
        let count = Worker.publishChunk * 2 + 7
        try await rig.submit("REG-MANY", programme: "FAN_OUT_\(count)", id: "many")
        try await rig.submit("REG-ONE")
        try await waitUntil(timeout: .seconds(120), "both messages settled and their events marked published") {
            worker.statistics.succeeded == 2 && rig.broker.unacknowledged(in: rig.topology.queue) == 0
                && worker.statistics.published == count + 1
        }
        let outputs = rig.broker.messages(in: rig.outputQueue)
        let ids = outputs.compactMap(\.properties.messageID)
        #expect(outputs.count == count + 1 && Set(ids).count == count + 1, "each event once")
        #expect(Set(ids).isSuperset(of: ["many-0", "many-\(count - 1)"]))
        #expect(try await rig.store.outboxBacklog().depth == 0, "nothing left for the flusher")
        running.cancel()
        _ = try? await running.value
        rig.cleanUp()
    }

    @Test func aPoisonMessageIsDeadLetteredByteForByteWhileOthersFlow() async throws {
        let rig = try await InMemoryRig.make()
        let worker = rig.worker()
        let running = Task { try await worker.run() }
        let malformed = Data(#"{"specversion":"1.0","id":"x","id":"y"}"#.utf8)
        try await rig.transport.publish(
            malformed, exchange: rig.topology.exchange, routingKey: "registration.submitted",
            properties: AMQPProperties(messageID: "malformed-1"), mandatory: true)
        try await rig.submit("REG-BROKEN", programme: "BROKEN")
        for index in 0..<20 { try await rig.submit("REG-\(index)") }
        try await waitUntil(timeout: .seconds(60), "all handled") {
            worker.statistics.succeeded == 20 && worker.statistics.deadLettered == 2
        }
        let dead = rig.broker.messages(in: rig.topology.deadLetterQueue)
        #expect(Set(dead.map(rig.code)) == ["duplicate-json-key", "broken-invariant"])
        #expect(dead.contains { $0.body == malformed }, "the body is kept byte for byte")
        #expect(try await rig.store.count("accepted") == 20)
        running.cancel()
        _ = try? await running.value
        rig.cleanUp()
    }

    @Test func aTransientFailureWaitsInItsRetryTierAndSucceedsWhenItComesBack() async throws {
        let rig = try await InMemoryRig.make()
        let worker = rig.worker()
        let running = Task { try await worker.run() }
        try await rig.submit("REG-T", programme: "TRANSIENT_ONCE")
        let tier = rig.topology.retryQueues[0].name
        try await waitUntil(timeout: .seconds(60), "the message waits in the first retry tier") {
            rig.broker.messages(in: tier).count == 1
        }
        let waiting = try #require(rig.broker.messages(in: tier).first)
        #expect(waiting.properties.headers?[FailureRouter.Header.attempt]?.intValue == 1)
        #expect(
            waiting.properties.headers?[FailureRouter.Header.publishedBy]?.stringValue == "kaltim-portal",
            "the copy remembers who published the event")
        #expect(try await rig.store.count("accepted") == 0)
        // The tier's TTL expires: the broker dead-letters it back into the role queue.
        rig.broker.expire(tier, into: rig.topology.queue)
        try await waitUntil(timeout: .seconds(60), "handled on its second attempt") { worker.statistics.succeeded == 1 }
        #expect(try await rig.store.count("accepted") == 1)
        #expect(rig.broker.messages(in: rig.topology.deadLetterQueue).isEmpty)
        running.cancel()
        _ = try? await running.value
        rig.cleanUp()
    }

    @Test func anEventFromAUserThatMayNotPublishItIsDeadLetteredWithoutAnEffect() async throws {
        let rig = try await InMemoryRig.make()
        let worker = rig.worker(publishers: .enforcing(ContractPublishers.allowedUsers()))
        let running = Task { try await worker.run() }
        try await rig.submit("REG-FORGED", user: "kaltim-lsp")
        try await rig.submit("REG-OK")
        try await waitUntil(timeout: .seconds(60), "both settled") {
            worker.statistics.succeeded == 1 && worker.statistics.deadLettered == 1
        }
        #expect(rig.broker.messages(in: rig.topology.deadLetterQueue).map(rig.code) == ["publisher-not-allowed"])
        #expect(try await rig.store.count("accepted") == 1)
        running.cancel()
        _ = try? await running.value
        rig.cleanUp()
    }
}

/// A publishing connection that is reconnecting: the first `refusals` publishes of a single
/// message fail as `notConnected` does on an `AMQPConnection` between connections; everything
/// else goes to the in-memory broker. Also counts each message's deliveries to the consumer.
final class ReconnectingPublisher: WorkerTransport {
    let inner: InMemoryTransport
    let refusalsLeft: Mutex<Int>
    let refusal: AMQPError.Code
    let deliveries = Mutex<[String: Int]>([:])

    init(_ inner: InMemoryTransport, refusals: Int, refusal: AMQPError.Code = .notConnected) {
        self.inner = inner
        refusalsLeft = Mutex(refusals)
        self.refusal = refusal
    }

    var username: String { inner.username }
    var isConnected: Bool { refusalsLeft.withLock { $0 == 0 } }
    func declare(_ topology: RoleTopology) async throws { try await inner.declare(topology) }
    func queueState(_ name: String) async throws -> AMQPQueueState { try await inner.queueState(name) }
    func subscribe(queue: String, prefetch: UInt16, onDelivery: @escaping @Sendable (AMQPDelivery) -> Void) async throws
        -> any TransportConsumer
    {
        try await inner.subscribe(queue: queue, prefetch: prefetch) { delivery in
            self.deliveries.withLock { $0[delivery.properties.messageID ?? "", default: 0] += 1 }
            onDelivery(delivery)
        }
    }
    func publish(_ messages: [AMQPOutgoingMessage], window: Int) async -> [Result<Void, AMQPError>] {
        await inner.publish(messages, window: window)
    }
    func publish(_ body: Data, exchange: String, routingKey: String, properties: AMQPProperties, mandatory: Bool)
        async throws
    {
        let refused = refusalsLeft.withLock { left in
            guard left > 0 else { return false }
            left -= 1
            return true
        }
        if refused { throw AMQPError(refusal, "refused by the test (\(refusal))") }
        try await inner.publish(body, exchange: exchange, routingKey: routingKey, properties: properties, mandatory: mandatory)
    }
}

extension InMemoryWorkerTests {
    /// Seen in the chaos run: a malformed message that arrived while the publishing connection
    /// was reconnecting was handed back at once, redelivered at once, and so on until the
    /// quorum queue's delivery limit dead-lettered it without its failure code. The worker
    /// now holds it and routes it again after a wait: it is delivered once and dead-lettered
    /// with its code; a transient failure goes to its retry tier, not to the dead letters.
    @Test func aFailedMessageIsHeldNotHandedBackWhileThePublisherReconnects() async throws {
        let rig = try await InMemoryRig.make()
        let reconnecting = ReconnectingPublisher(rig.transport, refusals: 3)
        let (worker, running) = rig.runningWorker(
            through: reconnecting, routeRetryDelays: [.milliseconds(1), .milliseconds(1), .milliseconds(1), .milliseconds(1)])
        try await rig.publishMalformed("malformed-1")
        try await waitUntil(timeout: .seconds(60), "dead-lettered") { worker.statistics.deadLettered == 1 }
        #expect(reconnecting.refusalsLeft.withLock { $0 } == 0, "every refusal was met")
        #expect(reconnecting.deliveries.withLock { $0["malformed-1"] } == 1, "delivered once, never handed back")
        #expect(rig.broker.messages(in: rig.topology.deadLetterQueue).map(rig.code) == ["malformed-json"])
        #expect(rig.broker.messages(in: rig.topology.queue).isEmpty)

        reconnecting.refusalsLeft.withLock { $0 = 2 }
        try await rig.submit("REG-T", programme: "TRANSIENT_ONCE", id: "transient-1")
        let tier = rig.topology.retryQueues[0].name
        try await waitUntil(timeout: .seconds(60), "in its retry tier") { rig.broker.messages(in: tier).count == 1 }
        #expect(reconnecting.deliveries.withLock { $0["transient-1"] } == 1)
        #expect(rig.broker.messages(in: rig.topology.deadLetterQueue).count == 1, "still only the malformed one")
        running.cancel()
        _ = try? await running.value
        rig.cleanUp()
    }

    /// A refusal that is not about the connection (here the broker nacks the copy, as a
    /// dead-letter queue at its bound does) hands the message back at once: a flood of such
    /// failures must not hold the prefetch for the waits meant for a reconnect.
    @Test func aCopyTheBrokerRefusesHandsTheMessageBackAtOnce() async throws {
        let rig = try await InMemoryRig.make()
        let refusing = ReconnectingPublisher(rig.transport, refusals: 2, refusal: .publishNacked)
        let (worker, running) = rig.runningWorker(through: refusing, routeRetryDelays: [.seconds(3_600)])
        try await rig.publishMalformed("malformed-3")
        try await waitUntil(timeout: .seconds(60), "dead-lettered on its third delivery") {
            worker.statistics.deadLettered == 1
        }
        #expect(refusing.deliveries.withLock { $0["malformed-3"] } == 3, "handed back after each refusal, never held")
        #expect(rig.broker.messages(in: rig.topology.deadLetterQueue).map(rig.code) == ["malformed-json"])
        running.cancel()
        _ = try? await running.value
        rig.cleanUp()
    }

    /// When routing fails past every wait, the message goes back to the broker (which
    /// redelivers it), never lost.
    @Test func aMessageThatCannotBeRoutedAfterEveryWaitIsHandedBack() async throws {
        let rig = try await InMemoryRig.make()
        let reconnecting = ReconnectingPublisher(rig.transport, refusals: 3)
        let (worker, running) = rig.runningWorker(through: reconnecting, routeRetryDelays: [.milliseconds(1)])
        try await rig.publishMalformed("malformed-2")
        try await waitUntil(timeout: .seconds(60), "dead-lettered on its second delivery") {
            worker.statistics.deadLettered == 1
        }
        #expect(reconnecting.deliveries.withLock { $0["malformed-2"] } == 2, "handed back once after two refusals")
        #expect(rig.broker.messages(in: rig.topology.deadLetterQueue).map(rig.code) == ["malformed-json"])
        running.cancel()
        _ = try? await running.value
        rig.cleanUp()
    }
}

/// A publishing connection whose confirms do not come until `release()` (a broker under a
/// memory or disk alarm): batches of outbox rows wait; single messages go through.
final class StalledPublisher: WorkerTransport {
    let inner: InMemoryTransport
    let released = Mutex(false)
    /// Batches that reached the stalled publish.
    let entered = Mutex(0)

    init(_ inner: InMemoryTransport) { self.inner = inner }

    func release() { released.withLock { $0 = true } }
    var username: String { inner.username }
    var isConnected: Bool { true }
    func declare(_ topology: RoleTopology) async throws { try await inner.declare(topology) }
    func queueState(_ name: String) async throws -> AMQPQueueState { try await inner.queueState(name) }
    func subscribe(queue: String, prefetch: UInt16, onDelivery: @escaping @Sendable (AMQPDelivery) -> Void) async throws
        -> any TransportConsumer
    {
        try await inner.subscribe(queue: queue, prefetch: prefetch, onDelivery: onDelivery)
    }
    func publish(_ messages: [AMQPOutgoingMessage], window: Int) async -> [Result<Void, AMQPError>] {
        entered.withLock { $0 += 1 }
        while !released.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) }
        return await inner.publish(messages, window: window)
    }
    func publish(_ body: Data, exchange: String, routingKey: String, properties: AMQPProperties, mandatory: Bool)
        async throws
    {
        try await inner.publish(body, exchange: exchange, routingKey: routingKey, properties: properties, mandatory: mandatory)
    }
}

extension InMemoryWorkerTests {
    /// Messages are acknowledged at commit (their outputs are in the outbox), so a broker that
    /// does not confirm could otherwise let the worker take and acknowledge its whole queue
    /// with every output held in memory: the commit waits once four times the concurrency of
    /// acknowledged messages have outputs unconfirmed, and goes on when they are confirmed.
    @Test func aBrokerThatDoesNotConfirmStopsTheCommitsAtTheBound() async throws {
        let rig = try await InMemoryRig.make()
        let stalled = StalledPublisher(rig.transport)
        var options = WorkerOptions()
        options.concurrency = 2
        let worker = rig.worker(consuming: rig.transport, publishing: stalled, options: options)
        let running = Task { try await worker.run() }
        for index in 0..<30 { try await rig.submit("REG-\(index)") }
        try await waitUntil(timeout: .seconds(60), "the commits wait for the publishes") {
            worker.isWaitingForPublishingRoom
        }
        let committed = try await rig.store.count("accepted")
        #expect(committed >= options.unconfirmedLimit && committed < options.unconfirmedLimit + 2, "\(committed)")
        #expect(rig.broker.messages(in: rig.outputQueue).isEmpty)
        #expect(
            rig.broker.messages(in: rig.topology.queue).count == 30 - committed
                - rig.broker.unacknowledged(in: rig.topology.queue))
        stalled.release()
        try await waitUntil(timeout: .seconds(60), "every message handled and its output published") {
            worker.statistics.succeeded == 30 && rig.broker.messages(in: rig.outputQueue).count == 30
        }
        #expect(try await rig.store.count("accepted") == 30)
        running.cancel()
        _ = try? await running.value
        rig.cleanUp()
    }
}

extension InMemoryWorkerTests {
    /// With `synchronous=NORMAL` a power loss may undo a commit, so its message is not
    /// acknowledged at commit: only once its outputs are confirmed, as before acknowledging at
    /// commit (a full store acknowledges at once, the test above).
    @Test func aStoreWithoutFsyncAcknowledgesOnlyAfterTheOutputsAreConfirmed() async throws {
        let rig = try await InMemoryRig.make()
        let path = rig.storePath + "-normal.sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let store = try SQLiteStore(path: path, durability: .normal)
        #expect(!store.commitsSurvivePowerLoss && rig.store.commitsSurvivePowerLoss)
        let stalled = StalledPublisher(rig.transport)
        let worker = rig.worker(consuming: rig.transport, publishing: stalled, store: store)
        let running = Task { try await worker.run() }
        try await rig.submit("REG-N")
        try await waitUntil(timeout: .seconds(60), "committed and its output being published") {
            stalled.entered.withLock { $0 } == 1
        }
        #expect(try await store.count("accepted") == 1)
        #expect(rig.broker.unacknowledged(in: rig.topology.queue) == 1, "not acknowledged while its output waits")
        stalled.release()
        try await waitUntil(timeout: .seconds(60), "acknowledged after the confirm") {
            rig.broker.unacknowledged(in: rig.topology.queue) == 0 && worker.statistics.succeeded == 1
        }
        #expect(rig.broker.messages(in: rig.outputQueue).count == 1)
        running.cancel()
        _ = try? await running.value
        rig.cleanUp()
    }
}

extension InMemoryWorkerTests {
    /// Rows a service beside the worker writes (the notification dispatcher's outcome events)
    /// are published at once through `publishSoon`, not after the flusher's grace; past the
    /// bound they are left in the outbox for the flusher.
    @Test func rowsOfAServiceBesideTheWorkerArePublishedAtOnceWithinTheBound() async throws {
        let rig = try await InMemoryRig.make()
        let stalled = StalledPublisher(rig.transport)
        var options = WorkerOptions()
        options.concurrency = 2
        options.outboxFlushInterval = .seconds(3_600)  // no flusher during the test
        let worker = rig.worker(consuming: rig.transport, publishing: stalled, options: options)
        let running = Task { try await worker.run() }
        try await waitUntil(timeout: .seconds(60), "consuming") { worker.isReady }
        func written(_ count: Int, _ tag: String) async throws -> [OutboxEntry] {
            let events = try (0..<count).map { index in
                try OutgoingEvent(
                    EventEnvelope(
                        id: "\(tag)-\(index)", source: "/test",
                        data: RegistrationAcceptedV1(
                            registrationID: "REG-\(tag)-\(index)", participantID: "PST-\(index)", centre: .bontang,
                            programme: "TATA_GRAHA", priorityTier: .neverTrained, priorityReasons: [],
                            apprenticeshipInterest: false)),
                    exchange: rig.topology.exchange)
            }
            guard case .processed(let entries) = try await rig.store.process(messageID: "service-\(tag)", { _ in events })
            else { throw CancellationError() }
            return entries
        }
        let first = try await written(options.unconfirmedLimit, "first")
        let beyond = try await written(1, "beyond")
        worker.publishSoon(first)  // held by the stalled broker: the bound is full
        worker.publishSoon(beyond)  // beyond the bound: left to the flusher
        stalled.release()
        try await waitUntil(timeout: .seconds(60), "the first rows published and marked") {
            let depth = try await rig.store.outboxDepth()
            return rig.broker.messages(in: rig.outputQueue).count == first.count && depth == 1
        }
        let left = try await rig.store.unpublished(limit: 10, createdBefore: .distantFuture)
        #expect(left.map(\.id) == beyond.map(\.id))
        worker.publishSoon(beyond)  // room again
        try await waitUntil(timeout: .seconds(60), "published") { (try await rig.store.outboxDepth()) == 0 }
        #expect(rig.broker.messages(in: rig.outputQueue).count == first.count + 1)
        running.cancel()
        _ = try? await running.value
        rig.cleanUp()
    }
}

/// The in-memory broker behaves as RabbitMQ does where the worker relies on it.
@Suite(.timeLimit(.minutes(10)))
struct InMemoryTransportTests {
    @Test func deliveriesKeepTheirOrderAndStaySettleableAfterTheConsumerIsCancelled() async throws {
        let broker = InMemoryTransport.Broker()
        broker.declareQueue("q")
        broker.declareQueue("q.dead")
        broker.bind("q", exchange: "x", routingKey: "k")
        let transport = InMemoryTransport(broker: broker, username: "u")
        let received = Mutex<[AMQPDelivery]>([])
        let consumer = try await transport.subscribe(queue: "q", prefetch: 3) { delivery in
            received.withLock { $0.append(delivery) }
        }
        let results = await transport.publish(
            (1...5).map { AMQPOutgoingMessage(body: Data("\($0)".utf8), exchange: "x", routingKey: "k") }, window: 5)
        #expect(results.allSatisfy { (try? $0.get()) != nil })
        let first = received.withLock { $0 }
        #expect(first.map { String(decoding: $0.body, as: UTF8.self) } == ["1", "2", "3"], "in order, up to the prefetch")
        try await consumer.cancel()
        try await first[0].ack()
        try await first[1].nack(requeue: true)
        try await first[2].reject(requeue: false)
        #expect(received.withLock { $0.count } == 3, "nothing more after the cancel")
        #expect(
            broker.messages(in: "q").map { String(decoding: $0.body, as: UTF8.self) } == ["2", "4", "5"],
            "the acknowledged one is gone, the requeued one is first again")
        #expect(broker.messages(in: "q.dead").map { String(decoding: $0.body, as: UTF8.self) } == ["3"])
        let unroutable = await transport.publish(
            [AMQPOutgoingMessage(body: Data(), exchange: "x", routingKey: "nobody", mandatory: true)], window: 1)
        #expect(throws: AMQPError.self) { try unroutable[0].get() }
    }
}
