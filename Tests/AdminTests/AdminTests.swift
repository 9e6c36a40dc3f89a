import AMQP
import Admin
import ContractKit
import Contracts
import Foundation
import Jobs
import Synchronization
import TestSupport
import Testing
import Topology

/// A role topology of its own with dead letters put there as the worker's failure router (or
/// the broker) would.
struct DeadLetterRig {
    let connection: AMQPConnection
    let topology: RoleTopology
    let admin: DeadLetterAdmin
    let auditPath: String

    static func make(role: WorkerRole = .intake) async throws -> DeadLetterRig {
        let connection = try await BrokerEnvironment.connect()
        let prefix = uniqueName("admin") + "."
        let topology = RoleTopology(role: role, retryDelays: [.milliseconds(200)], prefix: prefix)
        try await topology.declare(on: connection)
        return DeadLetterRig(
            connection: connection, topology: topology, admin: DeadLetterAdmin(connection: connection, prefix: prefix),
            auditPath: FileManager.default.temporaryDirectory.appendingPathComponent(prefix + "audit.jsonl").path)
    }

    /// A registration body (v2) with `programme`.
    func registration(_ id: String, programme: String = "TATA_GRAHA") throws -> OutgoingEvent {
        try OutgoingEvent(
            EventEnvelope(
                id: id, source: "/test",
                data: RegistrationSubmittedV2(
                    registrationID: "REG-" + id, nik: "6471054107990003", familyCardNumber: nil, fullName: "Siti Rahmawati",
                    birthPlace: "Balikpapan", birthDate: "1999-07-01", sex: .female, phone: "+6281250001001", whatsApp: nil,
                    email: nil, domicile: Domicile(regionCode: "6471051001", address: "Jl. Contoh 1"), education: .smk,
                    employmentStatus: nil, jobSeekerCardNumber: nil, preferredCentre: .balikpapan, programme: programme,
                    secondChoiceProgramme: nil, apprenticeshipInterest: false, declaredTrainings: [],
                    consent: Consent(given: true, givenAt: "2025-03-03T01:14:10Z", textVersion: "pdp-2025-01"))),
            exchange: topology.exchange)
    }

    /// Puts `event` in the dead letters with a failure record like the worker's.
    func deadLetter(
        _ event: OutgoingEvent, code: String, failedAt: Date = Date(), publisherHeaders: AMQPTable = [:]
    ) async throws {
        var message = event.amqpMessage
        typealias H = FailureRouter.Header
        var headers = (message.properties.headers ?? [:]).merging(publisherHeaders) { $1 }
        headers[H.code] = .string(code)
        headers[H.kind] = "permanent"
        headers[H.fingerprint] = .string("fp-" + code)
        headers[H.role] = .string(topology.role.name)
        headers[H.originalQueue] = .string(topology.queue)
        headers[H.originalExchange] = .string(topology.exchange)
        headers[H.originalRoutingKey] = .string(event.routingKey)
        headers[H.contractType] = .string(event.type)
        headers[H.contractVersion] = .int64(2)
        headers[H.attempts] = 1
        headers[H.firstFailureAt] = .timestamp(failedAt)
        headers[H.lastFailureAt] = .timestamp(failedAt)
        headers[H.message] = "failed for the test, NIK 6471054107990003"
        message.properties.headers = headers
        try await connection.publish(
            message.body, exchange: "", routingKey: topology.deadLetterQueue, properties: message.properties, mandatory: true)
    }

    func depth(_ queue: String) async throws -> Int { Int(try await connection.queueState(queue).messageCount) }

    func cleanUp() async {
        await topology.delete(on: connection)
        await connection.close()
        try? FileManager.default.removeItem(atPath: auditPath)
    }
}

@Suite(
    .enabled(
        if: BrokerEnvironment.enabled,
        "needs the private broker: scripts/broker.sh start; export RABBITMQ_TEST_URL=$(scripts/broker.sh url)"),
    .serialized, .timeLimit(.minutes(10))
)
struct DeadLetterAdminTests {
    @Test func aSweepTakesWhatTheQueueHeldAndDropsAMarkerADeadSweepLeftBehind() async throws {
        let rig = try await DeadLetterRig.make()
        try await rig.deadLetter(try rig.registration("before-0"), code: "broken-invariant")
        // The end markers of sweeps whose tool died before they came back: one as this version
        // writes it, one as versions before wrote it (no user_id).
        for userID in [rig.connection.username, nil] {
            try await rig.connection.publish(
                Data(), exchange: "", routingKey: rig.topology.deadLetterQueue,
                properties: AMQPProperties(
                    headers: [ReplayHeader.sweepMarker: .bool(true)], messageID: "sweep-dead", userID: userID),
                mandatory: true)
        }
        try await rig.deadLetter(try rig.registration("before-1"), code: "broken-invariant")

        let held = try await rig.admin.sweep(rig.topology.deadLetterQueue)
        #expect(held.map(\.messageID) == ["before-0", "before-1"], "the stale marker is no dead letter")
        // Arrives while the sweep holds its snapshot: not part of it.
        try await rig.deadLetter(try rig.registration("after"), code: "broken-invariant")
        let later = try await rig.admin.sweep(rig.topology.deadLetterQueue)
        #expect(later.map(\.messageID) == ["after"])
        await rig.admin.release(held + later)
        try await waitUntil(timeout: .seconds(60), "three dead letters and no marker") {
            try await rig.depth(rig.topology.deadLetterQueue) == 3
        }
        #expect(try await rig.admin.list([.intake]).count == 3)
        await rig.cleanUp()
    }

    /// A publisher's message may carry the sweep's marker header and `CC`: the broker
    /// dead-letters it as sent. A sweep keeps it (only the admin's own empty marker is
    /// dropped), and its replay carries neither header: `CC` would have routed the replay,
    /// sent with the admin's rights, into the queue it names as well.
    @Test func aPublishersSweepMarkerHidesNoLetterAndItsCCRoutesNoReplay() async throws {
        let rig = try await DeadLetterRig.make()
        let spy = uniqueName("spy")
        try await rig.connection.declareQueue(AMQPQueueSpec(name: spy, durable: false, autoDelete: true))
        // As the broker dead-letters a publisher's message: its own headers with the broker's
        // `x-death`, no user_id of ours.
        try await rig.connection.publish(
            Data(), exchange: "", routingKey: rig.topology.deadLetterQueue,
            properties: AMQPProperties(
                headers: [
                    ReplayHeader.sweepMarker: .bool(true), "CC": .array([.string(spy)]),
                    "x-death": .array([.table(["reason": "delivery_limit", "queue": .string(rig.topology.queue)])]),
                ], messageID: "sweep-forged"),
            mandatory: true)
        try await rig.deadLetter(
            try rig.registration("marked"), code: "broken-invariant",
            publisherHeaders: [ReplayHeader.sweepMarker: .bool(true), "CC": .array([.string(spy)])])
        // The publishes above were routed by their CC too (the broker's doing, at the publish).
        let copiesBefore = try await rig.depth(spy)
        #expect(copiesBefore == 2)
        let held = try await rig.admin.sweep(rig.topology.deadLetterQueue)
        #expect(held.map(\.messageID) == ["sweep-forged", "marked"], "neither is the admin's marker")
        await rig.admin.release(held)
        var filter = DeadLetterFilter()
        filter.messageIDs = ["marked"]
        #expect(try await rig.admin.replay([.intake], filter: filter, by: "tester").replayed == 1)
        try await waitUntil(timeout: .seconds(60), "the replay in the role queue") {
            try await rig.depth(rig.topology.queue) == 1
        }
        let replayed = try #require(try await rig.connection.get(queue: rig.topology.queue))
        #expect(replayed.properties.messageID == "marked")
        #expect(replayed.properties.headers?["CC"] == nil && replayed.properties.headers?[ReplayHeader.sweepMarker] == nil)
        #expect(try await rig.depth(spy) == copiesBefore, "the replay's CC routed nothing")
        #expect(try await rig.admin.list([.intake]).map(\.messageID) == ["sweep-forged"])
        await rig.cleanUp()
    }

    @Test func listGroupsAndReplayMovesOnlyTheChosenOnesBackWithProvenance() async throws {
        let rig = try await DeadLetterRig.make()
        var bodies: [String: Data] = [:]
        for index in 0..<3 {
            let event = try rig.registration("bad-json-\(index)")
            bodies[event.messageID] = event.body
            try await rig.deadLetter(event, code: "malformed-json")
        }
        for index in 0..<2 { try await rig.deadLetter(try rig.registration("broken-\(index)"), code: "broken-invariant") }
        // One the broker dead-lettered itself (a crash loop past the delivery limit).
        let looped = try rig.registration("looped")
        var properties = looped.amqpMessage.properties
        properties.headers = [
            "x-first-death-reason": "delivery_limit", "x-first-death-queue": .string(rig.topology.queue),
            "x-first-death-exchange": .string(rig.topology.exchange),
        ]
        try await rig.connection.publish(
            looped.body, exchange: "", routingKey: rig.topology.deadLetterQueue, properties: properties, mandatory: true)

        let all = try await rig.admin.list([.intake])
        #expect(all.count == 6)
        #expect(
            Dictionary(grouping: all, by: \.code).mapValues(\.count) == [
                "malformed-json": 3, "broken-invariant": 2, "broker:delivery_limit": 1,
            ])
        try await waitUntil(timeout: .seconds(60), "listing gives everything back") {
            try await rig.depth(rig.topology.deadLetterQueue) == 6
        }

        var filter = DeadLetterFilter()
        filter.codes = ["malformed-json"]
        let dry = try await rig.admin.replay([.intake], filter: filter, dryRun: true, by: "tester")
        #expect(dry.selected == 3 && dry.replayed == 0)
        try await waitUntil(timeout: .seconds(60), "deadLetterQueue holds 6") {
            try await rig.depth(rig.topology.deadLetterQueue) == 6
        }
        try await waitUntil(timeout: .seconds(60), "queue holds 0") { try await rig.depth(rig.topology.queue) == 0 }

        let report = try await rig.admin.replay([.intake], filter: filter, by: "tester")
        #expect(report.replayed == 3 && report.failed == 0)
        try await waitUntil(timeout: .seconds(60), "deadLetterQueue holds 3") {
            try await rig.depth(rig.topology.deadLetterQueue) == 3
        }
        try await waitUntil(timeout: .seconds(60), "queue holds 3") { try await rig.depth(rig.topology.queue) == 3 }
        for _ in 0..<3 {
            let replayed = try #require(try await rig.connection.get(queue: rig.topology.queue))
            let id = try #require(replayed.properties.messageID)
            #expect(replayed.body == bodies[id], "the body byte for byte")
            let headers = replayed.properties.headers ?? [:]
            #expect(headers[ReplayHeader.id]?.stringValue == report.replayID)
            #expect(headers[ReplayHeader.count]?.intValue == 1 && headers[ReplayHeader.by]?.stringValue == "tester")
            #expect(!headers.keys.contains { $0.hasPrefix("x-failure-") }, "a fresh start: no failure record")
            #expect(replayed.properties.isPersistent)
            try await replayed.ack()
        }

        // The broker's own dead letter goes back to the queue named in its x-first-death-queue.
        var one = DeadLetterFilter()
        one.messageIDs = [looped.messageID]
        #expect(try await rig.admin.replay([.intake], filter: one, by: "tester").replayed == 1)
        let back = try #require(try await rig.connection.get(queue: rig.topology.queue))
        #expect(back.properties.messageID == looped.messageID)
        try await back.ack()
        try await waitUntil(timeout: .seconds(60), "deadLetterQueue holds 2") {
            try await rig.depth(rig.topology.deadLetterQueue) == 2
        }
        await rig.cleanUp()
    }

    @Test func aTimeWindowAndALimitNarrowTheSelection() async throws {
        let rig = try await DeadLetterRig.make()
        let now = Date()
        for index in 0..<4 {
            try await rig.deadLetter(
                try rig.registration("old-\(index)"), code: "broken-invariant", failedAt: now.addingTimeInterval(-7200))
        }
        for index in 0..<4 { try await rig.deadLetter(try rig.registration("new-\(index)"), code: "broken-invariant") }
        var filter = DeadLetterFilter()
        filter.since = now.addingTimeInterval(-60)
        let report = try await rig.admin.replay([.intake], filter: filter, limit: 3, by: "tester")
        #expect(report.selected == 3 && report.replayed == 3)
        #expect(report.letters.allSatisfy { $0.messageID.hasPrefix("new-") })
        try await waitUntil(timeout: .seconds(60), "deadLetterQueue holds 5") {
            try await rig.depth(rig.topology.deadLetterQueue) == 5
        }
        await rig.cleanUp()
    }

    @Test func messagesArrivingDuringAReplayAreLeftInTheDeadLetters() async throws {
        let rig = try await DeadLetterRig.make()
        for index in 0..<5 { try await rig.deadLetter(try rig.registration("before-\(index)"), code: "broken-invariant") }
        let replay = Task {
            // 5 per second: the replay lasts about a second.
            try await rig.admin.replay([.intake], filter: DeadLetterFilter(), rate: 5, by: "tester")
        }
        try await waitUntil(timeout: .seconds(60), "the replay has started") {
            try await rig.depth(rig.topology.queue) >= 1
        }
        for index in 0..<3 { try await rig.deadLetter(try rig.registration("during-\(index)"), code: "broken-invariant") }
        let report = try await replay.value
        #expect(report.replayed == 5)
        let left = try await rig.admin.list([.intake])
        #expect(Set(left.map(\.messageID)) == ["during-0", "during-1", "during-2"])
        await rig.cleanUp()
    }

    /// A consumer standing in for a worker that still fails: it dead-letters whatever reaches
    /// the role queue, as the failure router would (code `gateway-down`).
    static func failEverything(_ rig: DeadLetterRig) async throws -> (AMQPConsumer, Task<Void, any Error>) {
        let failing = try await rig.connection.consume(queue: rig.topology.queue, prefetch: 10)
        let failer = Task {
            for try await delivery in failing {
                var properties = delivery.properties
                var headers = properties.headers ?? [:]
                headers[FailureRouter.Header.code] = "gateway-down"
                headers[FailureRouter.Header.originalQueue] = .string(rig.topology.queue)
                properties.headers = headers
                try await rig.connection.publish(
                    delivery.body, routingKey: rig.topology.deadLetterQueue, properties: properties, mandatory: true)
                try await delivery.ack()
            }
        }
        return (failing, failer)
    }

    @Test func aCanaryThatComesBackStopsTheReplayAndOneThatSucceedsLetsTheRestGo() async throws {
        let rig = try await DeadLetterRig.make()
        for index in 0..<5 { try await rig.deadLetter(try rig.registration("c-\(index)"), code: "gateway-down") }
        // A consumer standing in for a worker that still fails: it dead-letters what it gets.
        let (failing, failer) = try await Self.failEverything(rig)
        let stopped = try await rig.admin.replay(
            [.intake], filter: DeadLetterFilter(), canary: 1, canaryWait: .seconds(10), by: "t")
        #expect(stopped.stoppedAfterCanary && stopped.replayed == 1 && stopped.canariesFailed == 1)
        try await failing.cancel()
        failer.cancel()
        try await waitUntil(timeout: .seconds(60), "all five back in the dead letters") {
            try await rig.depth(rig.topology.deadLetterQueue) == 5
        }

        // Now the worker is fixed (nobody fails them): the canary stays away and the rest follows.
        let passed = try await rig.admin.replay(
            [.intake], filter: DeadLetterFilter(), canary: 1, canaryWait: .seconds(1), by: "t")
        #expect(!passed.stoppedAfterCanary && passed.replayed == 5)
        try await waitUntil(timeout: .seconds(60), "deadLetterQueue holds 0") {
            try await rig.depth(rig.topology.deadLetterQueue) == 0
        }
        try await waitUntil(timeout: .seconds(60), "queue holds 5") { try await rig.depth(rig.topology.queue) == 5 }
        await rig.cleanUp()
    }

    @Test func aCanaryAsLargeAsTheSelectionIsStillWatchedAndReportedWhenItComesBack() async throws {
        // One message selected, a canary of 1: the report must not say "1 of 1 replayed" while
        // the message is back in the dead letters.
        let rig = try await DeadLetterRig.make()
        try await rig.deadLetter(try rig.registration("only-one"), code: "gateway-down")
        let (failing, failer) = try await Self.failEverything(rig)
        let report = try await rig.admin.replay(
            [.intake], filter: DeadLetterFilter(), canary: 1, canaryWait: .seconds(30), by: "t")
        #expect(report.selected == 1 && report.replayed == 1)
        #expect(report.stoppedAfterCanary && report.canariesFailed == 1)
        try await failing.cancel()
        failer.cancel()
        try await waitUntil(timeout: .seconds(60), "the message is back in the dead letters") {
            try await rig.depth(rig.topology.deadLetterQueue) == 1
        }
        await rig.cleanUp()
    }
}

@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .serialized, .timeLimit(.minutes(10))
)
struct AdminCommandTests {
    static var admin: String { builtProductsDirectory.appendingPathComponent("kaltim-admin").path }

    @Test func theCommandsWorkOverTheBrokerAndEveryActionIsAudited() async throws {
        let rig = try await DeadLetterRig.make()
        let url = try #require(BrokerEnvironment.url)
        for index in 0..<3 { try await rig.deadLetter(try rig.registration("cli-\(index)"), code: "broken-invariant") }
        let common = [
            "--broker-url", url, "--topology-prefix", rig.topology.prefix, "--audit-log", rig.auditPath, "--operator", "ops-1",
        ]
        func run(_ arguments: [String]) async throws -> (Int32, String) {
            let process = try ChildProcess(Self.admin, arguments)
            let status = try await process.waitForExit(timeout: .seconds(60))
            return (status, process.output)
        }
        let (listed, list) = try await run(["dead-letters", "list", "--role", "intake"] + common)
        #expect(listed == 0 && list.contains("3 dead letters") && list.contains("broken-invariant"), "\(list)")

        let (shown, show) = try await run(["dead-letters", "show", "cli-1", "--role", "intake"] + common)
        #expect(shown == 0 && show.contains("647105******0003") && !show.contains("6471054107990003"), "\(show)")
        // Masked by field: the name, birth data, phone and address too, not only the NIK.
        for personal in ["Siti", "Rahmawati", "Balikpapan", "1999-07-01", "81250001", "Jl. Contoh"] {
            #expect(!show.contains(personal), "\(personal) shown unmasked: \(show)")
        }
        #expect(show.contains("S*** R***") && show.contains("TATA_GRAHA"), "\(show)")
        let (revealed, reveal) = try await run(["dead-letters", "show", "cli-1", "--role", "intake", "--reveal"] + common)
        #expect(revealed == 0 && reveal.contains("6471054107990003") && reveal.contains("Siti Rahmawati"))

        let (statusCode, status) = try await run(["status", "--role", "intake"] + common)
        #expect(statusCode == 0 && status.contains("intake") && status.contains("retry"), "\(status)")

        let (refused, _) = try await run(["dead-letters", "replay", "--role", "intake"] + common)
        #expect(refused == 64, "a replay without a filter or --all is refused")
        let (dry, dryOutput) = try await run(["dead-letters", "replay", "--role", "intake", "--all", "--dry-run"] + common)
        #expect(dry == 0 && dryOutput.contains("3 dead letters would be replayed"), "\(dryOutput)")
        let (replayed, replay) = try await run(
            ["dead-letters", "replay", "--role", "intake", "--message-id", "cli-0"] + common)
        #expect(replayed == 0 && replay.contains("1 of 1 replayed"), "\(replay)")

        // A rate that is no number, or so small that the wait overflows, is refused before anything moves.
        for rate in ["nan", "1e-300", "0", "-1", "inf"] {
            let (badRate, output) = try await run(
                ["dead-letters", "replay", "--role", "intake", "--all", "--rate", rate] + common)
            #expect(badRate == 64 && output.contains("--rate"), "\(rate): \(output)")
        }

        let exportPath = rig.auditPath + ".export.jsonl"
        // An export goes to a new file only: not through a link planted at the path, nor over a
        // file someone holds (either may be readable by others).
        let planted = rig.auditPath + ".planted"
        #expect(FileManager.default.createFile(atPath: planted, contents: Data(), attributes: [.posixPermissions: 0o666]))
        try FileManager.default.createSymbolicLink(atPath: exportPath, withDestinationPath: planted)
        let (linked, _) = try await run(["dead-letters", "export", "--role", "intake", "--output", exportPath] + common)
        let (existing, _) = try await run(["dead-letters", "export", "--role", "intake", "--output", planted] + common)
        let plantedNow = try Data(contentsOf: URL(fileURLWithPath: planted))
        #expect(linked != 0 && existing != 0 && plantedNow.isEmpty)
        try FileManager.default.removeItem(atPath: exportPath)
        try FileManager.default.removeItem(atPath: planted)
        let (exported, _) = try await run(["dead-letters", "export", "--role", "intake", "--output", exportPath] + common)
        let lines = try String(contentsOfFile: exportPath, encoding: .utf8).split(separator: "\n")
        #expect(exported == 0 && lines.count == 2 && !lines.joined().contains("6471054107990003"))
        #expect(!lines.joined().contains("Rahmawati") && !lines.joined().contains("81250001"))
        let mode = try FileManager.default.attributesOfItem(atPath: exportPath)[.posixPermissions] as? Int
        #expect(mode == 0o600, "owner-only from the first byte")

        // Purge needs a confirmation: none on standard input, nothing deleted.
        let (unconfirmed, _) = try await run(["dead-letters", "purge", "--role", "intake"] + common)
        #expect(unconfirmed == 1)
        try await waitUntil(timeout: .seconds(60), "deadLetterQueue holds 2") {
            try await rig.depth(rig.topology.deadLetterQueue) == 2
        }
        let (purged, purge) = try await run(["dead-letters", "purge", "--role", "intake", "--yes"] + common)
        #expect(purged == 0 && purge.contains("purged 2"), "\(purge)")

        let actions = try AuditLog(path: rig.auditPath).entries().map { "\($0.action):\($0.count)" }
        #expect(
            actions == [
                "reveal:1", "replay-dry-run:3", "replay-begun:0", "replay:1", "export:2", "purge-begun:0", "purge:2",
            ], "\(actions)")
        #expect(try AuditLog(path: rig.auditPath).entries().allSatisfy { $0.who == "ops-1" })
        try? FileManager.default.removeItem(atPath: exportPath)
        await rig.cleanUp()
    }

    /// A dead letter's headers are the publisher's: escape sequences in its message id, failure
    /// code and routing key reach the admin's terminal as visible text, and a NIK in its message
    /// id is masked like one in the body.
    @Test func aLettersHeadersReachTheTerminalAsTextWithTheNIKMasked() async throws {
        let rig = try await DeadLetterRig.make()
        let url = try #require(BrokerEnvironment.url)
        let messageID = "\u{1B}]0;owned\u{07}id-6471054107990003\u{202E}"
        try await rig.deadLetter(try rig.registration(messageID), code: "broken\u{1B}[2J\u{9B}31m")
        let common = [
            "--broker-url", url, "--topology-prefix", rig.topology.prefix, "--audit-log", rig.auditPath, "--operator", "ops-1",
        ]
        for arguments in [
            ["dead-letters", "list", "--role", "intake"], ["dead-letters", "show", messageID, "--role", "intake"],
            ["dead-letters", "replay", "--role", "intake", "--all", "--dry-run"],
        ] {
            let process = try ChildProcess(Self.admin, arguments + common)
            #expect(try await process.waitForExit(timeout: .seconds(60)) == 0, "\(arguments[1]): \(process.output)")
            let output = process.output
            #expect(
                !output.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x9B || $0.value == 0x202E }
            )
            #expect(output.contains("\\u{1b}"), "\(arguments[1]) shows the escape as text: \(output)")
            #expect(!output.contains("6471054107990003"), "\(arguments[1]): \(output)")
        }
        // An export to the terminal is JSON: the same characters as JSON escapes.
        let export = try ChildProcess(Self.admin, ["dead-letters", "export", "--role", "intake"] + common)
        #expect(try await export.waitForExit(timeout: .seconds(60)) == 0, "\(export.output)")
        #expect(!export.output.unicodeScalars.contains { [0x1B, 0x07, 0x9B, 0x202E].contains($0.value) })
        #expect(export.output.contains(#"\u009b"#) && !export.output.contains("6471054107990003"), "\(export.output)")
        await rig.cleanUp()
    }

    @Test(.enabled(if: BrokerEnvironment.managementURL != nil, "needs RABBITMQ_TEST_MANAGEMENT_URL (scripts/test.sh)"))
    func statusShowsUnacknowledgedMessagesAndConsumersFromTheManagementAPI() async throws {
        let rig = try await DeadLetterRig.make()
        let url = try #require(BrokerEnvironment.url)
        let management = try #require(BrokerEnvironment.managementURL)
        for index in 0..<7 {
            let event = try rig.registration("status-\(index)")
            try await rig.connection.publish(
                event.body, exchange: "", routingKey: rig.topology.queue, properties: event.amqpMessage.properties,
                mandatory: true)
        }
        try await rig.deadLetter(try rig.registration("status-dead"), code: "broken-invariant")
        // A worker that took 5 and has not settled them.
        let holder = try await BrokerEnvironment.connect()
        let consumer = try await holder.consume(queue: rig.topology.queue, prefetch: 5)
        var taken = 0
        for try await _ in consumer {
            taken += 1
            if taken == 5 { break }
        }
        struct Row: Decodable {
            let role: String, ready: Int, consumers: Int, deadLetters: Int, unacknowledged: Int?
            let oldestDeadLetterAgeSeconds: Double?
        }
        let arguments = [
            "status", "--role", "intake", "--json", "--broker-url", url, "--management-url", management,
            "--topology-prefix", rig.topology.prefix,
        ]
        let last = Collector<String>()
        // The management plugin samples queue figures every second on the test node.
        try await waitUntil(timeout: .seconds(60), "status reports 5 unacknowledged and 2 ready") {
            let process = try ChildProcess(Self.admin, arguments, standardErrorToo: false)
            guard try await process.waitForExit(timeout: .seconds(30)) == 0 else { return false }
            last.append(process.output)
            let rows = try JSONDecoder().decode([Row].self, from: Data(process.output.utf8))
            guard let row = rows.first else { return false }
            return row.unacknowledged == 5 && row.ready == 2 && row.consumers == 1 && row.deadLetters == 1
                && row.oldestDeadLetterAgeSeconds != nil
        }
        #expect(last.values.last?.contains("\"unacknowledged\" : 5") == true, "\(last.values.last ?? "")")

        // The figures AMQP gives are printed; the management API's absence is named, and fails the command.
        let unreachable = try ChildProcess(
            Self.admin,
            arguments.dropLast(4) + ["--management-url", "http://127.0.0.1:1", "--topology-prefix", rig.topology.prefix])
        #expect(try await unreachable.waitForExit(timeout: .seconds(30)) != 0)
        #expect(unreachable.output.contains("cannot reach the management API"), "\(unreachable.output)")
        await holder.close()
        await rig.cleanUp()
    }

    @Test func topologyApplyDeclaresTheRolesAndTheOutsideReadersInboxes() async throws {
        let url = try #require(BrokerEnvironment.url)
        let prefix = uniqueName("apply") + "."
        let audit = FileManager.default.temporaryDirectory.appendingPathComponent(prefix + "audit.jsonl").path
        defer { try? FileManager.default.removeItem(atPath: audit) }
        let process = try ChildProcess(
            Self.admin,
            [
                "topology", "apply", "--broker-url", url, "--topology-prefix", prefix, "--audit-log", audit, "--operator",
                "ops-1",
                "--programme-file", DatabaseUsersTests.repositoryFile("config/programme-2025.json"),
            ])
        #expect(try await process.waitForExit(timeout: .seconds(60)) == 0, "\(process.output)")
        let connection = try await BrokerEnvironment.connect()
        defer { Task { await connection.close() } }
        let exchange = prefix + ContractDocuments.exchange
        // An offer reaches the portal's inbox, a grade for the plan's LSP (its key in CC) that
        // LSP's inbox, as through deploy/'s definitions.
        let lspInbox = ContractPublishers.inbox("lsp", party: "BNSP-LSP-0123-ID", prefix: prefix)
        for (type, publisher, inbox, cc) in [
            (EnrolmentTransferOfferedV1.eventType, "portal", prefix + "kaltim.portal.inbox", nil),
            (AssessmentGradedV3.eventType, "lsp", lspInbox, "lsp.BNSP-LSP-0123-ID"),
        ] {
            try await connection.publish(
                Data("{\"for\":\"\(publisher)\"}".utf8), exchange: exchange, routingKey: type,
                properties: AMQPProperties(headers: cc.map { ["CC": .array([.string($0)])] }))
            var delivery: AMQPDelivery?
            let deadline = ContinuousClock.now + .seconds(30)  // bounds a failure only
            while delivery == nil && ContinuousClock.now < deadline {
                delivery = try await connection.get(queue: inbox)
                if delivery == nil { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(delivery?.body == Data("{\"for\":\"\(publisher)\"}".utf8), "\(inbox)")
            try await delivery?.ack()
            _ = try? await connection.deleteQueue(inbox)
        }
        // A binding an earlier version made to the console (registration.submitted, personal
        // data) is removed by the next apply: a submission no longer reaches the console's queue.
        let console = RoleTopology(role: .console, prefix: prefix)
        try await console.declare(on: connection)
        try await connection.bindQueue(console.queue, exchange: exchange, routingKey: RegistrationSubmittedV2.eventType)
        let again = try ChildProcess(
            Self.admin,
            [
                "topology", "apply", "--role", "console", "--broker-url", url, "--topology-prefix", prefix, "--audit-log", audit,
                "--operator", "ops-1",
            ])
        #expect(try await again.waitForExit(timeout: .seconds(60)) == 0, "\(again.output)")
        try await connection.publish(Data("{}".utf8), exchange: exchange, routingKey: RegistrationSubmittedV2.eventType)
        try await connection.publish(Data("{}".utf8), exchange: exchange, routingKey: RegistrationReceivedV1.eventType)
        var keys: [String] = []
        let deadline = ContinuousClock.now + .seconds(30)  // bounds a failure only
        while keys.isEmpty && ContinuousClock.now < deadline {
            while let delivery = try await connection.get(queue: console.queue) {
                keys.append(delivery.routingKey)
                try await delivery.ack()
            }
            if keys.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(keys == [RegistrationReceivedV1.eventType], "the console's queue received \(keys)")
        await console.delete(on: connection)
        for role in WorkerRole.all { await RoleTopology(role: role, prefix: prefix).delete(on: connection) }
        try? await connection.deleteExchange(exchange)
    }

    @Test func badArgumentsGetTheUsageAndANonZeroExit() async throws {
        for arguments in [["dead-letters", "list", "--role", "nobody"], ["replay"], ["status", "--frobnicate"]] {
            let process = try ChildProcess(Self.admin, arguments + ["--broker-url", "amqp://127.0.0.1:1"])
            let status = try await process.waitForExit(timeout: .seconds(30))
            #expect(status == 64, "\(arguments): \(process.output)")
            #expect(process.output.contains("Usage") || process.output.contains("Error"), "\(process.output)")
        }
    }

    @Test func theExportedDefinitionsDescribeEveryRole() async throws {
        let process = try ChildProcess(Self.admin, ["topology", "export"], standardErrorToo: false)
        #expect(try await process.waitForExit(timeout: .seconds(30)) == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(process.output.utf8)) as? [String: Any])
        let queues = (json["queues"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        for role in WorkerRole.all {
            let topology = RoleTopology(role: role)
            #expect(queues.contains(topology.queue) && queues.contains(topology.deadLetterQueue))
            #expect(topology.retryQueues.allSatisfy { queues.contains($0.name) })
        }
        let bindings = json["bindings"] as? [[String: Any]] ?? []
        // Each role's event types, and its retry tiers and dead letters under kaltim.failures.
        let events = bindings.filter { $0["source"] as? String == ContractDocuments.exchange }
        let failures = bindings.filter { $0["source"] as? String == ContractDocuments.failureExchange }
        #expect(events.count == WorkerRole.all.map(\.consumes.count).reduce(0, +))
        #expect(failures.count == WorkerRole.all.map { RoleTopology(role: $0).failureQueues.count }.reduce(0, +))
        #expect(failures.allSatisfy { $0["routing_key"] as? String == $0["destination"] as? String })
    }
}
