import AMQP
import Contracts
import Foundation
import Jobs
import TestSupport
import Testing
import Workers

/// `kaltim-worker notifications` as operators run it: events from the broker, messages to a
/// real HTTP gateway on loopback, `notification.delivered` back on the exchange.
@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .serialized, .timeLimit(.minutes(5))
)
struct NotificationProcessTests {
    @Test func everyEventReachesItsPersonOnceAndDeliveryIsReported() async throws {
        let url = try #require(BrokerEnvironment.url)
        let connection = try await BrokerEnvironment.connect()
        let prefix = uniqueName() + "."
        let topology = RoleTopology(role: .notifications, retryDelays: [.milliseconds(300)], prefix: prefix)
        try await topology.declare(on: connection)
        let reports = prefix + "delivered"
        try await connection.declareQueue(AMQPQueueSpec(name: reports, durable: false, autoDelete: false))
        try await connection.bindQueue(reports, exchange: topology.exchange, routingKey: NotificationDeliveredV1.eventType)
        let gateway = try await TestGateway.start()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(prefix + "d")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let worker = try ChildProcess(
            builtProductsDirectory.appendingPathComponent("kaltim-worker").path,
            [
                "notifications", "--broker-url", url, "--database", directory.appendingPathComponent("n.sqlite").path,
                "--topology-prefix", prefix, "--programme-file", repositoryFile("config/programme-2025.json"),
                "--templates", repositoryFile("config/notifications"), "--gateway-url", gateway.url,
                "--quiet-hours", "off", "--no-http", "--retry-delays", "300ms", "--allow-any-publisher",
                "--allow-insecure-gateway",
            ],
            environment: ["KALTIM_GATEWAY_TOKEN": "token-123"])
        defer { Task { await worker.terminate() } }
        try await worker.waitForLog("\"msg\":\"worker started\"")

        let people = 40
        var messages: [AMQPOutgoingMessage] = []
        for index in 0..<people {
            let events = [
                try OutgoingEvent(NotificationDeliveryTests.submitted(index), exchange: topology.exchange),
                try OutgoingEvent(NotificationDeliveryTests.accepted(index), exchange: topology.exchange),
                try OutgoingEvent(NotificationDeliveryTests.scheduled(index), exchange: topology.exchange),
            ]
            messages += events.map(\.amqpMessage)
            // The schedule once more with the same id: a redelivery or a dead-letter replay.
            messages.append(events[2].amqpMessage)
        }
        #expect(await connection.publish(messages, window: 100).allSatisfy { if case .success = $0 { true } else { false } })
        try await waitUntil(timeout: .seconds(120), "every message accepted by the gateway") {
            gateway.accepted.count >= 3 * people
        }
        try await waitUntil(timeout: .seconds(60), "every delivery reported on the exchange") {
            try await connection.queueState(reports).messageCount >= UInt32(3 * people)
        }
        #expect(gateway.accepted.count == 3 * people && Set(gateway.accepted.values).count == 3 * people)
        #expect(gateway.requests.values.allSatisfy { $0.authorization == "Bearer token-123" })
        #expect(try await connection.queueState(reports).messageCount == UInt32(3 * people))

        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit(timeout: .seconds(60)) == 0, "\(worker.output.suffix(2000))")
        #expect(gateway.requests.count == 3 * people, "nothing sent twice, also not at shutdown")
        let log = worker.output
        #expect(!log.contains("6471054107990003") && !log.contains("+6281250"), "no NIK or phone number in the log")
        #expect(log.contains("plain http (--allow-insecure-gateway)"), "an insecure gateway is never silent")
        // The store holds contacts: nobody but its owner and group may read it.
        for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) where file.hasPrefix("n.sqlite") {
            let mode =
                try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(file).path)[
                    .posixPermissions] as? Int
            #expect(mode.map { $0 & 0o027 } == 0, "\(file): mode \(String(mode ?? 0, radix: 8))")
        }

        _ = try? await connection.deleteQueue(reports)
        await topology.delete(on: connection)
        await connection.close()
        await gateway.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Numbers, addresses, texts and the gateway's token travel encrypted unless a development
    /// flag says otherwise by name.
    @Test func plainTransportsAreRefusedWithoutTheirDevelopmentFlag() async throws {
        let binary = builtProductsDirectory.appendingPathComponent("kaltim-worker").path
        let common = ["notifications", "--templates", repositoryFile("config/notifications"), "--no-http"]
        for (arguments, message) in [
            (["--gateway-url", "http://127.0.0.1:1/send"], "--gateway-url must be https://"),
            (["--gateway-url", "ftp://127.0.0.1/send"], "--gateway-url must be an https:// URL"),
            (["--smtp-url", "smtp://127.0.0.1:25", "--smtp-starttls", "--allow-insecure-smtp"], "exclude each other"),
            (["--smtp-url", "imap://127.0.0.1"], "--smtp-url must be smtps:// or smtp://"),
        ] {
            let process = try ChildProcess(binary, common + arguments)
            #expect(try await process.waitForExit(timeout: .seconds(30)) == 64, "\(arguments)")
            #expect(process.output.contains(message), "\(arguments): \(process.output)")
            await process.terminate()
        }
    }
}
