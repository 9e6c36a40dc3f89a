import AMQP
import ArgumentParser
import ContractKit
import Contracts
import DeploymentSettings
import Foundation
import Jobs
import Programme
import Stores
import Topology
import Workers

/// The main job: the whole 2025 programme on a synthetic cohort, through real worker
/// processes on the local broker (`scripts/run.sh` starts the broker and builds first).
@main
struct KaltimDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kaltim-demo",
        abstract: "Run the 2025 programme end to end on a seeded synthetic cohort and print a report.")

    @Option(help: "The broker (default: $KALTIM_BROKER_URL).") var brokerURL: String?
    @Option(help: "Seed of the cohort: the same seed gives the same cohort and the same report.") var seed: UInt64 = 2025
    @Option(help: "Residents in the civil-registry extract.") var residents = 20_000
    @Option(help: "Registrations published by the portal.") var registrations = 8_000
    @Option(help: "Intake worker processes.") var intakeReplicas = 2
    @Option(help: ArgumentHelp("Folder for stores, logs, certificates and the report.", valueName: "path")) var output = "out/run"
    @Option(help: ArgumentHelp("The kaltim-worker executable.", valueName: "path")) var workerBinary: String
    @Option(help: ArgumentHelp("The programme plan.", valueName: "path")) var programmeFile = "config/programme-2025.json"
    @Option(help: ArgumentHelp("The notification templates.", valueName: "path")) var templates = "config/notifications"
    @Option(help: ArgumentHelp("The raw C relay's rate measured just before (scripts/bench-e2e.sh), printed as the ceiling."))
    var relayRate: Double?
    @Flag(
        help:
            "Chaos: run the workers under the supervisor, SIGKILL a random one every --chaos-interval seconds, restart the broker once and close every connection once; then check for lost and duplicated effects."
    )
    var chaos = false
    @Option(help: ArgumentHelp("Seconds between two kills in chaos mode.", valueName: "seconds")) var chaosInterval = 3.0
    @Option(
        help: ArgumentHelp(
            "scripts/broker.sh, which restarts the run's broker node in chaos mode (its environment names the node).",
            valueName: "path"))
    var brokerScript = "scripts/broker.sh"
    @Option(help: ArgumentHelp("Minutes each stage may take before the run fails.", valueName: "minutes"))
    var stageTimeout = 20.0
    @Option(
        help: ArgumentHelp(
            "Keep every role's state in this PostgreSQL database (a schema per role and run) instead of SQLite files.",
            valueName: "postgres://…"))
    var postgres: String?

    func validate() throws {
        guard residents >= 100, registrations >= 10 else { throw ValidationError("--residents ≥ 100 and --registrations ≥ 10") }
        guard (1...8).contains(intakeReplicas) else { throw ValidationError("--intake-replicas between 1 and 8") }
        guard chaosInterval >= 0.5 else { throw ValidationError("--chaos-interval must be at least 0.5 seconds") }
        guard stageTimeout > 0 else { throw ValidationError("--stage-timeout must be positive") }
        if chaos, !FileManager.default.fileExists(atPath: brokerScript) {
            throw ValidationError("--broker-script \(brokerScript) does not exist (chaos mode restarts the broker with it)")
        }
        if let postgres {
            guard Stores.isPostgres(postgres) else { throw ValidationError("--postgres takes a postgres:// URL") }
            // The supervisor gives each process a SQLite file of the data folder.
            guard !chaos else { throw ValidationError("--postgres runs without --chaos") }
        }
        guard FileManager.default.isExecutableFile(atPath: workerBinary) else {
            throw ValidationError("--worker-binary \(workerBinary) is not an executable")
        }
    }

    func run() async throws {

        PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
        let started = Date()
        let url = DeploymentEnvironment.current.brokerURL(option: brokerURL)
        let retryQueueType = try DeploymentEnvironment.current.retryQueueType()
        let catalogue = try ProgrammeCatalogue.load(path: programmeFile)
        let root = URL(fileURLWithPath: output)
        try? FileManager.default.removeItem(at: root)
        for folder in ["var", "logs", "certificates"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        let path = { (name: String) -> String in root.appendingPathComponent(name).path }

        print("kaltim-demo: seed \(seed), \(residents) residents, \(registrations) registrations")
        let cohort = Cohort(seed: seed, residents: residents, registrations: registrations, catalogue: catalogue)
        // Each role's store: a SQLite file of the run, or the run's own schema of the role.
        let schemaPrefix = "demo_\(seed)_\(Int(started.timeIntervalSince1970))_"
        let store = { (role: String) -> [String] in
            if let postgres = self.postgres { return ["--database", postgres, "--store-schema", schemaPrefix + role] }
            return ["--database", path("var/\(role).sqlite")]
        }
        let intakeStore = try await Stores.open(
            postgres ?? path("var/intake.sqlite"), schema: schemaPrefix + WorkerRole.intake.name)
        let imported = try await IntakeImport.registry(csv: cohort.registryCSV, into: intakeStore, key: .development)
        let history = try await IntakeImport.history(csv: cohort.historyCSV, into: intakeStore, key: .development)
        print("  registry extract: \(imported.imported) residents; earlier programmes: \(history.imported) records")

        // A fresh topology for this run, so nothing of an earlier run interferes.
        let prefix = "demo-\(seed)-\(Int(started.timeIntervalSince1970))."
        let connection = try await AMQPConnection.connect(try AMQPConfiguration(url: url))
        let roles = WorkerRole.all
        for role in roles {
            try await RoleTopology(role: role, prefix: prefix, retryQueueType: retryQueueType).declare(on: connection)
        }
        let observer = prefix + "observer"
        try await connection.declareQueue(.quorum(observer))
        let exchange = prefix + ContractDocuments.exchange
        for type in Set(ContractCatalogue.all.map { $0.eventType }) where type != NotificationRequestedV1.eventType {
            try await connection.bindQueue(observer, exchange: exchange, routingKey: type)
        }

        // The workers.
        let fleet = Fleet(binary: workerBinary, logFolder: path("logs"))
        let workerNames =
            (1...intakeReplicas).map { "intake-\($0)" } + ["scheduling-1", "grading-1", "certificates-1", "notifications-1"]
        let notificationArguments = [
            "--templates", templates, "--notification-log", path("notifications.jsonl"), "--quiet-hours", "off",
            "--gateway-rate", "1000000", "--smtp-rate", "1000000",
        ]
        if chaos {
            // One supervisor starts every process and starts again any that dies.
            let plan: [String: Any] = [
                "dataDirectory": path("var"), "logDirectory": path("logs"),
                "common": [
                    "--broker-url", url, "--topology-prefix", prefix, "--programme-file", programmeFile,
                    "--allow-any-publisher",
                ],
                "roles": [
                    "intake": ["replicas": intakeReplicas], "scheduling": ["replicas": 1], "grading": ["replicas": 1],
                    "certificates": ["replicas": 1, "arguments": ["--output-directory", path("certificates")]],
                    "notifications": ["replicas": 1, "arguments": notificationArguments],
                ],
            ]
            try JSONSerialization.data(withJSONObject: plan).write(to: URL(fileURLWithPath: path("plan.json")))
            try fleet.start("supervisor", ["supervise", "--plan", path("plan.json"), "--healthy-after", "5"])
            try await fleet.waitUntilLogged(workerNames)
        } else {
            let common = [
                "--broker-url", url, "--topology-prefix", prefix, "--programme-file", programmeFile, "--no-http",
                "--allow-any-publisher",
            ]
            for replica in 0..<intakeReplicas {
                try fleet.start("intake-\(replica + 1)", ["intake"] + store("intake") + common)
            }
            try fleet.start("scheduling", ["scheduling"] + store("scheduling") + common)
            try fleet.start("grading", ["grading"] + store("grading") + common)
            try fleet.start(
                "certificates",
                ["certificates"] + store("certificates") + ["--output-directory", path("certificates")] + common)
            // Messages go to a JSON-lines file instead of a gateway. The run compresses months into
            // minutes, so quiet hours are off and there is no provider to protect with a rate limit.
            try fleet.start(
                "notifications",
                ["notifications"] + store("notifications") + notificationArguments + common)
            try await fleet.waitUntilStarted()
        }
        defer { fleet.stopAll() }
        print("  workers: \(fleet.names.joined(separator: ", "))\(chaos ? " (chaos: a kill every \(chaosInterval) s)" : "")")

        let tally = Tally(stageTimeout: stageTimeout * 60)
        let watcher = Task { await tally.watch(observer, on: connection) }
        defer { watcher.cancel() }
        let disturbance =
            chaos
            ? Chaos(
                logFolder: path("logs"), workers: workerNames, brokerScript: brokerScript, interval: .seconds(chaosInterval),
                seed: seed) : nil
        let killer = Task { await disturbance?.killWorkers() }
        defer { killer.cancel() }

        let publishingStarted = Date()
        var passRates: [String: Double] = [:]
        var stageError: (any Error)?
        do {
            // Chaos: the broker restarts once a third of the registrations are decided.
            let third = registrations / 3
            let restart = Task {
                guard let disturbance else { return }
                while !Task.isCancelled, await tally.counts.decided < third { try? await Task.sleep(for: .milliseconds(200)) }
                do { try await disturbance.restartBroker() } catch { print("\nchaos: \(error)") }
            }
            defer { restart.cancel() }
            // Those who register a second time do so after their first registration was decided
            // (as people do, days later): two copies in flight at once would let the intake
            // replicas' order decide which one counts, and the report would vary with it.
            let firstWave = cohort.registrations.filter { $0.defect != .duplicate }
            try await publishRegistrations(firstWave, exchange: exchange, prefix: prefix, on: connection, malformed: true)
            let firstCount = firstWave.count
            try await tally.wait("intake", Date()) { counts in counts.decided >= firstCount }
            await restart.value
            try await publishRegistrations(
                cohort.registrations.filter { $0.defect == .duplicate }, exchange: exchange, prefix: prefix, on: connection,
                malformed: false)
            let total = registrations
            try await tally.wait("intake (second tries)", Date()) { counts in counts.decided >= total }

            // 2. Selection closes; the classes are announced.
            let stage2 = Date()
            let classes = try catalogue.plannedClasses.map { planned in
                try OutgoingEvent(
                    EventEnvelope(
                        id: "\(prefix)class-opened-\(planned.classID)", source: "/kaltim/admin/open-classes", data: planned),
                    exchange: exchange
                ).amqpMessage
            }
            try await publishAll(classes, on: connection)
            try await tally.wait("scheduling", stage2) { counts in counts.placed >= counts.accepted && counts.accepted > 0 }

            // 3. The LSPs assess everyone who trained (pass rates 75–94 % per programme).
            let stage3 = Date()
            let seats = await tally.seats
            let registrations = await tally.registrationOfParticipant
            let made = try makeAssessments(seats: seats, registrations: registrations, catalogue: catalogue, exchange: exchange)
            let assessments = made.0
            passRates = made.1
            try await publishAll(assessments, on: connection)
            let expected = assessments.count
            // Chaos: every connection is closed once, when a quarter of the assessments are graded.
            let close = Task {
                guard let disturbance else { return }
                while !Task.isCancelled, await tally.counts.graded < expected / 4 {
                    try? await Task.sleep(for: .milliseconds(100))
                }
                do { try await disturbance.closeAllConnections() } catch { print("\nchaos: \(error)") }
            }
            defer { close.cancel() }
            try await tally.wait("grading and certificates", stage3) { counts in
                counts.graded + counts.assessmentRejected >= expected && counts.certificates >= counts.expectedCertificates
            }
            await close.value

            // 4. Every event that concerns a job seeker has reached them (or failed, with a reason).
            let stage4 = Date()
            try await tally.wait("notifications", stage4) { counts in
                counts.notified + counts.notificationsFailed >= counts.expectedNotifications
            }
        } catch {
            stageError = error
            print("\nkaltim-demo: \(error)")
        }
        killer.cancel()
        await killer.value

        // The report, then the checks, with every worker stopped.
        let seconds = Date().timeIntervalSince(started)
        let memory = fleet.peakMemory()
        fleet.stopAll()
        watcher.cancel()
        let dead = try await deadLetters(prefix: prefix, on: connection)
        var leftovers: [String: Int] = [:]
        for role in roles {
            let topology = RoleTopology(role: role, prefix: prefix)
            for queue in [topology.queue] + topology.retryQueues.map(\.name) {
                leftovers[queue] = Int((try? await connection.queueState(queue))?.messageCount ?? 0)
            }
        }
        let report = await tally.report(
            catalogue: catalogue, seconds: seconds, deadLetters: dead, cohort: cohort, passRates: passRates,
            publishingStarted: publishingStarted, memory: memory, relayRate: relayRate)
        let counts = await tally.counts
        var check = ChaosCheck.run(
            ledger: await tally.ledger, expectedDecisions: registrations, owed: await tally.owedCertificates,
            expectedNotifications: counts.expectedNotifications, notificationLog: path("notifications.jsonl"),
            deadLetters: dead,
            expectedDeadLetters: 3 * roles.filter { $0.consumes.contains(RegistrationSubmittedV2.eventType) }.count,
            leftovers: leftovers, logFolder: path("logs"))
        if let stageError { check.problems.insert("the run did not finish: \(stageError)", at: 0) }
        // Each certificate's PDF is written after its commit, by the worker's file writer, which
        // finishes what is waiting when the worker stops.
        let pdfs = ((try? FileManager.default.contentsOfDirectory(atPath: path("certificates"))) ?? []).filter {
            $0.hasSuffix(".pdf")
        }
        check.lines.append("  certificate files: \(pdfs.count) PDFs for \(counts.certificates) certificates issued")
        if pdfs.count != counts.certificates {
            check.problems.append("\(counts.certificates) certificates issued but \(pdfs.count) PDFs written")
        }
        var text = report + "\nchecks (lost and duplicated effects, leftovers, dead letters, logs):\n"
        if let disturbance {
            let kills = disturbance.kills
            text += "  chaos: \(kills.count) workers killed with SIGKILL ("
            text += Dictionary(grouping: kills, by: { $0 }).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.count)" }
                .joined(separator: ", ")
            text += "), broker restarts \(disturbance.brokerRestarts), connections closed \(disturbance.connectionCloses)\n"
            if disturbance.brokerRestarts != 1 || disturbance.connectionCloses != 1 || kills.isEmpty {
                check.problems.append("chaos: not every disturbance happened")
            }
        }
        text += check.lines.joined(separator: "\n") + "\n"
        text +=
            check.problems.isEmpty
            ? "  PASS: nothing lost, nothing doubled" : check.problems.map { "  FAIL: \($0)" }.joined(separator: "\n")
        print(text)
        try text.write(toFile: path("report.txt"), atomically: true, encoding: .utf8)
        print("kaltim-demo: report, stores, logs and certificates are in \(output)/")
        for role in roles { await RoleTopology(role: role, prefix: prefix).deleteAll(on: connection) }
        _ = try? await connection.deleteQueue(observer)
        await connection.close()
        if !check.problems.isEmpty { throw ExitCode(1) }
    }

    /// 1. The registration portal publishes (a fifth as contract version 1), plus a few
    /// messages no contract accepts: they belong in the dead letters, nowhere else.
    func publishRegistrations(
        _ registrations: [Cohort.Registration], exchange: String, prefix: String, on connection: AMQPConnection,
        malformed: Bool
    ) async throws {
        var messages: [AMQPOutgoingMessage] = []
        for item in registrations {
            let event: OutgoingEvent
            if item.asVersion1 {
                let r = item.registration
                let v1 = RegistrationSubmittedV1(
                    registrationID: r.registrationID, nik: r.nik, fullName: r.fullName, birthPlace: r.birthPlace,
                    birthDate: r.birthDate, sex: r.sex, phone: r.phone, email: r.email, domicile: r.domicile,
                    education: r.education,
                    jobSeekerCardNumber: nil, preferredCentre: r.preferredCentre, programme: r.programme,
                    apprenticeshipInterest: r.apprenticeshipInterest, declaredTrainings: [], consent: r.consent)
                event = try OutgoingEvent(EventEnvelope(source: "/kaltim/registration-portal", data: v1), exchange: exchange)
            } else {
                event = try OutgoingEvent(
                    EventEnvelope(source: "/kaltim/registration-portal", data: item.registration), exchange: exchange)
            }
            messages.append(event.amqpMessage)
        }
        let bodies = ["{", "{\"specversion\":\"1.0\",\"type\":\"registration.submitted\"}", "[1,2,3]"]
        for (index, body) in bodies.enumerated() where malformed {
            messages.append(
                AMQPOutgoingMessage(
                    body: Data(body.utf8), exchange: exchange, routingKey: RegistrationSubmittedV2.eventType,
                    properties: AMQPProperties(deliveryMode: .persistent, messageID: "\(prefix)malformed-\(index + 1)")))
        }
        try await publishAll(messages, on: connection)
    }

    /// 3. One assessment per seated participant, on the last day of the class. Each outcome is
    /// drawn from the seed and the person's registration number, never from the participant id
    /// (intake replicas number participants in no fixed order), so a seed gives the same results.
    func makeAssessments(
        seats: [ClassScheduledV1], registrations: [String: String], catalogue: ProgrammeCatalogue, exchange: String
    ) throws -> ([AMQPOutgoingMessage], [String: Double]) {
        var random = SeededRandom(seed: seed &+ 1)
        var passRates: [String: Double] = [:]
        for code in Set(catalogue.centres.flatMap { $0.programmes.map(\.code) }).sorted() {
            passRates[code] = Double.random(in: 0.75...0.94, using: &random)
        }
        var assessments: [AMQPOutgoingMessage] = []
        func key(_ seat: ClassScheduledV1) -> String { registrations[seat.participantID] ?? seat.participantID }
        for seat in seats.sorted(by: { key($0) < key($1) }) {
            guard let programme = catalogue.programme(seat.programme, at: seat.centre) else { continue }
            // FNV-1a of the registration number, mixed with the seed.
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in key(seat).utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            var draw = SeededRandom(seed: seed ^ hash)
            let competent = Double.random(in: 0..<1, using: &draw) < (passRates[seat.programme] ?? 0.8)
            let failedUnit = programme.scheme.units.randomElement(using: &draw) ?? ""
            let serial = assessments.count + 1
            var units: [AssessmentSubmittedV1.Unit] = []
            for code in programme.scheme.units {
                units.append(
                    AssessmentSubmittedV1.Unit(
                        code: code, result: competent || code != failedUnit ? .competent : .notYetCompetent))
            }
            let submitted = AssessmentSubmittedV2(
                assessmentID: String(format: "LSP-ASM-2025-%05d", serial), participantID: seat.participantID,
                lspLicence: "BNSP-LSP-0123-ID", scheme: programme.scheme.code, assessorRegistration: "MET.000.001234 2019",
                testSite: seat.centre == .balikpapan ? "TUK BLKI Balikpapan" : "TUK BLKI Bontang", assessedOn: seat.endDate,
                units: units, attendancePercent: Double(Int.random(in: 72...100, using: &draw)),
                certificateNumber: competent ? String(format: "No. 85223 7233 3 %07d 2025", serial) : nil,
                registrationNumber: competent ? String(format: "No. Reg. LSP 0123 %05d 2025", serial) : nil)
            assessments.append(
                try OutgoingEvent(EventEnvelope(source: "/kaltim/lsp", data: submitted), exchange: exchange).amqpMessage)
        }
        return (assessments, passRates)
    }

    /// Publishes with confirms; what the broker did not confirm (it may be restarting) is
    /// published again, up to 10 times. A copy that arrives twice has one message id, and the
    /// workers' inboxes take it once.
    func publishAll(_ messages: [AMQPOutgoingMessage], on connection: AMQPConnection) async throws {
        var pending = messages
        for attempt in 1...10 {
            let results = await connection.publish(pending, window: 200)
            pending = zip(pending, results).compactMap { message, result in
                if case .failure = result { message } else { nil }
            }
            if pending.isEmpty { return }
            try await Task.sleep(for: .seconds(Double(attempt)))
        }
        throw ValidationError("\(pending.count) messages were not confirmed by the broker after 10 attempts")
    }

    func deadLetters(prefix: String, on connection: AMQPConnection) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for role in WorkerRole.all {
            let queue = RoleTopology(role: role, prefix: prefix).deadLetterQueue
            // Distinct messages: a malformed message the portal published again after a lost
            // confirm is one message.
            var seen = Set<String>()
            while let dead = try await connection.get(queue: queue) {
                let code = dead.properties.headers?[FailureRouter.Header.code]?.stringValue ?? "unknown"
                if seen.insert(dead.properties.messageID ?? UUID().uuidString).inserted {
                    counts["\(role.name): \(code)", default: 0] += 1
                }
                try await dead.ack()
            }
        }
        return counts
    }
}

extension RoleTopology {
    /// Deletes what ``declare(on:)`` made (the demo's run-scoped topology).
    func deleteAll(on connection: AMQPConnection) async {
        for name in [queue, deadLetterQueue] + retryQueues.map(\.name) { _ = try? await connection.deleteQueue(name) }
        try? await connection.deleteExchange(exchange)
        try? await connection.deleteExchange(failureExchange)
    }
}
