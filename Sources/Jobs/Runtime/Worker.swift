public import AMQP
public import Contracts
import Foundation
public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization

/// The code of one worker role: decides what a message means for the role's state.
public protocol MessageHandler: Sendable {
    /// Table definitions of the role's own state (idempotent statements, run at start-up).
    var migrations: [String] { get }

    /// Handles one message, already upcast to the newest version of its contract, inside the
    /// store transaction that also records it in the inbox and writes the returned events to
    /// the outbox. Throw a ``Failure`` to classify a failure; any other error counts as
    /// transient. A business outcome (a rejection) is an event, not a failure.
    ///
    /// A handler may run more than once for one message: after a redelivery, and within one
    /// group commit when another message of the batch fails (its writes are rolled back and it
    /// runs again). Only its store writes are exactly once; anything else it does (a lookup in
    /// an outside service, a file it writes) must tolerate running again.
    func handle(_ event: DecodedEvent, in transaction: any StoreTransaction) throws -> [OutgoingEvent]
}

/// Tunables of a ``Worker``; the defaults suit most roles.
public struct WorkerOptions: Sendable {
    /// Messages this process holds at once: the consumer prefetch, and the most messages one
    /// group commit takes.
    public var concurrency: UInt16 = 64
    /// How often leftover outbox rows are published again (and the gauges refreshed).
    public var outboxFlushInterval: Duration = .seconds(2)
    /// How old an outbox row must be before the flusher takes it (younger ones are still being
    /// published by the message that wrote them).
    public var outboxGrace: Duration = .seconds(10)
    /// Runs after each group commit with the committed message ids, before their outbox is
    /// published and they are acknowledged (fault-injection tests, tracing). Must not block.
    public var afterCommit: (@Sendable ([String]) -> Void)?
    /// Who may publish each event type the role consumes, checked against the validated
    /// `user_id` (``PublisherPolicy``). The default lets anyone publish anything, for tests and
    /// local runs; the worker then says so in a warning at start. Deployments enforce
    /// `ContractPublishers.allowedUsers()`.
    public var publishers: PublisherPolicy = .anyPublisher
    /// Handlings of one redelivered message that may end without an outcome (the process died:
    /// a trap, an abort, out of memory, SIGKILL) before the message is dead-lettered as
    /// `crashed-worker` instead of being handled again. A redelivered message is handled alone,
    /// after its attempt is committed, so the count names the message that killed the process
    /// and no other.
    public var crashLimit = 3
    /// Whether the worker declares its topology at start (and again when its queue was
    /// deleted). Off where the role's broker user has no configure permission (`deploy/`): the
    /// topology comes from the definitions or the admin tool, and the worker only
    /// checks that its queue exists.
    public var declaresTopology = true
    /// Where the topology comes from when the worker does not declare it: the fix a
    /// ``TopologyError`` gives when the role queue is missing.
    public var topologyHint = "declare it before the worker starts"

    public init() {}
}

/// Counts of what a worker did, for tests and the console (metrics carry the same).
public struct WorkerStatistics: Sendable, Equatable {
    public var received = 0
    public var succeeded = 0
    public var duplicates = 0
    public var retried = 0
    public var deadLettered = 0
    public var published = 0
}

/// One process's worker for one role: declares the topology, publishes what the outbox still
/// holds, then consumes the role queue with at-least-once delivery and exactly-once effects.
///
/// The loop: the deliveries that arrived while the previous batch was being committed form the
/// next batch (group commit). Each message is decoded (strictly, upcast to its newest
/// version) as it arrives, on the consumer connection's thread; the batch runs in one store
/// transaction in which every message has its own savepoint: inbox row + the handler's state
/// change + outbox rows, or nothing if its handler throws. After the commit, the outbox rows
/// are published with confirms, and only then are the messages acknowledged. A redelivered
/// duplicate finds its inbox row and is acknowledged without a second effect; a failed message
/// goes to a retry tier or the dead letters (``FailureRouter``). Publishing and acknowledging run beside the next commit.
///
/// A `Service` for swift-service-lifecycle: on graceful shutdown (SIGTERM/SIGINT in a
/// `ServiceGroup`) it cancels its consumer, finishes the messages it already received, and
/// returns; `maximumGracefulShutdownDuration` on the group bounds how long that may take.
public final class Worker: Service, Sendable {
    public let topology: RoleTopology
    private let registry: ContractRegistry
    private let handler: any MessageHandler
    private let store: any MessageStore
    private let consuming: AMQPConnection
    private let publishing: AMQPConnection
    private let router: FailureRouter
    private let options: WorkerOptions
    private let logger: Logger
    private let metrics: WorkerMetrics
    private let counters = Mutex(WorkerStatistics())
    private let consumingNow = Atomic<Bool>(false)
    private let inFlight = Atomic<Int>(0)

    /// Creates a worker; ``run()`` starts it.
    /// - Parameters:
    ///   - consuming: the connection for the role queue's consumer.
    ///   - publishing: the connection for the outbox, retries and dead letters (may be the same).
    ///   - instance: this process's name in failure records and logs, e.g. `intake@host:pid`.
    public init(
        topology: RoleTopology, registry: ContractRegistry, handler: any MessageHandler, store: any MessageStore,
        consuming: AMQPConnection, publishing: AMQPConnection, instance: String, options: WorkerOptions = WorkerOptions(),
        logger: Logger = Logger(label: "jobs")
    ) {
        precondition(options.concurrency > 0, "concurrency must be positive")
        self.topology = topology
        self.registry = registry
        self.handler = handler
        self.store = store
        self.consuming = consuming
        self.publishing = publishing
        self.router = FailureRouter(topology: topology, instance: instance)
        self.options = options
        self.metrics = WorkerMetrics(role: topology.role.name)
        var logger = logger
        logger[metadataKey: "role"] = "\(topology.role.name)"
        logger[metadataKey: "instance"] = "\(instance)"
        self.logger = logger
    }

    /// What this worker has done so far.
    public var statistics: WorkerStatistics { counters.withLock { $0 } }

    /// Whether the worker is consuming over live connections (for a readiness probe).
    public var isReady: Bool {
        consumingNow.load(ordering: .relaxed) && consuming.isConnected && publishing.isConnected
    }

    /// Runs until a graceful shutdown (or cancellation of its task): then it stops consuming,
    /// finishes the messages it already received, and returns.
    /// - Throws: when the topology cannot be declared or the store cannot be opened.
    public func run() async throws {
        try await prepareTopology()
        try await store.migrate(Self.runtimeTables + handler.migrations)
        if !options.publishers.isEnforced {
            logger.warning(
                "publisher authorisation is off: any broker user may publish any event type to this role (development only)")
        }
        await flushOutbox(createdBefore: Date.distantFuture)
        // Deliveries are decoded as they arrive, on the consumer connection's own thread (CPU
        // only, about 15 µs each; never on the cooperative pool), and wait here for the next
        // group commit.
        let buffer = BatchBuffer<ReceivedMessage>()
        let consumer = try await consuming.consume(queue: topology.queue, prefetch: options.concurrency) { delivery in
            buffer.append(self.receive(delivery))
        }
        // The consumer in use, and whether a shutdown began (then nobody subscribes again).
        let current = Mutex(consumer)
        let stopping = Atomic<Bool>(false)
        let consumerEnded = Task {
            var consumer = consumer
            var attempt = 0
            while true {
                do {
                    for try await _ in consumer {}
                    break  // ended by our own cancel
                } catch {
                    self.logger.error("the consumer ended; subscribing again", metadata: ["error": "\(error)"])
                }
                // The broker cancelled it (the queue was deleted, or failed over): declare the
                // topology again and subscribe again, with backoff (1 s doubling to 30 s).
                self.consumingNow.store(false, ordering: .relaxed)
                var resubscribed: AMQPConsumer?
                while resubscribed == nil, !stopping.load(ordering: .relaxed), !Task.isCancelled {
                    attempt += 1
                    try? await Task.sleep(for: ReconnectPolicy.resubscription.ceiling(forAttempt: attempt))
                    guard !stopping.load(ordering: .relaxed), !Task.isCancelled else { break }
                    do {
                        try await self.prepareTopology()
                        resubscribed = try await self.consuming.consume(
                            queue: self.topology.queue, prefetch: self.options.concurrency
                        ) { delivery in buffer.append(self.receive(delivery)) }
                    } catch {
                        self.logger.warning(
                            "subscribing again failed", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                    }
                }
                guard let resubscribed else { break }
                attempt = 0
                consumer = resubscribed
                current.withLock { $0 = resubscribed }
                self.consumingNow.store(true, ordering: .relaxed)
                self.logger.notice("consumer subscribed again", metadata: ["amqp.queue": "\(self.topology.queue)"])
            }
            buffer.finish()
        }
        consumingNow.store(true, ordering: .relaxed)
        logger.info("worker started", metadata: ["amqp.queue": "\(topology.queue)", "concurrency": "\(options.concurrency)"])
        let flusher = Task { await self.flushOutboxPeriodically() }
        await withGracefulShutdownHandler {
            // This task commits what was received and decoded meanwhile, as one batch, and
            // hands publishing and acknowledging to child tasks. After a graceful shutdown
            // cancels the consumer, the buffer still yields what was already received, then
            // ends; the group waits for the last settlements.
            await withDiscardingTaskGroup { group in
                while let batch = await buffer.next(max: Int(options.concurrency)) {
                    let decoded = accept(batch, group: &group)
                    // A redelivered message may be the one that ended the last process: each
                    // is handled alone (``isolate(_:group:)``), the others together.
                    let fresh = decoded.filter { !$0.delivery.redelivered }
                    if !fresh.isEmpty { await commit(fresh, group: &group) }
                    for suspect in decoded where suspect.delivery.redelivered {
                        await isolate(suspect, group: &group)
                    }
                }
            }
        } onGracefulShutdown: {
            self.logger.info("graceful shutdown: no new deliveries; finishing in-flight messages")
            self.consumingNow.store(false, ordering: .relaxed)
            stopping.store(true, ordering: .relaxed)
            let consumer = current.withLock { $0 }
            Task {
                do {
                    try await consumer.cancel()
                    consumerEnded.cancel()  // if it was waiting to subscribe again
                } catch {
                    // Stop taking deliveries anyway; what the broker still sends stays
                    // unacknowledged and is requeued when the connection closes.
                    self.logger.warning("cancelling the consumer failed", metadata: ["error": "\(error)"])
                    buffer.finish()
                }
            }
        }
        consumingNow.store(false, ordering: .relaxed)
        flusher.cancel()
        await flusher.value
        try? await current.withLock { $0 }.cancel()
        consumerEnded.cancel()
        logger.info("worker stopped")
    }

    /// Declares the topology, or, when ``WorkerOptions/declaresTopology`` is off, checks that the
    /// role queue exists (a passive declare, which needs no configure permission).
    private func prepareTopology() async throws {
        if options.declaresTopology {
            try await topology.declare(on: publishing)
            return
        }
        do {
            _ = try await publishing.queueState(topology.queue)
        } catch {
            throw TopologyError(
                object: "queue \(topology.queue)", brokerText: "\(error)",
                fix: "the worker does not declare its topology: " + options.topologyHint)
        }
    }

    /// A delivery with its decoded event and inbox key, or the permanent failure that refuses it
    /// (a class: batches copy it around, and a reference is one retain where the structs were a
    /// dozen).
    private final class ReceivedMessage: Sendable {
        enum Outcome: Sendable {
            case decoded(DecodedEvent, inboxKey: String)
            case refused(Failure, contract: (String, Int)?)
        }
        let delivery: AMQPDelivery
        let outcome: Outcome

        init(delivery: AMQPDelivery, outcome: Outcome) {
            self.delivery = delivery
            self.outcome = outcome
        }
    }

    /// A delivery whose body was decoded and accepted (a class, for the same reason).
    private final class DecodedMessage: Sendable {
        let delivery: AMQPDelivery
        let event: DecodedEvent
        let inboxKey: String

        init(delivery: AMQPDelivery, event: DecodedEvent, inboxKey: String) {
            self.delivery = delivery
            self.event = event
            self.inboxKey = inboxKey
        }
    }

    /// Decodes a delivery (strictly, upcast to the newest version) and checks it against where it
    /// came from (``DeliveryProvenance``), on the consumer's thread.
    private func receive(_ delivery: AMQPDelivery) -> ReceivedMessage {
        let event: DecodedEvent
        do throws(ContractError) {
            event = try registry.decode(
                delivery.body, contentType: delivery.properties.contentType,
                contentEncoding: delivery.properties.contentEncoding)
        } catch {
            return ReceivedMessage(delivery: delivery, outcome: .refused(.permanent(error.reason, error.message), contract: nil))
        }
        let provenance = DeliveryProvenance(delivery, roleQueue: topology.queue)
        if let failure = provenance.check(event, typeProperty: delivery.properties.type, policy: options.publishers) {
            return ReceivedMessage(delivery: delivery, outcome: .refused(failure, contract: event.contract))
        }
        return ReceivedMessage(
            delivery: delivery, outcome: .decoded(event, inboxKey: provenance.inboxKey(messageID: event.header.id)))
    }

    /// Counts a batch in and returns its accepted messages; one that could not be decoded, or
    /// that its provenance refuses, is dead-lettered (a permanent failure).
    private func accept(_ batch: [ReceivedMessage], group: inout DiscardingTaskGroup) -> [DecodedMessage] {
        let receivedAt = Date()
        counters.withLock { $0.received += batch.count }
        metrics.received.increment(by: batch.count)
        changeInFlight(by: batch.count)
        var decoded: [DecodedMessage] = []
        decoded.reserveCapacity(batch.count)
        var oldest = receivedAt
        for item in batch {
            switch item.outcome {
            case .decoded(let event, let inboxKey):
                decoded.append(DecodedMessage(delivery: item.delivery, event: event, inboxKey: inboxKey))
                oldest = min(oldest, event.header.time)
            case .refused(let failure, let contract):
                let delivery = item.delivery
                group.addTask { await self.route(delivery, failure, contract: contract) }
            }
        }
        metrics.oldestUnprocessedAge.record(max(0, receivedAt.timeIntervalSince(oldest)))
        return decoded
    }

    /// The runtime's own table: how often each redelivered message's handling began, committed
    /// before the handler runs (``WorkerOptions/crashLimit``).
    static let runtimeTables = [
        """
        CREATE TABLE IF NOT EXISTS jobs_handling_attempts (
            message_key TEXT PRIMARY KEY, attempts INTEGER NOT NULL, last_attempt_at REAL NOT NULL)
        """
    ]

    /// Handles a redelivered message on its own: first commits that its handling begins, then
    /// handles it as a batch of one, then forgets the count once the handling finished (with an
    /// effect, a failure or as a duplicate). A message already in the inbox (its ack was lost)
    /// is a duplicate and counts nothing. One whose handling began ``WorkerOptions/crashLimit``
    /// times without finishing, each time ending the process, is dead-lettered as
    /// `crashed-worker` instead.
    private func isolate(_ item: DecodedMessage, group: inout DiscardingTaskGroup) async {
        let key = item.inboxKey
        let now = Date().timeIntervalSince1970
        let begun: Int?
        do {
            begun = try await store.write { transaction -> Int? in
                let known = try transaction.query("SELECT 1 AS known FROM jobs_inbox WHERE message_id = ?", [.text(key)])
                guard known.isEmpty else { return nil }
                try transaction.execute(
                    """
                    INSERT INTO jobs_handling_attempts (message_key, attempts, last_attempt_at) VALUES (?, 1, ?)
                    ON CONFLICT (message_key) DO UPDATE SET attempts = jobs_handling_attempts.attempts + 1,
                        last_attempt_at = excluded.last_attempt_at
                    """, [.text(key), .real(now)])
                let row = try transaction.query(
                    "SELECT attempts FROM jobs_handling_attempts WHERE message_key = ?", [.text(key)])
                guard let attempts = row.first?["attempts"]?.integer else {
                    throw Failure.transient("store-unavailable", "the handling attempt was not recorded")
                }
                return Int(attempts)
            }
        } catch {
            let failure = Failure.transient("store-unavailable", String(describing: error))
            group.addTask { await self.route(item.delivery, failure, contract: item.event.contract) }
            return
        }
        guard let begun else {
            await commit([item], group: &group)  // a duplicate: acknowledged without an effect
            return
        }
        let unfinished = begun - 1
        if unfinished >= options.crashLimit {
            let failure = Failure.permanent(
                "crashed-worker",
                "handling this message began \(unfinished) times and each time the worker process ended before it "
                    + "finished (a trap, an abort, out of memory or a kill); it is not handled again")
            logger.critical(
                "a message crashed the worker repeatedly; dead-lettering it",
                metadata: ["message_id": "\(item.event.header.id)", "handlings": "\(unfinished)"])
            group.addTask { await self.route(item.delivery, failure, contract: item.event.contract) }
            await forgetAttempts(key)
            return
        }
        await commit([item], group: &group)
        // The handling finished (whatever its outcome): this was no crash.
        await forgetAttempts(key)
    }

    private func forgetAttempts(_ key: String) async {
        _ = try? await store.write { transaction in
            try transaction.execute("DELETE FROM jobs_handling_attempts WHERE message_key = ?", [.text(key)])
        }
    }

    /// One group commit: the handlers of the batch in one store transaction; then publishing
    /// and acknowledging go to a task, so that the next batch can be committed meanwhile.
    private func commit(_ decoded: [DecodedMessage], group: inout DiscardingTaskGroup) async {
        let handler = handler
        let duration = metrics.handlerDuration
        let batch = decoded.map { item in
            StoreWork(messageID: item.inboxKey) { transaction in
                let start = ContinuousClock.now
                defer { duration.recordNanoseconds((ContinuousClock.now - start).nanoseconds) }
                return try handler.handle(item.event, in: transaction)
            }
        }
        let results: [Result<ProcessOutcome, any Error>]
        do {
            results = try await store.process(batch)
        } catch {
            logger.error("the store could not commit a batch", metadata: ["error": "\(error)", "messages": "\(batch.count)"])
            let failure = Failure.transient("store-unavailable", String(describing: error))
            for item in decoded {
                group.addTask { await self.route(item.delivery, failure, contract: item.event.contract) }
            }
            return
        }
        if let afterCommit = options.afterCommit {
            afterCommit(
                zip(decoded, results).compactMap { item, result in (try? result.get()) != nil ? item.event.header.id : nil })
        }
        var processed: [(delivery: AMQPDelivery, entries: [OutboxEntry])] = []
        var duplicates: [AMQPDelivery] = []
        for (item, result) in zip(decoded, results) {
            switch result {
            case .success(.processed(let entries)): processed.append((item.delivery, entries))
            case .success(.duplicate): duplicates.append(item.delivery)
            case .failure(let failure as Failure):
                group.addTask { await self.route(item.delivery, failure, contract: item.event.contract) }
            case .failure(let error):
                let failure = Failure.transient("handler-error", String(describing: error))
                group.addTask { await self.route(item.delivery, failure, contract: item.event.contract) }
            }
        }
        if !duplicates.isEmpty {
            logger.debug("duplicate messages acknowledged without effect", metadata: ["messages": "\(duplicates.count)"])
            counters.withLock { $0.duplicates += duplicates.count }
            metrics.duplicates.increment(by: duplicates.count)
            settle(duplicates)
        }
        guard !processed.isEmpty else { return }
        group.addTask {
            // Ack as soon as the outputs are confirmed; marking the outbox rows comes after, off
            // the ack path (it waits for the writer, which is committing the next batch). A
            // crash in between only republishes outputs, which consumers deduplicate.
            let confirmed = await self.publishAndConfirm(processed.flatMap(\.entries))
            self.counters.withLock { $0.succeeded += processed.count }
            self.metrics.succeeded.increment(by: processed.count)
            self.settle(processed.map(\.delivery))
            await self.markPublished(confirmed)
        }
    }

    /// Acknowledges without waiting (the connection coalesces acks); a failed ack means the
    /// broker redelivers the message, which then finds its inbox row.
    private func settle(_ deliveries: [AMQPDelivery]) {
        let logger = logger
        AMQPDelivery.ack(deliveries) { error in
            logger.warning("ack failed; the message will be redelivered as a duplicate", metadata: ["error": "\(error)"])
        }
        changeInFlight(by: -deliveries.count)
    }

    private func changeInFlight(by delta: Int) {
        let now = inFlight.add(delta, ordering: .relaxed).newValue
        metrics.inFlight.record(now)
    }

    private func route(_ delivery: AMQPDelivery, _ failure: Failure, contract: (String, Int)?) async {
        defer { changeInFlight(by: -1) }
        var logger = logger
        if let id = delivery.properties.messageID { logger[metadataKey: "message_id"] = "\(id)" }
        if let correlation = delivery.properties.correlationID { logger[metadataKey: "correlation_id"] = "\(correlation)" }
        do {
            switch try await router.route(delivery, failure: failure, contract: contract, publisher: publishing) {
            case .retried(let tier, let attempt):
                counters.withLock { $0.retried += 1 }
                metrics.retried(failure.code)
                logger.warning(
                    "message failed; retrying later",
                    metadata: ["failure": "\(failure)", "tier": "\(tier)", "attempt": "\(attempt)"])
            case .deadLettered(let attempts):
                counters.withLock { $0.deadLettered += 1 }
                metrics.deadLettered(failure.code)
                logger.error(
                    "message dead-lettered",
                    metadata: [
                        "failure": "\(failure)", "attempts": "\(attempts)",
                        "amqp.queue": "\(topology.deadLetterQueue)",
                    ])
            }
        } catch {
            // Not routed: hand it back to the broker, which redelivers it (and dead-letters it
            // past the delivery limit).
            logger.error("could not route a failed message; returned to the queue", metadata: ["error": "\(error)"])
            try? await delivery.nack(requeue: true)
        }
    }

    /// Publishes outbox rows with windowed confirms and marks the confirmed ones. Rows whose
    /// publish failed stay for the flusher.
    private func publish(_ entries: [OutboxEntry]) async {
        await markPublished(await publishAndConfirm(entries))
    }

    /// Publishes outbox rows with windowed confirms; returns the ids of the settled ones.
    ///
    /// Events are published `mandatory`. One the broker returns had no queue bound to its
    /// type: no role subscribes to it (yet). That is pub/sub working as designed, not a
    /// failure: the row counts as settled (it stays in the store), and the
    /// `jobs_outbox_unrouted_total` counter and a warning show it. Retrying it would never end.
    private func publishAndConfirm(_ entries: [OutboxEntry]) async -> [Int64] {
        guard !entries.isEmpty else { return [] }
        // Every event carries this process's broker user as its validated user_id, which the
        // consumers check against the contract's publishers.
        let user = publishing.username
        let messages = entries.map { entry in
            var message = entry.event.amqpMessage
            message.properties.userID = user
            return message
        }
        let results = await publishing.publish(messages, window: 256)
        var failed = 0
        var unroutedTypes: Set<String> = []
        var settled: [Int64] = []
        var unrouted = 0
        for (entry, result) in zip(entries, results) {
            switch result {
            case .success:
                settled.append(entry.id)
            case .failure(let error) where error.code == .publishReturned:
                settled.append(entry.id)
                unrouted += 1
                unroutedTypes.insert(entry.event.routingKey)
            case .failure:
                failed += 1
            }
        }
        if unrouted > 0 {
            metrics.unrouted.increment(by: unrouted)
            logger.warning(
                "no queue is bound to these event types; the events are kept in the store only",
                metadata: ["messages": "\(unrouted)", "types": "\(unroutedTypes.sorted().joined(separator: ","))"])
        }
        if failed > 0 {
            logger.warning("outbox publishes failed; the flusher retries them", metadata: ["messages": "\(failed)"])
        }
        return settled
    }

    private func markPublished(_ confirmed: [Int64]) async {
        guard !confirmed.isEmpty else { return }
        do {
            try await store.markPublished(confirmed)
            counters.withLock { $0.published += confirmed.count }
            metrics.published.increment(by: confirmed.count)
        } catch {
            logger.error("could not mark outbox rows published (they will be published again)", metadata: ["error": "\(error)"])
        }
    }

    private func flushOutbox(createdBefore: Date) async {
        while true {
            guard let entries = try? await store.unpublished(limit: 500, createdBefore: createdBefore), !entries.isEmpty else {
                return
            }
            let before = statistics.published
            await publish(entries)
            if statistics.published == before { return }  // nothing went out: try again later
        }
    }

    private func flushOutboxPeriodically() async {
        var ticks = 0
        while !Task.isCancelled {
            do { try await Task.sleep(for: options.outboxFlushInterval) } catch { return }
            await flushOutbox(createdBefore: Date().addingTimeInterval(-options.outboxGrace.seconds))
            await refreshGauges()
            ticks += 1
            if ticks % 300 == 1 { await forgetStaleAttempts() }
        }
    }

    /// Forgets attempt counts last begun an hour ago or more: a message that ends its process
    /// comes back within seconds, so these are rows a failed delete left behind.
    private func forgetStaleAttempts() async {
        let cutoff = Date().timeIntervalSince1970 - 3_600
        _ = try? await store.write { transaction in
            try transaction.execute("DELETE FROM jobs_handling_attempts WHERE last_attempt_at < ?", [.real(cutoff)])
        }
    }

    private func refreshGauges() async {
        if let backlog = try? await store.outboxBacklog() {
            metrics.outboxDepth.record(backlog.depth)
            metrics.outboxOldestAge.record(backlog.oldest.map { max(0, Date().timeIntervalSince($0)) } ?? 0)
        }
        if let state = try? await publishing.queueState(topology.queue) {
            metrics.queueDepth.record(Int(state.messageCount))
        }
        if inFlight.load(ordering: .relaxed) == 0 { metrics.oldestUnprocessedAge.record(0) }
    }
}

extension DecodedEvent {
    fileprivate var contract: (String, Int) { (header.type, receivedVersion) }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
