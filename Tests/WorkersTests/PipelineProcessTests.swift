import AMQP
import ContractKit
import Contracts
import Foundation
import Jobs
import Programme
import TestSupport
import Testing
import Topology
import Workers

/// Intake and scheduling as processes (`kaltim-worker`), with the registry imported and the
/// classes opened by the admin commands: registrations in, the right events out.
@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .serialized, .timeLimit(.minutes(10))
)
struct PipelineProcessTests {
    @Test func registrationsFlowThroughIntakeAndSchedulingToTheRightEvents() async throws {
        let url = try #require(BrokerEnvironment.url)
        let connection = try await BrokerEnvironment.connect()
        let prefix = uniqueName() + "."
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(prefix + "d")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let binary = builtProductsDirectory.appendingPathComponent("kaltim-worker").path
        let programmeFile = repositoryFile("config/programme-2025.json")
        let registryFile = directory.appendingPathComponent("registry.csv").path
        try registryCSV.write(toFile: registryFile, atomically: true, encoding: .utf8)
        let intakeDatabase = directory.appendingPathComponent("intake.sqlite").path

        // The admin command loads the extract.
        let importer = try ChildProcess(
            binary, ["import-registry", "--csv", registryFile, "--database", intakeDatabase, "--development-key"])
        #expect(try await importer.waitForExit(timeout: .seconds(30)) == 0, "\(importer.output)")
        #expect(importer.output.contains("imported 5 registry records; skipped 0"))
        await importer.terminate()

        // Every outcome lands in one queue of the test.
        let intake = RoleTopology(role: .intake, prefix: prefix)
        let scheduling = RoleTopology(role: .scheduling, prefix: prefix)
        let grading = RoleTopology(role: .grading, prefix: prefix)
        for topology in [intake, scheduling, grading] { try await topology.declare(on: connection) }
        let outputs = prefix + "outputs"
        try await connection.declareQueue(.quorum(outputs))
        for type in [
            RegistrationAcceptedV1.eventType, RegistrationRejectedV1.eventType, RegistrationReviewNeededV1.eventType,
            ClassScheduledV1.eventType, EnrolmentWaitlistedV1.eventType, ApprenticeshipPlacedV1.eventType,
            AssessmentGradedV2.eventType, AssessmentRejectedV1.eventType, RegistrationDocumentsRequestedV1.eventType,
            EnrolmentWithdrawnV1.eventType, AssessmentAppealRecordedV1.eventType,
        ] {
            try await connection.bindQueue(outputs, exchange: intake.exchange, routingKey: type)
        }
        let common = [
            "--broker-url", url, "--topology-prefix", prefix, "--programme-file", programmeFile, "--no-http",
            "--allow-any-publisher",
        ]
        let workers = [
            try ChildProcess(binary, ["intake", "--database", intakeDatabase, "--development-key"] + common),
            try ChildProcess(binary, ["scheduling", "--database", directory.appendingPathComponent("s.sqlite").path] + common),
            try ChildProcess(binary, ["grading", "--database", directory.appendingPathComponent("g.sqlite").path] + common),
        ]
        defer { Task { for worker in workers { await worker.terminate() } } }
        for worker in workers {
            try await worker.waitForLog("\"msg\":\"worker started\"")
        }
        let opener = try ChildProcess(
            binary, ["open-classes", "--broker-url", url, "--topology-prefix", prefix, "--programme-file", programmeFile])
        #expect(try await opener.waitForExit(timeout: .seconds(60)) == 0, "\(opener.output)")
        await opener.terminate()

        let registrations = [
            IntakeDriver.registration("E2E-1"),  // accepted, Bontang
            IntakeDriver.registration(
                "E2E-2", nik: "6471050302019902", name: "Mochamad Rizky Pratama", birthDate: "2001-02-03", sex: .male,
                centre: .balikpapan, programme: "MEKANIK_SEPEDA_MOTOR"),  // accepted, Balikpapan
            IntakeDriver.registration("E2E-3", nik: "647401570899"),  // rejected: NIK format
            IntakeDriver.registration("E2E-4", nik: "6474015708999977"),  // review: not in the registry
        ]
        for registration in registrations {
            let event = try OutgoingEvent(
                EventEnvelope(source: "/kaltim/registration-portal", data: registration), exchange: intake.exchange)
            try await connection.publish(
                event.body, exchange: intake.exchange, routingKey: event.routingKey, properties: event.amqpMessage.properties,
                mandatory: true)
        }
        // And one message no contract accepts.
        try await connection.publish(
            Data(#"{"specversion":"1.0","type":"registration.submitted"}"#.utf8), exchange: intake.exchange,
            routingKey: RegistrationSubmittedV2.eventType, mandatory: true)

        let received = Collector<(type: String, subject: String, body: Data)>()
        @Sendable func seenNow() -> [String: [String]] {
            // Distinct subjects: a message redelivered after a refused ack counts once.
            Dictionary(grouping: received.values, by: \.type).mapValues { Array(Set($0.map(\.subject))).sorted() }
        }
        try await waitUntil(timeout: .seconds(60), "every outcome arrives") {
            while let delivery = try? await connection.get(queue: outputs) {
                let subject =
                    (try? JSONSerialization.jsonObject(with: delivery.body) as? [String: Any])?["subject"] as? String ?? ""
                received.append((delivery.properties.type ?? "", subject, delivery.body))
                try? await delivery.ack()  // refused as stale after a reconnect: redelivered, counted again
            }
            let seen = seenNow()
            return seen[ClassScheduledV1.eventType]?.count == 2 && seen[RegistrationRejectedV1.eventType]?.count == 1
                && seen[RegistrationReviewNeededV1.eventType]?.count == 1 && seen[ApprenticeshipPlacedV1.eventType]?.count == 2
        }
        let seen = seenNow()
        #expect(Set(seen[RegistrationAcceptedV1.eventType] ?? []) == ["E2E-1", "E2E-2"])
        #expect(seen[RegistrationRejectedV1.eventType] == ["E2E-3"])  // subjects are registration ids
        #expect(seen[RegistrationReviewNeededV1.eventType] == ["E2E-4"])
        #expect(seen[ApprenticeshipPlacedV1.eventType]?.count == 2, "both asked for an apprenticeship")

        // An officer reviews E2E-4 with the admin command: the case, a request for documents,
        // then a rejection, each carried out by intake and published.
        func review(_ arguments: [String]) async throws -> String {
            let command = try ChildProcess(binary, ["review"] + arguments + ["--database", intakeDatabase])
            #expect(try await command.waitForExit(timeout: .seconds(60)) == 0, "\(command.output)")
            let output = command.output
            await command.terminate()
            return output
        }
        let list = try await review(["list"])
        #expect(list.contains("reviews pending: 1") && list.contains("E2E-4\topen"), "\(list)")
        let shown = try await review(["show", "--registration-id", "E2E-4"])
        #expect(shown.contains("REGISTRY_NOT_FOUND") && shown.contains("NIK: ************9977"), "\(shown)")
        #expect(!shown.contains("6474015708999977"), "no NIK in clear")
        let broker = ["--broker-url", url, "--topology-prefix", prefix]
        let officer = ["--registration-id", "E2E-4", "--officer", "Rina (verifikator)"]
        _ = try await review(
            [
                "decide", "--decision", "request-documents", "--reason-code", "AKTA_DIPERLUKAN", "--reason-text",
                "Mohon bawa akta kelahiran asli.", "--respond-by", "2025-06-20",
            ] + officer + broker)
        try await waitUntil(timeout: .seconds(60), "the request for documents") {
            while let delivery = try? await connection.get(queue: outputs) {
                let subject =
                    (try? JSONSerialization.jsonObject(with: delivery.body) as? [String: Any])?["subject"] as? String ?? ""
                received.append((delivery.properties.type ?? "", subject, delivery.body))
                try? await delivery.ack()
            }
            return seenNow()[RegistrationDocumentsRequestedV1.eventType] == ["E2E-4"]
        }
        #expect(try await review(["list"]).contains("E2E-4\tdocuments-requested"))
        _ = try await review(
            [
                "decide", "--decision", "reject", "--reason-code", "DOKUMEN_TIDAK_SESUAI", "--reason-text",
                "Dokumen tidak sesuai dengan data pendaftaran.",
            ] + officer + broker)
        try await waitUntil(timeout: .seconds(60), "the rejection") {
            while let delivery = try? await connection.get(queue: outputs) {
                let subject =
                    (try? JSONSerialization.jsonObject(with: delivery.body) as? [String: Any])?["subject"] as? String ?? ""
                received.append((delivery.properties.type ?? "", subject, delivery.body))
                try? await delivery.ack()
            }
            return seenNow()[RegistrationRejectedV1.eventType] == ["E2E-3", "E2E-4"]
        }
        #expect(try await review(["list"]).contains("reviews pending: 0"))
        // A second decision is refused by the command before anything is published.
        let again = try ChildProcess(
            binary,
            ["review", "decide", "--decision", "approve", "--all-verified", "--database", intakeDatabase] + officer + broker)
        #expect(try await again.waitForExit(timeout: .seconds(60)) != 0)
        #expect(again.output.contains("already rejected"), "\(again.output)")
        await again.terminate()

        // The LSP reports each scheduled participant's assessment; the grading worker knows
        // their classes. The Balikpapan one is dated before the training started: rejected.
        // The Bontang one is BELUM KOMPETEN on its first unit.
        let catalogue = try ProgrammeCatalogue.load(path: programmeFile)
        let scheduled = try received.values.filter { $0.type == ClassScheduledV1.eventType }.map {
            try ContractJSON.decoder().decode(EventEnvelope<ClassScheduledV2>.self, from: $0.body).data
        }
        for (index, seat) in Set(scheduled.map(\.participantID)).sorted().compactMap({ id in
            scheduled.first { $0.participantID == id }
        })
        .enumerated() {
            let scheme = try #require(catalogue.programme(seat.programme, at: seat.centre)?.scheme)
            let submitted = AssessmentSubmittedV1(
                assessmentID: "LSP-E2E-\(index)", participantID: seat.participantID, lspLicence: "BNSP-LSP-0123-ID",
                scheme: scheme.code, assessorRegistration: "MET.000.001234 2019", testSite: "TUK BLKI",
                assessedOn: seat.centre == .bontang ? seat.endDate : "2025-01-02",
                units: scheme.units.map {
                    AssessmentSubmittedV1.Unit(code: $0, result: $0 == scheme.units.first ? .notYetCompetent : .competent)
                }, attendancePercent: 95)
            let event = try OutgoingEvent(EventEnvelope(source: "/kaltim/lsp", data: submitted), exchange: intake.exchange)
            try await connection.publish(
                event.body, exchange: intake.exchange, routingKey: event.routingKey, properties: event.amqpMessage.properties,
                mandatory: true)
        }
        try await waitUntil(timeout: .seconds(60), "the assessments are graded or rejected") {
            while let delivery = try? await connection.get(queue: outputs) {
                let subject =
                    (try? JSONSerialization.jsonObject(with: delivery.body) as? [String: Any])?["subject"] as? String ?? ""
                received.append((delivery.properties.type ?? "", subject, delivery.body))
                try? await delivery.ack()
            }
            let seen = seenNow()
            return seen[AssessmentGradedV2.eventType]?.count == 1 && seen[AssessmentRejectedV1.eventType]?.count == 1
        }
        let bontang = try #require(scheduled.first { $0.centre == .bontang })
        #expect(seenNow()[AssessmentGradedV2.eventType] == [bontang.participantID], "subjects are participant ids")

        // The candidate appeals (banding), the LSP dismisses it, then re-assesses the BK unit
        // (uji ulang): each step is recorded and the second grade is KOMPETEN.
        let firstGrade = try #require(received.values.first { $0.type == AssessmentGradedV3.eventType })
        let bk = try ContractJSON.decoder().decode(EventEnvelope<AssessmentGradedV3>.self, from: firstGrade.body).data
        #expect(bk.outcome == .notYetCompetent && bk.retakeAvailable == true && bk.notYetCompetentUnits.count == 1)
        let lastDay = try #require(ProgrammeCatalogue.day(bontang.endDate))
        func publish<M: ContractMessage>(_ message: M) async throws {
            let event = try OutgoingEvent(EventEnvelope(source: "/kaltim/lsp", data: message), exchange: intake.exchange)
            try await connection.publish(
                event.body, exchange: intake.exchange, routingKey: event.routingKey, properties: event.amqpMessage.properties,
                mandatory: true)
        }
        for (status, days) in [(AppealStatus.filed, 1.0), (.dismissed, 5)] {
            try await publish(
                AssessmentAppealedV1(
                    assessmentID: bk.assessmentID, participantID: bk.participantID, lspLicence: "BNSP-LSP-0123-ID",
                    scheme: bk.scheme, status: status, on: ProgrammeCatalogue.format(lastDay.addingTimeInterval(days * 86_400)),
                    revisedUnits: [], certificateNumber: nil, registrationNumber: nil))
        }
        try await publish(
            AssessmentSubmittedV3(
                assessmentID: "LSP-E2E-UJI-ULANG", participantID: bk.participantID, lspLicence: "BNSP-LSP-0123-ID",
                scheme: bk.scheme, assessorRegistration: "MET.000.001234 2019", testSite: "TUK BLKI",
                assessedOn: ProgrammeCatalogue.format(lastDay.addingTimeInterval(14 * 86_400)),
                units: bk.notYetCompetentUnits.map { AssessmentSubmittedV1.Unit(code: $0, result: .competent) },
                attendancePercent: 95, certificateNumber: nil, registrationNumber: nil, retakeOf: bk.assessmentID))
        try await waitUntil(timeout: .seconds(60), "the appeal is recorded twice and the uji ulang graded") {
            while let delivery = try? await connection.get(queue: outputs) {
                received.append((delivery.properties.type ?? "", "", delivery.body))
                try? await delivery.ack()
            }
            return received.values.filter { $0.type == AssessmentGradedV3.eventType }.count >= 2
                && received.values.filter { $0.type == AssessmentAppealRecordedV1.eventType }.count >= 2
        }
        let appeals = try received.values.filter { $0.type == AssessmentAppealRecordedV1.eventType }.map {
            try ContractJSON.decoder().decode(EventEnvelope<AssessmentAppealRecordedV1>.self, from: $0.body).data.status
        }
        #expect(Set(appeals) == [.filed, .dismissed])
        let grades = try received.values.filter { $0.type == AssessmentGradedV3.eventType }.map {
            try ContractJSON.decoder().decode(EventEnvelope<AssessmentGradedV3>.self, from: $0.body).data
        }
        let retake = try #require(grades.first { $0.retakeOf != nil })
        #expect(retake.outcome == .competent && retake.retakeOf == bk.assessmentID && retake.attempt == 2)

        // The dead letter may still be on its way: ask until it is there (the deadline only
        // bounds a failure).
        var deadLetter = try await connection.get(queue: intake.deadLetterQueue)
        let deadline = ContinuousClock.now + .seconds(30)
        while deadLetter == nil && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            deadLetter = try await connection.get(queue: intake.deadLetterQueue)
        }
        let dead = try #require(deadLetter, "the bad registration in intake's dead letters")
        #expect(dead.properties.headers?[FailureRouter.Header.kind]?.stringValue == "permanent")
        try await dead.ack()

        // The BLKI records that the Balikpapan participant did not come to daftar ulang (the
        // admin command): scheduling takes the seat back and says so.
        let balikpapan = try #require(scheduled.first { $0.centre == .balikpapan })
        let absent = try ChildProcess(
            binary,
            [
                "reregister", "--broker-url", url, "--topology-prefix", prefix, "--participant-id", balikpapan.participantID,
                "--class-id", balikpapan.classID, "--absent", "--recorded-by", "Petugas BLKI Balikpapan",
            ])
        #expect(try await absent.waitForExit(timeout: .seconds(60)) == 0, "\(absent.output)")
        await absent.terminate()
        try await waitUntil(timeout: .seconds(60), "the seat is taken back") {
            while let delivery = try? await connection.get(queue: outputs) {
                let subject =
                    (try? JSONSerialization.jsonObject(with: delivery.body) as? [String: Any])?["subject"] as? String ?? ""
                received.append((delivery.properties.type ?? "", subject, delivery.body))
                try? await delivery.ack()
            }
            return seenNow()[EnrolmentWithdrawnV1.eventType] == [balikpapan.participantID]
        }
        let withdrawn = try #require(received.values.first { $0.type == EnrolmentWithdrawnV1.eventType })
        let reason = try ContractJSON.decoder().decode(EventEnvelope<EnrolmentWithdrawnV1>.self, from: withdrawn.body).data
        #expect(reason.reason == .noShow && reason.classID == balikpapan.classID)

        // The Bontang participant withdraws their consent (UU 27/2022 Art. 9): intake asks
        // scheduling to withdraw them, and scheduling does, from the class they hold.
        let consent = try OutgoingEvent(
            EventEnvelope(
                source: "/kaltim/admin/subject-withdraw-consent",
                data: ConsentWithdrawnV1(
                    registrationID: "E2E-1", withdrawnBy: .applicant, withdrawnAt: Date().formatted(.iso8601),
                    recordedBy: "petugas-7", reference: "PDP-E2E")), exchange: intake.exchange)
        try await connection.publish(
            consent.body, exchange: intake.exchange, routingKey: consent.routingKey,
            properties: consent.amqpMessage.properties, mandatory: true)
        try await waitUntil(timeout: .seconds(60), "the participant who withdrew consent is withdrawn") {
            while let delivery = try? await connection.get(queue: outputs) {
                let subject =
                    (try? JSONSerialization.jsonObject(with: delivery.body) as? [String: Any])?["subject"] as? String ?? ""
                received.append((delivery.properties.type ?? "", subject, delivery.body))
                try? await delivery.ack()
            }
            return seenNow()[EnrolmentWithdrawnV1.eventType]?.contains(bontang.participantID) == true
        }
        let resigned = try received.values.filter { $0.type == EnrolmentWithdrawnV1.eventType }.map {
            try ContractJSON.decoder().decode(EventEnvelope<EnrolmentWithdrawnV1>.self, from: $0.body).data
        }.first { $0.participantID == bontang.participantID }
        #expect(resigned?.reason == .participantResigned && resigned?.classID == bontang.classID)
        for worker in workers { worker.signal(SIGTERM) }
        for worker in workers { #expect(try await worker.waitForExit(timeout: .seconds(30)) == 0) }
        #expect(!workers.map(\.output).joined().contains("6474015708999901"), "no NIK in any log line")

        _ = try? await connection.deleteQueue(outputs)
        await intake.delete(on: connection)
        await scheduling.delete(on: connection)
        await grading.delete(on: connection)
        await connection.close()
        try? FileManager.default.removeItem(at: directory)
    }
}
