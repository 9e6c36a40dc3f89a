import AMQP
import Contracts
import Foundation
import Jobs
import Programme
import Stores
import TestSupport
import Testing
import Topology
import Workers

/// `kaltim-admin breach notify` as the PPDP runs it, against the test broker: a dry run sends
/// nothing; the notice goes to everyone in the exposed store with an address, as the
/// connection's user, under ids made of the incident and the registration, so that a second
/// run publishes the same ids (the worker takes each once); every bad argument is refused.
@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .timeLimit(.minutes(5))
)
struct BreachCommandTests {
    @Test func theNoticeIsPublishedOncePerPersonWithStableIdsAndBadArgumentsAreRefused() async throws {
        let url = try #require(BrokerEnvironment.url)
        let prefix = uniqueName("breach") + "."
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(prefix + "d")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // A notification store with three contacts, one of them without any address.
        let path = directory.appendingPathComponent("notifications.sqlite").path
        let catalogue = try ProgrammeCatalogueFixture.load()
        let templates = try NotificationTemplates(directory: DatabaseUsersTests.repositoryFile("config/notifications"))
        let store = try SQLiteStore(path: path)
        try await store.migrate(
            NotificationHandler(templates: templates, catalogue: catalogue, verificationBaseURL: "https://v.example/c").migrations
        )
        try await store.write { transaction in
            for (registration, participant, phone) in [
                ("REG-2025-000001", "PST-2025-A1", "+6281250000001"), ("REG-2025-000002", nil, "+6281250000002"),
                ("REG-2025-000003", "PST-2025-A3", nil),
            ] as [(String, String?, String?)] {
                try transaction.execute(
                    "INSERT INTO notif_contacts (registration_id, participant_id, name, phone, updated_at) VALUES (?, ?, ?, ?, ?)",
                    [
                        .text(registration), participant.map(SQLValue.text) ?? .null, .text("Peserta \(registration.suffix(1))"),
                        phone.map(SQLValue.text) ?? .null, .real(Date().timeIntervalSince1970),
                    ])
            }
        }
        let connection = try await BrokerEnvironment.connect()
        let exchange = prefix + ContractDocuments.exchange
        try await connection.declareExchange(exchange)
        let queue = prefix + "requested"
        _ = try await connection.declareQueue(AMQPQueueSpec(name: queue))
        try await connection.bindQueue(queue, exchange: exchange, routingKey: NotificationRequestedV1.eventType)

        let audit = directory.appendingPathComponent("audit.jsonl").path
        let base = [
            "breach", "notify", "--broker-url", url, "--topology-prefix", prefix, "--audit-log", audit, "--operator", "ppdp",
            "--incident", "INSIDEN-2026-001", "--detected-at", "2026-12-04T10:00:00+08:00",
            "--exposed", "notifications=\(path)", "--contacts", path,
        ]
        let texts = [
            "--occurred", "4 Desember 2026 pukul 09.00 WITA", "--data", "nama dan nomor telepon", "--cause",
            "cadangan basis data dapat diakses tanpa izin", "--steps", "akses ditutup", "--contact", "ppdp@contoh.go.id",
        ]
        let admin = builtProductsDirectory.appendingPathComponent("kaltim-admin").path

        let dryRun = try await runProcess(admin, base + texts, environment: [:])
        #expect(dryRun.0 == 0 && dryRun.1.contains("to notify 2; without an address 1"), "\(dryRun.1)")
        #expect(dryRun.1.contains("deadline 2026-12-07 10:00 WITA") && dryRun.1.contains("nothing sent"))
        #expect(try await connection.queueState(queue).messageCount == 0)

        for _ in 0..<2 {
            let sent = try await runProcess(admin, base + texts + ["--confirm"], environment: [:])
            #expect(sent.0 == 0 && sent.1.contains("published 2 of 2 notices"), "\(sent.1)")
        }
        try await waitUntil(timeout: .seconds(30), "four notices in the queue") {
            try await connection.queueState(queue).messageCount == 4
        }
        var ids: [String] = []
        var recipients: [String] = []
        while let delivery = try await connection.get(queue: queue) {
            ids.append(delivery.properties.messageID ?? "")
            #expect(delivery.properties.userID == connection.username)
            let json = try JSONSerialization.jsonObject(with: delivery.body) as? [String: Any]
            let data = json?["data"] as? [String: Any]
            recipients.append(data?["recipient"] as? String ?? "")
            #expect(data?["template"] as? String == "pemberitahuan_kegagalan_pdp")
            try await delivery.ack()
        }
        #expect(
            ids.sorted() == [
                "breach-INSIDEN-2026-001-REG-2025-000001", "breach-INSIDEN-2026-001-REG-2025-000001",
                "breach-INSIDEN-2026-001-REG-2025-000002", "breach-INSIDEN-2026-001-REG-2025-000002",
            ])
        #expect(Set(recipients) == ["+6281250000001", "+6281250000002"])
        let entries = try String(contentsOfFile: audit, encoding: .utf8).split(separator: "\n")
        #expect(entries.count == 2 && entries.allSatisfy { $0.contains("\"breach-notify\"") && $0.contains("INSIDEN-2026-001") })

        let refused: [([String], String)] = [
            (base.map { $0 == "INSIDEN-2026-001" ? "INSIDEN_%" : $0 } + texts, "--incident"),
            (base.map { $0 == "2026-12-04T10:00:00+08:00" ? "kemarin" : $0 } + texts, "--detected-at"),
            (base + texts + ["--since", "2026-12-01T00:00:00Z"], "together"),
            (base + texts + ["--since", "2026-12-02T00:00:00Z", "--until", "2026-12-01T00:00:00Z"], "not after"),
            (base.map { $0 == "notifications=\(path)" ? "payroll=\(path)" : $0 } + texts, "--exposed wants ROLE=STORE"),
            (base.map { $0 == path ? path + ".typo" : $0 } + texts, "does not exist"),
            (base + texts.map { $0 == "akses ditutup" ? "baris\nkedua" : $0 }, "--steps: one line"),
            (base + texts.map { $0 == "akses ditutup" ? String(repeating: "a", count: 301) : $0 }, "--steps: one line"),
        ]
        for (arguments, why) in refused {
            let (status, printed) = try await ChildProcessRun.run(admin, arguments + ["--confirm"])
            #expect(status != 0, "accepted: \(why)")
            #expect(printed.contains(why), "\(why): \(printed.suffix(300))")
        }
        #expect(try await connection.queueState(queue).messageCount == 0, "nothing refused was sent")
        #expect(try String(contentsOfFile: audit, encoding: .utf8).split(separator: "\n").count == 2)
        _ = try await connection.deleteQueue(queue)
        try await connection.deleteExchange(exchange)
        await connection.close()
    }
}

/// A program's exit status and everything it printed (standard output and error).
enum ChildProcessRun {
    static func run(_ path: String, _ arguments: [String]) async throws -> (Int32, String) {
        let child = try ChildProcess(path, arguments)
        defer { unlink(child.outputPath) }
        let status = try await child.waitForExit(timeout: .seconds(120))
        return (status, child.output)
    }
}

enum ProgrammeCatalogueFixture {
    static func load() throws -> ProgrammeCatalogue {
        try ProgrammeCatalogue.load(path: DatabaseUsersTests.repositoryFile("config/programme-2025.json"))
    }
}
