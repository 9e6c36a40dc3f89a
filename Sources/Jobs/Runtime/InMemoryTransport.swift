public import AMQP
import ContractKit
public import Foundation
import Synchronization

/// A broker in memory, for unit tests of a ``Worker`` without RabbitMQ: topic exchanges with
/// exact-key bindings, queues in order, one consumer per queue with a prefetch, deliveries
/// handed over one at a time, acknowledgements (also after the consumer is cancelled, as on a
/// channel that stays open), requeues with the `redelivered` flag, a rejected message
/// dead-lettered into `<queue>.dead` when that queue exists, publisher confirms and returns of
/// unroutable `mandatory` messages. Several transports (each with its broker user) may share one
/// ``Broker``.
///
/// What it leaves out, because only a broker shows it: message TTLs (a retry tier keeps its
/// messages until ``Broker/expire(_:into:)`` moves them on), delivery limits, quorum queues,
/// connection loss (deliveries a cancelled consumer never settles stay out of the queue) and
/// permissions.
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
            /// Deliveries of cancelled consumers not settled yet: tag → (queue, message).
            var orphans: [UInt64: (queue: String, message: Message)] = [:]
            var nextTag: UInt64 = 1
            /// Whether a thread is handing deliveries to consumers, and whether more arrived
            /// meanwhile (deliveries go out one at a time, in order, as from a connection's thread).
            var dispatching = false
            var dispatchAgain = false
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
                        redelivered: false))
            }
        }

        /// Puts a message in the queues bound to its key; `false` when none took it.
        func route(_ message: Message) -> Bool {
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

        /// Hands waiting messages to the consumers, as far as their prefetch allows, one at a
        /// time and outside the lock (a consumer's callback may publish or acknowledge, which
        /// calls this again: that call leaves the work to the loop already running).
        func dispatch() {
            let mine = state.withLock { state -> Bool in
                if state.dispatching {
                    state.dispatchAgain = true
                    return false
                }
                state.dispatching = true
                return true
            }
            guard mine else { return }
            while true {
                let next = state.withLock { state -> (AMQPDelivery, @Sendable (AMQPDelivery) -> Void)?? in
                    for (queue, subscription) in state.subscriptions.sorted(by: { $0.key < $1.key })
                    where subscription.unacknowledged.count < subscription.prefetch && !(state.queues[queue] ?? []).isEmpty {
                        let message = state.queues[queue]!.removeFirst()
                        let tag = state.nextTag
                        state.nextTag += 1
                        state.subscriptions[queue]!.unacknowledged[tag] = message
                        let delivery = AMQPDelivery(
                            body: message.body, properties: message.properties, exchange: message.exchange,
                            routingKey: message.routingKey, redelivered: message.redelivered, deliveryTag: tag
                        ) { [weak self] settlement in self?.settle(tag, of: queue, settlement) }
                        return .some((delivery, subscription.onDelivery))
                    }
                    if state.dispatchAgain {  // something changed while the last one was handed over
                        state.dispatchAgain = false
                        return .some(nil)
                    }
                    state.dispatching = false
                    return nil
                }
                guard let next else { return }
                if let (delivery, onDelivery) = next { onDelivery(delivery) }
            }
        }

        func settle(_ tag: UInt64, of queue: String, _ settlement: AMQPDelivery.Settlement) {
            state.withLock { state in
                let message: Message
                if let delivered = state.subscriptions[queue]?.unacknowledged.removeValue(forKey: tag) {
                    message = delivered
                } else if let orphan = state.orphans.removeValue(forKey: tag) {
                    message = orphan.message
                } else {
                    return  // settled before
                }
                switch settlement {
                case .ack: break
                case .nack(requeue: true), .reject(requeue: true):
                    var requeued = message
                    requeued.redelivered = true
                    state.queues[queue, default: []].insert(requeued, at: 0)
                case .nack(requeue: false), .reject(requeue: false):
                    // The role queue's dead-letter exchange: the default one, into `<queue>.dead`.
                    if state.queues[queue + ".dead"] != nil { state.queues[queue + ".dead"]!.append(message) }
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

        /// Ends a consumer: no more deliveries; those it received can still be settled, as on a
        /// channel that stays open after `basic.cancel`.
        func cancel(queue: String, subscription: UInt64) {
            state.withLock { state in
                guard let ended = state.subscriptions[queue], ended.id == subscription else { return }
                state.subscriptions[queue] = nil
                for (tag, message) in ended.unacknowledged { state.orphans[tag] = (queue, message) }
            }
        }
    }

    /// A consumer of the in-memory broker.
    final class Consumer: TransportConsumer {
        let broker: Broker
        let queue: String
        let id: UInt64
        let ended = Mutex<(done: Bool, waiters: [UUID: CheckedContinuation<Void, Never>])>((false, [:]))

        init(broker: Broker, queue: String, id: UInt64) {
            self.broker = broker
            self.queue = queue
            self.id = id
        }

        /// Returns when the consumer is cancelled, or when the waiting task is.
        func waitUntilEnded() async throws {
            let id = UUID()
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let now = ended.withLock { state -> Bool in
                        if state.done || Task.isCancelled { return true }
                        state.waiters[id] = continuation
                        return false
                    }
                    if now { continuation.resume() }
                }
            } onCancel: {
                ended.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
            }
        }

        func cancel() async throws {
            broker.cancel(queue: queue, subscription: id)
            let waiters = ended.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.done = true
                defer { state.waiters = [:] }
                return Array(state.waiters.values)
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
                    properties: message.properties, redelivered: false))
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
