// Where a rebuild of the read model starts from: a RabbitMQ stream bound to the same events as
// the console's queue. The worker consumes the quorum queue (acknowledged, deleted); the
// stream keeps every event for `retention`, so the read model can be thrown away and rebuilt
// without reading anything of another worker.
public import AMQP
public import ContractKit
public import Contracts
import Foundation
public import Jobs
import Logging
public import Topology

/// The console's event history (a stream queue) and the rebuild that replays it.
public struct ProgressHistory: Sendable {
    public let queue: String
    public let exchange: String
    /// How long the stream keeps events (RabbitMQ `x-max-age`).
    public let retention: String

    /// The console worker's queue (what the trust boundary compares a delivery's route with).
    private let consoleQueue: String

    public init(prefix: String = "", retention: String = WorkerRole.consoleHistoryRetention) {
        queue = prefix + WorkerRole.consoleHistoryStream
        let topology = RoleTopology(role: .console, prefix: prefix)
        exchange = topology.exchange
        consoleQueue = topology.queue
        self.retention = retention
    }

    /// Declares the stream and binds it to the console's events (idempotent), and removes the
    /// bindings of `WorkerRole.consoleRetiredKeys` from the stream and the console's queue,
    /// which an earlier version made.
    public func declare(on connection: AMQPConnection) async throws {
        _ = try await connection.declareQueue(
            AMQPQueueSpec(name: queue, arguments: ["x-queue-type": "stream", "x-max-age": .string(retention)]))
        for key in WorkerRole.console.consumes + [WorkerRole.consoleHistoryMarker] {
            try await connection.bindQueue(queue, exchange: exchange, routingKey: key)
        }
        for key in WorkerRole.consoleRetiredKeys {
            try await connection.unbindQueue(queue, exchange: exchange, routingKey: key)
            try await connection.unbindQueue(consoleQueue, exchange: exchange, routingKey: key)
        }
    }

    /// What a rebuild did.
    public struct RebuildReport: Sendable, Equatable {
        public var applied = 0
        /// Stream entries that are not a contract the console knows (skipped, counted).
        public var skipped = 0
        /// Events the trust boundary refuses, as the console's worker would (a type that is not
        /// its routing key, a publisher the contract does not allow): not applied, counted.
        public var refused = 0
    }

    /// Empties the read model and applies every event of the stream again, from its first
    /// entry up to a marker published when the rebuild starts (so it ends, and takes nothing
    /// that arrived after). An empty stream changes nothing and is an error. Safe while the
    /// console's worker runs: every write of the projection is idempotent and order-free; the
    /// counts are low only while it runs. Events are checked as the console's worker checks them
    /// (`policy`: the contracts' publishers, or any publisher for a local run); the refused are
    /// counted, not applied. Needs only the console's own broker user: it reads the stream and
    /// publishes the marker to the events exchange under ``WorkerRole/consoleHistoryMarker``.
    public func rebuild(
        into store: any MessageStore, handler: ProgressHandler, connection: AMQPConnection,
        registry: ContractRegistry = .pipeline, policy: PublisherPolicy, batchSize: Int = 200
    ) async throws -> RebuildReport {
        try await store.migrate(handler.migrations)
        // Through the events exchange under the marker's key, which only the stream is bound
        // to: the console's own user may publish it (the default exchange is the admin's).
        let marker = "rebuild-" + UUID().uuidString
        try await connection.publish(
            Data(), exchange: exchange, routingKey: WorkerRole.consoleHistoryMarker,
            properties: AMQPProperties(
                deliveryMode: .persistent, messageID: marker,
                userID: connection.username),
            mandatory: true)
        let consumer = try await connection.consume(
            queue: queue, prefetch: UInt16(min(batchSize * 2, 2000)), arguments: ["x-stream-offset": "first"])
        var report = RebuildReport()
        var reachedMarker = false
        var pending: [DecodedEvent] = []
        var emptied = false
        // The read model is emptied with the first batch, once the stream has shown it holds
        // history: an empty (or new) stream leaves the read model as it was.
        func flush() async throws {
            let events = pending
            pending.removeAll()
            guard !events.isEmpty else { return }
            let empty = !emptied
            try await store.write { transaction in
                if empty {
                    // Everything the events make; not `console_staff_actions`, the console's own record
                    // of what its users did.
                    for table in ProgressHandler.derivedTables {
                        try transaction.execute("DELETE FROM \(table)")
                    }
                }
                for event in events { _ = try handler.handle(event, in: transaction) }
            }
            emptied = true
        }
        for try await delivery in consumer {
            try await delivery.ack()
            // A marker is known by its routing key, which only the console may publish (a
            // publisher's header could not hide an event from the rebuild this way).
            if delivery.routingKey == WorkerRole.consoleHistoryMarker {
                if delivery.properties.messageID == marker {
                    reachedMarker = true
                    break
                }
                continue
            }
            guard
                let event = try? registry.decode(
                    delivery.body, contentType: delivery.properties.contentType,
                    contentEncoding: delivery.properties.contentEncoding)
            else {
                report.skipped += 1
                continue
            }
            // The live console's trust boundary: the type is the routing key, the publisher may
            // publish it.
            let provenance = DeliveryProvenance(delivery, roleQueue: consoleQueue)
            if provenance.check(event, typeProperty: delivery.properties.type, policy: policy) != nil {
                report.refused += 1
                continue
            }
            // An event the read model does not take (a type the stream was bound to once):
            // skipped, as the live console's queue would never receive it.
            guard ConsoleInput.routes.input(from: event) != nil else {
                report.skipped += 1
                continue
            }
            pending.append(event)
            report.applied += 1
            if pending.count >= batchSize { try await flush() }
        }
        try await flush()
        try? await consumer.cancel()
        guard reachedMarker else {
            throw ConsoleError(
                .rebuild, "the history stream ended before the rebuild's marker (\(report.applied) events applied)")
        }
        guard emptied else {
            throw ConsoleError(.rebuild, "the history stream \(queue) holds no event: the read model was left as it was")
        }
        return report
    }
}
