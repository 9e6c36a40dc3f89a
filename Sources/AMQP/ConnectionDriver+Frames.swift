internal import CRabbitMQ
import Foundation
import Logging

extension ConnectionDriver {
    /// Handles one incoming frame that no synchronous call was waiting for.
    func dispatch(_ frame: amqp_frame_t) {
        guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else {
            logger.debug("ignoring a stray content frame", metadata: ["amqp.channel": "\(frame.channel)"])
            return
        }
        let channel = frame.channel
        let method = frame.payload.method
        switch method.id {
        case AMQP_BASIC_DELIVER_METHOD:
            guard let decoded = method.decoded else { return }
            let deliver = decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            let header = DeliveryHeader(
                consumerTag: String(amqp: deliver.consumer_tag), deliveryTag: deliver.delivery_tag,
                redelivered: deliver.redelivered != 0, exchange: String(amqp: deliver.exchange),
                routingKey: String(amqp: deliver.routing_key))
            handleDeliver(header, channel: channel)

        case AMQP_BASIC_ACK_METHOD where channel == Self.publishChannel:
            guard let decoded = method.decoded else { return }
            let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            complete(confirms.settle(tag: ack.delivery_tag, multiple: ack.multiple != 0, nacked: false))

        case AMQP_BASIC_NACK_METHOD where channel == Self.publishChannel:
            guard let decoded = method.decoded else { return }
            let nack = decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            complete(confirms.settle(tag: nack.delivery_tag, multiple: nack.multiple != 0, nacked: true))

        case AMQP_BASIC_RETURN_METHOD:
            guard let decoded = method.decoded else { return }
            let returned = decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            let header = DeliveryHeader(
                consumerTag: nil, deliveryTag: 0, redelivered: false, exchange: String(amqp: returned.exchange),
                routingKey: String(amqp: returned.routing_key))
            let error = AMQPError(
                .publishReturned,
                "the broker returned the message: no queue is bound to exchange '\(header.exchange)' with routing key '\(header.routingKey)'",
                replyCode: returned.reply_code, replyText: String(amqp: returned.reply_text))
            guard let message = try? readDelivery(header, channel: channel) else { return }
            if !confirms.markReturned(
                exchange: header.exchange, routingKey: header.routingKey, messageID: message.properties.messageID, error: error)
            {
                logger.warning(
                    "a returned message matched no pending publish", metadata: ["amqp.routing_key": "\(header.routingKey)"])
            }

        case AMQP_BASIC_CANCEL_METHOD:
            guard let decoded = method.decoded else { return }
            let cancel = decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            let tag = String(amqp: cancel.consumer_tag)
            if let consumer = consumers.removeValue(forKey: tag) {
                logger.warning("the broker cancelled a consumer", metadata: ["amqp.queue": "\(consumer.request.queue)"])
                consumer.request.continuation.finish(
                    throwing: AMQPError(
                        .consumerCancelled,
                        "the broker cancelled the consumer of queue '\(consumer.request.queue)' (deleted or failed over)"))
            }

        case AMQP_CHANNEL_CLOSE_METHOD:
            guard let decoded = method.decoded else { return }
            let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            let error = AMQPError(
                .channelClosed, "the broker closed channel \(channel)", replyCode: close.reply_code,
                replyText: String(amqp: close.reply_text), classID: close.class_id, methodID: close.method_id)
            channelClosedByBroker(channel, error: error)

        case AMQP_CONNECTION_CLOSE_METHOD:
            guard let decoded = method.decoded else { return }
            let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            connectionClosedByBroker(
                AMQPError(
                    .connectionLost, "the broker closed the connection", replyCode: close.reply_code,
                    replyText: String(amqp: close.reply_text), classID: close.class_id, methodID: close.method_id))

        case AMQP_CONNECTION_BLOCKED_METHOD:
            var reason = ""
            if let decoded = method.decoded {
                reason = String(amqp: decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee.reason)
            }
            blocked = true
            logger.warning("the broker blocked publishing", metadata: ["amqp.reason": "\(reason)"])
            engine.eventSink.yield(.blocked(reason: reason))

        case AMQP_CONNECTION_UNBLOCKED_METHOD:
            blocked = false
            engine.eventSink.yield(.unblocked)

        default:
            logger.debug(
                "ignoring method", metadata: ["amqp.method": "0x\(String(method.id, radix: 16))", "amqp.channel": "\(channel)"])
        }
    }

    private func complete(_ settled: [(PublishRequest, Result<Void, AMQPError>)]) {
        for (request, result) in settled { request.completion(result) }
    }

    private func handleDeliver(_ header: DeliveryHeader, channel: UInt16) {
        guard let delivery = try? readDelivery(header, channel: channel) else { return }
        if let consumer = consumerByChannel[channel], consumer.request.tag == header.consumerTag,
            consumers[consumer.request.tag] === consumer
        {
            if let handler = consumer.request.handler {
                handler(delivery)
            } else {
                consumer.request.continuation.yield(delivery)
            }
        } else if let state = connection {
            // Sent before the broker saw our cancel: give it back now rather than hold it.
            try? flushAcks(channel: channel)
            _ = amqp_basic_reject(state, channel, header.deliveryTag, 1)
            tracker(on: channel).settle(header.deliveryTag)
        }
    }
}
