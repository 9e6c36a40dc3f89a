import AMQP
import CertificateTrust
import ContractKit
import Contracts
import Foundation
import Jobs
import TestSupport
import Testing
import Topology
import Workers

/// Two certificate processes (`kaltim-worker certificates`) sharing one store issue the
/// certificates of 2,000 graded participants: one of each kind per participant, serials
/// gap-free per issuer and year.
@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .serialized, .timeLimit(.minutes(15))
)
struct CertificateProcessTests {
    @Test(arguments: StoreKind.available)
    func twoProcessesIssueExactlyOneCertificateEachWithGapFreeSerials(store storeKind: StoreKind) async throws {
        let url = try #require(BrokerEnvironment.url)
        let connection = try await BrokerEnvironment.connect()
        let prefix = uniqueName() + "."
        let topology = RoleTopology(role: .certificates, retryDelays: [.milliseconds(200)], prefix: prefix)
        try await topology.declare(on: connection)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(prefix + "d")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let database = try storeKind.location(role: "certificates", directory: directory)
        let binary = builtProductsDirectory.appendingPathComponent("kaltim-worker").path
        let processes = try (0..<2).map { _ in
            try ChildProcess(
                binary,
                [
                    "certificates", "--broker-url", url, "--topology-prefix", prefix, "--programme-file",
                    repositoryFile("config/programme-2025.json"), "--concurrency", "32", "--no-http", "--retry-delays", "200ms",
                    "--output-directory", directory.appendingPathComponent("out").path, "--allow-any-publisher",
                ] + StoreKind.arguments(database))
        }
        defer { Task { for process in processes { await process.terminate() } } }
        for process in processes {
            try await process.waitForLog("\"msg\":\"worker started\"")
        }
        let total = 2000
        func participant(_ index: Int) -> String { String(format: "PST-C-%05d", index) }
        let scheduled = try (0..<total).flatMap { index -> [AMQPOutgoingMessage] in
            let centre: TrainingCentre = index % 3 == 0 ? .bontang : .balikpapan
            return [
                try OutgoingEvent(
                    EventEnvelope(
                        source: "/test",
                        data: ParticipantNamedV1(
                            participantID: participant(index), registrationID: "REG-C-\(index)",
                            fullName: "Peserta Uji \(index)")), exchange: topology.exchange
                ).amqpMessage,
                try OutgoingEvent(
                    EventEnvelope(
                        source: "/test",
                        data: ClassScheduledV1(
                            participantID: participant(index), classID: "C-\(index % 95)", centre: centre,
                            programme: "TATA_GRAHA", startDate: "2025-07-07", endDate: "2025-08-08", seat: 1)),
                    exchange: topology.exchange
                ).amqpMessage,
            ]
        }
        #expect(await connection.publish(scheduled, window: 200).allSatisfy { if case .success = $0 { true } else { false } })
        try await waitUntil(timeout: .seconds(300), "every enrolment is known") {
            await StoreKind.count("SELECT COUNT(*) AS n FROM cert_enrolments", database) == total
        }
        // Each graded event and each BLKI training result twice (a replay under another message
        // id), interleaved.
        let graded = try (0..<(2 * total)).flatMap { step -> [AMQPOutgoingMessage] in
            let index = step % total
            let training = try OutgoingEvent(
                EventEnvelope(
                    id: "training-\(step)", source: "/test",
                    data: TrainingCompletedV1(
                        participantID: participant(index), classID: "C-\(index % 95)", attendancePercent: 90, result: .passed,
                        recordedBy: "Instruktur")),
                exchange: topology.exchange
            ).amqpMessage
            return [
                training,
                try OutgoingEvent(
                    EventEnvelope(
                        id: "graded-\(step)", source: "/test",
                        data: AssessmentGradedV2(
                            assessmentID: "A-\(index)", participantID: participant(index), scheme: "SKM-2025-HTL-TGR",
                            outcome: .competent, notYetCompetentUnits: [], lspLicence: "BNSP-LSP-0123-ID",
                            assessedOn: "2025-08-12",
                            attendancePercent: 90, trainingOutcome: .passed, supersedes: nil,
                            lspCertificateNumber: "No. 55101 5151 2 \(String(format: "%07d", index)) 2025",
                            lspRegistrationNumber: "No. Reg. PAR 0123 \(String(format: "%05d", index)) 2025")),
                    exchange: topology.exchange
                ).amqpMessage,
            ]
        }
        #expect(await connection.publish(graded, window: 200).allSatisfy { if case .success = $0 { true } else { false } })
        try await waitUntil(timeout: .seconds(480), "every certificate is issued") {
            await StoreKind.count("SELECT COUNT(*) AS n FROM cert_certificates", database) == 2 * total
        }
        try await waitUntil(timeout: .seconds(120), "the role queue is drained") {
            try await connection.queueState(topology.queue).messageCount == 0
        }
        // The admin commands: verify a certificate file, revoke it, verify again.
        let file = directory.appendingPathComponent("out/BTG-2025-PBK-00001.json").path
        // The files are written after each commit by the file writer beside the worker: wait for
        // this one (the deadline only bounds a failure).
        try await waitUntil(timeout: .seconds(120), "the first training certificate's file is written") {
            FileManager.default.fileExists(atPath: file)
        }
        // Without a key it refuses with the usage (exit 64) rather than trusting the development key.
        let keyless = try ChildProcess(binary, ["verify-certificate", "--file", file] + StoreKind.arguments(database))
        #expect(try await keyless.waitForExit(timeout: .seconds(30)) == 64, "\(keyless.output)")
        #expect(keyless.output.contains("--public-key"), "\(keyless.output)")
        let verify =
            ["verify-certificate", "--file", file, "--today", "2025-09-01", "--development-key"] + StoreKind.arguments(database)
        let valid = try ChildProcess(binary, verify)
        #expect(try await valid.waitForExit(timeout: .seconds(30)) == 0 && valid.output.hasPrefix("VALID"), "\(valid.output)")
        // Exported as a Verifiable Credential, which the independent verifier accepts.
        let credentials = directory.appendingPathComponent("vc").path
        let exportArguments =
            [
                "export-credential", "--certificate-id", "BTG-2025-PBK-00001", "--output-directory", credentials,
                "--development-key", "--today", "2025-09-01", "--programme-file", repositoryFile("config/programme-2025.json"),
            ] + StoreKind.arguments(database)
        let export = try ChildProcess(binary, exportArguments)
        #expect(try await export.waitForExit(timeout: .seconds(60)) == 0, "\(export.output)")
        let (checked, checkOutput) = try await runProcess(
            "/usr/bin/env",
            [
                "python3", repositoryFile("scripts/verify-credential.py"), credentials + "/BTG-2025-PBK-00001.vc.json",
                "--public-key", CertificateSigner.development.publicKeyHex, "--open-badge",
            ], environment: [:])
        #expect(checked == 0, "\(checkOutput)")
        // The reason of a reissue under a corrected name is the certificates role's own: the
        // holder would be told a replacement follows that never comes.
        let reserved = try ChildProcess(
            binary,
            [
                "revoke-certificate", "--certificate-id", "BTG-2025-PBK-00001", "--reason", "NAME_CORRECTED", "--broker-url",
                url, "--topology-prefix", prefix,
            ] + StoreKind.arguments(database))
        #expect(
            try await reserved.waitForExit(timeout: .seconds(30)) != 0 && reserved.output.contains("certificates role's own"),
            "\(reserved.output)")
        let revoke = try ChildProcess(
            binary,
            [
                "revoke-certificate", "--certificate-id", "BTG-2025-PBK-00001", "--reason", "DATA_ERROR", "--broker-url", url,
                "--topology-prefix", prefix,
            ] + StoreKind.arguments(database))
        #expect(try await revoke.waitForExit(timeout: .seconds(30)) == 0, "\(revoke.output)")
        try await waitUntil(timeout: .seconds(30), "the revocation is recorded") {
            await StoreKind.count("SELECT COUNT(*) AS n FROM cert_revocations", database) == 1
        }
        let revoked = try ChildProcess(binary, verify)
        #expect(
            try await revoked.waitForExit(timeout: .seconds(30)) == 1 && revoked.output.hasPrefix("REVOKED"), "\(revoked.output)")
        // Revoking it again is refused: the holder would be told twice.
        let again = try ChildProcess(
            binary,
            [
                "revoke-certificate", "--certificate-id", "BTG-2025-PBK-00001", "--reason", "FRAUD", "--broker-url", url,
                "--topology-prefix", prefix,
            ] + StoreKind.arguments(database))
        #expect(
            try await again.waitForExit(timeout: .seconds(30)) != 0
                && again.output.contains("already revoked (DATA_ERROR)"), "\(again.output)")
        // A key ring whose only key retired before the certificate was signed: not valid.
        let ring = directory.appendingPathComponent("keys.json").path
        try Data(
            #"{"keys": [{"publicKey": "\#(CertificateSigner.development.publicKeyHex)", "until": "2000-01-01"}]}"#.utf8
        ).write(to: URL(fileURLWithPath: ring))
        let retired = try ChildProcess(binary, ["verify-certificate", "--file", file, "--today", "2025-09-01", "--keys", ring])
        #expect(
            try await retired.waitForExit(timeout: .seconds(30)) == 1 && retired.output.hasPrefix("KEY_NOT_VALID_ON_DATE"),
            "\(retired.output)")
        // A revoked certificate is not exported.
        let refused = try ChildProcess(
            binary, exportArguments.map { $0 == credentials ? credentials + "-after" : $0 })
        #expect(
            try await refused.waitForExit(timeout: .seconds(60)) == 1
                && refused.output.contains("SKIPPED BTG-2025-PBK-00001 REVOKED"), "\(refused.output)")
        #expect(!FileManager.default.fileExists(atPath: credentials + "-after/BTG-2025-PBK-00001.vc.json"))
        for process in [keyless, valid, export, reserved, revoke, revoked, retired, refused] { await process.terminate() }

        for process in processes { process.signal(SIGTERM) }
        var shares: [Int] = []
        for process in processes {
            let status = try await process.waitForExit(timeout: .seconds(60))
            #expect(status == 0, "exit \(status): \(process.output.suffix(3000))")
            shares.append(try process.exitStatistics()["received"] ?? 0)
        }
        #expect(shares.allSatisfy { $0 > 0 }, "both processes took a share: \(shares)")

        let store = try await StoreKind.open(database)
        #expect(await StoreKind.count("SELECT COUNT(*) AS n FROM cert_certificates", database) == 2 * total)
        let perKind = try await store.read(
            "SELECT COUNT(DISTINCT participant_id) AS n FROM cert_certificates GROUP BY kind ORDER BY kind")
        #expect(perKind.map { $0["n"]?.integer } == [Int64(total), Int64(total)], "one certificate of each kind per participant")
        let series = try await store.read(
            "SELECT issuer_code, year, COUNT(*) AS n, MIN(serial) AS lo, MAX(serial) AS hi FROM cert_certificates GROUP BY issuer_code, year"
        )
        #expect(series.count == 3, "BPN, BTG and the LSP")
        for row in series {
            #expect(row["lo"]?.integer == 1 && row["hi"]?.integer == row["n"]?.integer, "gap-free serials: \(row)")
        }
        await topology.delete(on: connection)
        await connection.close()
        await StoreKind.remove(database)
        try? FileManager.default.removeItem(at: directory)
    }

}
