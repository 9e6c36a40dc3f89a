import Foundation

/// A publish waiting for its confirm.
struct PublishRequest: Sendable {
    let body: Data
    let exchange: String
    let routingKey: String
    let properties: AMQPProperties
    let mandatory: Bool
    let completion: @Sendable (Result<Void, AMQPError>) -> Void

    /// The first of the exchange, routing key and short-string properties longer than the 255
    /// bytes an AMQP short string holds, by name; nil when all fit.
    /// Checked for every publish, so without building a list.
    var overlongField: String? {
        func long(_ text: String?) -> Bool { (text?.utf8.count ?? 0) > 255 }
        let p = properties
        if long(exchange) { return "the exchange" }
        if long(routingKey) { return "the routing key" }
        if long(p.contentType) { return "content_type" }
        if long(p.contentEncoding) { return "content_encoding" }
        if long(p.correlationID) { return "correlation_id" }
        if long(p.replyTo) { return "reply_to" }
        if long(p.expiration) { return "expiration" }
        if long(p.messageID) { return "message_id" }
        if long(p.type) { return "type" }
        if long(p.userID) { return "user_id" }
        if long(p.appID) { return "app_id" }
        return long(p.clusterID) ? "cluster_id" : nil
    }
}

/// The unconfirmed publishes of one confirm-mode channel, by sequence number.
///
/// Sequence numbers are contiguous from 1 on a channel, so the pending publishes live in an
/// array indexed by `seq - firstSequence`; settled slots become `nil` and the front is
/// trimmed. A `basic.return` (unroutable mandatory message) arrives before the confirm of the
/// same message and carries no sequence number: it is matched to the oldest unconfirmed
/// publish with the same exchange, routing key and message id, and that publish then fails
/// with ``AMQPError/Code/publishReturned`` when its confirm arrives.
struct PendingConfirms {
    private struct Entry {
        let request: PublishRequest
        var returned: AMQPError?
    }

    private var entries: [Entry?] = []
    private var head = 0
    /// The sequence number of `entries[head]`.
    private var firstSequence: UInt64 = 1
    private(set) var count = 0

    /// Records the next publish; returns its sequence number.
    @discardableResult
    mutating func append(_ request: PublishRequest) -> UInt64 {
        entries.append(Entry(request: request, returned: nil))
        count += 1
        return firstSequence + UInt64(entries.count - head - 1)
    }

    /// Settles `tag` (or everything up to it); returns the completions to run.
    mutating func settle(tag: UInt64, multiple: Bool, nacked: Bool) -> [(PublishRequest, Result<Void, AMQPError>)] {
        var settled: [(PublishRequest, Result<Void, AMQPError>)] = []
        func take(_ index: Int) {
            guard let entry = entries[index] else { return }
            entries[index] = nil
            count -= 1
            if let returned = entry.returned {
                settled.append((entry.request, .failure(returned)))
            } else if nacked {
                settled.append(
                    (entry.request, .failure(AMQPError(.publishNacked, "the broker nacked the message (it was not stored)"))))
            } else {
                settled.append((entry.request, .success(())))
            }
        }
        guard tag >= firstSequence else { return settled }
        let last = head + Int(tag - firstSequence)
        guard last < entries.count else { return settled }
        if multiple {
            for index in head...last { take(index) }
        } else {
            take(last)
        }
        trim()
        return settled
    }

    /// Marks the oldest matching unconfirmed publish as returned by the broker.
    mutating func markReturned(exchange: String, routingKey: String, messageID: String?, error: AMQPError) -> Bool {
        for index in head..<entries.count {
            guard var entry = entries[index], entry.returned == nil,
                entry.request.exchange == exchange, entry.request.routingKey == routingKey,
                entry.request.properties.messageID == messageID
            else { continue }
            entry.returned = error
            entries[index] = entry
            return true
        }
        return false
    }

    /// Removes every pending publish (the channel is gone); returns them.
    mutating func removeAll() -> [PublishRequest] {
        let all = entries[head...].compactMap { $0?.request }
        entries.removeAll()
        head = 0
        firstSequence = 1
        count = 0
        return all
    }

    private mutating func trim() {
        while head < entries.count, entries[head] == nil {
            head += 1
            firstSequence += 1
        }
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024 && head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }
}

/// A declaration the connection repeats after a reconnect.
enum TopologyStep: Sendable, Hashable {
    case exchange(name: String, type: String, durable: Bool, autoDelete: Bool, internal: Bool, arguments: AMQPTable)
    case queue(AMQPQueueSpec)
    case binding(queue: String, exchange: String, routingKey: String, arguments: AMQPTable)

    /// Steps with the same identity replace each other in the record.
    var identity: String {
        switch self {
        case .exchange(let name, _, _, _, _, _): "e:\(name)"
        case .queue(let spec): "q:\(spec.name)"
        case .binding(let queue, let exchange, let key, _): "b:\(queue)\u{0}\(exchange)\u{0}\(key)"
        }
    }
}

/// A consumer to start (and to restart after a reconnect).
struct ConsumeRequest: Sendable {
    let queue: String
    let tag: String
    let prefetch: UInt16
    let exclusive: Bool
    let arguments: AMQPTable
    let continuation: AsyncThrowingStream<AMQPDelivery, any Error>.Continuation
    /// Set for callback consumers: deliveries go here, on the connection thread.
    let handler: (@Sendable (AMQPDelivery) -> Void)?
}
