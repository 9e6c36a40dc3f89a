public import Foundation

/// A message delivered to a consumer (or fetched with ``AMQPConnection/get(queue:)``).
///
/// Acknowledge it exactly once with ``ack(multiple:)``, ``nack(requeue:multiple:)`` or
/// ``reject(requeue:)``. The acknowledgement goes out on the channel that received the
/// delivery; if that channel or its connection is gone, the call throws
/// ``AMQPError/Code/staleDelivery`` and sends nothing (the broker redelivers the message).
public struct AMQPDelivery: Sendable {
    /// The fields, behind one reference: a delivery is copied from the connection's thread into
    /// batches and tasks, and one retain per copy is cheaper than a dozen (it showed in a
    /// worker's profile).
    private final class Storage: Sendable {
        let body: Data
        let properties: AMQPProperties
        let exchange: String
        let routingKey: String
        let redelivered: Bool
        let deliveryTag: UInt64
        let consumerTag: String?
        let origin: Origin

        init(
            body: Data, properties: AMQPProperties, exchange: String, routingKey: String, redelivered: Bool,
            deliveryTag: UInt64, consumerTag: String?, origin: Origin
        ) {
            self.body = body
            self.properties = properties
            self.exchange = exchange
            self.routingKey = routingKey
            self.redelivered = redelivered
            self.deliveryTag = deliveryTag
            self.consumerTag = consumerTag
            self.origin = origin
        }
    }

    /// Where acknowledgements go: the channel the delivery came on, or a handler.
    private enum Origin: Sendable {
        case channel(DeliveryOrigin)
        case detached(@Sendable (Settlement) -> Void)
    }

    /// How a delivery was settled, for a detached delivery's handler.
    public enum Settlement: Sendable, Equatable {
        case ack
        case nack(requeue: Bool)
        case reject(requeue: Bool)
    }

    private let storage: Storage

    /// The message body, byte for byte.
    public var body: Data { storage.body }
    public var properties: AMQPProperties { storage.properties }
    /// The exchange the message was published to (`""` for the default exchange).
    public var exchange: String { storage.exchange }
    public var routingKey: String { storage.routingKey }
    /// Whether the broker delivered this message before (to this or another consumer).
    public var redelivered: Bool { storage.redelivered }
    /// The channel-scoped delivery tag.
    public var deliveryTag: UInt64 { storage.deliveryTag }
    /// The consumer tag, for consumed messages; `nil` for `basic.get`.
    public var consumerTag: String? { storage.consumerTag }

    init(
        body: Data, properties: AMQPProperties, exchange: String, routingKey: String, redelivered: Bool, deliveryTag: UInt64,
        consumerTag: String?, origin: DeliveryOrigin
    ) {
        storage = Storage(
            body: body, properties: properties, exchange: exchange, routingKey: routingKey, redelivered: redelivered,
            deliveryTag: deliveryTag, consumerTag: consumerTag, origin: .channel(origin))
    }

    /// A delivery that did not come from a broker: its acknowledgement goes to `settle`, once
    /// per call (an in-memory transport's deliveries; tests). `multiple` means nothing for it.
    public init(
        body: Data, properties: AMQPProperties, exchange: String, routingKey: String, redelivered: Bool, deliveryTag: UInt64,
        settle: @escaping @Sendable (Settlement) -> Void
    ) {
        storage = Storage(
            body: body, properties: properties, exchange: exchange, routingKey: routingKey, redelivered: redelivered,
            deliveryTag: deliveryTag, consumerTag: nil, origin: .detached(settle))
    }

    /// Sends `settlement` to the delivery's channel, or hands it to a detached delivery's handler.
    private func settle(_ settlement: DeliveryOrigin.Settlement, as detached: Settlement) async throws {
        switch storage.origin {
        case .channel(let origin): try await origin.settle(settlement, tag: deliveryTag)
        case .detached(let handler): handler(detached)
        }
    }

    /// Acknowledges the delivery (and, with `multiple`, every earlier one on its channel).
    public func ack(multiple: Bool = false) async throws {
        try await settle(.ack(multiple: multiple), as: .ack)
    }

    /// Acknowledges without waiting, for callbacks such as a publish confirmation: the ack is
    /// queued for the connection's thread, which coalesces it with others. `onFailure` runs
    /// (on that thread) if the ack cannot be sent, e.g. ``AMQPError/Code/staleDelivery``.
    public func ack(multiple: Bool = false, onFailure: (@Sendable (AMQPError) -> Void)?) {
        switch storage.origin {
        case .channel(let origin):
            Self.submitAcks([(deliveryTag, origin)], multiple: multiple, to: origin.engine, onFailure: onFailure)
        case .detached(let handler): handler(.ack)
        }
    }

    /// Acknowledges many deliveries without waiting: as ``ack(multiple:onFailure:)`` for each
    /// (`multiple: false`), but handed to each connection's thread as one command rather than
    /// one per delivery. `onFailure` runs once per delivery that cannot be acknowledged.
    public static func ack(_ deliveries: [AMQPDelivery], onFailure: (@Sendable (AMQPError) -> Void)?) {
        var groups: [(engine: ConnectionEngine, settlements: [(tag: UInt64, origin: DeliveryOrigin)])] = []
        for delivery in deliveries {
            guard case .channel(let origin) = delivery.storage.origin else {
                delivery.ack(onFailure: onFailure)
                continue
            }
            if let index = groups.firstIndex(where: { $0.engine === origin.engine }) {
                groups[index].settlements.append((delivery.deliveryTag, origin))
            } else {
                groups.append((origin.engine, [(delivery.deliveryTag, origin)]))
            }
        }
        for (engine, settlements) in groups {
            submitAcks(settlements, multiple: false, to: engine, onFailure: onFailure)
        }
    }

    /// Hands acks to a connection's thread as one command.
    private static func submitAcks(
        _ settlements: [(tag: UInt64, origin: DeliveryOrigin)], multiple: Bool, to engine: ConnectionEngine,
        onFailure: (@Sendable (AMQPError) -> Void)?
    ) {
        engine.submit { driver in
            for (tag, origin) in settlements {
                guard let driver else {
                    onFailure?(AMQPError(.connectionClosed, "the connection is closed"))
                    continue
                }
                do throws(AMQPError) {
                    try driver.settle(.ack(multiple: multiple), tag: tag, origin: origin)
                } catch {
                    onFailure?(error)
                }
            }
        }
    }

    /// Negatively acknowledges: requeue it, or dead-letter/drop it per the queue's policy.
    public func nack(requeue: Bool, multiple: Bool = false) async throws {
        try await settle(.nack(requeue: requeue, multiple: multiple), as: .nack(requeue: requeue))
    }

    /// Rejects this one delivery: requeue it, or dead-letter/drop it per the queue's policy.
    public func reject(requeue: Bool) async throws {
        try await settle(.reject(requeue: requeue), as: .reject(requeue: requeue))
    }
}

/// Where a delivery came from: the connection and the incarnation of its channel.
struct DeliveryOrigin: Sendable {
    let engine: ConnectionEngine
    let channel: UInt16
    /// Unique per opened channel over the connection's whole life (reconnects included).
    let channelEpoch: UInt64

    enum Settlement: Sendable {
        case ack(multiple: Bool)
        case nack(requeue: Bool, multiple: Bool)
        case reject(requeue: Bool)
    }

    func settle(_ settlement: Settlement, tag: UInt64) async throws {
        let origin = self
        try await engine.perform { driver in
            try driver.settle(settlement, tag: tag, origin: origin)
        }
    }
}

/// The deliveries of one consumer, in the order the broker sent them.
///
/// Iterate it from one task. The sequence ends when the consumer is cancelled or the
/// connection closes, and throws when the broker cancels the consumer or the connection is
/// lost with no reconnect policy. With a reconnect policy the consumer survives connection
/// loss: it is subscribed again on the new connection (unacknowledged messages come back
/// with `redelivered` set).
public final class AMQPConsumer: AsyncSequence, Sendable {
    public typealias Element = AMQPDelivery
    public typealias AsyncIterator = AsyncThrowingStream<AMQPDelivery, any Error>.AsyncIterator

    /// The queue consumed.
    public let queue: String
    /// The consumer tag (stable across reconnects).
    public let tag: String
    private let stream: AsyncThrowingStream<AMQPDelivery, any Error>
    private let engine: ConnectionEngine

    init(queue: String, tag: String, stream: AsyncThrowingStream<AMQPDelivery, any Error>, engine: ConnectionEngine) {
        self.queue = queue
        self.tag = tag
        self.stream = stream
        self.engine = engine
    }

    public func makeAsyncIterator() -> AsyncIterator { stream.makeAsyncIterator() }

    /// Stops new deliveries (`basic.cancel`) and ends the sequence. Deliveries already
    /// received can still be acknowledged; ones the broker sent before it saw the cancel are
    /// requeued.
    public func cancel() async throws {
        let tag = tag
        try await engine.perform { driver in try driver.cancelConsumer(tag: tag) }
    }
}
