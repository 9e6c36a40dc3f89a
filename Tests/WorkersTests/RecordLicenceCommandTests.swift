import AMQP
import CertificateTrust
import ContractKit
import Contracts
import Foundation
import Jobs
import TestSupport
import Testing
import Topology

/// `kaltim-worker record-licence` as the office runs it: what it refuses before anything is
/// sent, and what it publishes (one message for one record, however often it is run).
@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .timeLimit(.minutes(5))
)
struct RecordLicenceCommandTests {
    @Test func itPublishesOneMessagePerRecordAndRefusesWhatCannotBeOne() async throws {
        let url = try #require(BrokerEnvironment.url)
        let connection = try await BrokerEnvironment.connect()
        let prefix = uniqueName() + "."
        let topology = RoleTopology(role: .certificates, prefix: prefix)
        try await topology.declare(on: connection)
        let binary = builtProductsDirectory.appendingPathComponent("kaltim-worker").path
        let record = [
            "record-licence", "--broker-url", url, "--topology-prefix", prefix, "--participant-id", "PST-2025-000007",
            "--holder-name", "Rahmat Hidayat", "--kind", "lisensi-k3", "--number", "KEP.5/123/AS.03.02/X/2025",
            "--registration-number", "SIO-FL-2025-0007", "--qualification", "Operator Forklift Kelas II",
            "--issued-on", "2025-09-15", "--valid-until", "2030-09-14", "--recorded-by", "Seksi Pengawasan K3",
        ]
        func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            try await runProcess(binary, arguments, environment: [:], standardErrorToo: true)
        }
        // What cannot be a record is refused before anything is sent.
        func replacing(_ option: String, with value: String) -> [String] {
            var arguments = record
            if let index = arguments.firstIndex(of: option) { arguments[index + 1] = value }
            return arguments
        }
        for (option, value) in [
            ("--number", "KEP;DROP"), ("--number", String(repeating: "7", count: 65)),
            ("--holder-name", "Rahmat \u{202E}tayadiH"),
            ("--qualification", String(repeating: "a", count: 101)), ("--issued-on", "15-09-2025"),
            ("--valid-until", "2025-09-14"), ("--valid-until", "2036-09-15"), ("--issued-on", "2025-02-30"),
            ("--issued-on", "２０２５-09-15"), ("--participant-id", "PST 7"), ("--kind", "sio"),
            ("--number", "https://kemnaker.example/x"), ("--qualification", "Operator, cek www.lisensi.example"),
        ] {
            let refused = try await run(replacing(option, with: value))
            #expect(refused.status != 0, "\(option) \(value.prefix(20)) was taken")
            #expect(refused.output.contains(option), "the refusal names \(option): \(refused.output)")
        }
        #expect(try await connection.queueState(topology.queue).messageCount == 0, "nothing refused was sent")

        // The same record twice: one message id, so the worker's inbox takes it once; another
        // qualification is another message.
        // The id digests the WITA day too: the two runs are compared only when they share one.
        let dayBefore = CertificateKeyRing.witaDay(Date())
        for _ in 0..<2 {
            let published = try await run(record)
            #expect(published.status == 0 && published.output.contains("published the LISENSI_K3"), "\(published.output)")
        }
        #expect(try await run(replacing("--qualification", with: "Operator Forklift Kelas I")).status == 0)
        var deliveries: [AMQPDelivery] = []
        while let delivery = try await connection.get(queue: topology.queue) { deliveries.append(delivery) }
        #expect(deliveries.count == 3)
        let ids = deliveries.map { $0.properties.messageID ?? "" }
        let sameDay = dayBefore == CertificateKeyRing.witaDay(Date())
        #expect(ids[0] == ids[1] || !sameDay, "one message for one record in a day: \(ids)")
        #expect(ids[1] != ids[2] && ids[0].hasPrefix("licence-PST-2025-000007-LISENSI_K3-"), "\(ids)")
        let first = try #require(deliveries.first)
        let licence = try #require(try ContractRegistry.pipeline.decode(first.body).payload as? LicenceRecordedV1)
        #expect(
            licence
                == LicenceRecordedV1(
                    participantID: "PST-2025-000007", holderName: "Rahmat Hidayat", kind: .safetyLicence,
                    certificateNumber: "KEP.5/123/AS.03.02/X/2025", registrationNumber: "SIO-FL-2025-0007",
                    qualification: "Operator Forklift Kelas II", issuedOn: "2025-09-15", validUntil: "2030-09-14",
                    recordedBy: "Seksi Pengawasan K3"))
        #expect(deliveries.first?.properties.userID == connection.username, "published as the broker user it signed in as")
        await topology.delete(on: connection)
        await connection.close()
    }
}
