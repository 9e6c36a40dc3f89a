public import Foundation

/// A message to publish, for ``AMQPConnection/publish(_:window:)``.
public struct AMQPOutgoingMessage: Sendable {
    public var body: Data
    public var exchange: String
    public var routingKey: String
    public var properties: AMQPProperties
    public var mandatory: Bool

    public init(
        body: Data, exchange: String = "", routingKey: String, properties: AMQPProperties = AMQPProperties(),
        mandatory: Bool = false
    ) {
        self.body = body
        self.exchange = exchange
        self.routingKey = routingKey
        self.properties = properties
        self.mandatory = mandatory
    }
}

extension AMQPConnection {
    /// Publishes `messages` in order with at most `window` unconfirmed at any time, and
    /// returns each message's outcome (same order as `messages`).
    ///
    /// Pipelining confirms is what makes publishing fast: waiting for each confirm before the
    /// next message is several times slower. A failed message does not stop the others.
    ///
    /// Cancelling the calling task stops handing out further messages and returns at once:
    /// every message not yet confirmed then has a ``AMQPError/Code/cancelled`` failure (it
    /// may still reach the broker; publish it again, consumers deduplicate by message id).
    public func publish(_ messages: [AMQPOutgoingMessage], window: Int = 100) async -> [Result<Void, AMQPError>] {
        precondition(window > 0, "window must be positive")
        guard !messages.isEmpty else { return [] }
        let (confirmations, sink) = AsyncStream.makeStream(of: (Int, Result<Void, AMQPError>).self)
        var results = [Result<Void, AMQPError>?](repeating: nil, count: messages.count)
        var next = 0
        var inFlight = 0
        func fill() {
            while inFlight < window && next < messages.count {
                let index = next
                let message = messages[index]
                publish(
                    message.body, exchange: message.exchange, routingKey: message.routingKey, properties: message.properties,
                    mandatory: message.mandatory
                ) { sink.yield((index, $0)) }
                next += 1
                inFlight += 1
            }
        }
        fill()
        var settled = 0
        // The stream ends early when the task is cancelled.
        for await (index, result) in confirmations {
            results[index] = result
            settled += 1
            inFlight -= 1
            if settled == messages.count || Task.isCancelled { break }
            fill()
        }
        sink.finish()
        return results.map {
            $0 ?? .failure(AMQPError(.cancelled, "the publishing task was cancelled before the broker confirmed the message"))
        }
    }
}
