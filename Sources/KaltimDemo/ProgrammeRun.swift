import AMQP
import ArgumentParser
import CommandOptions
import ContractKit
import Contracts
import DataProtection
import DeploymentSettings
import Foundation
import Jobs
import Programme
import Stores
import Topology
import WorkerHost
import Workers

/// One run of the main job, stage by stage: ``prepare(_:)`` (folders, cohort, registry extract,
/// the run's topology), then ``execute()``: the workers start, the four stages of the programme
/// run (``runStages(tally:disturbance:passRates:)``), and the report and its checks are written
/// with every worker stopped (``report(_:)``).
struct ProgrammeRun {
    let options: KaltimDemo
    let started: Date
    let url: String
    let catalogue: ProgrammeCatalogue
    let root: URL
    let cohort: Cohort
    /// Each role's PostgreSQL schema is this and the role's name.
    let schemaPrefix: String
    /// The run's topology: every queue and exchange name starts with it.
    let prefix: String
    let exchange: String
    /// The queue bound to every event of the run, which the ``Tally`` reads.
    let observer: String
    let connection: AMQPConnection
    let roles = WorkerRole.all

    /// A file or folder of the run's output.
    func path(_ name: String) -> String { root.appendingPathComponent(name).path }

    /// The output folders, the cohort, the registry extract and earlier programmes imported
    /// into intake's store, and a fresh topology for this run (so nothing of an earlier run
    /// interferes) with its observer queue.
    static func prepare(_ options: KaltimDemo) async throws -> ProgrammeRun {
        let started = Date()
        let url = options.broker.resolvedURL
        let retryQueueType = try DeploymentEnvironment.current.retryQueueType()
        let catalogue = try options.programme.load()
        let root = URL(fileURLWithPath: options.output)
        try? FileManager.default.removeItem(at: root)
        for folder in ["var", "logs", "certificates"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }

        print(
            "kaltim-demo: seed \(options.seed), \(options.residents) residents, \(options.registrations) registrations")
        let cohort = Cohort(
            seed: options.seed, residents: options.residents, registrations: options.registrations, catalogue: catalogue)
        let schemaPrefix = "demo_\(options.seed)_\(Int(started.timeIntervalSince1970))_"
        let intakeStore = try await Stores.open(
            options.postgres ?? root.appendingPathComponent("var/intake.sqlite").path,
            schema: schemaPrefix + WorkerRole.intake.name)
        let imported = try await IntakeImport.registry(csv: cohort.registryCSV, into: intakeStore, key: .development)
        let history = try await IntakeImport.history(csv: cohort.historyCSV, into: intakeStore, key: .development)
        print("  registry extract: \(imported.imported) residents; earlier programmes: \(history.imported) records")

        let prefix = "demo-\(options.seed)-\(Int(started.timeIntervalSince1970))."
        let connection = try await AMQPConnection.connect(try options.broker.configuration(connectionName: nil))
        for role in WorkerRole.all {
            try await RoleTopology(role: role, prefix: prefix, retryQueueType: retryQueueType).declare(on: connection)
        }
        let observer = prefix + "observer"
        try await connection.declareQueue(.quorum(observer))
        let exchange = prefix + ContractDocuments.exchange
        for type in Set(ContractCatalogue.all.map { $0.eventType }) where type != NotificationRequestedV1.eventType {
            try await connection.bindQueue(observer, exchange: exchange, routingKey: type)
        }
        return ProgrammeRun(
            options: options, started: started, url: url, catalogue: catalogue, root: root, cohort: cohort,
            schemaPrefix: schemaPrefix, prefix: prefix, exchange: exchange, observer: observer, connection: connection)
    }

    /// Starts the workers, runs the programme, writes the report and removes the run's
    /// topology. Returns whether every check passed.
    func execute() async throws -> Bool {
        let (fleet, workerNames) = try await startWorkers()
        defer { fleet.stopAll() }
        // The console starts before the first registration: its queue must be bound to see it.
        var console: RunConsole?
        if let binary = options.consoleBinary {
            var started = try await RunConsole.start(self, binary: binary, port: options.consolePort)
            do {
                if verificationAddress != nil {
                    started.verification = try await RunConsole.startVerification(
                        self, binary: binary, port: options.verificationPort)
                }
            } catch {
                // Nothing is left running for a run that did not start.
                ProcessSpawner.stop([started.pid], within: .seconds(10))
                unlink(path("console.pid"))
                throw error
            }
            console = started
        }
        try console?.announce(root: root.path)
        let chaos = options.chaos
        print(
            "  workers: \(fleet.names.joined(separator: ", "))\(chaos ? " (chaos: a kill every \(options.chaosInterval) s)" : "")"
        )

        let tally = Tally(stageTimeout: options.stageTimeout * 60, openLoopRate: options.rate)
        let watcher = Task { await tally.watch(observer, on: connection) }
        defer { watcher.cancel() }
        let disturbance =
            chaos
            ? Chaos(
                logFolder: path("logs"), workers: workerNames, brokerScript: options.brokerScript,
                interval: .seconds(options.chaosInterval), seed: options.seed) : nil
        let killer = Task { await disturbance?.killWorkers() }
        defer { killer.cancel() }

        let publishingStarted = Date()
        var passRates: [String: Double] = [:]
        var stageError: (any Error)?
        do {
            try await runStages(tally: tally, disturbance: disturbance, passRates: &passRates)
        } catch {
            stageError = error
            print("\nkaltim-demo: \(error)")
        }
        killer.cancel()
        await killer.value

        // The report, then the checks, with every worker stopped.
        let finished = Finished(
            seconds: Date().timeIntervalSince(started), usage: fleet.usage(), publishingStarted: publishingStarted,
            passRates: passRates, stageError: stageError)
        fleet.stopAll()
        watcher.cancel()
        let passed = try await report(finished, tally: tally, disturbance: disturbance)
        if let console {
            // The console reads the roles' queues and dead letters: the topology stays with it.
            console.printInstructions(root: root.path)
        } else {
            for role in roles { await RoleTopology(role: role, prefix: prefix).deleteAll(on: connection) }
        }
        _ = try? await connection.deleteQueue(observer)
        await connection.close()
        return passed
    }

    // MARK: The workers

    /// The arguments that give a role its store: a SQLite file of the run, or the run's own
    /// schema of the role.
    func storeArguments(_ role: String) -> [String] {
        if let postgres = options.postgres { return ["--database", postgres, "--store-schema", schemaPrefix + role] }
        return ["--database", path("var/\(role).sqlite")]
    }

    /// The address of the verification service a run with the console starts (the QR codes and
    /// messages point at it); `nil` without the console (the public address then), and on
    /// PostgreSQL, where the service reads through `reader-grants.sql`'s function on the
    /// `certificates` schema, which a run's own schemas do not have.
    var verificationAddress: String? {
        options.consoleBinary == nil || options.postgres != nil ? nil : "http://127.0.0.1:\(options.verificationPort)"
    }

    /// Starts every worker process (under one supervisor in chaos mode) and waits until each
    /// has started. Returns the fleet and the names of the worker processes.
    func startWorkers() async throws -> (Fleet, [String]) {
        let fleet = Fleet(binary: options.workerBinary, logFolder: path("logs"))
        let intakeReplicas = options.intakeReplicas
        let workerNames =
            (1...intakeReplicas).map { "intake-\($0)" } + ["scheduling-1", "grading-1", "certificates-1", "notifications-1"]
        // Messages go to a JSON-lines file instead of a gateway. The run compresses months into
        // minutes, so quiet hours are off and there is no provider to protect with a rate limit.
        var notificationArguments = [
            "--templates", options.templates, "--notification-log", path("notifications.jsonl"), "--quiet-hours", "off",
            "--gateway-rate", "1000000", "--smtp-rate", "1000000",
        ]
        var certificateArguments = ["--output-directory", path("certificates")]
        // With the console, the run's own verification service answers the QR codes and links.
        if let address = verificationAddress {
            certificateArguments += ["--verification-url", address + "/v/"]
            notificationArguments += ["--verification-url", address + "/verifikasi"]
        }
        // The workers connect as the run does; the public development NIK key, as the
        // registry extract was imported under it.
        var brokerArguments = ["--broker-url", url]
        let tls = options.broker.tls
        for (flag, value) in [("--tls-ca", tls.tlsCA), ("--tls-cert", tls.tlsCert), ("--tls-key", tls.tlsKey)] {
            if let value { brokerArguments += [flag, value] }
        }
        let intakeArguments = ["--development-key"]
        if options.chaos {
            // One supervisor starts every process and starts again any that dies.
            let plan = SupervisePlan(
                dataDirectory: path("var"), logDirectory: path("logs"),
                common: brokerArguments + [
                    "--topology-prefix", prefix, "--programme-file", options.programme.programmeFile,
                    "--allow-any-publisher",
                ],
                roles: [
                    "intake": .init(replicas: intakeReplicas, arguments: intakeArguments),
                    "scheduling": .init(replicas: 1), "grading": .init(replicas: 1),
                    "certificates": .init(replicas: 1, arguments: certificateArguments),
                    "notifications": .init(replicas: 1, arguments: notificationArguments),
                ])
            try JSONEncoder().encode(plan).write(to: URL(fileURLWithPath: path("plan.json")))
            try fleet.start("supervisor", ["supervise", "--plan", path("plan.json"), "--healthy-after", "5"])
            try await fleet.waitUntilLogged(workerNames)
        } else {
            let common =
                brokerArguments + [
                    "--topology-prefix", prefix, "--programme-file", options.programme.programmeFile, "--no-http",
                    "--allow-any-publisher",
                ]
            for replica in 0..<intakeReplicas {
                try fleet.start("intake-\(replica + 1)", ["intake"] + storeArguments("intake") + intakeArguments + common)
            }
            try fleet.start("scheduling", ["scheduling"] + storeArguments("scheduling") + common)
            try fleet.start("grading", ["grading"] + storeArguments("grading") + common)
            try fleet.start(
                "certificates",
                ["certificates"] + storeArguments("certificates") + certificateArguments + common)
            try fleet.start(
                "notifications", ["notifications"] + storeArguments("notifications") + notificationArguments + common)
            try await fleet.waitUntilStarted()
        }
        return (fleet, workerNames)
    }

    // MARK: The stages

    /// The programme's stages, each waiting until the workers have done its part:
    /// registrations, the officers' reviews, the classes, daftar ulang, the assessments, the
    /// notifications.
    func runStages(tally: Tally, disturbance: Chaos?, passRates: inout [String: Double]) async throws {
        try await registrationStage(tally: tally, disturbance: disturbance)
        try await reviewStage(tally: tally)
        let portal = Task { await answerOffers(tally: tally) }
        defer { portal.cancel() }
        try await classStage(tally: tally)
        try await reRegistrationStage(tally: tally)
        try await withdrawalStage(tally: tally)
        try await assessmentStage(tally: tally, disturbance: disturbance, passRates: &passRates)
        try await notificationStage(tally: tally)
    }

    /// 1. The portal publishes the registrations; intake decides them. Chaos: the broker
    /// restarts once a third of the registrations are decided.
    func registrationStage(tally: Tally, disturbance: Chaos?) async throws {
        let third = options.registrations / 3
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
        try await publishRegistrations(firstWave, malformed: true, rate: options.rate, tally: tally)
        let firstCount = firstWave.count
        try await tally.wait("intake", Date()) { counts in counts.decided >= firstCount }
        await restart.value
        try await publishRegistrations(
            cohort.registrations.filter { $0.defect == .duplicate }, malformed: false, tally: tally)
        let total = options.registrations
        try await tally.wait("intake (second tries)", Date()) { counts in counts.decided >= total }
    }

    /// 1b. Officers of Disnakertrans decide every registration intake sent to review, as
    /// `kaltim-worker review decide` would: no registry record → documents first (the family
    /// card and the birth certificate), then the decision once they are brought; every fifth is
    /// rejected (the documents do not match), the rest approved with every reason verified.
    /// The stage ends when no review is pending.
    func reviewStage(tally: Tally) async throws {
        let stage = Date()
        let cases = await tally.reviewCases
        guard !cases.isEmpty else { return }
        let officer = "Petugas Verifikasi Disnakertrans (simulasi)"
        func decision(
            _ id: String, _ step: Int, _ decision: RegistrationReviewedV1.Decision, verified: [String] = [],
            reason: RegistrationReason? = nil, respondBy: String? = nil
        ) throws -> AMQPOutgoingMessage {
            try OutgoingEvent(
                EventEnvelope(
                    id: "\(prefix)reviewed-\(id)-\(step)", source: "/kaltim/office/review", subject: id,
                    data: RegistrationReviewedV1(
                        registrationID: id, decision: decision, officer: officer, verifiedReasons: verified, reason: reason,
                        respondBy: respondBy)),
                exchange: exchange
            ).amqpMessage
        }
        let documents = RegistrationReason(
            code: "DOKUMEN_KEPENDUDUKAN_DIPERLUKAN",
            message: "Data kependudukan Anda belum ditemukan; mohon bawa KTP-el, Kartu Keluarga dan akta kelahiran asli.")
        let mismatch = RegistrationReason(
            code: "DOKUMEN_TIDAK_SESUAI",
            message:
                "Data pada dokumen asli tidak sesuai dengan data pendaftaran; silakan mendaftar kembali dengan data yang benar.")
        var first: [AMQPOutgoingMessage] = []
        var later: [AMQPOutgoingMessage] = []
        for (index, reviewCase) in cases.enumerated() {
            let id = reviewCase.registrationID
            let needsDocuments = reviewCase.reasons.contains("REGISTRY_NOT_FOUND")
            if needsDocuments {
                first.append(try decision(id, 1, .requestDocuments, reason: documents, respondBy: "2025-06-20"))
            }
            let step = needsDocuments ? 2 : 1
            let final =
                index % 5 == 4
                ? try decision(id, step, .reject, reason: mismatch)
                : try decision(id, step, .approve, verified: reviewCase.reasons)
            if needsDocuments { later.append(final) } else { first.append(final) }
        }
        let requested = later.count
        try await publishAll(first)
        try await tally.wait("officers' reviews", stage) { counts in
            counts.documentsRequested >= requested && counts.reviewsPending <= requested
        }
        try await publishAll(later)
        try await tally.wait("reviews after documents", stage) { counts in counts.reviewsPending == 0 }
    }

    /// 2. Selection closes; the classes are announced and scheduling seats the accepted.
    func classStage(tally: Tally) async throws {
        let stage2 = Date()
        let classes = try catalogue.plannedClasses.map { planned in
            try OutgoingEvent(
                EventEnvelope(
                    id: "\(prefix)class-opened-\(planned.classID)", source: "/kaltim/admin/open-classes", data: planned),
                exchange: exchange
            ).amqpMessage
        }
        try await publishAll(classes)
        try await tally.wait("scheduling", stage2) { counts in
            counts.placed >= counts.accepted && counts.accepted > 0 && counts.offersPending == 0
        }
    }

    /// 2b. Daftar ulang: each BLKI records who came (`enrolment.reregistered`, as
    /// `kaltim-worker reregister` would). About one in thirty selected does not come (chosen by
    /// the seed): scheduling gives each such seat to the next on the programme's waiting list,
    /// who then comes in their own, later window. The stage ends when every seat someone waiting
    /// at the same BLKI takes has been given away and every offer across has been answered.
    func reRegistrationStage(tally: Tally) async throws {
        let stage = Date()
        let seats = await tally.seats
        var noShows: [String: Int] = [:]
        var noShowsAt: [String: [TrainingCentre: Int]] = [:]
        var records: [AMQPOutgoingMessage] = []
        for seat in seats {
            let absent = Self.stableHash("\(options.seed) \(seat.participantID)") % 30 == 0
            if absent {
                noShows[seat.programme, default: 0] += 1
                noShowsAt[seat.programme, default: [:]][seat.centre, default: 0] += 1
            }
            records.append(try reRegistration(seat, attended: !absent))
        }
        let absent = noShows.values.reduce(0, +)
        // The seats someone waiting at the same BLKI takes at once (a seat offered across to the
        // other BLKI may be refused, so those are not waited for; the offers are, below).
        var home = 0
        for (programme, counts) in noShowsAt {
            for (centre, count) in counts { home += min(count, await tally.waitingForHome(programme, at: centre)) }
        }
        let replaced = home
        try await publishAll(records)
        try await tally.wait("daftar ulang", stage) { counts in
            counts.withdrawn >= absent && counts.replacements >= replaced && counts.offersPending == 0
        }
        // Those called from the waiting list come in their own window.
        let called = await tally.seats.filter(\.replacing)
        try await publishAll(try called.map { try reRegistration($0, attended: true) })
    }

    /// 2c. Withdrawals, as `kaltim-worker withdraw` would ask them: three participants resign
    /// the day before their class starts (scheduling gives each seat to the next on the waiting
    /// list, who comes to daftar ulang in the later window) and three leave five days after it
    /// started (their seats stay empty). Chosen by the seed among those not called from the list.
    func withdrawalStage(tally: Tally) async throws {
        let stage = Date()
        let before = await tally.counts
        let leaving = await tally.seats.filter { !$0.replacing }
            .sorted {
                Self.stableHash("\(options.seed) leaves \($0.participantID)")
                    < Self.stableHash("\(options.seed) leaves \($1.participantID)")
            }
            .prefix(6)
        var messages: [AMQPOutgoingMessage] = []
        var refills = 0
        var taken: [String: Int] = [:]
        for (index, seat) in leaving.enumerated() {
            guard let start = ProgrammeCatalogue.day(seat.startDate) else { continue }
            let early = index < 3
            let key = "\(seat.programme) \(seat.centre.rawValue)"
            if early, await tally.waitingForHome(seat.programme, at: seat.centre) > taken[key, default: 0] {
                taken[key, default: 0] += 1
                refills += 1
            }
            let request = EnrolmentWithdrawalRequestedV1(
                participantID: seat.participantID, classID: seat.classID,
                reason: early ? .participantResigned : index == 3 ? .attendanceTooLow : .participantResigned,
                on: ProgrammeCatalogue.format(start.addingTimeInterval((early ? -1 : 5) * 86_400)),
                requestedBy: "Petugas BLKI (simulasi)")
            messages.append(
                try OutgoingEvent(
                    EventEnvelope(
                        id: "\(prefix)withdrawal-\(seat.participantID)", source: "/kaltim/office/withdraw",
                        subject: seat.participantID, data: request),
                    exchange: exchange
                ).amqpMessage)
        }
        let (withdrawn, replaced) = (before.withdrawn + messages.count, before.replacements + refills)
        try await publishAll(messages)
        try await tally.wait("withdrawals", stage) { counts in
            counts.withdrawn >= withdrawn && counts.replacements >= replaced && counts.offersPending == 0
        }
        await tally.noteOfficeWithdrawals(asked: messages.count, beforeStart: min(3, messages.count))
        // Those called in their place come to daftar ulang (a record sent before has the same id).
        try await publishAll(try await tally.seats.filter(\.replacing).map { try reRegistration($0, attended: true) })
    }

    /// The BLKI's daftar ulang record of a seat, as `kaltim-worker reregister` would publish it
    /// (one id per participant: sent again, it is the same record).
    func reRegistration(_ seat: ClassScheduledV2, attended: Bool) throws -> AMQPOutgoingMessage {
        try OutgoingEvent(
            EventEnvelope(
                id: "\(prefix)reregistered-\(seat.participantID)", source: "/kaltim/blki/daftar-ulang",
                subject: seat.participantID,
                data: EnrolmentReRegisteredV1(
                    participantID: seat.participantID, classID: seat.classID, attended: attended,
                    recordedBy: "Petugas daftar ulang BLKI (simulasi)")),
            exchange: exchange
        ).amqpMessage
    }

    /// The registration portal's side of the offers of a seat at the other BLKI: each applicant
    /// answers as they come (chosen by the seed): seven in ten say yes, two no, one does not
    /// answer by the date (the portal reports that too).
    func answerOffers(tally: Tally) async {
        while !Task.isCancelled {
            let offers = await tally.takeOffersToAnswer()
            if !offers.isEmpty {
                do {
                    try await publishAll(
                        offers.map { offer in
                            let draw = Self.stableHash("\(options.seed) offer \(offer.participantID)") % 10
                            let answer: EnrolmentTransferAnsweredV1.Answer =
                                draw < 7 ? .accept : draw < 9 ? .decline : .noAnswer
                            return try OutgoingEvent(
                                EventEnvelope(
                                    id: "\(prefix)offer-answer-\(offer.participantID)", source: "/kaltim/registration-portal",
                                    subject: offer.participantID,
                                    data: EnrolmentTransferAnsweredV1(
                                        participantID: offer.participantID, classID: offer.classID, answer: answer,
                                        answeredOn: answer == .noAnswer
                                            ? ProgrammeCatalogue.day(offer.answerBy).map {
                                                ProgrammeCatalogue.format($0.addingTimeInterval(86_400))
                                            } ?? offer.answerBy : offer.answerBy)),
                                exchange: exchange
                            ).amqpMessage
                        })
                } catch {
                    print("\nportal: \(error)")
                    await tally.returnOffers(offers)
                }
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    /// FNV-1a of a text: the same choice for the same seed on every run.
    static func stableHash(_ text: String) -> UInt64 {
        text.utf8.reduce(14_695_981_039_346_656_037 as UInt64) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }
    }

    /// 3. The BLKIs record each participant's training result (LULUS at 80 % attendance or more)
    /// and the LSPs assess everyone who trained (pass rates 75–94 % per programme); grading and
    /// certificates follow. Chaos: every connection is closed once, when a quarter of the
    /// assessments are graded.
    func assessmentStage(tally: Tally, disturbance: Chaos?, passRates: inout [String: Double]) async throws {
        let stage3 = Date()
        let seats = await tally.seats
        let registrations = await tally.registrationOfParticipant
        let made = try makeAssessments(seats: seats, registrations: registrations)
        let assessments = made.assessments
        passRates = made.passRates
        try await publishAll(made.trainingResults)
        try await publishAll(assessments)
        let expected = assessments.count
        let close = Task {
            guard let disturbance else { return }
            while !Task.isCancelled, await tally.counts.graded < expected / 4 {
                try? await Task.sleep(for: .milliseconds(100))
            }
            do { try await disturbance.closeAllConnections() } catch { print("\nchaos: \(error)") }
        }
        defer { close.cancel() }
        let trained = made.trainingResults.count
        try await tally.wait("grading and certificates", stage3) { counts in
            counts.graded + counts.assessmentRejected >= expected && counts.trainingResults >= trained
                && counts.certificates >= counts.expectedCertificates
        }
        await close.value
        // A tenth of the BELUM KOMPETEN appeal (banding); the LSP upholds half of the appeals.
        var published = expected
        let appeals = try makeAppeals(after: await tally.retakeCandidates, registrations: registrations)
        if !appeals.filed.isEmpty {
            try await publishAll(appeals.filed)
            let filed = appeals.filed.count
            try await tally.wait("banding filed", Date()) { counts in counts.appealSteps >= filed }
            try await publishAll(appeals.decided)
            published += appeals.upheld
            let (target, steps) = (published, filed + appeals.decided.count)
            try await tally.wait("banding decided", Date()) { counts in
                counts.appealSteps >= steps && counts.graded + counts.assessmentRejected >= target
                    && counts.certificates >= counts.expectedCertificates
            }
        }
        // The LSPs' uji ulang: two rounds for whoever is still BELUM KOMPETEN with attempts left
        // (with the first assessment, the three attempts per unit the plan allows).
        for round in 1...2 {
            let retakes = try makeRetakes(after: await tally.retakeCandidates, round: round, registrations: registrations)
            guard !retakes.isEmpty else { break }
            try await publishAll(retakes)
            published += retakes.count
            let target = published
            try await tally.wait("uji ulang round \(round)", Date()) { counts in
                counts.graded + counts.assessmentRejected >= target && counts.certificates >= counts.expectedCertificates
            }
        }
        // The office records the licences LPJK and Kemnaker issued to those who passed the
        // training of a programme that leads to one; the certificates role records each.
        let licences = try makeLicences(
            seats: seats, passed: await tally.owedCertificates["training"] ?? [], registrations: registrations)
        if !licences.isEmpty {
            try await publishAll(licences)
            let count = licences.count
            try await tally.wait("licence records", Date()) { counts in
                counts.licencesRecorded >= count && counts.certificates >= counts.expectedCertificates
            }
        }
    }

    /// 4. Every event that concerns a job seeker has reached them (or failed, with a reason).
    func notificationStage(tally: Tally) async throws {
        let stage4 = Date()
        try await tally.wait("notifications", stage4) { counts in
            counts.notified + counts.notificationsFailed >= counts.expectedNotifications
        }
        // Each certificate's PDF is written after its commit; a certificates process killed
        // before writing leaves it to the next one. Wait for every file before the workers stop
        // (the last certificates of the run come with the uji ulang rounds).
        let issued = await tally.counts.certificates
        let deadline = Date().addingTimeInterval(options.stageTimeout * 60)
        while pdfCount() < issued {
            guard Date() < deadline else {
                throw ValidationError("certificate files did not appear: \(pdfCount()) of \(issued)")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// The certificate PDFs written so far.
    func pdfCount() -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: path("certificates"))) ?? []).filter { $0.hasSuffix(".pdf") }
            .count
    }

    // MARK: The report

    /// What the stages left for the report.
    struct Finished {
        let seconds: TimeInterval
        let usage: [ProcessUsage]
        let publishingStarted: Date
        let passRates: [String: Double]
        let stageError: (any Error)?
    }

    /// Writes the report and the checks (lost and duplicated effects, leftovers, dead letters,
    /// logs, certificate files, the chaos that was meant to happen) to the terminal and
    /// `report.txt`. Returns whether every check passed.
    func report(_ finished: Finished, tally: Tally, disturbance: Chaos?) async throws -> Bool {
        let dead = try await deadLetters(keep: options.consoleBinary != nil)
        var leftovers: [String: Int] = [:]
        for role in roles {
            let topology = RoleTopology(role: role, prefix: prefix)
            for queue in [topology.queue] + topology.retryQueues.map(\.name) {
                leftovers[queue] = Int((try? await connection.queueState(queue))?.messageCount ?? 0)
            }
        }
        let report = await tally.report(
            catalogue: catalogue, seconds: finished.seconds, deadLetters: dead, cohort: cohort,
            passRates: finished.passRates, publishingStarted: finished.publishingStarted, usage: finished.usage,
            relayRate: options.relayRate)
        let counts = await tally.counts
        var check = ChaosCheck.run(
            ledger: await tally.ledger, expectedDecisions: options.registrations, owed: await tally.owedCertificates,
            expectedNotifications: counts.expectedNotifications, notificationLog: path("notifications.jsonl"),
            deadLetters: dead,
            expectedDeadLetters: 3 * roles.filter { $0.consumes.contains(RegistrationSubmittedV3.eventType) }.count,
            leftovers: leftovers, logFolder: path("logs"))
        if let stageError = finished.stageError { check.problems.insert("the run did not finish: \(stageError)", at: 0) }
        if counts.reviewsPending > 0 { check.problems.append("\(counts.reviewsPending) reviews still pending") }
        // Each certificate's PDF is written after its commit, by the worker's file writer, which
        // finishes what is waiting when the worker stops.
        let pdfs = pdfCount()
        check.lines.append("  certificate files: \(pdfs) PDFs for \(counts.certificates) certificates issued")
        if pdfs != counts.certificates {
            check.problems.append("\(counts.certificates) certificates issued but \(pdfs) PDFs written")
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
        print("kaltim-demo: report, stores, logs and certificates are in \(options.output)/")
        return check.problems.isEmpty
    }
}
