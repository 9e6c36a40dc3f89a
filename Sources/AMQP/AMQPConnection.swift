public import Foundation
public import Logging
import Synchronization

/// What happened to a connection, in order. Read ``AMQPConnection/events`` from one task.
public enum AMQPConnectionEvent: Sendable {
    /// The connection is lost; in-flight publishes and RPCs failed with `error`.
    case disconnected(AMQPError)
    /// A reconnect attempt starts after `delay`.
    case reconnecting(attempt: Int, delay: Duration)
    /// Connected again; recorded topology was declared again and consumers resubscribed.
    case reconnected
    /// The broker blocked (resource alarm) or unblocked publishing on this connection.
    case blocked(reason: String)
    case unblocked
    /// Closed by ``AMQPConnection/close()`` or because reconnecting gave up.
    case closed
}

/// The kind of an exchange.
public struct AMQPExchangeType: Hashable, Sendable, ExpressibleByStringLiteral {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public static let direct = AMQPExchangeType("direct")
    public static let topic = AMQPExchangeType("topic")
    public static let fanout = AMQPExchangeType("fanout")
    public static let headers = AMQPExchangeType("headers")
}

/// A queue to declare.
public struct AMQPQueueSpec: Hashable, Sendable {
    public var name: String
    public var durable: Bool
    public var exclusive: Bool
    public var autoDelete: Bool
    /// `x-queue-type`, `x-dead-letter-exchange`, `x-delivery-limit`, `x-message-ttl`, ...
    public var arguments: AMQPTable

    public init(name: String, durable: Bool = true, exclusive: Bool = false, autoDelete: Bool = false, arguments: AMQPTable = [:])
    {
        self.name = name
        self.durable = durable
        self.exclusive = exclusive
        self.autoDelete = autoDelete
        self.arguments = arguments
    }

    /// A durable quorum queue (replicated, poison-message handling with `x-delivery-limit`).
    public static func quorum(_ name: String, arguments: AMQPTable = [:]) -> AMQPQueueSpec {
        AMQPQueueSpec(name: name, arguments: arguments.merging(["x-queue-type": "quorum"]) { _, new in new })
    }

    /// A durable classic queue.
    ///
    /// - Note: No `x-queue-version` is set. On RabbitMQ 3.10.8, a durable classic queue with
    ///   `x-queue-version: 2` lost hundreds of *confirmed* persistent messages when the node was
    ///   killed with SIGKILL and restarted (reproduced by the broker restart test); version 1
    ///   lost none. Set version 2 explicitly in `arguments` only where that risk is acceptable.
    public static func classic(_ name: String, arguments: AMQPTable = [:]) -> AMQPQueueSpec {
        AMQPQueueSpec(name: name, arguments: arguments.merging(["x-queue-type": "classic"]) { _, new in new })
    }
}

/// What the broker reports for a declared queue.
public struct AMQPQueueState: Hashable, Sendable {
    public let name: String
    /// Messages ready for delivery (not counting unacknowledged ones).
    public let messageCount: UInt32
    public let consumerCount: UInt32

    /// A queue's state as a broker (or a stand-in for one) reports it.
    public init(name: String, messageCount: UInt32, consumerCount: UInt32) {
        self.name = name
        self.messageCount = messageCount
        self.consumerCount = consumerCount
    }
}

/// A connection to RabbitMQ over librabbitmq, with an async API.
///
/// Every librabbitmq call runs on a thread this connection owns; the API can be used from any
/// task. Within one connection the layer uses one channel for declarations and other
/// synchronous methods, one for publishing (in confirm mode), and one per consumer, so a
/// channel error in one does not disturb the others.
///
/// ```swift
/// let connection = try await AMQPConnection.connect(AMQPConfiguration(url: "amqp://localhost"))
/// _ = try await connection.declareQueue(.quorum("intake"))
/// try await connection.publish(Data("hi".utf8), routingKey: "intake",
///                              properties: AMQPProperties(deliveryMode: .persistent))
/// for try await delivery in try await connection.consume(queue: "intake", prefetch: 10) {
///     try await delivery.ack()
/// }
/// ```
///
/// - Important: Keep the connection referenced while you use it: dropping the last reference
///   closes it, which ends its consumers.
public final class AMQPConnection: Sendable {
    let engine: ConnectionEngine

    private init(engine: ConnectionEngine) { self.engine = engine }

    deinit { engine.requestClose() }

    /// Connects, logs in and starts the connection's thread.
    ///
    /// The first connection attempt is not retried: it throws ``AMQPError/Code/connectionFailed``
    /// at once, so a misconfiguration is loud. Later losses follow
    /// ``AMQPConfiguration/reconnect``.
    public static func connect(_ configuration: AMQPConfiguration, logger: Logger = Logger(label: "amqp")) async throws
        -> AMQPConnection
    {
        var logger = logger
        logger[metadataKey: "amqp.broker"] = "\(configuration.host):\(configuration.port)"
        let engine = ConnectionEngine(configuration: configuration, logger: logger)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            engine.start { result in continuation.resume(with: result) }
        }
        return AMQPConnection(engine: engine)
    }

    /// Connection events (losses, reconnects, blocking). Iterate from one task.
    public var events: AsyncStream<AMQPConnectionEvent> { engine.events }

    /// Whether the connection is up right now.
    public var isConnected: Bool { engine.connected.load(ordering: .acquiring) }

    /// The user the connection logs in as: the only `user_id` the broker accepts on a message
    /// this connection publishes.
    public var username: String { engine.configuration.username }

    /// The largest frame, in bytes, agreed with the broker at the latest login (the proposed
    /// ``AMQPConfiguration/frameMax`` until then): a message's properties and headers must fit
    /// one frame.
    public var frameSize: Int { engine.frameSize.load(ordering: .acquiring) }

    /// The broker's version, from its `connection.start` properties.
    public var serverVersion: String? { engine.serverVersion }

    /// Closes the connection: consumers end, unacknowledged deliveries go back to their queues,
    /// unconfirmed publishes fail with ``AMQPError/Code/connectionClosed``.
    public func close() async {
        _ = try? await engine.perform { driver in driver.closeRequestedByUser() }
    }

    // MARK: Topology

    /// Declares an exchange (idempotent when the properties match).
    public func declareExchange(
        _ name: String, type: AMQPExchangeType = .topic, durable: Bool = true, autoDelete: Bool = false,
        isInternal: Bool = false, arguments: AMQPTable = [:]
    ) async throws {
        let step = TopologyStep.exchange(
            name: name, type: type.rawValue, durable: durable, autoDelete: autoDelete, internal: isInternal, arguments: arguments)
        try await engine.perform { driver in try driver.declare(step, record: true) }
    }

    /// Checks that an exchange exists (passive declare); throws a 404 channel error if not.
    public func checkExchange(_ name: String) async throws {
        try await engine.perform { driver in try driver.checkExchange(name) }
    }

    /// Deletes an exchange.
    public func deleteExchange(_ name: String, ifUnused: Bool = false) async throws {
        try await engine.perform { driver in try driver.deleteExchange(name, ifUnused: ifUnused) }
    }

    /// Declares a queue (idempotent when the arguments match; a mismatch is a 406 channel
    /// error naming the argument). An empty name asks the broker to name it.
    ///
    /// A new quorum queue whose Raft group elects no leader in time (a busy node) is refused
    /// with `541 ... cluster_not_formed`, and the broker closes the connection; it has removed
    /// the queue again, so the declaration is tried again, once the connection is back, for
    /// about a minute (``AMQPError/isQuorumClusterNotFormed``).
    @discardableResult
    public func declareQueue(_ spec: AMQPQueueSpec) async throws -> AMQPQueueState {
        try await Self.retryingWhileQuorumForms(logger: engine.logger) {
            try await self.engine.perform { driver in try driver.declareQueue(spec, record: true) }
        }
    }

    /// The waits between declarations refused with `cluster_not_formed`: about a minute in all.
    static let quorumFormationDelays: [Duration] = [0.5, 1, 2, 4, 8, 15, 15, 15].map { .seconds($0) }

    /// Runs `operation`; after a ``AMQPError/isQuorumClusterNotFormed`` refusal, runs it again
    /// after each of `delays`, and meanwhile also after the errors of a connection that is
    /// coming back (``AMQPError/isConnectionFatal``, not a closed one). Any other error, and the
    /// last try's, is thrown. Each try may take up to the connection's RPC timeout.
    static func retryingWhileQuorumForms<T>(
        delays: [Duration] = quorumFormationDelays, logger: Logger,
        sleep: (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
        _ operation: () async throws -> T
    ) async throws -> T {
        var refused = false
        for delay in delays {
            do {
                return try await operation()
            } catch let error as AMQPError where error.isQuorumClusterNotFormed {
                refused = true
                logger.warning(
                    "a quorum queue's group did not form in time; declaring it again",
                    metadata: ["retry_in": "\(delay)", "error": "\(error)"])
            } catch let error as AMQPError where refused && error.isConnectionFatal && error.code != .connectionClosed {
                // The refusal closed the connection; it is coming back.
                logger.notice(
                    "declaring the quorum queue again once connected", metadata: ["retry_in": "\(delay)", "error": "\(error)"])
            }
            try await sleep(delay)
        }
        // The last try's error as it is: the refusal again, or what stopped the reconnect.
        return try await operation()
    }

    /// The ready-message and consumer counts of an existing queue (passive declare); a missing
    /// queue is a 404 channel error.
    public func queueState(_ name: String) async throws -> AMQPQueueState {
        try await engine.perform { driver in try driver.passiveDeclareQueue(name) }
    }

    /// Binds a queue to an exchange.
    public func bindQueue(_ queue: String, exchange: String, routingKey: String, arguments: AMQPTable = [:]) async throws {
        let step = TopologyStep.binding(queue: queue, exchange: exchange, routingKey: routingKey, arguments: arguments)
        try await engine.perform { driver in try driver.declare(step, record: true) }
    }

    /// Removes a binding.
    public func unbindQueue(_ queue: String, exchange: String, routingKey: String, arguments: AMQPTable = [:]) async throws {
        try await engine.perform { driver in
            try driver.unbindQueue(queue, exchange: exchange, routingKey: routingKey, arguments: arguments)
        }
    }

    /// Removes every ready message from a queue; returns how many.
    @discardableResult
    public func purgeQueue(_ name: String) async throws -> UInt32 {
        try await engine.perform { driver in try driver.purgeQueue(name) }
    }

    /// Deletes a queue; returns how many messages it held.
    @discardableResult
    public func deleteQueue(_ name: String, ifUnused: Bool = false, ifEmpty: Bool = false) async throws -> UInt32 {
        try await engine.perform { driver in try driver.deleteQueue(name, ifUnused: ifUnused, ifEmpty: ifEmpty) }
    }

    // MARK: Publishing

    /// Publishes a message and waits until the broker confirms it.
    ///
    /// Many publishes may be in flight at once (call it from several tasks, or use
    /// ``publish(_:exchange:routingKey:properties:mandatory:onConfirm:)``): each is confirmed or
    /// failed individually.
    /// - Throws: ``AMQPError/Code/publishNacked``; ``AMQPError/Code/publishReturned`` for an
    ///   unroutable `mandatory` message; a channel or connection error (the message may or may
    ///   not have been routed: publish again, consumers deduplicate by message id).
    public func publish(
        _ body: Data, exchange: String = "", routingKey: String, properties: AMQPProperties = AMQPProperties(),
        mandatory: Bool = false
    ) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            publish(body, exchange: exchange, routingKey: routingKey, properties: properties, mandatory: mandatory) {
                continuation.resume(with: $0.mapError { $0 as any Error })
            }
        }
    }

    /// Publishes a message without waiting; `onConfirm` runs once, when the broker confirms it
    /// or the publish fails.
    ///
    /// - Important: `onConfirm` runs on the connection's thread: keep it short and never block
    ///   in it (resume a continuation, enqueue work).
    public func publish(
        _ body: Data, exchange: String = "", routingKey: String, properties: AMQPProperties = AMQPProperties(),
        mandatory: Bool = false, onConfirm: @escaping @Sendable (Result<Void, AMQPError>) -> Void
    ) {
        let request = PublishRequest(
            body: body, exchange: exchange, routingKey: routingKey, properties: properties, mandatory: mandatory,
            completion: onConfirm)
        engine.submit { driver in
            guard let driver else {
                onConfirm(.failure(AMQPError(.connectionClosed, "the connection is closed")))
                return
            }
            driver.publish(request)
        }
    }

    // MARK: Consuming

    /// Starts a consumer with manual acknowledgements on a channel of its own.
    /// - Parameters:
    ///   - queue: the queue to consume.
    ///   - prefetch: the most unacknowledged deliveries the broker sends (`basic.qos`).
    ///   - exclusive: ask to be the queue's only consumer.
    ///   - arguments: consumer arguments (e.g. `x-priority`).
    public func consume(queue: String, prefetch: UInt16 = 50, exclusive: Bool = false, arguments: AMQPTable = [:]) async throws
        -> AMQPConsumer
    {
        try await startConsumer(queue: queue, prefetch: prefetch, exclusive: exclusive, arguments: arguments, handler: nil)
    }

    /// Starts a consumer whose deliveries go to `onDelivery` instead of the sequence.
    ///
    /// `onDelivery` runs on the connection's thread, in delivery order, with no task hop: the
    /// fastest way to consume. The returned consumer's sequence yields nothing; it ends (or
    /// throws) when the consumer does, so `for try await _ in consumer {}` waits for the end.
    ///
    /// - Important: `onDelivery` must not block. Publishing and acknowledging from it with the
    ///   callback APIs (``publish(_:exchange:routingKey:properties:mandatory:onConfirm:)``,
    ///   ``AMQPDelivery/ack(multiple:onFailure:)``) is fine; for real work, hand the delivery to
    ///   a task.
    public func consume(
        queue: String, prefetch: UInt16 = 50, exclusive: Bool = false, arguments: AMQPTable = [:],
        onDelivery: @escaping @Sendable (AMQPDelivery) -> Void
    ) async throws -> AMQPConsumer {
        try await startConsumer(queue: queue, prefetch: prefetch, exclusive: exclusive, arguments: arguments, handler: onDelivery)
    }

    private func startConsumer(
        queue: String, prefetch: UInt16, exclusive: Bool, arguments: AMQPTable, handler: (@Sendable (AMQPDelivery) -> Void)?
    ) async throws -> AMQPConsumer {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: AMQPDelivery.self, throwing: (any Error).self)
        let request = ConsumeRequest(
            queue: queue, tag: "ctag-\(UUID().uuidString.lowercased())", prefetch: prefetch, exclusive: exclusive,
            arguments: arguments, continuation: continuation, handler: handler)
        let engine = engine
        continuation.onTermination = { termination in
            if case .cancelled = termination {
                engine.submit { driver in try? driver?.cancelConsumer(tag: request.tag) }
            }
        }
        try await engine.perform { driver in try driver.startConsumer(request) }
        return AMQPConsumer(queue: queue, tag: request.tag, stream: stream, engine: engine)
    }

    /// Fetches one message (`basic.get`, manual acknowledgement), or `nil` when the queue is
    /// empty. For admin tools; consumers are far more efficient.
    public func get(queue: String) async throws -> AMQPDelivery? {
        try await engine.perform { driver in try driver.get(queue: queue) }
    }
}
