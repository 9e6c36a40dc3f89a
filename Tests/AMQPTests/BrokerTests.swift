import AMQP
import Foundation
import TestSupport
import Testing

/// The AMQP layer against the real private broker (see `BrokerEnvironment`).
@Suite(
    .enabled(
        if: BrokerEnvironment.enabled,
        "needs the private broker: scripts/broker.sh start; export RABBITMQ_TEST_URL=$(scripts/broker.sh url)"),
    .timeLimit(.minutes(10))
)
struct BrokerTests {
    @Test func headerTableWithEveryValueTypeRoundTrips() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let queue = uniqueName()
        try await connection.declareQueue(AMQPQueueSpec(name: queue, durable: false, autoDelete: true))

        let stamp = Date(timeIntervalSince1970: 1_767_225_600)
        let headers: AMQPTable = [
            "bool": .bool(true), "int8": .int8(-8), "uint8": .uint8(200), "int16": .int16(-1600),
            "uint16": .uint16(60000), "int32": .int32(-32_000_000), "uint32": .uint32(4_000_000_000),
            "int64": .int64(-6_400_000_000_000), "float": .float(1.5), "double": .double(-2.25),
            "decimal": .decimal(scale: 2, value: 12345), "string": .string("Balikpapan ✓"),
            "bytes": .bytes([0, 1, 254, 255]), "timestamp": .timestamp(stamp), "void": .void,
            "table": .table(["nested": .table(["deep": "yes", "n": 7]), "empty": .table([:])]),
            "array": .array([1, "two", .bool(false), .array([.double(3.5)]), .table(["k": "v"])]),
            "emptyArray": .array([]),
        ]
        let properties = AMQPProperties(
            contentType: "application/json", contentEncoding: "identity", headers: headers, deliveryMode: .persistent,
            priority: 5, correlationID: "corr-1", replyTo: "reply.queue", expiration: "60000", messageID: "msg-1",
            timestamp: stamp, type: "registration.submitted", userID: "guest", appID: "tests", clusterID: nil)
        let body = Data((0..<300).map { UInt8($0 % 256) })
        try await connection.publish(body, routingKey: queue, properties: properties, mandatory: true)

        let consumer = try await connection.consume(queue: queue, prefetch: 1)
        let received = try await DeliveryInbox(consumer).next()
        #expect(received.body == body)
        #expect(received.properties == properties)
        #expect(received.properties.headers == headers)
        #expect(received.routingKey == queue)
        #expect(received.exchange == "")
        #expect(received.redelivered == false)
        try await received.ack()
    }

    @Test func tenThousandPersistentMessagesArriveExactlyOnceInPublishOrder() async throws {
        let publisher = try await BrokerEnvironment.connect()
        let consumerConnection = try await BrokerEnvironment.connect()
        defer {
            Task {
                await publisher.close()
                await consumerConnection.close()
            }
        }
        let queue = uniqueName()
        try await publisher.declareQueue(.quorum(queue))

        let count = 10_000
        let payload = Data(repeating: 0x61, count: 1024)
        let messages = (0..<count).map { index in
            AMQPOutgoingMessage(
                body: payload, routingKey: queue,
                properties: AMQPProperties(deliveryMode: .persistent, messageID: "\(index)"), mandatory: true)
        }
        let results = await publisher.publish(messages, window: 100)
        let failures = results.filter { if case .failure = $0 { true } else { false } }
        #expect(failures.isEmpty, "publishes failed: \(failures.prefix(3))")
        // A quorum queue answers a passive declaration with 0 when its leader is busy for
        // 250 ms, so the count is waited for rather than read once.
        try await waitUntil(timeout: .seconds(30), "the queue counts every message") {
            try await publisher.queueState(queue).messageCount == UInt32(count)
        }

        let consumer = try await consumerConnection.consume(queue: queue, prefetch: 200)
        let received = try await withDeadline(.seconds(120), "10,000 deliveries") {
            var ids: [Int] = []
            ids.reserveCapacity(count)
            for try await delivery in consumer {
                ids.append(Int(delivery.properties.messageID ?? "") ?? -1)
                #expect(delivery.redelivered == false)
                #expect(delivery.body.count == 1024)
                try await delivery.ack()
                if ids.count == count { break }
            }
            return ids
        }
        #expect(received == Array(0..<count), "deliveries out of order or duplicated")
        try await consumer.cancel()
        try await publisher.deleteQueue(queue)
    }

    @Test func unroutableMandatoryPublishIsReturnedAsAnError() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let missing = uniqueName("nowhere")
        await #expect {
            try await connection.publish(Data("x".utf8), routingKey: missing, mandatory: true)
        } throws: { error in
            let error = try #require(error as? AMQPError)
            return error.code == .publishReturned && error.replyCode == 312
        }
        // Not mandatory: the broker confirms (and drops) an unroutable message.
        try await connection.publish(Data("x".utf8), routingKey: missing, mandatory: false)
        // Other publishes on the same channel still work.
        let queue = uniqueName()
        try await connection.declareQueue(AMQPQueueSpec(name: queue, durable: false, autoDelete: true))
        try await connection.publish(Data("ok".utf8), routingKey: queue, mandatory: true)
        #expect(try await connection.queueState(queue).messageCount == 1)
    }

    /// A message id, correlation id or routing key over AMQP's 255 bytes fails that publish
    /// alone; the connection stays (before, librabbitmq's refusal took it down).
    @Test func anOverlongShortStringFailsThePublishNotTheConnection() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let queue = uniqueName()
        try await connection.declareQueue(AMQPQueueSpec(name: queue, durable: false, autoDelete: true))
        let long = String(repeating: "x", count: 256)
        for properties in [AMQPProperties(messageID: long), AMQPProperties(correlationID: long)] {
            await #expect {
                try await connection.publish(Data("x".utf8), routingKey: queue, properties: properties, mandatory: true)
            } throws: { error in
                (error as? AMQPError)?.code == .protocolError
            }
        }
        await #expect(throws: AMQPError.self) {
            try await connection.publish(Data("x".utf8), routingKey: long, mandatory: true)
        }
        #expect(connection.isConnected)
        try await connection.publish(
            Data("ok".utf8), routingKey: queue, properties: AMQPProperties(messageID: String(long.dropFirst())), mandatory: true)
        #expect(try await connection.queueState(queue).messageCount == 1)
        #expect(try await connection.get(queue: queue)?.properties.messageID?.utf8.count == 255)
    }

    @Test func cancellingABatchPublishGivesEveryMessageAnOutcome() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let queue = uniqueName()
        try await connection.declareQueue(AMQPQueueSpec(name: queue, durable: false, autoDelete: true))
        let messages = (0..<2000).map { AMQPOutgoingMessage(body: Data("m\($0)".utf8), routingKey: queue) }
        // The batch starts only once its task is cancelled (as a worker's flusher at shutdown).
        let task = Task {
            while !Task.isCancelled { await Task.yield() }
            return await connection.publish(messages, window: 50)
        }
        task.cancel()
        let results = await task.value
        #expect(results.count == messages.count)
        let cancelled = results.filter { if case .failure(let error) = $0 { error.code == .cancelled } else { false } }
        #expect(!cancelled.isEmpty, "the cancelled batch stopped early")
        #expect(cancelled.allSatisfy { if case .failure(let error) = $0 { error.isRetryable } else { false } })
        // The connection is still usable.
        try await connection.publish(Data("after".utf8), routingKey: queue)
        try await connection.deleteQueue(queue)
    }

    @Test func publishNackedByTheBrokerIsAnError() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let queue = uniqueName()
        try await connection.declareQueue(
            AMQPQueueSpec(
                name: queue, durable: false, autoDelete: true, arguments: ["x-max-length": 1, "x-overflow": "reject-publish"]))
        try await connection.publish(Data("first".utf8), routingKey: queue)
        await #expect {
            try await connection.publish(Data("second".utf8), routingKey: queue)
        } throws: { error in
            (error as? AMQPError)?.code == .publishNacked
        }
        // The connection and its publish channel stay usable.
        try await connection.purgeQueue(queue)
        try await connection.publish(Data("third".utf8), routingKey: queue)
        let delivery = try #require(try await connection.get(queue: queue))
        #expect(String(decoding: delivery.body, as: UTF8.self) == "third")
        try await delivery.ack()
        // Never consumed, so never auto-deleted: a queue left behind lingers in the management
        // API's listing for the rest of the run.
        try await connection.deleteQueue(queue)
    }

    @Test func publishingToAMissingExchangeFailsThatPublishAndTheNextOneWorks() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        await #expect {
            try await connection.publish(Data("x".utf8), exchange: uniqueName("no-such-exchange"), routingKey: "k")
        } throws: { error in
            let error = try #require(error as? AMQPError)
            return error.code == .channelClosed && error.replyCode == 404
        }
        // The publish channel is reopened in confirm mode on the next publish.
        let queue = uniqueName()
        try await connection.declareQueue(AMQPQueueSpec(name: queue, durable: false, autoDelete: true))
        let results = await connection.publish((0..<20).map { AMQPOutgoingMessage(body: Data("\($0)".utf8), routingKey: queue) })
        #expect(results.allSatisfy { if case .success = $0 { true } else { false } })
        #expect(try await connection.queueState(queue).messageCount == 20)
    }

    @Test func channelErrorsAreTypedAndLeaveTheConnectionUsable() async throws {
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let queue = uniqueName()
        try await connection.declareQueue(.quorum(queue))
        let consumer = try await connection.consume(queue: queue, prefetch: 10)
        let inbox = DeliveryInbox(consumer)

        // 404: a passive declare of a missing queue.
        await #expect {
            try await connection.queueState(uniqueName("missing"))
        } throws: { error in
            let error = try #require(error as? AMQPError)
            return error.code == .channelClosed && error.replyCode == 404 && (error.replyText ?? "").contains("NOT_FOUND")
        }
        // 406: the same queue declared with other arguments; the broker names the argument.
        await #expect {
            try await connection.declareQueue(.classic(queue))
        } throws: { error in
            let error = try #require(error as? AMQPError)
            return error.code == .channelClosed && error.replyCode == 406 && (error.replyText ?? "").contains("x-queue-type")
        }
        // 403: a reserved queue name.
        await #expect {
            try await connection.declareQueue(AMQPQueueSpec(name: "amq.\(uniqueName())"))
        } throws: { error in
            let error = try #require(error as? AMQPError)
            return error.code == .channelClosed && error.replyCode == 403
        }
        #expect(connection.isConnected)

        // The same connection declares, publishes and its consumer still receives.
        #expect(try await connection.queueState(queue).consumerCount == 1)
        try await connection.publish(Data("after errors".utf8), routingKey: queue, mandatory: true)
        let delivery = try await inbox.next()
        #expect(String(decoding: delivery.body, as: UTF8.self) == "after errors")
        try await delivery.ack()
        try await consumer.cancel()
        try await connection.deleteQueue(queue)
    }

    @Test func idleConnectionStaysOpenAcrossHeartbeats() async throws {
        let configuration = try BrokerEnvironment.configuration(heartbeat: .seconds(5))
        let connection = try await AMQPConnection.connect(configuration)
        defer { Task { await connection.close() } }
        let events = Collector<String>()
        let watcher = Task {
            for await event in connection.events { events.append("\(event)") }
        }
        defer { watcher.cancel() }
        let negotiated = try await brokerConnectionField(named: configuration.connectionName!, field: "timeout")
        #expect(negotiated == "5", "negotiated heartbeat")

        // Idle is the behaviour under test: no calls for 12 s. Without heartbeats the broker
        // would close the connection after 2 missed intervals (10 s). The 5 s interval leaves a
        // busy machine seconds of slack before a late heartbeat could count as missed.
        try await Task.sleep(for: .seconds(12))

        #expect(events.values.isEmpty, "connection events while idle: \(events.values)")
        #expect(connection.isConnected)
        #expect(try await brokerConnectionField(named: configuration.connectionName!, field: "state") == "running")
        let queue = uniqueName()
        try await connection.declareQueue(AMQPQueueSpec(name: queue, durable: false, autoDelete: true))
        try await connection.publish(Data("still here".utf8), routingKey: queue, mandatory: true)
    }

    @Test func forcedCloseIsDetectedAndTheConsumerResumesWithoutStaleAcks() async throws {
        let policy = ReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(1))
        let configuration = try BrokerEnvironment.configuration(heartbeat: .seconds(5), reconnect: policy)
        let connection = try await AMQPConnection.connect(configuration)
        let publisher = try await BrokerEnvironment.connect()
        defer {
            Task {
                await connection.close()
                await publisher.close()
            }
        }
        let events = Collector<String>()
        let watcher = Task {
            for await event in connection.events {
                switch event {
                case .disconnected(let error): events.append("disconnected \(error.replyCode ?? 0)")
                case .reconnected: events.append("reconnected")
                default: break
                }
            }
        }
        defer { watcher.cancel() }

        let queue = uniqueName()
        try await connection.declareQueue(.quorum(queue))
        let consumer = try await connection.consume(queue: queue, prefetch: 10)
        let inbox = DeliveryInbox(consumer)
        try await publisher.publish(
            Data("one".utf8), routingKey: queue, properties: AMQPProperties(messageID: "one"), mandatory: true)
        let first = try await inbox.next()
        #expect(first.redelivered == false)

        // The broker closes the connection (as `rabbitmqctl close_connection` does in operations).
        let pid = try await brokerConnectionField(named: configuration.connectionName!, field: "pid")
        try await BrokerEnvironment.brokerScript(["ctl", "close_connection", pid, "test forced close"])
        try await waitUntil(timeout: .seconds(20), "disconnect and reconnect") {
            events.values.contains("disconnected 320") && events.values.contains("reconnected")
        }

        // The unacknowledged delivery belongs to the dead channel: its ack is refused, not sent.
        await #expect {
            try await first.ack()
        } throws: { error in
            (error as? AMQPError)?.code == .staleDelivery
        }
        // The consumer was resubscribed and receives the same message again, then new ones.
        let again = try await inbox.next(within: .seconds(20))
        #expect(again.properties.messageID == "one")
        #expect(again.redelivered)
        try await again.ack()
        try await publisher.publish(
            Data("two".utf8), routingKey: queue, properties: AMQPProperties(messageID: "two"), mandatory: true)
        let second = try await inbox.next()
        #expect(second.properties.messageID == "two")
        try await second.ack()
        try await consumer.cancel()
        try await publisher.deleteQueue(queue)
    }

    /// Reads one field of the broker's `list_connections` for the connection with this
    /// client-provided name (RabbitMQ 3.10 shows it inside `client_properties`).
    private func brokerConnectionField(named name: String, field: String) async throws -> String {
        let output = try await BrokerEnvironment.brokerScript(["ctl", "-q", "list_connections", field, "client_properties"])
        for line in output.split(separator: "\n") where line.contains("\"\(name)\"") {
            return String(line.split(separator: "\t")[0])
        }
        throw TestFailure("the broker lists no connection named \(name)")
    }
}
