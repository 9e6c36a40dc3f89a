import AMQP
import Contracts
import Foundation
import Jobs
import Stores
import Synchronization
import TestSupport
import Testing
import Topology
import Workers

/// `kaltim-worker notifications` as operators run it: events from the broker, messages to a
/// real HTTP gateway on loopback, `notification.delivered` back on the exchange.
@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .serialized, .timeLimit(.minutes(10))
)
struct NotificationProcessTests {
    @Test func everyEventReachesItsPersonOnceAndDeliveryIsReported() async throws {
        let url = try #require(BrokerEnvironment.url)
        let connection = try await BrokerEnvironment.connect()
        let (prefix, topology, reports) = try await Self.declareTopology(on: connection)
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

    /// The notification crash test: a send is cut off by SIGKILL while the gateway holds it, the
    /// worker is restarted beside a replica whose dispatcher's clock runs 30 minutes ahead,
    /// both on one PostgreSQL store. Nothing already sent is sent again; nobody takes the cut-off
    /// message while the dead process's claim runs (the replica ahead would, if claims were
    /// taken on each process's clock); after the claim it is sent once more with the same
    /// idempotency key, which the gateway deduplicates, so every message reaches its person once.
    @Test func aSendCutOffByAKillIsTakenOverOnlyAfterItsClaimAndEveryMessageReachesItsPersonOnce() async throws {
        let url = try #require(BrokerEnvironment.url)
        let database = try PostgresEnvironment.requireURL()
        let schema = PostgresEnvironment.uniqueSchema("notifcrash")
        let connection = try await BrokerEnvironment.connect()
        let (prefix, topology, reports) = try await Self.declareTopology(on: connection)

        // The gateway holds the first request for the held person once armed, until released.
        let heldPerson = 50
        let heldPhone = String(format: "+6281250%06d", heldPerson)
        let armed = Mutex(false)
        let heldKey = Mutex<String?>(nil)
        let released = Mutex(false)
        let gateway = try await TestGateway.start(hold: { request, attempt in
            let holdThis = armed.withLock { $0 } && request.to == heldPhone && attempt == 1
            guard holdThis else { return }
            heldKey.withLock { $0 = request.key }
            while !released.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(20)) }
        })
        let binary = builtProductsDirectory.appendingPathComponent("kaltim-worker").path
        func worker(_ instance: String, arguments: [String] = []) throws -> ChildProcess {
            try ChildProcess(
                binary,
                [
                    "notifications", "--broker-url", url, "--store-schema", schema, "--instance", instance,
                    "--topology-prefix", prefix, "--programme-file", repositoryFile("config/programme-2025.json"),
                    "--templates", repositoryFile("config/notifications"), "--gateway-url", gateway.url, "--quiet-hours", "off",
                    "--no-http", "--retry-delays", "300ms", "--allow-any-publisher", "--allow-insecure-gateway",
                    // 20 minutes: shorter than the replica's 30 minutes ahead (so a claim taken
                    // on each process's clock would be taken over at once), and longer than
                    // this test on a busy machine (step 5 ends it by moving it, not waiting).
                    "--send-claim", "1200",
                ] + arguments,
                environment: ["KALTIM_GATEWAY_TOKEN": "token-123", "KALTIM_DATABASE_URL": database, "KALTIM_TESTING": "1"])
        }
        func publish(_ events: [OutgoingEvent]) async throws {
            let results = await connection.publish(events.map(\.amqpMessage), window: 100)
            #expect(results.allSatisfy { if case .success = $0 { true } else { false } })
        }
        @Sendable func reported() async throws -> Int { Int(try await connection.queueState(reports).messageCount) }
        // With two replicas, the outbox of each may publish a row the other wrote before that
        // one marks it (at least once, by design; consumers drop a repeated message id): count
        // the distinct reports, taken off the queue as they come.
        let reportIDs = Mutex(Set<String>())
        @Sendable func distinctReports() async throws -> Int {
            while let delivery = try await connection.get(queue: reports) {
                let id = delivery.properties.messageID ?? ""
                reportIDs.withLock { _ = $0.insert(id) }
            }
            return reportIDs.withLock { $0.count }
        }

        // 1. Ten people, three messages each, all sent and recorded; then the held person's
        //    registration message.
        let first = try worker("first")
        defer { Task { await first.terminate() } }
        try await first.waitForLog("\"msg\":\"worker started\"")
        var events: [OutgoingEvent] = []
        for index in 0..<10 {
            events += [
                try OutgoingEvent(NotificationDeliveryTests.submitted(index), exchange: topology.exchange),
                try OutgoingEvent(NotificationDeliveryTests.accepted(index), exchange: topology.exchange),
                try OutgoingEvent(NotificationDeliveryTests.scheduled(index), exchange: topology.exchange),
            ]
        }
        events.append(try OutgoingEvent(NotificationDeliveryTests.submitted(heldPerson), exchange: topology.exchange))
        try await publish(events)
        try await waitUntil(timeout: .seconds(120), "31 deliveries recorded and reported") { try await reported() == 31 }

        // 2. The held person's acceptance: its send stalls at the gateway, and the worker dies.
        armed.withLock { $0 = true }
        try await publish([try OutgoingEvent(NotificationDeliveryTests.accepted(heldPerson), exchange: topology.exchange)])
        try await waitUntil(timeout: .seconds(60), "the gateway holds the send") { heldKey.withLock { $0 } != nil }
        first.signal(SIGKILL)
        _ = try await first.waitForExit(timeout: .seconds(30))
        // The gateway finishes the request: the person got the message, the worker never heard.
        released.withLock { $0 = true }
        let key = try #require(heldKey.withLock { $0 })

        // 3. The worker restarted, and a replica whose clock is 30 minutes ahead.
        let restarted = try worker("restarted")
        defer { Task { await restarted.terminate() } }
        let ahead = try worker(
            "ahead", arguments: ["--dispatcher-clock-ahead", "1800"])
        defer { Task { await ahead.terminate() } }
        try await restarted.waitForLog("\"msg\":\"worker started\"")
        try await ahead.waitForLog("\"msg\":\"worker started\"")
        #expect(
            ahead.output.contains("--dispatcher-clock-ahead") && ahead.output.contains("\"seconds\":\"1800\""),
            "the replica's clock is ahead by more than the claim")

        // 4. Fresh people until both replicas have sent some: each has then looked at every due
        //    message, the held one included, after its start. Nobody sent the held one again:
        //    its claim, on the store's clock, still runs.
        let store = try await Stores.open(database, schema: schema)
        var fresh = 100
        var senders: Set<String> = []
        while !senders.isSuperset(of: ["restarted", "ahead"]) && fresh < 160 {
            let before = try await distinctReports()
            try await publish([try OutgoingEvent(NotificationDeliveryTests.submitted(fresh), exchange: topology.exchange)])
            try await waitUntil(timeout: .seconds(180), "a fresh message sent") { try await distinctReports() > before }
            let rows = try await store.read(
                "SELECT DISTINCT claimed_by FROM notif_messages WHERE registration_id LIKE 'REG-1__'", [])
            senders = Set(rows.compactMap { $0["claimed_by"]?.text })
            fresh += 1
        }
        // The replica's dispatcher really runs ahead: what it sent is stamped more than the
        // claim after the store's clock.
        let storeAtSends = try await store.currentTime().timeIntervalSince1970
        let aheadSends = try await store.read(
            "SELECT sent_at FROM notif_messages WHERE claimed_by = 'ahead' AND state = 'sent'", [])
        #expect(!aheadSends.isEmpty)
        #expect(
            aheadSends.allSatisfy { ($0["sent_at"]?.real ?? 0) > storeAtSends + 1200 },
            "\(aheadSends.map { ($0["sent_at"]?.real ?? 0) - storeAtSends })")
        #expect(senders == ["restarted", "ahead"], "both replicas dispatch, and only they")
        let claim = try await store.read(
            "SELECT state, claimed_by FROM notif_messages WHERE registration_id = ? AND state = 'pending'",
            [.text("REG-\(heldPerson)")])
        #expect(claim.count == 1 && claim.first?["claimed_by"]?.text == "first", "\(claim)")
        #expect(gateway.requests.values.filter { $0.key == key }.count == 1, "not sent again while the claim runs")

        // 5. The claim runs out (the test moves its end to the store's now rather than waiting):
        //    sent once more, with the same key, and recorded.
        let storeNow = try await store.currentTime().timeIntervalSince1970
        try await store.write { transaction in
            try transaction.execute(
                "UPDATE notif_messages SET claimed_until = ? WHERE registration_id = ? AND state = 'pending'",
                [.real(storeNow), .text("REG-\(heldPerson)")])
        }
        try await waitUntil(timeout: .seconds(180), "the held message recorded as sent") {
            try await store.read(
                "SELECT 1 FROM notif_messages WHERE registration_id = ? AND state = 'pending'", [.text("REG-\(heldPerson)")]
            ).isEmpty
        }
        // 30 for the ten people, the held person's two, and one per fresh person.
        let total = 32 + (fresh - 100)
        try await waitUntil(timeout: .seconds(180), "every delivery reported") { try await distinctReports() == total }
        let requests = gateway.requests.values
        var perKey: [String: Int] = [:]
        for request in requests { perKey[request.key, default: 0] += 1 }
        #expect(perKey.count == total, "every message reached the gateway")
        #expect(perKey[key] == 2, "the cut-off send was repeated once, with its idempotency key")
        #expect(perKey.filter { $0.key != key }.allSatisfy { $0.value == 1 }, "nothing else was sent twice")
        #expect(Set(gateway.accepted.values).count == total, "each person got each message once, after deduplication")

        await restarted.terminate()
        await ahead.terminate()
        _ = try? await connection.deleteQueue(reports)
        await topology.delete(on: connection)
        await connection.close()
        await gateway.stop()
    }

    /// A fresh notifications topology, and a queue `reports` bound to `notification.delivered`.
    static func declareTopology(on connection: AMQPConnection) async throws -> (String, RoleTopology, String) {
        let prefix = uniqueName() + "."
        let topology = RoleTopology(role: .notifications, retryDelays: [.milliseconds(300)], prefix: prefix)
        try await topology.declare(on: connection)
        let reports = prefix + "delivered"
        try await connection.declareQueue(AMQPQueueSpec(name: reports, durable: false, autoDelete: false))
        try await connection.bindQueue(reports, exchange: topology.exchange, routingKey: NotificationDeliveredV1.eventType)
        return (prefix, topology, reports)
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
            // A claim shorter than a send's timeout would let a replica repeat a send in flight.
            (["--gateway-url", "https://127.0.0.1:1/send", "--send-claim", "5"], "--send-claim must be 30 to 86400 seconds"),
        ] {
            let process = try ChildProcess(binary, common + arguments)
            #expect(try await process.waitForExit(timeout: .seconds(30)) == 64, "\(arguments)")
            #expect(process.output.contains(message), "\(arguments): \(process.output)")
            await process.terminate()
        }
    }
}
