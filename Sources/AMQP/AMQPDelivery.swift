public import Foundation

/// A message delivered to a consumer (or fetched with ``AMQPConnection/get(queue:)``).
///
/// Acknowledge it exactly once with ``ack(multiple:)``, ``nack(requeue:multiple:)`` or
/// ``reject(requeue:)``. The acknowledgement goes out on the channel that received the
/// delivery; if that channel or its connection is gone, the call throws
/// ``AMQPError/Code/staleDelivery`` and sends nothing (the broker redelivers the message).
public struct AMQPDelivery: Sendable {
    /// The message body, byte for byte.
    public let body: Data
    public let properties: AMQPProperties
    /// The exchange the message was published to (`""` for the default exchange).
    public let exchange: String
    public let routingKey: String
    /// Whether the broker delivered this message before (to this or another consumer).
    public let redelivered: Bool
    /// The channel-scoped delivery tag.
    public let deliveryTag: UInt64
    /// The consumer tag, for consumed messages; `nil` for `basic.get`.
    public let consumerTag: String?
    let origin: DeliveryOrigin

    /// Acknowledges the delivery (and, with `multiple`, every earlier one on its channel).
    public func ack(multiple: Bool = false) async throws {
        try await origin.settle(.ack(multiple: multiple), tag: deliveryTag)
    }

    /// Acknowledges without waiting, for callbacks such as a publish confirmation: the ack is
    /// queued for the connection's thread, which coalesces it with others. `onFailure` runs
    /// (on that thread) if the ack cannot be sent, e.g. ``AMQPError/Code/staleDelivery``.
    public func ack(multiple: Bool = false, onFailure: (@Sendable (AMQPError) -> Void)?) {
        let origin = origin
        let tag = deliveryTag
        origin.engine.submit { driver in
            guard let driver else {
                onFailure?(AMQPError(.connectionClosed, "the connection is closed"))
                return
            }
            do throws(AMQPError) {
                try driver.settle(.ack(multiple: multiple), tag: tag, origin: origin)
            } catch {
                onFailure?(error)
            }
        }
    }

    /// Negatively acknowledges: requeue it, or dead-letter/drop it per the queue's policy.
    public func nack(requeue: Bool, multiple: Bool = false) async throws {
        try await origin.settle(.nack(requeue: requeue, multiple: multiple), tag: deliveryTag)
    }

    /// Rejects this one delivery: requeue it, or dead-letter/drop it per the queue's policy.
    public func reject(requeue: Bool) async throws {
        try await origin.settle(.reject(requeue: requeue), tag: deliveryTag)
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
