// The connection thread's side: owns the librabbitmq connection state and everything tied to
// it (channels, unconfirmed publishes, consumers, the topology to redeclare). Only the
// connection thread creates and touches a ConnectionDriver.
internal import CRabbitMQ
import Foundation
import Logging
import Synchronization

final class ConnectionDriver {
    static let rpcChannel: UInt16 = 1
    static let publishChannel: UInt16 = 2
    static let firstConsumerChannel: UInt16 = 3

    final class Consumer {
        let request: ConsumeRequest
        var channel: UInt16?
        var channelEpoch: UInt64 = 0
        init(request: ConsumeRequest) { self.request = request }
    }

    let engine: ConnectionEngine
    let configuration: AMQPConfiguration
    var logger: Logger

    /// The live connection, or `nil` while disconnected.
    var connection: amqp_connection_state_t?
    var socketFD: Int32 = -1
    /// The index in ``AMQPConfiguration/endpoints`` of the node connected to (or last connected to).
    var currentEndpoint = 0
    /// Where the next connection attempt starts.
    var nextEndpoint = 0
    var heartbeatSeconds = 0
    var lastReceive = ContinuousClock.now
    /// The longest the thread spent on one batch of commands (not reading), for diagnostics.
    var longestBatch: Duration = .zero
    var closing = false

    /// Open channels and the epoch of their current incarnation.
    var channelEpochs: [UInt16: UInt64] = [:]
    var epochCounter: UInt64 = 0
    var freeConsumerChannels: [UInt16] = []
    var nextConsumerChannel = firstConsumerChannel
    var confirms = PendingConfirms()
    var blocked = false

    /// Single acks collected during the current batch of commands, by channel.
    var pendingAcks: [UInt16: Set<UInt64>] = [:]
    var settlementTrackers: [UInt16: SettlementTracker] = [:]

    var consumers: [String: Consumer] = [:]
    var consumerByChannel: [UInt16: Consumer] = [:]
    var consumersToRestart: [Consumer] = []
    /// Consumers whose queue was missing when they subscribed again (a broker still recovering
    /// its queues after a crash, or a queue deleted and declared again): tried again later.
    var consumersAwaitingQueue: [(consumer: Consumer, retryAt: ContinuousClock.Instant, attempt: Int)] = []
    var topology: [TopologyStep] = []
    let scratch = CArena()

    init(engine: ConnectionEngine) {
        self.engine = engine
        self.configuration = engine.configuration
        self.logger = engine.logger
    }

    // MARK: Connecting

    /// Connects to the first node of ``AMQPConfiguration/endpoints`` that answers, starting
    /// with ``nextEndpoint`` (after a lost connection, the node after the lost one).
    func connect() throws(AMQPError) {
        let endpoints = configuration.endpoints
        var failures: [AMQPError] = []
        for offset in 0..<endpoints.count {
            let index = (nextEndpoint + offset) % endpoints.count
            do {
                try connect(to: endpoints[index])
                currentEndpoint = index
                nextEndpoint = index
                return
            } catch {
                failures.append(error)
                if endpoints.count > 1 {
                    logger.warning(
                        "AMQP node unreachable", metadata: ["amqp.node": "\(endpoints[index])", "error": "\(error)"])
                }
            }
        }
        guard failures.count > 1, let last = failures.last else { throw failures[0] }
        throw AMQPError(
            last.code, "no node of \(endpoints.map(\.description).joined(separator: ", ")) answered; the last: \(last.message)",
            replyCode: last.replyCode, replyText: last.replyText, libraryStatus: last.libraryStatus)
    }

    /// Opens the socket to `endpoint`, logs in and negotiates heartbeats. Every step has a timeout.
    private func connect(to endpoint: AMQPConfiguration.Endpoint) throws(AMQPError) {
        var config = configuration
        config.host = endpoint.host
        config.port = endpoint.port
        guard let state = amqp_new_connection() else {
            throw AMQPError(.connectionFailed, "librabbitmq could not allocate a connection")
        }
        var ready = false
        defer { if !ready { amqp_destroy_connection(state) } }

        let socket: OpaquePointer?
        if let tls = config.tls {
            socket = amqp_ssl_socket_new(state)
            guard let socket else { throw AMQPError(.connectionFailed, "librabbitmq could not create a TLS socket") }
            if let ca = tls.caCertificatePath {
                let status = amqp_ssl_socket_set_cacert(socket, ca)
                guard status == AMQP_STATUS_OK.rawValue else {
                    throw AMQPError(
                        .invalidConfiguration, "cannot load CA certificates from \(ca): \(amqpStatusText(status))",
                        libraryStatus: status)
                }
            }
            if let cert = tls.clientCertificatePath, let key = tls.clientKeyPath {
                let status = amqp_ssl_socket_set_key(socket, cert, key)
                guard status == AMQP_STATUS_OK.rawValue else {
                    throw AMQPError(
                        .invalidConfiguration, "cannot load the client certificate/key: \(amqpStatusText(status))",
                        libraryStatus: status)
                }
            }
            amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ? 1 : 0)
            amqp_ssl_socket_set_verify_hostname(socket, tls.verifyHostname ? 1 : 0)
        } else {
            socket = amqp_tcp_socket_new(state)
            guard socket != nil else { throw AMQPError(.connectionFailed, "librabbitmq could not create a socket") }
        }

        var connectTimeout = timeval(config.connectTimeout)
        let opened = amqp_socket_open_noblock(socket, config.host, Int32(config.port), &connectTimeout)
        guard opened == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(
                .connectionFailed, "cannot connect to \(config.host):\(config.port): \(amqpStatusText(opened))",
                libraryStatus: opened)
        }
        _ = amqp_set_handshake_timeout(state, &connectTimeout)
        var rpcTimeout = timeval(config.rpcTimeout)
        _ = amqp_set_rpc_timeout(state, &rpcTimeout)

        let arena = CArena()
        defer { arena.release() }
        var clientProperties = arena.table([
            "product": "Swift AMQP client (librabbitmq)",
            "platform": "Swift",
            "connection_name": .string(
                config.connectionName ?? "\(ProcessInfo.processInfo.processName)-\(ProcessInfo.processInfo.processIdentifier)"),
            "capabilities": .table([
                "publisher_confirms": true, "consumer_cancel_notify": true, "connection.blocked": true,
                "basic.nack": true, "authentication_failure_close": true, "exchange_exchange_bindings": true,
            ]),
        ])
        var heartbeat = Int32(config.heartbeat.seconds.rounded(.up))
        if config.heartbeat > .zero { heartbeat = max(heartbeat, 1) }
        let reply = CRabbitMQ_login_plain(
            state, config.virtualHost, 0, Int32(config.boundedFrameMax), heartbeat, &clientProperties, config.username,
            config.password)
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
            if reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD,
                let decoded = reply.reply.decoded
            {
                let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                throw AMQPError(
                    .connectionFailed,
                    "the broker refused the connection as user '\(config.username)' to vhost '\(config.virtualHost)'",
                    replyCode: close.reply_code, replyText: String(amqp: close.reply_text))
            }
            let status = reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION ? reply.library_error : nil
            throw AMQPError(
                .connectionFailed,
                "AMQP handshake with \(config.host):\(config.port) failed: \(status.map(amqpStatusText) ?? "unexpected reply")",
                libraryStatus: status)
        }

        ready = true
        connection = state
        socketFD = amqp_get_sockfd(state)
        heartbeatSeconds = Int(amqp_get_heartbeat(state))
        let agreedFrame = Int(amqp_get_frame_max(state))
        if agreedFrame > 0 { engine.frameSize.store(agreedFrame, ordering: .releasing) }
        lastReceive = .now
        channelEpochs.removeAll()
        freeConsumerChannels.removeAll()
        nextConsumerChannel = Self.firstConsumerChannel
        blocked = false
        if let properties = amqp_get_server_properties(state)?.pointee {
            engine.serverVersion = CDecoding.table(properties)["version"]?.stringValue
        }
        engine.connected.store(true, ordering: .releasing)
        logger.info(
            "AMQP connection open",
            metadata: [
                "amqp.node": "\(endpoint)", "amqp.heartbeat": "\(heartbeatSeconds)",
                "amqp.server_version": "\(engine.serverVersion ?? "?")",
            ])
    }

    // MARK: The loop

    func runLoop() {
        var reconnectAttempt = 0
        var generator = SystemRandomNumberGenerator()
        while true {
            let (commands, close) = engine.takeCommands()
            let batchStarted = ContinuousClock.now
            for command in commands { command(self) }
            flushAcks()
            longestBatch = max(longestBatch, ContinuousClock.now - batchStarted)
            if close || closing {
                shutDown()
                return
            }
            if connection != nil {
                restartConsumersIfNeeded()
                pumpFrames()
                guard connection != nil else { continue }
                let buffered = amqp_frames_enqueued(connection) != 0 || amqp_data_in_buffer(connection) != 0
                if !buffered {
                    if engine.sleep(socket: socketFD, timeoutMilliseconds: pollInterval()) {
                        lastReceive = .now
                    }
                }
                checkHeartbeat()
                continue
            }
            // Disconnected.
            guard let policy = configuration.reconnect else {
                shutDown()
                return
            }
            reconnectAttempt += 1
            // Fail over: start with the node after the one that was lost.
            if reconnectAttempt == 1 { nextEndpoint = (currentEndpoint + 1) % configuration.endpoints.count }
            if let maximum = policy.maximumAttempts, reconnectAttempt > maximum {
                logger.error("giving up reconnecting", metadata: ["amqp.attempts": "\(reconnectAttempt - 1)"])
                shutDown()
                return
            }
            let delay = policy.delay(forAttempt: reconnectAttempt, using: &generator)
            engine.eventSink.yield(.reconnecting(attempt: reconnectAttempt, delay: delay))
            if !waitWhileDisconnected(delay) { continue }
            do {
                try connect()
                reconnectAttempt = 0
                restoreAfterReconnect()
                if connection != nil {
                    logger.notice("AMQP reconnected; topology and consumers restored")
                    engine.eventSink.yield(.reconnected)
                }
            } catch {
                logger.warning("reconnect failed", metadata: ["amqp.attempt": "\(reconnectAttempt)", "error": "\(error)"])
            }
        }
    }

    /// Waits `delay` while serving commands (which fail fast: not connected). Returns false if
    /// a close was requested.
    private func waitWhileDisconnected(_ delay: Duration) -> Bool {
        let deadline = ContinuousClock.now + delay
        while ContinuousClock.now < deadline {
            let (commands, close) = engine.takeCommands()
            for command in commands { command(self) }
            if close || closing { return false }
            let remaining = (deadline - ContinuousClock.now).seconds
            _ = engine.sleep(socket: -1, timeoutMilliseconds: Int32(max(1, min(1000, remaining * 1000))))
        }
        return true
    }

    private func pollInterval() -> Int32 {
        // Come back often enough to send our heartbeats (librabbitmq sends them from inside
        // its frame-wait calls) and to notice the broker's silence.
        guard heartbeatSeconds > 0 else { return 1000 }
        return Int32(min(1000, heartbeatSeconds * 1000 / 4))
    }

    /// librabbitmq consumes heartbeat frames inside its frame-wait calls and never returns
    /// them, so a heartbeat read by ``pumpFrames()`` (rather than seen by the poll in
    /// ``ConnectionEngine/sleep(socket:timeoutMilliseconds:)``) would go unnoticed: a
    /// connection kept busy by commands while the broker sends nothing but heartbeats would be
    /// declared dead. Once the silence passes half the heartbeat, look at the socket (and
    /// the library's buffer) before the frames are read.
    private func noteIncomingHeartbeats() {
        guard let state = connection, heartbeatSeconds > 0,
            ContinuousClock.now - lastReceive > .seconds(heartbeatSeconds) / 2
        else { return }
        if amqp_data_in_buffer(state) != 0 {
            lastReceive = .now
            return
        }
        var descriptor = pollfd(fd: socketFD, events: Int16(POLLIN), revents: 0)
        if poll(&descriptor, 1, 0) > 0 { lastReceive = .now }
    }

    private func checkHeartbeat() {
        guard connection != nil, heartbeatSeconds > 0 else { return }
        let silence = ContinuousClock.now - lastReceive
        if silence > .seconds(2 * heartbeatSeconds) {
            connectionLost(
                AMQPError(
                    .connectionLost,
                    "no data from the broker for \(Int(silence.seconds)) s (heartbeat timeout \(heartbeatSeconds) s; "
                        + "longest command batch \(String(format: "%.1f", longestBatch.seconds)) s)",
                    libraryStatus: AMQP_STATUS_HEARTBEAT_TIMEOUT.rawValue))
        }
    }

    /// Reads and dispatches the frames that are already available, without blocking.
    private func pumpFrames() {
        noteIncomingHeartbeats()
        var immediately = timeval(tv_sec: 0, tv_usec: 0)
        for _ in 0..<512 {
            guard let state = connection else { return }
            var frame = amqp_frame_t()
            let status = amqp_simple_wait_frame_noblock(state, &frame, &immediately)
            if status == AMQP_STATUS_TIMEOUT.rawValue { break }
            guard status == AMQP_STATUS_OK.rawValue else {
                connectionLost(
                    AMQPError(.connectionLost, "connection to the broker lost: \(amqpStatusText(status))", libraryStatus: status))
                return
            }
            lastReceive = .now
            dispatch(frame)
        }
        if let state = connection { amqp_maybe_release_buffers(state) }
    }

    // MARK: Losing and closing

    /// Tears the connection down after a failure; everything in flight fails with `error`.
    func connectionLost(_ error: AMQPError) {
        guard let state = connection else { return }
        logger.warning("AMQP connection lost", metadata: ["error": "\(error)"])
        amqp_destroy_connection(state)
        connection = nil
        socketFD = -1
        engine.connected.store(false, ordering: .releasing)
        channelEpochs.removeAll()
        pendingAcks.removeAll()
        settlementTrackers.removeAll()
        consumerByChannel.removeAll()
        consumersToRestart.removeAll()
        consumersAwaitingQueue.removeAll()
        failPendingPublishes(error)
        if configuration.reconnect == nil {
            for consumer in consumers.values { consumer.request.continuation.finish(throwing: error) }
            consumers.removeAll()
        } else {
            for consumer in consumers.values { consumer.channel = nil }
        }
        engine.eventSink.yield(.disconnected(error))
    }

    func failPendingPublishes(_ error: AMQPError) {
        for request in confirms.removeAll() { request.completion(.failure(error)) }
    }

    func closeRequestedByUser() {
        closing = true
    }

    /// Closes the connection politely (bounded by the RPC timeout) and ends everything.
    private func shutDown() {
        let closed = AMQPError(.connectionClosed, "the connection was closed")
        flushAcks()
        if let state = connection {
            _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS)
            amqp_destroy_connection(state)
            connection = nil
        }
        failPendingPublishes(closed)
        for consumer in consumers.values { consumer.request.continuation.finish() }
        consumers.removeAll()
        consumerByChannel.removeAll()
        engine.connected.store(false, ordering: .releasing)
        engine.eventSink.yield(.closed)
        logger.debug("AMQP connection closed")
    }

    // MARK: After a reconnect

    private func restoreAfterReconnect() {
        for step in topology {
            do {
                try declare(step, record: false)
            } catch {
                logger.error(
                    "could not declare again after reconnect", metadata: ["amqp.step": "\(step.identity)", "error": "\(error)"])
                if connection == nil { return }
            }
        }
        for consumer in consumers.values where consumer.channel == nil {
            consumersToRestart.append(consumer)
        }
        restartConsumersIfNeeded()
    }

    /// Subscribes again the consumers whose channel was closed (by a reconnect or by a
    /// channel error such as a consumer timeout).
    func restartConsumersIfNeeded() {
        let now = ContinuousClock.now
        var attempts: [ObjectIdentifier: Int] = [:]
        if consumersAwaitingQueue.contains(where: { $0.retryAt <= now }) {
            for entry in consumersAwaitingQueue where entry.retryAt <= now {
                consumersToRestart.append(entry.consumer)
                attempts[ObjectIdentifier(entry.consumer)] = entry.attempt
            }
            consumersAwaitingQueue.removeAll { $0.retryAt <= now }
        }
        while connection != nil, let consumer = consumersToRestart.popLast() {
            guard consumers[consumer.request.tag] === consumer else { continue }
            do {
                try subscribe(consumer)
                logger.info("consumer subscribed again", metadata: ["amqp.queue": "\(consumer.request.queue)"])
            } catch {
                guard connection != nil else { return }
                if error.replyCode == 404 {
                    // The queue is not there (yet): keep the consumer and try again with backoff
                    // (1 s doubling to 30 s), loudly, instead of ending it.
                    let attempt = (attempts[ObjectIdentifier(consumer)] ?? 0) + 1
                    let delay = ReconnectPolicy.resubscription.ceiling(forAttempt: attempt)
                    logger.warning(
                        "the consumer's queue is missing; subscribing again later",
                        metadata: [
                            "amqp.queue": "\(consumer.request.queue)", "amqp.attempt": "\(attempt)", "amqp.delay": "\(delay)",
                        ])
                    consumersAwaitingQueue.append((consumer, .now + delay, attempt))
                    continue
                }
                consumers[consumer.request.tag] = nil
                consumer.request.continuation.finish(throwing: error)
            }
        }
    }
}
