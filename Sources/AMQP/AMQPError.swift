/// An error from the AMQP layer: a connection or channel the broker closed, a library
/// failure, a timeout, a nacked or returned publish.
///
/// Broker errors carry the AMQP reply code and text (`404 NOT_FOUND`, `406 PRECONDITION_FAILED`,
/// `403 ACCESS_REFUSED`, `320 CONNECTION_FORCED`, ...). ``isConnectionFatal`` tells whether the
/// connection was lost (the layer reconnects if a ``AMQPConfiguration/ReconnectPolicy`` is
/// set); channel errors leave the connection usable.
///
/// The description never contains credentials or message bodies.
public struct AMQPError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. New kinds may be added; switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The configuration or URL is not usable.
        public static let invalidConfiguration = Code("invalidConfiguration")
        /// TCP/TLS connect or the AMQP handshake failed.
        public static let connectionFailed = Code("connectionFailed")
        /// The connection died (socket error, missed heartbeats, broker closed it).
        public static let connectionLost = Code("connectionLost")
        /// The connection was closed by this process.
        public static let connectionClosed = Code("connectionClosed")
        /// There is no live connection right now (the layer is reconnecting).
        public static let notConnected = Code("notConnected")
        /// The broker closed a channel (the connection stays usable).
        public static let channelClosed = Code("channelClosed")
        /// A call did not complete within its timeout.
        public static let timeout = Code("timeout")
        /// The broker nacked a published message.
        public static let publishNacked = Code("publishNacked")
        /// The broker returned a mandatory message it could not route.
        public static let publishReturned = Code("publishReturned")
        /// The broker blocked publishing on this connection (resource alarm).
        public static let connectionBlocked = Code("connectionBlocked")
        /// An ack/nack/reject for a delivery whose channel is gone; it was not sent.
        public static let staleDelivery = Code("staleDelivery")
        /// The broker cancelled the consumer (queue deleted, failover).
        public static let consumerCancelled = Code("consumerCancelled")
        /// A frame or value the layer cannot represent.
        public static let protocolError = Code("protocolError")
        /// The caller's task was cancelled before the operation finished.
        public static let cancelled = Code("cancelled")
    }

    /// The kind of failure.
    public var code: Code
    /// A human-readable explanation.
    public var message: String
    /// The AMQP reply code for broker-side errors (404, 406, 403, 320, 312, ...).
    public var replyCode: UInt16?
    /// The broker's reply text, e.g. `NOT_FOUND - no queue 'x' in vhost '/'`.
    public var replyText: String?
    /// The AMQP class id of the method that failed, when the broker names it.
    public var classID: UInt16?
    /// The AMQP method id of the method that failed, when the broker names it.
    public var methodID: UInt16?
    /// The librabbitmq status code (negative), for library failures.
    public var libraryStatus: Int32?

    /// Creates an error.
    public init(
        _ code: Code, _ message: String, replyCode: UInt16? = nil, replyText: String? = nil,
        classID: UInt16? = nil, methodID: UInt16? = nil, libraryStatus: Int32? = nil
    ) {
        self.code = code
        self.message = message
        self.replyCode = replyCode
        self.replyText = replyText
        self.classID = classID
        self.methodID = methodID
        self.libraryStatus = libraryStatus
    }

    /// Whether the connection is gone: everything in flight on it failed, and its
    /// deliveries can no longer be acknowledged (the broker redelivers them).
    public var isConnectionFatal: Bool {
        [.connectionFailed, .connectionLost, .connectionClosed, .notConnected, .timeout].contains(code)
    }

    /// Whether trying the same operation again later may succeed.
    public var isRetryable: Bool {
        switch code {
        case .connectionFailed, .connectionLost, .notConnected, .timeout, .connectionBlocked, .publishNacked, .cancelled:
            return true
        case .channelClosed:
            // 404/403/406 are about the request itself; 320/504/541 and friends are not.
            guard let replyCode else { return true }
            return ![403, 404, 406, 530].contains(replyCode)
        default:
            return false
        }
    }

    /// Whether the broker refused to declare a quorum queue because its Raft group elected no
    /// leader in time (`541 INTERNAL_ERROR ... cluster_not_formed`, seen on a busy node). The
    /// broker removes the half-made queue and closes the connection, so declaring it again once
    /// connected is safe and usually succeeds. RabbitMQ cuts a close reason over 255 bytes to
    /// 252 and `...`: with a long queue or node name (a Kubernetes pod's) the cause is cut off,
    /// so a refusal of `queue.declare` that begins `INTERNAL_ERROR - Cannot declare quorum
    /// queue` and was cut counts too.
    public var isQuorumClusterNotFormed: Bool {
        guard replyCode == 541, let text = replyText else { return false }
        if let classID, let methodID, classID != 50 || methodID != 10 { return false }
        if text.hasSuffix(": cluster_not_formed") { return true }
        return text.hasPrefix("INTERNAL_ERROR - Cannot declare quorum queue '") && text.hasSuffix("...")
    }

    public var description: String {
        var text = "AMQPError.\(code): \(message)"
        if let replyCode {
            text += " (reply \(replyCode)"
            if let replyText { text += " \(replyText)" }
            text += ")"
        }
        if let libraryStatus { text += " [librabbitmq status \(libraryStatus)]" }
        return text
    }
}
