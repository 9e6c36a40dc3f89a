import AMQP
import ContractKit
import Contracts
import Foundation
import Jobs
import Stores
import Synchronization
import TestSupport
import Testing
import Topology

/// One isolated topology, store file and output queue, and the probe worker processes that
/// share them (the real worker host: options, signals, store, metrics, HTTP probes).
struct ProbeFleet {
    let url: String
    let prefix: String
    let topology: RoleTopology
    let database: String
    let outputQueue: String
    let connection: AMQPConnection
    let markerPath: String

    static var probePath: String { builtProductsDirectory.appendingPathComponent("jobs-probe-worker").path }

    static func make(url: String? = nil, name: String = #function) async throws -> ProbeFleet {
        let url = try url ?? BrokerEnvironment.url.map { $0 } ?? { throw TestFailure("RABBITMQ_TEST_URL is not set") }()
        var configuration = try AMQPConfiguration(url: url)
        configuration.reconnect = ReconnectPolicy(initialDelay: .milliseconds(200), maximumDelay: .seconds(2))
        configuration.connectionName = "probe-fleet"
        // The test's own connection is not what is tested: with three workers, a 5,000-message
        // backlog and four test brokers booting at once on two cores, it once went 60 s without
        // a byte from the broker (a heartbeat timeout of 30 s), in two full runs out of three.
        // It asks for 120 s; the node grants at most its own 60 s, which doubles the margin.
        configuration.heartbeat = .seconds(120)
        let connection = try await AMQPConnection.connect(configuration)
        let prefix = uniqueName(name) + "."
        let topology = RoleTopology(role: .intake, retryDelays: [.milliseconds(200)], prefix: prefix)
        try await topology.declare(on: connection)
        let outputQueue = topology.queue + ".accepted-output"
        try await connection.declareQueue(.quorum(outputQueue))
        try await connection.bindQueue(outputQueue, exchange: topology.exchange, routingKey: RegistrationAcceptedV1.eventType)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(prefix + "d")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return ProbeFleet(
            url: url, prefix: prefix, topology: topology, database: directory.appendingPathComponent("intake.sqlite").path,
            outputQueue: outputQueue, connection: connection, markerPath: directory.appendingPathComponent("killed").path)
    }

    /// Starts one probe worker process.
    func start(concurrency: Int = 64, workMilliseconds: Int = 0, environment: [String: String] = [:]) throws -> ChildProcess {
        try ChildProcess(
            Self.probePath,
            [
                "--broker-url", url, "--database", database, "--topology-prefix", prefix, "--retry-delays", "200ms",
                "--concurrency", "\(concurrency)", "--shutdown-timeout", "30", "--allow-any-publisher",
            ],
            environment: environment.merging(["PROBE_WORK_MS": "\(workMilliseconds)"]) { old, _ in old })
    }

    func messageID(_ index: Int) -> String { "\(prefix)msg-\(index)" }

    /// Publishes registrations `range` with confirms.
    func submit(_ range: Range<Int>) async throws {
        let template = RegistrationSubmittedV2(
            registrationID: "", nik: "6471054107990003", familyCardNumber: nil, fullName: "Siti Rahmawati",
            birthPlace: "Balikpapan", birthDate: "1999-07-01", sex: .female, phone: "+6281250001001", whatsApp: nil,
            email: nil, domicile: Domicile(regionCode: "6471051001", address: "Jl. Contoh 1"), education: .smk,
            employmentStatus: .unemployed, jobSeekerCardNumber: nil, preferredCentre: .balikpapan,
            programme: "MEKANIK_SEPEDA_MOTOR", secondChoiceProgramme: nil, apprenticeshipInterest: false,
            declaredTrainings: [], consent: Consent(given: true, givenAt: "2025-03-03T01:14:10Z", textVersion: "pdp-2025-01"))
        let messages = try range.map { index -> AMQPOutgoingMessage in
            var registration = template
            registration.registrationID = "REG-\(index)"
            return try OutgoingEvent(
                EventEnvelope(id: messageID(index), source: "/kaltim/registration-portal", data: registration),
                exchange: topology.exchange
            ).amqpMessage
        }
        // An unconfirmed message is published again (the workers deduplicate by message id),
        // as a publisher should after a connection loss.
        var pending = messages
        for _ in 0..<3 where !pending.isEmpty {
            let results = await connection.publish(pending, window: 200)
            pending = zip(pending, results).compactMap { message, result in
                if case .failure = result { message } else { nil }
            }
            if !pending.isEmpty { try await Task.sleep(for: .seconds(2)) }
        }
        guard pending.isEmpty else { throw TestFailure("\(pending.count) registrations were not confirmed") }
    }

    /// Effect rows, distinct messages among them, and processes that produced them.
    func effects() async throws -> (rows: Int, messages: Int, instances: Int) {
        let store = try SQLiteStore(readingAt: database)
        let tables = try await store.read("SELECT name FROM sqlite_master WHERE name = 'probe_effects'")
        guard !tables.isEmpty else { return (0, 0, 0) }
        let row = try #require(
            try await store.read(
                "SELECT COUNT(*) AS n, COUNT(DISTINCT message_id) AS d, COUNT(DISTINCT instance) AS i FROM probe_effects"
            ).first)
        return (Int(row["n"]?.integer ?? -1), Int(row["d"]?.integer ?? -1), Int(row["i"]?.integer ?? -1))
    }

    func effectRows(messageID: String) async throws -> Int {
        let store = try SQLiteStore(readingAt: database)
        let rows = try await store.read("SELECT COUNT(*) AS n FROM probe_effects WHERE message_id = ?", [.text(messageID)])
        return Int(rows.first?["n"]?.integer ?? -1)
    }

    /// Drains the output queue: the distinct message ids of the `registration.accepted` events.
    func drainOutputs() async throws -> (messages: Int, distinct: Set<String>) {
        var ids: [String] = []
        while let delivery = try await connection.get(queue: outputQueue) {
            ids.append(delivery.properties.messageID ?? "")
            // An ack can be refused as stale when the test's channel was closed meanwhile (seen in
            // CI under load); the broker then redelivers the message, which counts once by id.
            try? await delivery.ack()
        }
        return (ids.count, Set(ids))
    }

    func cleanUp(_ processes: [ChildProcess]) async {
        for process in processes { await process.terminate() }
        _ = try? await connection.deleteQueue(outputQueue)
        await topology.delete(on: connection)
        await connection.close()
        try? FileManager.default.removeItem(at: URL(fileURLWithPath: database).deletingLastPathComponent())
    }
}

/// The runtime's guarantees at the process level: real worker processes, killed, signalled,
/// run side by side, and across a broker restart.
@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .serialized, .timeLimit(.minutes(10))
)
struct WorkerProcessTests {
    @Test func killNineBetweenCommitAndAckGivesNoSecondEffect() async throws {
        let fleet = try await ProbeFleet.make()
        let target = fleet.messageID(25)
        let first = try fleet.start(
            concurrency: 8,
            environment: ["PROBE_KILL_AFTER_COMMIT": target, "PROBE_KILL_MARKER": fleet.markerPath])
        var processes = [first]
        try await first.waitForLog("\"msg\":\"worker started\"")
        try await fleet.submit(0..<50)
        #expect(try await first.waitForExit(timeout: .seconds(60)) == 128 + SIGKILL)
        #expect(FileManager.default.fileExists(atPath: fleet.markerPath), "killed by the hook, after the commit")
        #expect(try await fleet.effectRows(messageID: target) == 1, "the effect was committed before the kill")

        // A new process: the unacknowledged messages come back, the committed ones are
        // recognised, the outbox the dead process left is published.
        let second = try fleet.start(environment: ["PROBE_KILL_AFTER_COMMIT": target, "PROBE_KILL_MARKER": fleet.markerPath])
        processes.append(second)
        try await waitUntil(timeout: .seconds(60), "every registration has its effect") {
            try await fleet.effects().messages == 50
        }
        try await waitUntil(timeout: .seconds(30), "the role queue is empty and settled") {
            // The test's own connection may be reconnecting under load: ask again.
            guard let state = try? await fleet.connection.queueState(fleet.topology.queue) else { return false }
            let outbox = try await SQLiteStore(readingAt: fleet.database).outboxDepth()
            return state.messageCount == 0 && outbox == 0
        }
        second.signal(SIGTERM)
        #expect(try await second.waitForExit(timeout: .seconds(30)) == 0)
        let effects = try await fleet.effects()
        #expect(effects.rows == 50, "one effect per message, none twice")
        #expect(try await fleet.effectRows(messageID: target) == 1)
        let statistics = try second.exitStatistics()
        #expect((statistics["duplicates"] ?? 0) >= 1, "the redelivered, already committed message was recognised")
        let outputs = try await fleet.drainOutputs()
        #expect(outputs.distinct == Set((0..<50).map { "accepted-" + fleet.messageID($0) }))
        await fleet.cleanUp(processes)
    }

    /// A handler that traps on one message at concurrency 64: the process dies with a whole
    /// batch in flight, every time it meets that message. Restarted as a supervisor would, the
    /// worker handles redelivered messages one at a time, so the poison ends alone in the dead
    /// letters as `crashed-worker`, and every other message is decided exactly once.
    @Test func aMessageThatCrashesTheWorkerEndsAloneInTheDeadLetters() async throws {
        let fleet = try await ProbeFleet.make()
        let count = 400
        let target = fleet.messageID(150)
        try await fleet.submit(0..<count)
        let environment = ["PROBE_TRAP_ID": target]
        // The test restarts the worker whenever it dies, as `supervise` or systemd would.
        let fleetState = Mutex(
            (processes: [try fleet.start(concurrency: 64, workMilliseconds: 1, environment: environment)], crashes: 0))
        try await waitUntil(timeout: .seconds(240), "every message decided and the poison dead-lettered") {
            try fleetState.withLock { state in
                guard let last = state.processes.last, let status = last.status else { return }
                #expect(status != 0, "only a crash ends the worker here: \(last.output.suffix(2000))")
                state.crashes += 1
                state.processes.append(try fleet.start(concurrency: 64, workMilliseconds: 1, environment: environment))
            }
            guard let dead = try? await fleet.connection.queueState(fleet.topology.deadLetterQueue) else { return false }
            // The store file may not exist yet while the first process starts.
            return (try? await fleet.effects().messages) == count - 1 && dead.messageCount == 1
        }
        let (processes, crashes) = fleetState.withLock { ($0.processes, $0.crashes) }
        #expect(crashes >= 1, "the poison crashed the worker")
        #expect(crashes <= 3 + 1, "at most the crash limit, plus the batch it first arrived in: \(crashes)")
        try await waitUntil(timeout: .seconds(60), "the role queue is empty and the outbox published") {
            guard let state = try? await fleet.connection.queueState(fleet.topology.queue) else { return false }
            let outbox = try await SQLiteStore(readingAt: fleet.database).outboxDepth()
            return state.messageCount == 0 && outbox == 0
        }
        let letter = try #require(try await fleet.connection.get(queue: fleet.topology.deadLetterQueue))
        #expect(letter.properties.messageID == target)
        #expect(letter.properties.headers?[FailureRouter.Header.code]?.stringValue == "crashed-worker")
        #expect(letter.properties.headers?[FailureRouter.Header.message]?.stringValue?.contains("3 times") == true)
        try await letter.ack()
        let effects = try await fleet.effects()
        #expect(effects.rows == count - 1 && effects.messages == count - 1, "every other message decided once")
        #expect(try await fleet.effectRows(messageID: target) == 0)
        let outputs = try await fleet.drainOutputs()
        #expect(outputs.distinct == Set((0..<count).filter { $0 != 150 }.map { "accepted-" + fleet.messageID($0) }))
        processes.last?.signal(SIGTERM)
        #expect(try await processes.last?.waitForExit(timeout: .seconds(30)) == 0)
        await fleet.cleanUp(processes)
    }

    @Test func threeProcessesSharing5000MessagesGiveExactly5000Effects() async throws {
        let fleet = try await ProbeFleet.make()
        let processes = try (0..<3).map { _ in try fleet.start(concurrency: 32) }
        for process in processes { try await process.waitForLog("\"msg\":\"worker started\"") }
        try await fleet.submit(0..<5000)
        try await waitUntil(timeout: .seconds(180), "5,000 effects") { try await fleet.effects().messages == 5000 }
        try await waitUntil(timeout: .seconds(30), "the role queue is empty and the outbox published") {
            // The test's own connection may be reconnecting under load: ask again.
            guard let state = try? await fleet.connection.queueState(fleet.topology.queue) else { return false }
            let outbox = try await SQLiteStore(readingAt: fleet.database).outboxDepth()
            return state.messageCount == 0 && outbox == 0
        }
        for process in processes { process.signal(SIGTERM) }
        for process in processes { #expect(try await process.waitForExit(timeout: .seconds(30)) == 0) }
        let effects = try await fleet.effects()
        #expect(effects.rows == 5000, "exactly one effect per message")
        #expect(effects.instances == 3, "all three processes took a share")
        let received = try processes.map { try $0.exitStatistics()["received"] ?? 0 }
        #expect(received.allSatisfy { $0 > 0 }, "shares: \(received)")
        let outputs = try await fleet.drainOutputs()
        #expect(outputs.distinct.count == 5000)
        #expect(try await fleet.connection.queueState(fleet.topology.deadLetterQueue).messageCount == 0)
        await fleet.cleanUp(processes)
    }

    @Test func sigtermUnderLoadFinishesInFlightWorkWithoutRedelivery() async throws {
        let fleet = try await ProbeFleet.make()
        // Handlings after the 100th wait until the SIGTERM is sent, so it always finds work left.
        let hold = fleet.database + ".hold"
        try #require(FileManager.default.createFile(atPath: hold, contents: nil))
        defer { for file in [hold, hold + ".reached"] { try? FileManager.default.removeItem(atPath: file) } }
        let first = try fleet.start(
            concurrency: 64, workMilliseconds: 2, environment: ["PROBE_HOLD_AFTER": "100", "PROBE_HOLD_FILE": hold])
        try await first.waitForLog("\"msg\":\"worker started\"")
        try await fleet.submit(0..<1000)
        try await waitUntil(timeout: .seconds(60), "the first process is under load (its 101st handling held)") {
            FileManager.default.fileExists(atPath: hold + ".reached")
        }
        first.signal(SIGTERM)
        try await waitUntil(timeout: .seconds(60), "the process begins its shutdown") {
            first.output.contains("graceful shutdown: no new deliveries")
        }
        try FileManager.default.removeItem(atPath: hold)
        #expect(try await first.waitForExit(timeout: .seconds(30)) == 0, "a graceful shutdown exits 0")
        let stopped = try first.exitStatistics()
        #expect(stopped["received"] == stopped["succeeded"], "everything received was finished: \(stopped)")
        let rowsAfterStop = try await fleet.effects().rows
        #expect(rowsAfterStop == stopped["succeeded"])
        #expect((stopped["succeeded"] ?? 0) < 1000, "stopped while messages were still waiting: \(first.output)")

        let second = try fleet.start()
        try await waitUntil(timeout: .seconds(60), "the second process finishes the rest") {
            try await fleet.effects().messages == 1000
        }
        second.signal(SIGTERM)
        #expect(try await second.waitForExit(timeout: .seconds(30)) == 0, "\(second.output)")
        let rest = try second.exitStatistics()
        #expect(rest["duplicates"] == 0, "no message the first process had finished came back: \(rest)")
        #expect(try await fleet.effects().rows == 1000)
        await fleet.cleanUp([first, second])
    }

    @Test func aBrokerRestartInTheMiddleOfARunLosesNothing() async throws {
        let broker = try await DisposableBroker.start(name: "kaltim-worker-restart", port: 5722)
        let fleet = try await ProbeFleet.make(url: broker.url)
        let total = 1500
        // Handlings after the 100th wait until the broker is down, so it stops mid-run on any
        // machine.
        let hold = fleet.database + ".hold"
        try #require(FileManager.default.createFile(atPath: hold, contents: nil))
        defer { for file in [hold, hold + ".reached"] { try? FileManager.default.removeItem(atPath: file) } }
        let worker = try fleet.start(
            concurrency: 16, workMilliseconds: 10, environment: ["PROBE_HOLD_AFTER": "100", "PROBE_HOLD_FILE": hold])
        try await worker.waitForLog("\"msg\":\"worker started\"")
        try await fleet.submit(0..<total)
        try await waitUntil(timeout: .seconds(60), "the worker is under load (its 101st handling held)") {
            FileManager.default.fileExists(atPath: hold + ".reached")
        }
        try await broker.run("stop")
        try FileManager.default.removeItem(atPath: hold)
        // With the broker down the worker can finish at most what it holds (concurrency 16).
        try await waitUntil(timeout: .seconds(60), "the worker has finished what it holds") {
            try await fleet.effects().rows > 100
        }
        let rowsWhileDown = try await fleet.effects().rows
        #expect(rowsWhileDown < total, "the broker stopped mid-run")
        try await broker.run("start")
        // The test's own connection reconnects too: until it has, a query fails; try again.
        try await waitUntil(timeout: .seconds(180), "every registration has its effect after the restart") {
            try await fleet.effects().messages == total
        }
        try await waitUntil(timeout: .seconds(60), "the outbox is published") {
            try await SQLiteStore(readingAt: fleet.database).outboxDepth() == 0
        }
        #expect(try await fleet.effects().rows == total, "no effect twice")
        #expect(worker.output.contains("AMQP reconnected"), "the worker reconnected")
        let outputs = Collector<String>()
        try await waitUntil(timeout: .seconds(60), "every output event is in its queue") {
            if let drained = try? await fleet.drainOutputs() { drained.distinct.forEach(outputs.append) }
            return Set(outputs.values).count == total
        }
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit(timeout: .seconds(30)) == 0)
        await fleet.cleanUp([worker])
        try await broker.run("stop")
    }

    @Test func metricsHealthAndReadinessAreServedOverHTTP() async throws {
        let fleet = try await ProbeFleet.make()
        let worker = try fleet.start()
        try await worker.waitForLog("\"msg\":\"worker started\"")
        try await fleet.submit(0..<20)
        try await waitUntil(timeout: .seconds(30), "20 effects") { try await fleet.effects().rows == 20 }
        let line = try #require(worker.output.split(separator: "\n").first { $0.contains("\"msg\":\"http listening\"") })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        let port = try #require(object["listen"]?.split(separator: ":").last.flatMap { Int($0) })
        #expect(try await httpGet(port: port, path: "/health").status == 200)
        #expect(try await httpGet(port: port, path: "/ready").status == 200)
        try await waitUntil(timeout: .seconds(60), "the metrics count the messages") {
            try await httpGet(port: port, path: "/metrics").body.contains("jobs_messages_succeeded_total{role=\"intake\"} 20")
        }
        let metrics = try await httpGet(port: port, path: "/metrics").body
        for series in [
            "jobs_messages_received_total", "jobs_handler_duration_seconds_bucket", "jobs_messages_in_flight",
            "jobs_outbox_depth", "jobs_oldest_unprocessed_age_seconds",
        ] {
            #expect(metrics.contains(series), "\(series) is exported")
        }
        #expect(try await httpGet(port: port, path: "/nothing").status == 404)
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit(timeout: .seconds(30)) == 0)
        await fleet.cleanUp([worker])
    }

    @Test func aBadArgumentGetsTheUsageAndANonZeroExit() async throws {
        for arguments in [["--concurrency", "0"], ["--retry-delays", "5x"], ["--durability", "sometimes"], ["--nonsense"]] {
            let process = try ChildProcess(ProbeFleet.probePath, arguments)
            #expect(try await process.waitForExit(timeout: .seconds(30)) == 64, "\(arguments)")
            #expect(process.output.contains("Usage:"), "\(arguments): \(process.output)")
            await process.terminate()
        }
    }
}
