internal import CRabbitMQ
import Foundation
import Logging

extension ConnectionDriver {
    // MARK: Replies and channels

    func liveConnection() throws(AMQPError) -> amqp_connection_state_t {
        guard let connection else {
            throw AMQPError(.notConnected, "not connected to the broker (reconnecting)")
        }
        return connection
    }

    /// Turns a failed synchronous reply into an error, and cleans up after it: a closed
    /// channel is acknowledged (close-ok) so the connection stays usable; a dead connection
    /// is torn down.
    func failure(from reply: amqp_rpc_reply_t, channel: UInt16, doing what: String) -> AMQPError {
        switch reply.reply_type {
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                let error = AMQPError(
                    .channelClosed, "\(what): the broker closed the channel", replyCode: close.reply_code,
                    replyText: String(amqp: close.reply_text), classID: close.class_id, methodID: close.method_id)
                channelClosedByBroker(channel, error: error)
                return error
            }
            if reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                let error = AMQPError(
                    .connectionLost, "\(what): the broker closed the connection", replyCode: close.reply_code,
                    replyText: String(amqp: close.reply_text), classID: close.class_id, methodID: close.method_id)
                connectionClosedByBroker(error)
                return error
            }
            let error = AMQPError(
                .protocolError, "\(what): unexpected method 0x\(String(reply.reply.id, radix: 16)) from the broker")
            connectionLost(error)
            return error
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            let status = reply.library_error
            let code: AMQPError.Code = status == AMQP_STATUS_TIMEOUT.rawValue ? .timeout : .connectionLost
            let error = AMQPError(code, "\(what): \(amqpStatusText(status))", libraryStatus: status)
            // After a timeout the protocol state is unknown: start over.
            connectionLost(error)
            return error
        default:
            let error = AMQPError(.connectionLost, "\(what): the broker closed the socket")
            connectionLost(error)
            return error
        }
    }

    /// Sends `channel.close-ok` and forgets the channel's state.
    func channelClosedByBroker(_ channel: UInt16, error: AMQPError) {
        if let connection {
            var closeOK = amqp_channel_close_ok_t(dummy: 0)
            _ = amqp_send_method(connection, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &closeOK)
        }
        logger.warning("channel closed by the broker", metadata: ["amqp.channel": "\(channel)", "error": "\(error)"])
        channelEpochs[channel] = nil
        pendingAcks[channel] = nil
        settlementTrackers[channel] = nil
        if channel == Self.publishChannel {
            failPendingPublishes(error)
        } else if let consumer = consumerByChannel.removeValue(forKey: channel) {
            consumer.channel = nil
            freeConsumerChannels.append(channel)
            // A channel error such as a consumer timeout or a double ack: subscribe again.
            consumersToRestart.append(consumer)
        } else if channel >= Self.firstConsumerChannel {
            freeConsumerChannels.append(channel)
        }
    }

    func connectionClosedByBroker(_ error: AMQPError) {
        if let connection {
            var closeOK = amqp_connection_close_ok_t(dummy: 0)
            _ = amqp_send_method(connection, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &closeOK)
        }
        connectionLost(error)
    }

    /// Opens `channel` if it is not open.
    func ensureChannel(_ channel: UInt16) throws(AMQPError) {
        guard channelEpochs[channel] == nil else { return }
        let state = try liveConnection()
        guard amqp_channel_open(state, channel) != nil else {
            throw failure(from: amqp_get_rpc_reply(state), channel: channel, doing: "opening channel \(channel)")
        }
        epochCounter += 1
        channelEpochs[channel] = epochCounter
        settlementTrackers[channel] = SettlementTracker()
        if channel == Self.publishChannel {
            guard amqp_confirm_select(state, channel) != nil else {
                throw failure(from: amqp_get_rpc_reply(state), channel: channel, doing: "enabling publisher confirms")
            }
            // A new confirm channel numbers from 1 again; nothing of the old one is pending
            // (closing it failed its publishes), but never leave a completion unanswered.
            failPendingPublishes(AMQPError(.channelClosed, "the publishing channel was reopened"))
        }
    }

    /// Runs a synchronous method on the RPC channel; a nil result is decoded into an error.
    func rpc<T>(_ what: String, _ call: (amqp_connection_state_t, CArena) -> UnsafeMutablePointer<T>?) throws(AMQPError) -> T {
        try ensureChannel(Self.rpcChannel)
        let state = try liveConnection()
        let arena = CArena()
        defer { arena.release() }
        guard let result = call(state, arena) else {
            throw failure(from: amqp_get_rpc_reply(state), channel: Self.rpcChannel, doing: what)
        }
        // The reply came from the broker (librabbitmq may also have swallowed heartbeats
        // while waiting for it).
        lastReceive = .now
        return result.pointee
    }

    // MARK: Topology

    func declare(_ step: TopologyStep, record: Bool) throws(AMQPError) {
        switch step {
        case .exchange(let name, let type, let durable, let autoDelete, let isInternal, let arguments):
            _ = try rpc("declaring exchange '\(name)'") { state, a in
                amqp_exchange_declare(
                    state, Self.rpcChannel, a.bytes(name), a.bytes(type), 0, durable ? 1 : 0, autoDelete ? 1 : 0,
                    isInternal ? 1 : 0, a.table(arguments))
            }
        case .queue(let spec):
            _ = try declareQueue(spec, record: false)
        case .binding(let queue, let exchange, let routingKey, let arguments):
            _ = try rpc("binding queue '\(queue)' to '\(exchange)' with '\(routingKey)'") { state, a in
                amqp_queue_bind(
                    state, Self.rpcChannel, a.bytes(queue), a.bytes(exchange), a.bytes(routingKey), a.table(arguments))
            }
        }
        if record { remember(step) }
    }

    private func remember(_ step: TopologyStep) {
        if let index = topology.firstIndex(where: { $0.identity == step.identity }) {
            topology[index] = step
        } else {
            topology.append(step)
        }
    }

    func checkExchange(_ name: String) throws(AMQPError) {
        _ = try rpc("checking exchange '\(name)'") { state, a in
            amqp_exchange_declare(state, Self.rpcChannel, a.bytes(name), a.bytes("topic"), 1, 0, 0, 0, amqp_empty_table)
        }
    }

    func deleteExchange(_ name: String, ifUnused: Bool) throws(AMQPError) {
        _ = try rpc("deleting exchange '\(name)'") { state, a in
            amqp_exchange_delete(state, Self.rpcChannel, a.bytes(name), ifUnused ? 1 : 0)
        }
        topology.removeAll { step in
            switch step {
            case .exchange(let n, _, _, _, _, _): n == name
            case .binding(_, let exchange, _, _): exchange == name
            case .queue: false
            }
        }
    }

    func declareQueue(_ spec: AMQPQueueSpec, record: Bool) throws(AMQPError) -> AMQPQueueState {
        let ok = try rpc("declaring queue '\(spec.name)'") { state, a in
            amqp_queue_declare(
                state, Self.rpcChannel, a.bytes(spec.name), 0, spec.durable ? 1 : 0, spec.exclusive ? 1 : 0,
                spec.autoDelete ? 1 : 0, a.table(spec.arguments))
        }
        let result = AMQPQueueState(
            name: String(amqp: ok.queue), messageCount: ok.message_count, consumerCount: ok.consumer_count)
        if record && !spec.name.isEmpty { remember(.queue(spec)) }
        return result
    }

    func passiveDeclareQueue(_ name: String) throws(AMQPError) -> AMQPQueueState {
        let ok = try rpc("checking queue '\(name)'") { state, a in
            amqp_queue_declare(state, Self.rpcChannel, a.bytes(name), 1, 0, 0, 0, amqp_empty_table)
        }
        return AMQPQueueState(name: String(amqp: ok.queue), messageCount: ok.message_count, consumerCount: ok.consumer_count)
    }

    func unbindQueue(_ queue: String, exchange: String, routingKey: String, arguments: AMQPTable) throws(AMQPError) {
        _ = try rpc("unbinding queue '\(queue)' from '\(exchange)'") { state, a in
            amqp_queue_unbind(state, Self.rpcChannel, a.bytes(queue), a.bytes(exchange), a.bytes(routingKey), a.table(arguments))
        }
        let identity = TopologyStep.binding(queue: queue, exchange: exchange, routingKey: routingKey, arguments: [:]).identity
        topology.removeAll { $0.identity == identity }
    }

    func purgeQueue(_ name: String) throws(AMQPError) -> UInt32 {
        try rpc("purging queue '\(name)'") { state, a in amqp_queue_purge(state, Self.rpcChannel, a.bytes(name)) }.message_count
    }

    func deleteQueue(_ name: String, ifUnused: Bool, ifEmpty: Bool) throws(AMQPError) -> UInt32 {
        let ok = try rpc("deleting queue '\(name)'") { state, a in
            amqp_queue_delete(state, Self.rpcChannel, a.bytes(name), ifUnused ? 1 : 0, ifEmpty ? 1 : 0)
        }
        topology.removeAll { step in
            switch step {
            case .queue(let spec): spec.name == name
            case .binding(let queue, _, _, _): queue == name
            case .exchange: false
            }
        }
        return ok.message_count
    }

    // MARK: Publishing

    func publish(_ request: PublishRequest) {
        do throws(AMQPError) {
            guard !blocked else {
                throw AMQPError(.connectionBlocked, "the broker blocked publishing on this connection (resource alarm)")
            }
            // A property, exchange or routing key longer than AMQP carries fails this publish
            // alone: librabbitmq refuses it (for a property, after the method frame has gone),
            // and the connection was then taken down.
            if let long = request.overlongField {
                throw AMQPError(.protocolError, "cannot publish: \(long) is longer than AMQP's 255 bytes")
            }
            try ensureChannel(Self.publishChannel)
            let state = try liveConnection()
            var properties = scratch.properties(request.properties)
            let exchange = scratch.bytes(request.exchange)
            let routingKey = scratch.bytes(request.routingKey)
            let status = request.body.withUnsafeBytes { body in
                amqp_basic_publish(
                    state, Self.publishChannel, exchange, routingKey, request.mandatory ? 1 : 0, 0, &properties,
                    amqp_bytes_t(len: body.count, bytes: UnsafeMutableRawPointer(mutating: body.baseAddress)))
            }
            scratch.release()
            guard status == AMQP_STATUS_OK.rawValue else {
                let error = AMQPError(.connectionLost, "publishing failed: \(amqpStatusText(status))", libraryStatus: status)
                connectionLost(error)
                throw error
            }
            confirms.append(request)
        } catch {
            scratch.release()
            request.completion(.failure(error))
        }
    }

    // MARK: Consuming

    func startConsumer(_ request: ConsumeRequest) throws(AMQPError) {
        guard consumers[request.tag] == nil else {
            throw AMQPError(.protocolError, "consumer tag \(request.tag) is in use")
        }
        let consumer = Consumer(request: request)
        try subscribe(consumer)
        consumers[request.tag] = consumer
    }

    /// Opens a channel for the consumer, sets its prefetch and starts `basic.consume`.
    func subscribe(_ consumer: Consumer) throws(AMQPError) {
        let request = consumer.request
        let channel: UInt16
        if let free = freeConsumerChannels.popLast() {
            channel = free
        } else {
            channel = nextConsumerChannel
            nextConsumerChannel += 1
        }
        do throws(AMQPError) {
            try ensureChannel(channel)
            let state = try liveConnection()
            guard amqp_basic_qos(state, channel, 0, request.prefetch, 0) != nil else {
                throw failure(from: amqp_get_rpc_reply(state), channel: channel, doing: "setting prefetch \(request.prefetch)")
            }
            let arena = CArena()
            defer { arena.release() }
            guard
                amqp_basic_consume(
                    state, channel, arena.bytes(request.queue), arena.bytes(request.tag), 0, 0, request.exclusive ? 1 : 0,
                    arena.table(request.arguments)) != nil
            else {
                throw failure(from: amqp_get_rpc_reply(state), channel: channel, doing: "consuming from queue '\(request.queue)'")
            }
        } catch {
            // A broker-closed channel was already given back by channelClosedByBroker.
            if channelEpochs[channel] == nil, connection != nil, !freeConsumerChannels.contains(channel) {
                freeConsumerChannels.append(channel)
            }
            throw error
        }
        consumer.channel = channel
        consumer.channelEpoch = channelEpochs[channel] ?? 0
        consumerByChannel[channel] = consumer
    }

    func cancelConsumer(tag: String) throws(AMQPError) {
        guard let consumer = consumers.removeValue(forKey: tag) else { return }
        defer { consumer.request.continuation.finish() }
        guard let channel = consumer.channel, let state = connection else { return }
        let arena = CArena()
        defer { arena.release() }
        guard amqp_basic_cancel(state, channel, arena.bytes(tag)) != nil else {
            throw failure(from: amqp_get_rpc_reply(state), channel: channel, doing: "cancelling consumer")
        }
        // The channel stays open: deliveries already handed out can still be acknowledged.
    }

    func get(queue: String) throws(AMQPError) -> AMQPDelivery? {
        try ensureChannel(Self.rpcChannel)
        let state = try liveConnection()
        let arena = CArena()
        defer { arena.release() }
        let reply = amqp_basic_get(state, Self.rpcChannel, arena.bytes(queue), 0)
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
            throw failure(from: reply, channel: Self.rpcChannel, doing: "getting from queue '\(queue)'")
        }
        guard reply.reply.id == AMQP_BASIC_GET_OK_METHOD, let decoded = reply.reply.decoded else { return nil }
        let ok = decoded.assumingMemoryBound(to: amqp_basic_get_ok_t.self).pointee
        let header = DeliveryHeader(
            consumerTag: nil, deliveryTag: ok.delivery_tag, redelivered: ok.redelivered != 0,
            exchange: String(amqp: ok.exchange), routingKey: String(amqp: ok.routing_key))
        return try readDelivery(header, channel: Self.rpcChannel)
    }

    struct DeliveryHeader {
        let consumerTag: String?
        let deliveryTag: UInt64
        let redelivered: Bool
        let exchange: String
        let routingKey: String
    }

    /// Reads the content frames that follow a `basic.deliver` or `basic.get-ok`.
    func readDelivery(_ header: DeliveryHeader, channel: UInt16) throws(AMQPError) -> AMQPDelivery {
        let state = try liveConnection()
        var message = amqp_message_t()
        let reply = amqp_read_message(state, channel, &message, 0)
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
            throw failure(from: reply, channel: channel, doing: "reading a delivery")
        }
        defer { amqp_destroy_message(&message) }
        return AMQPDelivery(
            body: Data(amqp: message.body), properties: CDecoding.properties(message.properties), exchange: header.exchange,
            routingKey: header.routingKey, redelivered: header.redelivered, deliveryTag: header.deliveryTag,
            consumerTag: header.consumerTag,
            origin: DeliveryOrigin(engine: engine, channel: channel, channelEpoch: channelEpochs[channel] ?? 0))
    }

    /// Settles a delivery, but only on the very channel incarnation that delivered it.
    ///
    /// Single acks are not sent at once: they are collected while the connection thread works
    /// through its current batch of commands, then ``flushAcks()`` sends each channel's
    /// contiguous run as one `multiple` ack (as the broker would see from a client that acks
    /// in order) and the rest one by one. Fewer frames leave the broker more CPU. Every other
    /// settlement goes out at once, after the channel's collected acks.
    func settle(_ settlement: DeliveryOrigin.Settlement, tag: UInt64, origin: DeliveryOrigin) throws(AMQPError) {
        guard connection != nil, channelEpochs[origin.channel] == origin.channelEpoch else {
            throw AMQPError(
                .staleDelivery,
                "the channel that received delivery \(tag) is closed; nothing was sent and the broker will redeliver it")
        }
        let channel = origin.channel
        if case .ack(multiple: false) = settlement {
            pendingAcks[channel, default: []].insert(tag)
            return
        }
        try flushAcks(channel: channel)
        let state = try liveConnection()
        let status: Int32
        switch settlement {
        case .ack(let multiple):
            status = amqp_basic_ack(state, channel, tag, multiple ? 1 : 0)
        case .nack(let requeue, let multiple):
            status = amqp_basic_nack(state, channel, tag, multiple ? 1 : 0, requeue ? 1 : 0)
        case .reject(let requeue):
            status = amqp_basic_reject(state, channel, tag, requeue ? 1 : 0)
        }
        try check(status, doing: "acknowledging")
        switch settlement {
        case .ack(true), .nack(_, true): tracker(on: channel).settle(upTo: tag)
        default: tracker(on: channel).settle(tag)
        }
    }

    /// Sends the collected single acks of every channel.
    func flushAcks() {
        for channel in Array(pendingAcks.keys) {
            do { try flushAcks(channel: channel) } catch { return }
        }
    }

    /// Sends the collected single acks of `channel`: the run that starts at the lowest
    /// unsettled tag as one `multiple` ack, the others singly.
    func flushAcks(channel: UInt16) throws(AMQPError) {
        guard let tags = pendingAcks.removeValue(forKey: channel), !tags.isEmpty else { return }
        guard channelEpochs[channel] != nil else { return }
        let state = try liveConnection()
        let tracker = tracker(on: channel)
        let sorted = tags.sorted()
        var index = 0
        if sorted[0] == tracker.lowestUnsettled {
            var end = sorted[0]
            index = 1
            while index < sorted.count, sorted[index] == end + 1 {
                end += 1
                index += 1
            }
            try check(amqp_basic_ack(state, channel, end, end > sorted[0] ? 1 : 0), doing: "acknowledging")
            tracker.settle(upTo: end)
        }
        for tag in sorted[index...] {
            try check(amqp_basic_ack(state, channel, tag, 0), doing: "acknowledging")
            tracker.settle(tag)
        }
    }

    func tracker(on channel: UInt16) -> SettlementTracker {
        if let tracker = settlementTrackers[channel] { return tracker }
        let tracker = SettlementTracker()
        settlementTrackers[channel] = tracker
        return tracker
    }

    func check(_ status: Int32, doing what: String) throws(AMQPError) {
        guard status == AMQP_STATUS_OK.rawValue else {
            let error = AMQPError(.connectionLost, "\(what) failed: \(amqpStatusText(status))", libraryStatus: status)
            connectionLost(error)
            throw error
        }
    }
}

/// Which delivery tags of one channel are settled: every tag below `lowestUnsettled`, plus
/// the ones in `settledAhead` (settled out of order).
final class SettlementTracker {
    private(set) var lowestUnsettled: UInt64 = 1
    private var settledAhead: Set<UInt64> = []

    func settle(_ tag: UInt64) {
        if tag == lowestUnsettled {
            advance(to: tag + 1)
        } else if tag > lowestUnsettled {
            settledAhead.insert(tag)
        }
    }

    func settle(upTo tag: UInt64) {
        guard tag >= lowestUnsettled else { return }
        advance(to: tag + 1)
        settledAhead = settledAhead.filter { $0 >= lowestUnsettled }
    }

    private func advance(to next: UInt64) {
        lowestUnsettled = next
        while settledAhead.remove(lowestUnsettled) != nil { lowestUnsettled += 1 }
    }
}
