import AMQP
import ContractKit
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

    /// `kaltim-admin subject withdraw-consent`: published as the connection's user, with who
    /// withdrew it and the operator as recorder, after the audit entry; bad options are refused
    /// before anything is published or audited.
    @Test func aWithdrawalOfConsentIsPublishedAndAudited() async throws {
        let office = try await OfficeQueue(name: "withdraw", type: ConsentWithdrawnV1.eventType)
        defer { try? FileManager.default.removeItem(at: office.directory) }
        let (url, prefix, connection, queue, audit) = (office.url, office.prefix, office.connection, office.queue, office.audit)
        let base = [
            "subject", "withdraw-consent", "--broker-url", url, "--topology-prefix", prefix, "--audit-log", audit,
            "--operator", "ppdp",
        ]
        let admin = builtProductsDirectory.appendingPathComponent("kaltim-admin").path
        for (arguments, why) in [
            (["--registration", "REG-1", "--by", "tetangga", "--reference", "PDP-1"], "--by"),
            (["--registration", "REG 1;", "--by", "pendaftar", "--reference", "PDP-1"], "--registration takes an id"),
            (["--registration", "REG-1", "--by", "pendaftar", "--reference", "a\nb"], "--reference: one line"),
            (["--registration", "REG-1", "--by", "pendaftar", "--reference", "  "], "--reference: one line"),
        ] {
            let (status, printed) = try await ChildProcessRun.run(admin, base + arguments)
            #expect(status != 0 && printed.contains(why), "\(why): \(printed.suffix(300))")
        }
        #expect(!FileManager.default.fileExists(atPath: audit), "nothing refused was audited")
        let (status, printed) = try await ChildProcessRun.run(
            admin, base + ["--registration", "REG-2025-000303", "--by", "orang-tua-wali", "--reference", "PDP-2026-011"])
        #expect(status == 0 && printed.contains("published the withdrawal of consent for REG-2025-000303"), "\(printed)")
        try await waitUntil(timeout: .seconds(30), "the withdrawal in the queue") {
            try await connection.queueState(queue).messageCount == 1
        }
        let delivery = try #require(try await connection.get(queue: queue))
        #expect(delivery.properties.userID == connection.username)
        let event = try ContractRegistry.pipeline.decode(delivery.body)
        let withdrawal = try #require(event.payload as? ConsentWithdrawnV1)
        #expect(withdrawal.registrationID == "REG-2025-000303" && withdrawal.withdrawnBy == .parentOrGuardian)
        #expect(withdrawal.recordedBy == "ppdp" && withdrawal.reference == "PDP-2026-011")
        #expect((try? Date(withdrawal.withdrawnAt, strategy: .iso8601)) != nil)
        try await delivery.ack()
        let entry = try String(contentsOfFile: audit, encoding: .utf8)
        #expect(entry.contains("\"subject-withdraw-consent\"") && entry.contains("REG-2025-000303"))
        await office.close()
    }

    /// `kaltim-admin subject correct`: the correction is published as the connection's user with
    /// the number in +62 form; bad values are refused before anything is published or audited.
    @Test func aCorrectionIsPublishedCheckedAndAudited() async throws {
        let office = try await OfficeQueue(name: "correct", type: RegistrationCorrectedV1.eventType)
        defer { try? FileManager.default.removeItem(at: office.directory) }
        let (url, prefix, connection, queue, audit) = (office.url, office.prefix, office.connection, office.queue, office.audit)
        let base = [
            "subject", "correct", "--broker-url", url, "--topology-prefix", prefix, "--audit-log", audit, "--operator", "ppdp",
            "--registration", "REG-2025-000001", "--reference", "PDP-2026-004",
        ]
        let admin = builtProductsDirectory.appendingPathComponent("kaltim-admin").path
        for (arguments, why) in [
            ([String](), "say what to correct"), (["--phone", "12345"], "--phone: not an Indonesian mobile number"),
            (["--whatsapp", "+1 555 0100"], "--whatsapp: not an Indonesian mobile number"),
            (["--email", "bukan surel"], "--email: not a valid e-mail address"), (["--name", "a\nb"], "--name: one line"),
            (["--name", "   "], "--name: one line"),
        ] {
            let (status, printed) = try await ChildProcessRun.run(admin, base + arguments)
            #expect(status != 0 && printed.contains(why), "\(why): \(printed.suffix(300))")
        }
        #expect(!FileManager.default.fileExists(atPath: audit), "nothing refused was audited")
        let (status, printed) = try await ChildProcessRun.run(
            admin, base + ["--phone", "0812-5000-0111", "--name", "Siti Rahma"])
        #expect(status == 0 && printed.contains("published the correction of REG-2025-000001: name, phone"), "\(printed)")
        try await waitUntil(timeout: .seconds(30), "the correction in the queue") {
            try await connection.queueState(queue).messageCount == 1
        }
        let delivery = try #require(try await connection.get(queue: queue))
        #expect(delivery.properties.userID == connection.username)
        let data = (try JSONSerialization.jsonObject(with: delivery.body) as? [String: Any])?["data"] as? [String: Any]
        #expect(data?["phone"] as? String == "+6281250000111" && data?["fullName"] as? String == "Siti Rahma")
        #expect(data?["correctedBy"] as? String == "ppdp" && data?["whatsApp"] == nil)
        try await delivery.ack()
        let entry = try String(contentsOfFile: audit, encoding: .utf8)
        #expect(entry.contains("\"subject-correct\"") && entry.contains("name,phone"))
        #expect(!entry.contains("81250000111") && !entry.contains("Siti"), "field names only, not their values")
        await office.close()
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

/// A private exchange with one queue bound to an event type, as the office's commands publish
/// to it, and a directory for the audit log.
struct OfficeQueue {
    let url: String
    let prefix: String
    let directory: URL
    let connection: AMQPConnection
    let exchange: String
    let queue: String
    let audit: String

    init(name: String, type: String) async throws {
        url = try #require(BrokerEnvironment.url)
        prefix = uniqueName(name) + "."
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(prefix + "d")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        connection = try await BrokerEnvironment.connect()
        exchange = prefix + ContractDocuments.exchange
        try await connection.declareExchange(exchange)
        queue = prefix + "events"
        _ = try await connection.declareQueue(AMQPQueueSpec(name: queue))
        try await connection.bindQueue(queue, exchange: exchange, routingKey: type)
        audit = directory.appendingPathComponent("audit.jsonl").path
    }

    func close() async {
        _ = try? await connection.deleteQueue(queue)
        try? await connection.deleteExchange(exchange)
        await connection.close()
    }
}
