public import AMQP
import ContractKit
public import Foundation
import Synchronization

/// A broker in memory, for unit tests of a ``Worker`` without RabbitMQ: topic exchanges with
/// exact-key bindings, queues in order, consumers with a prefetch, acknowledgements, requeues
/// with the `redelivered` flag, publisher confirms and returns of unroutable `mandatory`
/// messages. Several transports (each with its broker user) may share one ``Broker``.
///
/// What it leaves out, because only a broker shows it: message TTLs (a retry tier keeps its
/// messages until ``Broker/expire(_:into:)`` moves them on), delivery limits, quorum queues,
/// connection loss and permissions.
public struct InMemoryTransport: WorkerTransport {
    /// The shared state of the transports that talk to each other.
    public final class Broker: Sendable {
        struct Message {
            var body: Data
            var exchange: String
            var routingKey: String
            var properties: AMQPProperties
            var redelivered: Bool
        }
        struct Subscription {
            let id: UInt64
            let prefetch: Int
            let onDelivery: @Sendable (AMQPDelivery) -> Void
            var unacknowledged: [UInt64: Message] = [:]
        }
        struct State {
            var queues: [String: [Message]] = [:]
            /// Exchange → routing key → queues.
            var bindings: [String: [String: Set<String>]] = [:]
            var subscriptions: [String: Subscription] = [:]
            var nextTag: UInt64 = 1
        }
        let state = Mutex(State())

        public init() {}

        /// Creates a queue (idempotent).
        public func declareQueue(_ name: String) {
            state.withLock { state in
                if state.queues[name] == nil { state.queues[name] = [] }
            }
        }

        /// Binds `queue` to `exchange` for `routingKey` (idempotent).
        public func bind(_ queue: String, exchange: String, routingKey: String) {
            state.withLock { state in
                _ = state.bindings[exchange, default: [:]][routingKey, default: []].insert(queue)
            }
        }

        /// The messages waiting in `queue` (not delivered, or requeued), oldest first.
        public func messages(in queue: String) -> [(body: Data, properties: AMQPProperties)] {
            state.withLock { ($0.queues[queue] ?? []).map { ($0.body, $0.properties) } }
        }

        /// Deliveries of `queue` that a consumer has not acknowledged yet.
        public func unacknowledged(in queue: String) -> Int {
            state.withLock { $0.subscriptions[queue]?.unacknowledged.count ?? 0 }
        }

        /// What the broker does when a retry tier's TTL expires: every message waiting in `queue`
        /// is dead-lettered through the default exchange into `target` (the role queue).
        public func expire(_ queue: String, into target: String) {
            let waiting = state.withLock { state -> [Message] in
                let waiting = state.queues[queue] ?? []
                state.queues[queue] = []
                return waiting
            }
            for message in waiting {
                _ = route(
                    Message(
                        body: message.body, exchange: "", routingKey: target, properties: message.properties,
                        redelivered: false), mandatory: false)
            }
        }

        /// Puts a message in the queues bound to its key; `false` when none took it.
        func route(_ message: Message, mandatory: Bool) -> Bool {
            let routed = state.withLock { state -> Bool in
                let targets: Set<String> =
                    message.exchange.isEmpty
                    ? (state.queues[message.routingKey] != nil ? [message.routingKey] : [])
                    : state.bindings[message.exchange]?[message.routingKey] ?? []
                for queue in targets { state.queues[queue, default: []].append(message) }
                return !targets.isEmpty
            }
            dispatch()
            return routed
        }

        /// Hands waiting messages to the consumers, as far as their prefetch allows (outside the
        /// lock: a consumer's callback may publish).
        func dispatch() {
            while true {
                let next = state.withLock { state -> (AMQPDelivery, @Sendable (AMQPDelivery) -> Void)? in
                    for (queue, subscription) in state.subscriptions
                    where subscription.unacknowledged.count < subscription.prefetch && !(state.queues[queue] ?? []).isEmpty {
                        let message = state.queues[queue]!.removeFirst()
                        let tag = state.nextTag
                        state.nextTag += 1
                        state.subscriptions[queue]!.unacknowledged[tag] = message
                        let id = subscription.id
                        let delivery = AMQPDelivery(
                            body: message.body, properties: message.properties, exchange: message.exchange,
                            routingKey: message.routingKey, redelivered: message.redelivered, deliveryTag: tag
                        ) { [weak self] settlement in self?.settle(tag, of: queue, subscription: id, settlement) }
                        return (delivery, subscription.onDelivery)
                    }
                    return nil
                }
                guard let (delivery, onDelivery) = next else { return }
                onDelivery(delivery)
            }
        }

        func settle(_ tag: UInt64, of queue: String, subscription: UInt64, _ settlement: AMQPDelivery.Settlement) {
            state.withLock { state in
                guard state.subscriptions[queue]?.id == subscription,
                    var message = state.subscriptions[queue]?.unacknowledged.removeValue(forKey: tag)
                else { return }  // settled before, or its consumer is gone (then it was requeued)
                switch settlement {
                case .ack, .nack(requeue: false), .reject(requeue: false): break
                case .nack(requeue: true), .reject(requeue: true):
                    message.redelivered = true
                    state.queues[queue, default: []].insert(message, at: 0)
                }
            }
            dispatch()
        }

        func subscribe(queue: String, prefetch: Int, onDelivery: @escaping @Sendable (AMQPDelivery) -> Void) throws -> UInt64 {
            let id = try state.withLock { state -> UInt64 in
                guard state.queues[queue] != nil else {
                    throw AMQPError(.channelClosed, "NOT_FOUND - no queue '\(queue)'", replyCode: 404)
                }
                guard state.subscriptions[queue] == nil else {
                    throw AMQPError(.channelClosed, "the in-memory broker takes one consumer per queue")
                }
                let id = state.nextTag
                state.nextTag += 1
                state.subscriptions[queue] = Subscription(id: id, prefetch: max(1, prefetch), onDelivery: onDelivery)
                return id
            }
            dispatch()
            return id
        }

        /// Ends a consumer: its unacknowledged deliveries go back to the queue's head, redelivered.
        func cancel(queue: String, subscription: UInt64) {
            state.withLock { state in
                guard let ended = state.subscriptions[queue], ended.id == subscription else { return }
                state.subscriptions[queue] = nil
                let returned = ended.unacknowledged.sorted { $0.key < $1.key }.map { entry in
                    var message = entry.value
                    message.redelivered = true
                    return message
                }
                state.queues[queue, default: []].insert(contentsOf: returned, at: 0)
            }
        }
    }

    /// A consumer of the in-memory broker.
    final class Consumer: TransportConsumer {
        let broker: Broker
        let queue: String
        let id: UInt64
        let ended = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

        init(broker: Broker, queue: String, id: UInt64) {
            self.broker = broker
            self.queue = queue
            self.id = id
        }

        func waitUntilEnded() async throws {
            await withCheckedContinuation { continuation in
                let done = ended.withLock { state -> Bool in
                    if !state.done { state.waiters.append(continuation) }
                    return state.done
                }
                if done { continuation.resume() }
            }
        }

        func cancel() async throws {
            broker.cancel(queue: queue, subscription: id)
            let waiters = ended.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.done = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    /// The broker this transport talks to.
    public let broker: Broker
    public let username: String
    public var isConnected: Bool { true }

    /// A transport to `broker` as the broker user `username`.
    public init(broker: Broker, username: String) {
        self.broker = broker
        self.username = username
    }

    public func declare(_ topology: RoleTopology) async throws {
        for spec in topology.queueSpecs { broker.declareQueue(spec.name) }
        for name in topology.failureQueues { broker.bind(name, exchange: topology.failureExchange, routingKey: name) }
        for type in topology.role.consumes { broker.bind(topology.queue, exchange: topology.exchange, routingKey: type) }
    }

    public func queueState(_ name: String) async throws -> AMQPQueueState {
        let depth = try broker.state.withLock { state -> Int in
            guard let messages = state.queues[name] else {
                throw AMQPError(.channelClosed, "NOT_FOUND - no queue '\(name)'", replyCode: 404)
            }
            return messages.count
        }
        return AMQPQueueState(name: name, messageCount: UInt32(depth), consumerCount: 0)
    }

    public func subscribe(queue: String, prefetch: UInt16, onDelivery: @escaping @Sendable (AMQPDelivery) -> Void)
        async throws -> any TransportConsumer
    {
        let id = try broker.subscribe(queue: queue, prefetch: Int(prefetch), onDelivery: onDelivery)
        return Consumer(broker: broker, queue: queue, id: id)
    }

    public func publish(_ messages: [AMQPOutgoingMessage], window: Int) async -> [Result<Void, AMQPError>] {
        messages.map { message in
            let routed = broker.route(
                Broker.Message(
                    body: message.body, exchange: message.exchange, routingKey: message.routingKey,
                    properties: message.properties, redelivered: false), mandatory: message.mandatory)
            guard routed || !message.mandatory else {
                return .failure(AMQPError(.publishReturned, "NO_ROUTE: no queue is bound to \(message.routingKey)"))
            }
            return .success(())
        }
    }

    public func publish(_ body: Data, exchange: String, routingKey: String, properties: AMQPProperties, mandatory: Bool)
        async throws
    {
        let result = await publish(
            [
                AMQPOutgoingMessage(
                    body: body, exchange: exchange, routingKey: routingKey, properties: properties, mandatory: mandatory)
            ], window: 1)
        try result[0].get()
    }
}
