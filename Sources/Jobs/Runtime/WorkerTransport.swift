public import AMQP
public import Foundation

/// What a ``Worker`` needs of the broker: declare its topology, consume its queue, publish with
/// confirms, and read a queue's depth. `AMQPConnection` is the real one; ``InMemoryTransport``
/// stands in for a broker in unit tests of the runtime (the broker tests stay, for what only a
/// broker shows: reconnects, quorum queues, TTLs, permissions).
public protocol WorkerTransport: Sendable {
    /// The broker user, set as each published event's `user_id` (consumers check it).
    var username: String { get }
    /// Whether the transport can carry messages now (for the readiness probe).
    var isConnected: Bool { get }
    /// The largest frame the broker takes from this transport: a message's properties must fit one.
    var frameSize: Int { get }
    /// Declares the role's exchanges, queues and bindings, idempotently.
    func declare(_ topology: RoleTopology) async throws
    /// A queue's depth; throws when the queue does not exist.
    func queueState(_ name: String) async throws -> AMQPQueueState
    /// Starts a consumer with manual acknowledgements; `onDelivery` must not block.
    func subscribe(queue: String, prefetch: UInt16, onDelivery: @escaping @Sendable (AMQPDelivery) -> Void) async throws
        -> any TransportConsumer
    /// Publishes with confirms; one result per message, in order (a `mandatory` message no queue
    /// takes fails with ``AMQP/AMQPError/Code/publishReturned``).
    func publish(_ messages: [AMQPOutgoingMessage], window: Int) async -> [Result<Void, AMQPError>]
    /// Publishes one message and waits for its confirmation.
    func publish(_ body: Data, exchange: String, routingKey: String, properties: AMQPProperties, mandatory: Bool)
        async throws
}

extension WorkerTransport {
    /// RabbitMQ's default frame size (128 KiB), for a transport that does not negotiate one.
    public var frameSize: Int { 131_072 }
}

/// A running consumer of a ``WorkerTransport``.
public protocol TransportConsumer: Sendable {
    /// Returns when the consumer is cancelled; throws when it ends otherwise (the broker
    /// cancelled it, the connection was lost for good).
    func waitUntilEnded() async throws
    /// Stops the deliveries; those not acknowledged go back to the queue.
    func cancel() async throws
}

extension AMQPConnection: WorkerTransport {
    public func declare(_ topology: RoleTopology) async throws { try await topology.declare(on: self) }

    public func subscribe(queue: String, prefetch: UInt16, onDelivery: @escaping @Sendable (AMQPDelivery) -> Void)
        async throws -> any TransportConsumer
    {
        try await consume(queue: queue, prefetch: prefetch, exclusive: false, arguments: [:], onDelivery: onDelivery)
    }
}

extension AMQPConsumer: TransportConsumer {
    public func waitUntilEnded() async throws {
        for try await _ in self {}
    }
}
