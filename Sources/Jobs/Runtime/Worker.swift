import AMQP
public import ContractKit
import Foundation
public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization

/// One process's worker for one role: declares the topology, publishes what the outbox still
/// holds, then consumes the role queue with at-least-once delivery and exactly-once effects.
///
/// The loop: the deliveries that arrived while the previous batch was being committed form the
/// next batch (group commit). Each message is decoded (strictly, upcast to its newest
/// version) as it arrives, on the consumer connection's thread; the batch runs in one store
/// transaction in which every message has its own savepoint: inbox row + the handler's state
/// change + outbox rows, or nothing if its handler throws. After the commit the messages are
/// acknowledged (their outputs are durable in the outbox) and the outbox rows are published
/// with confirms, beside the next commit, up to ``WorkerOptions/unconfirmedLimit``
/// outputs at a time; the next commit marks the confirmed rows published in its own
/// transaction (or the committer alone, when no delivery waits). A redelivered
/// duplicate finds its inbox row and is acknowledged without a second effect; a failed message
/// goes to a retry tier or the dead letters (``FailureRouter``). Publishing runs beside the next
/// commit. Where a power loss may undo a commit (``MessageStore/commitsSurvivePowerLoss``) a
/// batch is acknowledged only after its outputs' publish (confirmed unless the broker is
/// down or blocked), as before.
///
/// A `Service` for swift-service-lifecycle: on graceful shutdown (SIGTERM/SIGINT in a
/// `ServiceGroup`) it cancels its consumer, finishes the messages it already received, and
/// returns; `maximumGracefulShutdownDuration` on the group bounds how long that may take.
public final class Worker: Service, OutboxPublishing, Sendable {
    public let topology: RoleTopology
    let registry: ContractRegistry
    let handler: any MessageHandler
    let store: any MessageStore
    let consuming: any WorkerTransport
    let publishing: any WorkerTransport
    let router: FailureRouter
    let options: WorkerOptions
    let logger: Logger
    let metrics: WorkerMetrics
    let counters = Mutex(WorkerStatistics())
    let consumingNow = Atomic<Bool>(false)
    let inFlight = Atomic<Int>(0)
    /// Outputs of acknowledged messages still being published.
    let unconfirmed = Atomic<Int>(0)
    /// Rows of services beside the worker being published by ``publishSoon(_:)``.
    let publishingSoon = Atomic<Int>(0)
    /// Rung when a batch's outputs are settled (confirmed or left to the flusher).
    let outputsSettled = Doorbell()
    /// Deliveries decoded on the consumer's thread, waiting for the next group commit (a worker
    /// runs once: ``run()`` finishes it).
    let received = BatchBuffer<ReceivedMessage>()
    /// Outbox rows confirmed by the broker and not yet marked published: the next commit marks
    /// them in its own transaction, or, when no delivery is waiting, the committer marks them
    /// alone (``writeWaitingMarks()``).
    let marksWaiting = Mutex<[Int64]>([])

    /// Creates a worker; ``run()`` starts it.
    /// - Parameters:
    ///   - consuming: the connection for the role queue's consumer (an `AMQPConnection`, or an
    ///     ``InMemoryTransport`` in unit tests).
    ///   - publishing: the connection for the outbox, retries and dead letters (may be the same).
    ///   - instance: this process's name in failure records and logs, e.g. `intake@host:pid`.
    public init(
        topology: RoleTopology, registry: ContractRegistry, handler: any MessageHandler, store: any MessageStore,
        consuming: any WorkerTransport, publishing: any WorkerTransport, instance: String,
        options: WorkerOptions = WorkerOptions(),
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

    /// Whether the next commit waits because ``WorkerOptions/unconfirmedLimit`` outputs of
    /// acknowledged messages are still being published (tests, diagnostics).
    public var isWaitingForPublishingRoom: Bool { outputsSettled.isWaiting }

    /// Whether the worker is consuming over live connections (for a readiness probe).
    public var isReady: Bool {
        consumingNow.load(ordering: .relaxed) && consuming.isConnected && publishing.isConnected
    }

    /// Runs until a graceful shutdown (or cancellation of its task): then it stops consuming,
    /// finishes the messages it already received, and returns.
    /// - Throws: when the topology cannot be declared or the store cannot be opened.
    public func run() async throws {
        if let typed = handler as? any TypedMessageHandler, Set(typed.inputEventTypes) != Set(topology.role.consumes) {
            throw TopologyError(
                object: "role \(topology.role.name)",
                brokerText: "its queue is bound to \(topology.role.consumes.sorted()) but its handler takes "
                    + "\(typed.inputEventTypes.sorted())",
                fix: "give the worker the handler of its role (the role's bindings come from the handler's input)")
        }
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
        let buffer = received
        let consumer = try await consuming.subscribe(queue: topology.queue, prefetch: options.concurrency) { delivery in
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
                    try await consumer.waitUntilEnded()
                    break  // ended by our own cancel
                } catch {
                    self.logger.error("the consumer ended; subscribing again", metadata: ["error": "\(error)"])
                }
                // The broker cancelled it (the queue was deleted, or failed over): declare the
                // topology again and subscribe again, with backoff (1 s doubling to 30 s).
                self.consumingNow.store(false, ordering: .relaxed)
                var resubscribed: (any TransportConsumer)?
                while resubscribed == nil, !stopping.load(ordering: .relaxed), !Task.isCancelled {
                    attempt += 1
                    try? await Task.sleep(for: ReconnectPolicy.resubscription.ceiling(forAttempt: attempt))
                    guard !stopping.load(ordering: .relaxed), !Task.isCancelled else { break }
                    do {
                        try await self.prepareTopology()
                        resubscribed = try await self.consuming.subscribe(
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
            // hands publishing (and, where a commit may not survive a power loss,
            // acknowledging) to child tasks. After a graceful shutdown
            // cancels the consumer, the buffer still yields what was already received, then
            // ends; the group waits for the last settlements.
            await withDiscardingTaskGroup { group in
                while let batch = await buffer.next(max: Int(options.concurrency)) {
                    // Woken with nothing received: confirmed outputs wait to be marked.
                    guard !batch.isEmpty else {
                        await writeWaitingMarks()
                        continue
                    }
                    let decoded = accept(batch, group: &group)
                    // A redelivered message may be the one that ended the last process: each
                    // is handled alone (``isolate(_:group:)``), the others together.
                    let fresh = decoded.filter { !$0.delivery.redelivered }
                    await waitForPublishingRoom()
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
        // The last batches' publishing tasks have ended. In a task of its own: when `run()` was
        // cancelled, the store refuses a cancelled task's write.
        await Task { await self.writeWaitingMarks() }.value
        flusher.cancel()
        await flusher.value
        try? await current.withLock { $0 }.cancel()
        consumerEnded.cancel()
        logger.info("worker stopped")
    }

    /// Declares the topology, or, when ``WorkerOptions/declaresTopology`` is off, checks that the
    /// role queue exists (a passive declare, which needs no configure permission).
    func prepareTopology() async throws {
        if options.declaresTopology {
            try await publishing.declare(topology)
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
}

extension DecodedEvent {
    var contract: (String, Int) { (header.type, receivedVersion) }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
