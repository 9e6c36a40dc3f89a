import AMQP
import Admin
import Console
import ContractKit
import Contracts
import DataProtection
import Foundation
import Jobs
import Programme
import Stores
import TestSupport
import Testing
import Topology
import Workers

/// The console in a real browser (headless Chromium, Selenium; `console_browser.py`) against a
/// console process on the private broker: sign in, the funnel moving while registrations flow,
/// an injected poison message found, dry-run then replayed, gone from the dead letters and in the
/// audit log; a viewer refused a replay; a forged form refused; an officer reading the reports,
/// looking up a registration and deciding a case in review (masked, revealed, approved); an LSP coordinator reading her LSP's results and refusals; a
/// BLKI administrator recording daftar ulang and a withdrawal in her own BLKI's class only.
@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .timeLimit(.minutes(10))
)
struct ConsoleBrowserTests {
    static let poisonNIK = "6471054107990003"

    @Test func theConsoleWorksInARealBrowser() async throws {
        for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] where !FileManager.default.fileExists(atPath: tool) {
            throw TestFailure("\(tool) is missing: scripts/install-deps.sh installs chromium and chromium-driver")
        }
        let prefix = uniqueName("console") + "."
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(prefix + "files")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        // Accounts: one per role (210,000 rounds: the fewest the console accepts, for speed).
        var passwords: [String: String] = [:]
        var users: [ConsoleAccounts.User] = []
        for role in [ConsoleRole.viewer, .operator, .admin, .officer, .lsp, .blki] {
            let password = "pw-\(role.rawValue)-\(UUID().uuidString.prefix(8))"
            passwords[role.rawValue] = password
            users.append(
                ConsoleAccounts.User(
                    name: role.rawValue, role: role, passwordHash: try PasswordHash.make(password, rounds: 210_000).encoded,
                    centre: role == .blki ? TrainingCentre.balikpapan.rawValue : nil,
                    lsp: role == .lsp ? "BNSP-LSP-0123-ID" : nil))
        }
        struct File: Encodable { let users: [ConsoleAccounts.User] }
        let accounts = directory.appendingPathComponent("accounts.json")
        try JSONEncoder().encode(File(users: users)).write(to: accounts)
        let auditLog = directory.appendingPathComponent("audit.jsonl").path

        let connection = try await BrokerEnvironment.connect()
        let intake = RoleTopology(role: .intake, prefix: prefix)
        try await intake.declare(on: connection)

        // Intake's store with one case in an officer's review: a birth date one day off the
        // registry's. The console reads the case file from it (--intake-store); the events intake
        // made of the registration that the console consumes are published below.
        let catalogue = try ProgrammeCatalogue.load(
            path: BrokerEnvironment.repositoryRoot.appendingPathComponent("config/programme-2025.json").path)
        let intakeKit = try await HandlerTestKit(
            handler: IntakeHandler(catalogue: catalogue, nikKey: .development), registry: .pipeline)
        _ = try await IntakeImport.registry(csv: ConsoleStaffDeskTests.registry, into: intakeKit.store, key: .development)
        let reviewID = "REG-\(prefix)review"
        let inReview = try await intakeKit.deliver(
            EventEnvelope(
                id: "\(prefix)review", source: "/kaltim/registration-portal",
                data: ConsoleStaffDeskTests.submission(reviewID, birthDate: "1999-08-18")))
        try #require(inReview.events.contains { $0.type == RegistrationReviewNeededV1.eventType })

        let url = try #require(BrokerEnvironment.url)
        let console = try ChildProcess(
            builtProductsDirectory.appendingPathComponent("kaltim-console").path,
            [
                "serve", "--broker-url", url, "--admin-url", url, "--accounts", accounts.path, "--database",
                directory.appendingPathComponent("console.sqlite").path, "--audit-log", auditLog, "--console-port", "0",
                "--topology-prefix", prefix, "--programme-file",
                BrokerEnvironment.repositoryRoot.appendingPathComponent("config/programme-2025.json").path,
                "--canary-wait", "2", "--log-format", "text", "--allow-any-publisher", "--intake-store", intakeKit.path,
            ] + (BrokerEnvironment.managementURL.map { ["--management-url", $0] } ?? []))
        defer { Task { await console.terminate() } }
        try await console.waitForLog("worker started")
        try await console.waitForLog("console listening")
        // "console listening address=127.0.0.1:PORT …"
        let listening = console.output.split(separator: "\n").first { $0.contains("console listening") } ?? ""
        let address = try #require(listening.firstRange(of: "listen=127.0.0.1:"), "no address in: \(listening)")
        let port = try #require(Int(listening[address.upperBound...].prefix { $0.isNumber }))

        // The poison: a registration that the intake worker failed for good (routed by the
        // failure router, as a worker does), so it sits in intake's dead letters.
        // Two: one is replayed, the other revealed and purged by the admin.
        let poisonID = "poison-" + UUID().uuidString.lowercased()
        let secondPoisonID = "poison-" + UUID().uuidString.lowercased()
        Redaction.install { PersonalData.mask($0) }  // as the intake worker's WorkerHost.run does
        for id in [poisonID, secondPoisonID] {
            let poison = try registration(id: id, index: 0, nik: Self.poisonNIK, exchange: intake.exchange)
            try await connection.publish(poison.body, exchange: "", routingKey: intake.queue, properties: poison.properties)
            var taken: AMQPDelivery?
            let deadline = ContinuousClock.now + .seconds(10)
            while taken == nil && ContinuousClock.now < deadline {
                taken = try await connection.get(queue: intake.queue)
                if taken == nil { try await Task.sleep(for: .milliseconds(50)) }
            }
            let delivery = try #require(taken, "the poison message in the intake queue")
            try await FailureRouter(topology: intake, instance: "intake@test").route(
                delivery,
                failure: Failure(
                    .permanent, code: Failure.Code(rawValue: "registry-mismatch"),
                    message: "NIK \(Self.poisonNIK) is not in the registry"),
                contract: (RegistrationSubmittedV2.eventType, 2), publisher: connection)
        }

        // What grading decided on the LSP's submissions: one graded, one refused (with markup in
        // the reason's text, which the page must show as text).
        var assessments: [AMQPOutgoingMessage] = [
            try OutgoingEvent(
                EventEnvelope(
                    id: "\(prefix)graded-1", source: "/kaltim/workers/grading",
                    data: AssessmentGradedV3(
                        assessmentID: "ASM-B1", participantID: "PST-2025-B1", scheme: "SKM-2025-OTO-SPM", outcome: .competent,
                        notYetCompetentUnits: [], lspLicence: "BNSP-LSP-0123-ID", assessedOn: "2025-08-20",
                        attendancePercent: 95, trainingOutcome: nil, supersedes: nil, lspCertificateNumber: "NO.OTO 0001 2025",
                        lspRegistrationNumber: nil, retakeOf: nil, attempt: 1, retakeAvailable: false)),
                exchange: intake.exchange
            ).amqpMessage,
            try OutgoingEvent(
                EventEnvelope(
                    id: "\(prefix)refused-2", source: "/kaltim/workers/grading",
                    data: AssessmentRejectedV1(
                        assessmentID: "ASM-B2", participantID: "PST-2025-B2", lspLicence: "BNSP-LSP-0123-ID",
                        scheme: "SKM-2025-OTO-SPM",
                        reasons: [RegistrationReason(code: "UNIT_NOT_IN_SCHEME", message: "Unit <b>X.1</b> tidak ada di skema.")])
                ),
                exchange: intake.exchange
            ).amqpMessage,
        ]
        // Seats scheduling gave: two in a class of BLKI Balikpapan, whose administrator records
        // daftar ulang and a withdrawal, one in a class of BLKI Bontang, which she must not see.
        // The classes start in two months, so daftar ulang is still open whatever today is.
        let day = 86_400.0
        let start = String(Date().addingTimeInterval(60 * day).ISO8601Format().prefix(10))
        let end = String(Date().addingTimeInterval(120 * day).ISO8601Format().prefix(10))
        let blkiClass = "BPN-MSM-\(prefix.prefix(8).filter { $0.isLetter || $0.isNumber })-01"
        let otherClass = "BTG-MSM-\(prefix.prefix(8).filter { $0.isLetter || $0.isNumber })-01"
        for (index, (participant, classID, centre)) in [
            ("PST-2025-BLKI1", blkiClass, TrainingCentre.balikpapan), ("PST-2025-BLKI2", blkiClass, .balikpapan),
            ("PST-2025-BLKI3", otherClass, .bontang),
        ].enumerated() {
            assessments.append(
                try OutgoingEvent(
                    EventEnvelope(
                        id: "\(prefix)scheduled-\(index)", source: "/kaltim/workers/scheduling",
                        data: ClassScheduledV2(
                            participantID: participant, classID: classID, centre: centre, programme: "MEKANIK_SEPEDA_MOTOR",
                            cohort: 1, startDate: start, endDate: end, seat: index + 1, reRegistration: nil, replacing: false)),
                    exchange: intake.exchange
                ).amqpMessage)
        }
        for event in inReview.events where WorkerRole.console.consumes.contains(event.type) {
            var message = event.amqpMessage
            message.exchange = intake.exchange  // the test's prefixed topology
            assessments.append(message)
        }
        for message in assessments {
            try await connection.publish(
                message.body, exchange: message.exchange, routingKey: message.routingKey, properties: message.properties)
        }

        // Registrations keep flowing while the browser watches the funnel, until the test ends
        // the flow (a fixed count could run out before a slow browser starts watching).
        let published = Collector<Int>()
        let flow = Task {
            for index in 1...9999 where !Task.isCancelled {
                let message = try registration(
                    id: "\(prefix)reg-\(index)", index: index, nik: "647105410799\(String(format: "%04d", index))",
                    exchange: intake.exchange)
                try await connection.publish(
                    message.body, exchange: message.exchange, routingKey: message.routingKey, properties: message.properties)
                // What intake publishes on receiving it, and the console counts (no intake runs here).
                let received = try OutgoingEvent(
                    EventEnvelope(
                        id: "\(prefix)received-\(index)", source: "/kaltim/workers/intake",
                        data: RegistrationReceivedV1(
                            registrationID: "REG-\(prefix)reg-\(index)", centre: index % 3 == 0 ? .bontang : .balikpapan,
                            programme: "MEKANIK_SEPEDA_MOTOR", submittedAt: Date())),
                    exchange: intake.exchange
                ).amqpMessage
                try await connection.publish(
                    received.body, exchange: received.exchange, routingKey: received.routingKey,
                    properties: received.properties)
                published.append(index)
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        defer { flow.cancel() }

        // The queues page shows rates from the broker's management statistics. RabbitMQ 3.10
        // answers a queue it has no statistics for yet with a 500 (`badkey` in
        // `detail_queue_stats`), and on a node busy with the suite's other queues that lasted over
        // a minute once (a CI run): wait, with a generous deadline, until it knows both queues.
        if let managementURL = BrokerEnvironment.managementURL {
            let management = try ManagementAPI(
                url: managementURL, virtualHost: "/", username: "guest", password: "guest", timeout: .seconds(30))
            for queue in [intake.queue, RoleTopology(role: .console, prefix: prefix).queue] {
                try await waitUntil(timeout: .seconds(300), "the broker's statistics know \(queue)") {
                    (try? await management.queue(named: queue)) != nil
                }
            }
        }
        let screenshots = BrokerEnvironment.repositoryRoot.appendingPathComponent(".build/test-logs/console").path
        let (status, output) = try await runProcess(
            "/usr/bin/python3",
            [BrokerEnvironment.repositoryRoot.appendingPathComponent("Tests/ConsoleTests/console_browser.py").path],
            environment: ProcessInfo.processInfo.environment.merging([
                "CONSOLE_URL": "http://127.0.0.1:\(port)",
                "CONSOLE_PASSWORDS": passwords.map { "\($0.key):\($0.value)" }.joined(separator: ","),
                "POISON_ID": poisonID, "SECOND_POISON_ID": secondPoisonID, "POISON_NIK": Self.poisonNIK,
                "LOOKUP_ID": "REG-\(prefix)reg-1",
                "BLKI_CLASS": blkiClass, "OTHER_CLASS": otherClass, "BLKI_FIRST": "PST-2025-BLKI1",
                "BLKI_SECOND": "PST-2025-BLKI2", "REVIEW_ID": reviewID, "REVIEW_NAME": "Siti Rahmawati",
                "SCREENSHOTS": screenshots,
            ]) { _, new in new })
        print(output)
        #expect(status == 0, "the browser test failed:\n\(output)\n--- console:\n\(console.output.suffix(4000))")

        // What the browser did, seen from outside: the poison is back in the intake queue with
        // the replay's provenance, and the audit log has the dry run and the replay.
        // (The intake queue also holds the flowing registrations: no intake worker runs here.)
        var replayed: AMQPDelivery?
        while replayed == nil, let next = try await connection.get(queue: intake.queue) {
            if next.properties.messageID == poisonID { replayed = next }
            try await next.ack()
        }
        let back = try #require(replayed, "the replayed message is in intake's queue")
        #expect(back.properties.headers?[ReplayHeader.by]?.stringValue == "operator (console)")
        #expect(back.properties.headers?[ReplayHeader.id] != nil)
        let actions = try AuditLog(path: auditLog).entries().map(\.action)
        #expect(
            ["replay-dry-run", "replay", "reveal", "purge"].allSatisfy(actions.contains), "audit: \(actions)")
        #expect(try await connection.queueState(intake.deadLetterQueue).messageCount == 0, "purged")
        #expect(!console.output.contains(Self.poisonNIK), "the NIK never reaches the console's log")

        // Rebuilt from scratch: every registration that flowed is in the read model; the store
        // is then deleted and `kaltim-console rebuild` replays the history stream into a new one.
        flow.cancel()
        _ = try? await flow.value
        let database = directory.appendingPathComponent("console.sqlite").path
        let registered = { @Sendable () async throws -> Int in
            let rows = try await SQLiteStore(readingAt: database).read(
                "SELECT COUNT(*) AS n FROM console_registrations WHERE registered_at IS NOT NULL")
            return Int(rows.first?["n"]?.integer ?? -1)
        }
        // The registrations that flowed, and the one in review (intake's registration.received).
        let flowed = published.count + inReview.events.filter { $0.type == RegistrationReceivedV1.eventType }.count
        try await waitUntil(timeout: .seconds(60), "the read model has all \(flowed) registrations") {
            try await registered() == flowed
        }
        // What the BLKI administrator recorded is published by the console's outbox; the
        // daftar ulang (`enrolment.reregistered`) comes back through the console's own binding
        // into the history stream (the withdrawal request is scheduling's, not bound).
        try await waitUntil(timeout: .seconds(60), "the console's outbox is published") {
            let rows = try await SQLiteStore(readingAt: database).read(
                "SELECT COUNT(*) AS n FROM jobs_outbox WHERE published_at IS NULL")
            return rows.first?["n"]?.integer == 0
        }
        await console.terminate()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database + suffix) }
        let (rebuildStatus, rebuildOutput) = try await runProcess(
            builtProductsDirectory.appendingPathComponent("kaltim-console").path,
            [
                "rebuild", "--broker-url", url, "--database", database, "--topology-prefix", prefix, "--allow-any-publisher",
                "--programme-file",
                BrokerEnvironment.repositoryRoot.appendingPathComponent("config/programme-2025.json").path,
            ], environment: [:])
        #expect(rebuildStatus == 0, "rebuild: \(rebuildOutput)")
        // Every registration that flowed, the two assessments, the three seats, the case in review
        // (received, review needed) and the BLKI's daftar ulang.
        #expect(
            rebuildOutput.contains("\(published.count + assessments.count + 1) events applied"), "rebuild: \(rebuildOutput)")
        #expect(try await registered() == flowed, "the rebuilt read model counts every registration once")
        let rebuilt = try SQLiteStore(readingAt: database)
        let results = try await rebuilt.read("SELECT assessment_id FROM console_assessments")
        let refusals = try await rebuilt.read("SELECT assessment_id FROM console_assessment_refusals")
        #expect(
            results.compactMap { $0["assessment_id"]?.text } == ["ASM-B1"]
                && refusals.compactMap { $0["assessment_id"]?.text } == ["ASM-B2"],
            "the LSP desk comes back from the history stream")
        for queue in [intake.queue, intake.deadLetterQueue] + intake.retryQueues.map(\.name) {
            _ = try? await connection.deleteQueue(queue)
        }
        let consoleTopology = RoleTopology(role: .console, prefix: prefix)
        for queue in [consoleTopology.queue, consoleTopology.deadLetterQueue, ProgressHistory(prefix: prefix).queue]
            + consoleTopology.retryQueues.map(\.name)
        {
            _ = try? await connection.deleteQueue(queue)
        }
        await connection.close()
    }

    /// A `registration.submitted` event (v2) for the pipeline's exchange.
    func registration(id: String, index: Int, nik: String, exchange: String) throws -> AMQPOutgoingMessage {
        let registration = RegistrationSubmittedV2(
            registrationID: "REG-\(id)", nik: nik, familyCardNumber: nil, fullName: "Siti Rahmawati",
            birthPlace: "Balikpapan", birthDate: "1999-07-01", sex: .female, phone: "+6281250001001", whatsApp: nil,
            email: nil, domicile: Domicile(regionCode: "6471051001", address: "Jl. Contoh 1"), education: .smk,
            employmentStatus: .unemployed, jobSeekerCardNumber: nil,
            preferredCentre: index % 3 == 0 ? .bontang : .balikpapan, programme: "MEKANIK_SEPEDA_MOTOR",
            secondChoiceProgramme: nil, apprenticeshipInterest: false, declaredTrainings: [],
            consent: Consent(given: true, givenAt: "2025-03-03T01:14:10Z", textVersion: "pdp-2025-01"))
        return try OutgoingEvent(
            EventEnvelope(id: id, source: "/kaltim/registration-portal", data: registration), exchange: exchange
        ).amqpMessage
    }
}
