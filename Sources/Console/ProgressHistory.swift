// Where a rebuild of the read model starts from: a RabbitMQ stream bound to the same events as
// the console's queue. The worker consumes the quorum queue (acknowledged, deleted); the
// stream keeps every event for `retention`, so the read model can be thrown away and rebuilt
// without reading anything of another worker.
public import AMQP
public import Contracts
import Foundation
public import Jobs
import Logging

/// The console's event history (a stream queue) and the rebuild that replays it.
public struct ProgressHistory: Sendable {
    public let queue: String
    public let exchange: String
    /// How long the stream keeps events (RabbitMQ `x-max-age`).
    public let retention: String

    public init(prefix: String = "", retention: String = WorkerRole.consoleHistoryRetention) {
        queue = prefix + WorkerRole.consoleHistoryStream
        exchange = RoleTopology(role: .console, prefix: prefix).exchange
        self.retention = retention
    }

    /// Declares the stream and binds it to the console's events (idempotent).
    public func declare(on connection: AMQPConnection) async throws {
        _ = try await connection.declareQueue(
            AMQPQueueSpec(name: queue, arguments: ["x-queue-type": "stream", "x-max-age": .string(retention)]))
        for type in WorkerRole.console.consumes {
            try await connection.bindQueue(queue, exchange: exchange, routingKey: type)
        }
    }

    /// What a rebuild did.
    public struct RebuildReport: Sendable, Equatable {
        public var applied = 0
        /// Stream entries that are not a contract the console knows (skipped, counted).
        public var skipped = 0
    }

    static let markerHeader = "x-kaltim-rebuild-marker"

    /// Empties the read model and applies every event of the stream again, from its first
    /// entry up to a marker published when the rebuild starts (so it ends, and takes nothing
    /// that arrived after). An empty stream changes nothing and is an error. Safe while the console's worker runs: every write of the
    /// projection is idempotent and order-free; the counts are low only while it runs.
    public func rebuild(
        into store: any MessageStore, handler: ProgressHandler, connection: AMQPConnection,
        registry: ContractRegistry = .pipeline, batchSize: Int = 200
    ) async throws -> RebuildReport {
        try await store.migrate(handler.migrations)
        let marker = "rebuild-" + UUID().uuidString
        try await connection.publish(
            Data(), exchange: "", routingKey: queue,
            properties: AMQPProperties(headers: [Self.markerHeader: .bool(true)], deliveryMode: .persistent, messageID: marker),
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
                    for table in ["console_registrations", "console_participants", "console_revocations"] {
                        try transaction.execute("DELETE FROM \(table)")
                    }
                }
                for event in events { _ = try handler.handle(event, in: transaction) }
            }
            emptied = true
        }
        for try await delivery in consumer {
            try await delivery.ack()
            if delivery.properties.headers?[Self.markerHeader] != nil {
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
            pending.append(event)
            report.applied += 1
            if pending.count >= batchSize { try await flush() }
        }
        try await flush()
        try? await consumer.cancel()
        guard reachedMarker else {
            throw ConsoleError("the history stream ended before the rebuild's marker (\(report.applied) events applied)")
        }
        guard emptied else {
            throw ConsoleError("the history stream \(queue) holds no event: the read model was left as it was")
        }
        return report
    }
}
