import AMQP
import Foundation
import TestSupport
import Testing

/// Routing through exchanges, prefetch, and every way of settling a delivery.
@Suite(
    .enabled(
        if: BrokerEnvironment.enabled,
        "needs the private broker: scripts/broker.sh start; export RABBITMQ_TEST_URL=$(scripts/broker.sh url)"),
    .timeLimit(.minutes(10))
)
struct ConsumeTests {
    @Test func topicExchangeRoutesByPatternAndBindingsCanBeRemoved() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let exchange = uniqueName("events")
        let queue = uniqueName()
        try await connection.declareExchange(exchange, type: .topic, durable: false, autoDelete: false)
        try await connection.checkExchange(exchange)
        try await connection.declareQueue(AMQPQueueSpec(name: queue, durable: false, autoDelete: true))
        try await connection.bindQueue(queue, exchange: exchange, routingKey: "registration.*.v1")

        for key in ["registration.submitted.v1", "registration.accepted.v1", "assessment.graded.v1", "registration.submitted.v2"]
        {
            try await connection.publish(Data(key.utf8), exchange: exchange, routingKey: key)
        }
        #expect(try await connection.queueState(queue).messageCount == 2)
        var keys: [String] = []
        while let delivery = try await connection.get(queue: queue) {
            keys.append(delivery.routingKey)
            #expect(delivery.exchange == exchange)
            try await delivery.ack()
        }
        #expect(keys == ["registration.submitted.v1", "registration.accepted.v1"])

        try await connection.unbindQueue(queue, exchange: exchange, routingKey: "registration.*.v1")
        await #expect {
            try await connection.publish(Data(), exchange: exchange, routingKey: "registration.submitted.v1", mandatory: true)
        } throws: { ($0 as? AMQPError)?.code == .publishReturned }
        try await connection.deleteExchange(exchange)
        await #expect {
            try await connection.checkExchange(exchange)
        } throws: { ($0 as? AMQPError)?.replyCode == 404 }
    }

    @Test func prefetchBoundsUnacknowledgedDeliveries() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let queue = uniqueName()
        try await connection.declareQueue(.classic(queue))
        _ = await connection.publish((0..<10).map { AMQPOutgoingMessage(body: Data("\($0)".utf8), routingKey: queue) })
        let inbox = DeliveryInbox(try await connection.consume(queue: queue, prefetch: 3))
        var first: [AMQPDelivery] = []
        for _ in 0..<3 { first.append(try await inbox.next()) }
        // With three unacknowledged, the broker holds the other seven back.
        try await waitUntil(timeout: .seconds(5), "7 ready messages") { try await connection.queueState(queue).messageCount == 7 }
        await #expect(throws: TestFailure.self) { _ = try await inbox.next(within: .milliseconds(500)) }
        for delivery in first { try await delivery.ack() }
        for _ in 0..<7 { try await inbox.next().ack() }
        try await waitUntil(timeout: .seconds(5), "queue drained") { try await connection.queueState(queue).messageCount == 0 }
        try await connection.deleteQueue(queue)
    }

    @Test func rejectRequeuesAndNackWithoutRequeueDeadLetters() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let queue = uniqueName()
        let dead = uniqueName("dead")
        try await connection.declareQueue(.quorum(dead))
        try await connection.declareQueue(
            .quorum(queue, arguments: ["x-dead-letter-exchange": "", "x-dead-letter-routing-key": .string(dead)]))
        try await connection.publish(Data("poison".utf8), routingKey: queue, properties: AMQPProperties(messageID: "p1"))
        let inbox = DeliveryInbox(try await connection.consume(queue: queue, prefetch: 5))

        let first = try await inbox.next()
        #expect(!first.redelivered)
        try await first.reject(requeue: true)
        let second = try await inbox.next()
        #expect(second.redelivered)
        #expect(second.properties.messageID == "p1")
        try await second.nack(requeue: false)

        try await waitUntil(timeout: .seconds(60), "dead-lettered") { try await connection.queueState(dead).messageCount == 1 }
        let deadLetter = try #require(try await connection.get(queue: dead))
        #expect(String(decoding: deadLetter.body, as: UTF8.self) == "poison")
        #expect(deadLetter.properties.headers?["x-death"] != nil)
        try await deadLetter.ack()
        try await connection.deleteQueue(queue)
        try await connection.deleteQueue(dead)
    }

    @Test func acksInAnyOrderSettleEveryDeliveryExactlyOnce() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let queue = uniqueName()
        try await connection.declareQueue(.classic(queue))
        let count = 400
        _ = await connection.publish((0..<count).map { AMQPOutgoingMessage(body: Data("\($0)".utf8), routingKey: queue) })
        let inbox = DeliveryInbox(try await connection.consume(queue: queue, prefetch: 100))
        var batch: [AMQPDelivery] = []
        var seen = Set<String>()
        var nacked = Set<String>()
        var settled = 0
        while settled < count {
            batch.append(try await inbox.next())
            if batch.count == 40 || settled + batch.count == count {
                // Reverse and shuffled orders, acks mixed with nacks that requeue: the coalesced
                // multiple-acks must never cover a delivery that was not acked.
                batch.shuffle()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (index, delivery) in batch.enumerated() {
                        let body = String(decoding: delivery.body, as: UTF8.self)
                        // Only what we nacked may come back: a wrong multiple-ack would close
                        // the channel (406) and every unacked delivery would be redelivered.
                        #expect(!delivery.redelivered || nacked.contains(body), "unexpected redelivery of \(body)")
                        if index % 10 == 3 && !delivery.redelivered {
                            nacked.insert(body)
                            group.addTask { try await delivery.nack(requeue: true) }
                        } else {
                            seen.insert(body)
                            settled += 1
                            group.addTask { try await delivery.ack() }
                        }
                    }
                    try await group.waitForAll()
                }
                batch.removeAll()
            }
        }
        #expect(seen.count == count)
        #expect(!nacked.isEmpty)
        #expect(connection.isConnected)
        try await waitUntil(timeout: .seconds(60), "every message settled") {
            let state = try await connection.queueState(queue)
            return state.messageCount == 0
        }
        // No unacknowledged leftovers: after the consumer goes, nothing comes back.
        try await connection.purgeQueue(queue)
        #expect(try await connection.deleteQueue(queue) == 0)
    }

    @Test func aBatchAckFromTwoConnectionsSettlesEachOnItsOwnConnectionAndReportsAStaleOne() async throws {
        let first = try await BrokerEnvironment.connect()
        let second = try await BrokerEnvironment.connect()
        defer {
            Task {
                await first.close()
                await second.close()
            }
        }
        let queue = uniqueName()
        try await first.declareQueue(.classic(queue))
        let count = 300
        _ = await first.publish((0..<count).map { AMQPOutgoingMessage(body: Data("\($0)".utf8), routingKey: queue) })
        let consumers = [
            try await first.consume(queue: queue, prefetch: 100), try await second.consume(queue: queue, prefetch: 100),
        ]
        let inboxes = consumers.map(DeliveryInbox.init)
        var received: [AMQPDelivery] = []
        var bodies = Set<String>()
        let deadline = ContinuousClock.now + .seconds(20)
        while bodies.count < count, ContinuousClock.now < deadline {
            var arrived = false
            for inbox in inboxes {
                while let delivery = inbox.poll() {
                    received.append(delivery)
                    bodies.insert(String(decoding: delivery.body, as: UTF8.self))
                    arrived = true
                }
            }
            // Settle as they come, shuffled and mixed across both connections, so that the
            // prefetch windows keep moving.
            if received.count >= 50 || (bodies.count == count && !received.isEmpty) {
                received.shuffle()
                AMQPDelivery.ack(received, onFailure: { Issue.record("ack failed: \($0)") })
                received.removeAll()
            }
            if !arrived { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(bodies.count == count)
        try await waitUntil(timeout: .seconds(60), "every message settled") {
            let state = try await first.queueState(queue)
            return state.messageCount == 0
        }
        // A delivery whose channel is gone is reported, not sent on another channel.
        for consumer in consumers { try await consumer.cancel() }
        _ = await first.publish([AMQPOutgoingMessage(body: Data("late".utf8), routingKey: queue)])
        let third = try await BrokerEnvironment.connect()
        let late = try await withDeadline(.seconds(10), "a late delivery") {
            while true {
                if let delivery = try await third.get(queue: queue) { return delivery }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        await third.close()
        let failures = Collector<String>()
        AMQPDelivery.ack([late], onFailure: { failures.append("\($0.code)") })
        try await waitUntil(timeout: .seconds(5), "the stale ack reported") { !failures.values.isEmpty }
        #expect(failures.values == ["connectionClosed"])
        // Every batch-acked delivery was acked on its own connection: closing both gives none
        // of them back; only the late message is left.
        await first.close()
        await second.close()
        let checker = try await BrokerEnvironment.connect()
        try await waitUntil(timeout: .seconds(60), "only the late message left in the queue") {
            try await checker.queueState(queue).messageCount == 1
        }
        #expect(try await checker.deleteQueue(queue) == 1)
        await checker.close()
    }

    @Test func cancellingAConsumerEndsItsSequence() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let queue = uniqueName()
        try await connection.declareQueue(AMQPQueueSpec(name: queue, durable: false, autoDelete: false))
        let consumer = try await connection.consume(queue: queue, prefetch: 1)
        #expect(try await connection.queueState(queue).consumerCount == 1)
        let ended = Task {
            var count = 0
            for try await _ in consumer { count += 1 }
            return count
        }
        try await consumer.cancel()
        #expect(try await withDeadline(.seconds(5), "the sequence ends") { try await ended.value } == 0)
        #expect(try await connection.queueState(queue).consumerCount == 0)
        try await connection.deleteQueue(queue)
    }

    @Test func callbackConsumerRelaysWithoutTasks() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let source = uniqueName("source")
        let target = uniqueName("target")
        try await connection.declareQueue(.quorum(source))
        try await connection.declareQueue(.quorum(target))
        let count = 500
        _ = await connection.publish(
            (0..<count).map {
                AMQPOutgoingMessage(body: Data("\($0)".utf8), routingKey: source, properties: AMQPProperties(messageID: "\($0)"))
            })

        let failures = Collector<String>()
        let consumer = try await connection.consume(queue: source, prefetch: 20) { delivery in
            connection.publish(delivery.body, routingKey: target, properties: delivery.properties, mandatory: true) { result in
                if case .failure(let error) = result { failures.append("publish: \(error)") }
                delivery.ack(onFailure: { failures.append("ack: \($0)") })
            }
        }
        let ended = Task { () -> Int in
            var yielded = 0
            for try await _ in consumer { yielded += 1 }
            return yielded
        }
        try await waitUntil(timeout: .seconds(30), "every message relayed") {
            try await connection.queueState(target).messageCount == UInt32(count)
        }
        try await waitUntil(timeout: .seconds(60), "the source drained and acked") {
            try await connection.queueState(source).messageCount == 0
        }
        try await consumer.cancel()
        #expect(try await withDeadline(.seconds(5), "the sequence ends") { try await ended.value } == 0)
        #expect(failures.values.isEmpty, "\(failures.values.prefix(3))")
        var ids = Set<String>()
        while let delivery = try await connection.get(queue: target) {
            ids.insert(delivery.properties.messageID ?? "")
            try await delivery.ack()
        }
        #expect(ids == Set((0..<count).map { "\($0)" }))
        try await connection.deleteQueue(source)
        try await connection.deleteQueue(target)
    }
}
