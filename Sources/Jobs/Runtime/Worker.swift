public import AMQP
public import Contracts
import Foundation
public import Logging
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
    func handle(_ event: DecodedEvent, in transaction: any StoreTransaction) throws -> [OutgoingEvent]
}

/// Tunables of a ``Worker``; the defaults suit most roles.
public struct WorkerOptions: Sendable {
    /// Messages handled at once by this process (also the consumer prefetch).
    public var concurrency: UInt16 = 16
    /// How often leftover outbox rows are published again.
    public var outboxFlushInterval: Duration = .seconds(2)
    /// How old an outbox row must be before the flusher takes it (younger ones are still being
    /// published by the message that wrote them).
    public var outboxGrace: Duration = .seconds(10)

    public init() {}
}

/// Counts of what a worker did, for metrics and tests.
public struct WorkerStatistics: Sendable, Equatable {
    public var received = 0
    public var succeeded = 0
    public var duplicates = 0
    public var retried = 0
    public var deadLettered = 0
    public var published = 0
}

/// One process's worker for one role: declares the topology, publishes what the outbox still
/// holds, then consumes the role queue with at-least-once delivery and exactly-once effects:
/// per message, inbox + state change + outbox in one store transaction, then the outbox is
/// published with confirms, then the message is acknowledged. A redelivered duplicate finds
/// its inbox row and is acknowledged without a second effect.
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
    private let counters = Mutex(WorkerStatistics())

    /// Creates a worker; ``run()`` starts it.
    /// - Parameters:
    ///   - consuming: the connection for the role queue's consumer.
    ///   - publishing: the connection for the outbox, retries and dead letters (may be the same).
    public init(
        topology: RoleTopology, registry: ContractRegistry = .pipeline, handler: any MessageHandler, store: any MessageStore,
        consuming: AMQPConnection, publishing: AMQPConnection, instance: String, options: WorkerOptions = WorkerOptions(),
        logger: Logger = Logger(label: "jobs")
    ) {
        self.topology = topology
        self.registry = registry
        self.handler = handler
        self.store = store
        self.consuming = consuming
        self.publishing = publishing
        self.router = FailureRouter(topology: topology, instance: instance)
        self.options = options
        var logger = logger
        logger[metadataKey: "role"] = "\(topology.role.name)"
        logger[metadataKey: "instance"] = "\(instance)"
        self.logger = logger
    }

    /// What this worker has done so far.
    public var statistics: WorkerStatistics { counters.withLock { $0 } }

    /// Runs until a graceful shutdown (or cancellation of its task): then it stops consuming,
    /// finishes the messages it already received, and returns.
    public func run() async throws {
        try await topology.declare(on: publishing)
        try await store.migrate(handler.migrations)
        await flushOutbox(createdBefore: Date.distantFuture)
        let consumer = try await consuming.consume(queue: topology.queue, prefetch: options.concurrency)
        logger.info("worker started", metadata: ["queue": "\(topology.queue)", "concurrency": "\(options.concurrency)"])
        let flusher = Task { await self.flushOutboxPeriodically() }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                do {
                    // After a graceful shutdown cancels the consumer, the sequence still yields
                    // what was already received, then ends; the group waits for in-flight work.
                    for try await delivery in consumer {
                        group.addTask { await self.process(delivery) }
                    }
                } catch {
                    logger.error("the consumer ended", metadata: ["error": "\(error)"])
                }
            }
        } onGracefulShutdown: {
            self.logger.info("graceful shutdown: no new deliveries; finishing in-flight messages")
            Task { try? await consumer.cancel() }
        }
        flusher.cancel()
        await flusher.value
        try? await consumer.cancel()
        logger.info("worker stopped")
    }

    private func process(_ delivery: AMQPDelivery) async {
        counters.withLock { $0.received += 1 }
        let event: DecodedEvent
        do {
            event = try registry.decode(delivery.body)
        } catch {
            await route(delivery, .permanent(error.reason, error.message), contract: nil)
            return
        }
        var logger = logger
        logger[metadataKey: "message_id"] = "\(event.header.id)"
        logger[metadataKey: "correlation_id"] = "\(event.header.correlationID)"
        let contract = (event.header.type, event.receivedVersion)
        do {
            let handler = handler
            let outcome = try await store.process(messageID: event.header.id) { transaction in
                try handler.handle(event, in: transaction)
            }
            switch outcome {
            case .duplicate:
                counters.withLock { $0.duplicates += 1 }
                logger.debug("duplicate message acknowledged without effect")
            case .processed(let entries):
                await publish(entries)
                counters.withLock { $0.succeeded += 1 }
            }
            try await delivery.ack()
        } catch let failure as Failure {
            await route(delivery, failure, contract: contract)
        } catch {
            await route(delivery, .transient("handler-error", String(describing: error)), contract: contract)
        }
    }

    private func route(_ delivery: AMQPDelivery, _ failure: Failure, contract: (String, Int)?) async {
        do {
            switch try await router.route(delivery, failure: failure, contract: contract, publisher: publishing) {
            case .retried: counters.withLock { $0.retried += 1 }
            case .deadLettered: counters.withLock { $0.deadLettered += 1 }
            }
            logger.warning("message failed", metadata: ["failure": "\(failure)"])
        } catch {
            // Not routed: hand it back to the broker, which redelivers it (and dead-letters it
            // past the delivery limit).
            logger.error("could not route a failed message", metadata: ["error": "\(error)"])
            try? await delivery.nack(requeue: true)
        }
    }

    /// Publishes outbox rows with windowed confirms and marks the confirmed ones. Rows whose
    /// publish failed stay for the flusher.
    private func publish(_ entries: [OutboxEntry]) async {
        guard !entries.isEmpty else { return }
        let results = await publishing.publish(entries.map(\.event.amqpMessage), window: 50)
        let confirmed = zip(entries, results).compactMap { entry, result -> Int64? in
            if case .success = result { return entry.id }
            logger.warning("outbox publish failed; the flusher retries it", metadata: ["message_id": "\(entry.event.messageID)"])
            return nil
        }
        do {
            try await store.markPublished(confirmed)
            counters.withLock { $0.published += confirmed.count }
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
        while !Task.isCancelled {
            do { try await Task.sleep(for: options.outboxFlushInterval) } catch { return }
            await flushOutbox(createdBefore: Date().addingTimeInterval(-Double(options.outboxGrace.milliseconds) / 1000))
        }
    }
}
