import AMQP
import Admin
import ContractKit
import DataProtection
import Foundation
import Jobs
import Stores
import TestSupport
import Testing
import Topology
import Workers

/// The data subject's right of access on the main job's own data: `kaltim-demo` runs a small
/// programme (400 registrations) through every role on the test broker, then `kaltim-admin
/// subject export` exports one participant. An independent scan of every row of every table of
/// every store decides which rows are about that person (one of their ids, their NIK's blind
/// index, their name, phone or e-mail); the export must hold exactly those rows, and nothing
/// that names another participant.
@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .timeLimit(.minutes(15)), .serialized
)
struct SubjectExportTests {
    static let roles = ["intake", "scheduling", "grading", "certificates", "notifications"]

    /// What identifies one person in the stores, read from them directly (not from the export).
    struct Person {
        var ids: Set<String> = []
        var contacts: Set<String> = []
        var name = ""
    }

    static func person(_ participant: String, in stores: [String: SQLiteStore]) async throws -> Person {
        var person = Person(ids: [participant])
        let registrations = try await stores["intake"]!.read(
            "SELECT registration_id, nik_index FROM intake_registrations WHERE participant_id = ?", [.text(participant)])
        for row in registrations {
            person.ids.formUnion([row["registration_id"]?.text, row["nik_index"]?.text].compactMap { $0 })
        }
        let certificates = try await stores["certificates"]!.read(
            "SELECT certificate_id FROM cert_certificates WHERE participant_id = ?", [.text(participant)])
        person.ids.formUnion(certificates.compactMap { $0["certificate_id"]?.text })
        let assessments = try await stores["grading"]!.read(
            "SELECT assessment_id FROM grading_assessments WHERE participant_id = ?", [.text(participant)])
        person.ids.formUnion(assessments.compactMap { $0["assessment_id"]?.text })
        let contacts = try await stores["notifications"]!.read(
            "SELECT name, phone, whatsapp, email FROM notif_contacts WHERE participant_id = ?", [.text(participant)])
        for row in contacts {
            person.name = row["name"]?.text ?? ""
            person.contacts.formUnion([row["phone"]?.text, row["whatsapp"]?.text, row["email"]?.text].compactMap { $0 })
        }
        return person
    }

    /// Names that belong to one person only in the run (one contact, at most one registry
    /// record): a scan for such a name finds that person and nobody else.
    static func uniqueNames(in stores: [String: SQLiteStore]) async throws -> Set<String> {
        let contacts = try await stores["notifications"]!.read(
            "SELECT name FROM notif_contacts GROUP BY name HAVING COUNT(*) = 1", [])
        let registry = try await stores["intake"]!.read(
            "SELECT full_name FROM intake_registry GROUP BY full_name HAVING COUNT(*) > 1", [])
        return Set(contacts.compactMap { $0["name"]?.text }).subtracting(registry.compactMap { $0["full_name"]?.text })
    }

    /// A row's text values, in column order: how the scan and the export are compared.
    static func fingerprint(_ values: [String: String]) -> String {
        values.keys.sorted().map { "\($0)=\(values[$0]!)" }.joined(separator: "\u{1F}")
    }

    static func text(_ value: SQLValue) -> String? {
        switch value {
        case .text(let text): text
        case .blob(let data): String(data: data, encoding: .utf8)
        default: nil
        }
    }

    /// Whether a row names the person: a value that is one of their ids, their name or a
    /// contact, or a JSON text that quotes one of them.
    static func names(_ row: [String: String], _ person: Person) -> Bool {
        let exact = person.ids.union(person.contacts).union([person.name])
        return row.values.contains { value in
            exact.contains(value) || exact.contains { !$0.isEmpty && value.contains("\"\($0)\"") }
        }
    }

    /// Runs the main job on 400 registrations into `directory`.
    /// (One run at a time: a run's topology prefix is its seed and start second.)
    static func runMainJob(into directory: URL, seed: Int) async throws {
        let url = try #require(BrokerEnvironment.url)
        let binaries = builtProductsDirectory
        let root = BrokerEnvironment.repositoryRoot
        let demo = try ChildProcess(
            binaries.appendingPathComponent("kaltim-demo").path,
            [
                "--broker-url", url, "--worker-binary", binaries.appendingPathComponent("kaltim-worker").path,
                "--output", directory.path, "--registrations", "400", "--residents", "1000", "--seed", "\(seed)",
                "--programme-file", root.appendingPathComponent("config/programme-2025.json").path,
                "--templates", root.appendingPathComponent("config/notifications").path,
            ])
        defer { unlink(demo.outputPath) }
        let status = try await demo.waitForExit(timeout: .seconds(12 * 60))
        try #require(status == 0, "\(demo.output.suffix(3000))")
    }

    @Test func anExportHoldsEveryRowAboutThePersonAndNothingAboutAnyoneElse() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("subject"))
        defer { try? FileManager.default.removeItem(at: directory) }
        try await Self.runMainJob(into: directory, seed: 11)
        let binaries = builtProductsDirectory

        var stores: [String: SQLiteStore] = [:]
        for role in Self.roles {
            stores[role] = try SQLiteStore(readingAt: directory.appendingPathComponent("var/\(role).sqlite").path)
        }
        // Two certified participants with contacts: the one exported (whose name is theirs
        // alone, so that the scan for it finds only them), and someone else.
        let unique = try await Self.uniqueNames(in: stores)
        let certified = try await stores["certificates"]!.read(
            "SELECT DISTINCT participant_id FROM cert_certificates ORDER BY participant_id", [])
        var participants: [String] = []
        var people: [Person] = []
        for id in certified.compactMap({ $0["participant_id"]?.text }) {
            let person = try await Self.person(id, in: stores)
            if participants.isEmpty ? unique.contains(person.name) && !person.contacts.isEmpty : true {
                participants.append(id)
                people.append(person)
            }
            if participants.count == 2 { break }
        }
        try #require(participants.count == 2)
        let subject = people[0]
        let other = people[1]
        try #require(!subject.contacts.isEmpty && !subject.name.isEmpty, "the main job kept the person's contacts")

        // The scan: every row of every table of every store.
        var expected: [String: [String]] = [:]  // "role.table" → fingerprints of the rows about the person
        var scannedRows = 0
        for role in Self.roles {
            let tables = try await stores[role]!.read(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'", [])
            for table in tables.compactMap({ $0["name"]?.text }) {
                for row in try await stores[role]!.read("SELECT * FROM \(table)", []) {
                    scannedRows += 1
                    let values = row.compactMapValues(Self.text)
                    if Self.names(values, subject) { expected["\(role).\(table)", default: []].append(Self.fingerprint(values)) }
                }
            }
        }
        try #require(scannedRows > 1_000, "the stores hold the run: \(scannedRows) rows")

        let output = directory.appendingPathComponent("export.json").path
        let audit = directory.appendingPathComponent("audit.jsonl").path
        let arguments =
            [
                "subject", "export", "--participant", participants[0], "--output", output, "--audit-log", audit, "--operator",
                "ppdp",
            ]
            + Self.roles.flatMap { ["--store", "\($0)=\(directory.appendingPathComponent("var/\($0).sqlite").path)"] }
        let (exit, printed) = try await runProcess(
            binaries.appendingPathComponent("kaltim-admin").path, arguments, environment: [:])
        #expect(exit == 0, "\(printed)")
        let document = try Data(contentsOf: URL(fileURLWithPath: output))
        let permissions = try FileManager.default.attributesOfItem(atPath: output)[.posixPermissions] as? Int
        #expect(permissions == 0o600, "the export is readable by its owner only")

        // What the export holds, table by table, in the scan's terms.
        let json = try #require(try JSONSerialization.jsonObject(with: document) as? [String: Any])
        var exported: [String: [String]] = [:]
        for store in json["stores"] as? [[String: Any]] ?? [] {
            let role = store["role"] as? String ?? ""
            for table in store["tables"] as? [[String: Any]] ?? [] {
                let name = table["table"] as? String ?? ""
                for row in table["rows"] as? [[String: Any]] ?? [] {
                    let values = row.compactMapValues { $0 as? String }
                    exported["\(role).\(name)", default: []].append(Self.fingerprint(values))
                }
            }
        }
        #expect(expected.count >= 15, "the person is in many tables: \(expected.keys.sorted())")
        for key in Set(expected.keys).union(exported.keys).sorted() {
            let same = (expected[key] ?? []).sorted() == (exported[key] ?? []).sorted()
            #expect(
                same,
                "\(key): the scan finds \(expected[key]?.count ?? 0) rows about the person, the export holds \(exported[key]?.count ?? 0)"
            )
        }
        // Nothing about the other participant: none of their ids, contacts or (a different) name.
        let text = String(decoding: document, as: UTF8.self)
        let theirs = other.ids.union(other.contacts).union(other.name == subject.name ? [] : [other.name])
        for marker in theirs where !marker.isEmpty {
            #expect(!text.contains(marker), "the export names another person (\(marker.prefix(8))…)")
        }
        // Audited, with who and how much, and no NIK in clear.
        let entry = try #require(try String(contentsOfFile: audit, encoding: .utf8).split(separator: "\n").last)
        #expect(entry.contains("\"subject-export\"") && entry.contains("\"ppdp\"") && entry.contains(participants[0]))
        #expect(entry.firstMatch(of: /[0-9]{16}/) == nil)
    }
}

extension SubjectExportTests {
    /// Every row of every table of every store as its text values, and every file the run wrote
    /// beside the stores (logs, the notification log, the report), for a scan.
    struct Snapshot {
        var rows: [String: [[String: String]]] = [:]  // "role.table" → rows
        var files: [String: String] = [:]  // relative path → text

        var rowCount: Int { rows.values.reduce(0) { $0 + $1.count } }

        /// Where `needle` appears: rows (any value containing it) and files (occurrences).
        func hits(_ needle: String) -> Int {
            let inRows = rows.values.reduce(0) { sum, rows in
                sum + rows.filter { $0.values.contains { $0.contains(needle) } }.count
            }
            return inRows + files.values.reduce(0) { $0 + $1.components(separatedBy: needle).count - 1 }
        }
    }

    static func snapshot(_ directory: URL) async throws -> Snapshot {
        var snapshot = Snapshot()
        for role in roles {
            let store = try SQLiteStore(readingAt: directory.appendingPathComponent("var/\(role).sqlite").path)
            let tables = try await store.read(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'", [])
            for table in tables.compactMap({ $0["name"]?.text }) {
                snapshot.rows["\(role).\(table)"] = try await store.read("SELECT * FROM \(table)", []).map {
                    $0.compactMapValues(text)
                }
            }
        }
        let enumerator = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = enumerator?.nextObject() as? URL {
            let relative = String(url.path.dropFirst(directory.path.count + 1))
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true, !relative.hasPrefix("var/"),
                !relative.hasSuffix(".pdf")
            else { continue }
            snapshot.files[relative] = String(decoding: try Data(contentsOf: url), as: UTF8.self)
        }
        return snapshot
    }

    /// The right to erasure on the main job's data: after `kaltim-admin subject erase` of a
    /// certified participant whose name is theirs alone, a scan of every row of every store and
    /// every file of the run (worker logs, the notification log, the report) finds neither
    /// their name nor any of their addresses, nor any NIK in clear (a run of 16 digits); the
    /// certificate record stays; and no row that did not name them changed.
    @Test func anErasureLeavesNoNameOrAddressAnywhereAndChangesNothingOfAnyoneElse() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("erase"))
        defer { try? FileManager.default.removeItem(at: directory) }
        try await Self.runMainJob(into: directory, seed: 12)
        var stores: [String: SQLiteStore] = [:]
        for role in Self.roles {
            stores[role] = try SQLiteStore(readingAt: directory.appendingPathComponent("var/\(role).sqlite").path)
        }
        let unique = try await Self.uniqueNames(in: stores)
        var subject: (String, Person)?
        for row in try await stores["certificates"]!.read(
            "SELECT DISTINCT participant_id FROM cert_certificates ORDER BY participant_id", [])
        {
            guard let participant = row["participant_id"]?.text else { continue }
            let person = try await Self.person(participant, in: stores)
            if unique.contains(person.name), !person.contacts.isEmpty {
                subject = (participant, person)
                break
            }
        }
        let (participant, person) = try #require(subject, "a certified participant with a name of their own")
        stores = [:]

        let before = try await Self.snapshot(directory)
        let needles = [person.name] + person.contacts.sorted()
        let hitsBefore = needles.map(before.hits)
        #expect(hitsBefore.allSatisfy { $0 > 0 }, "the run holds the person's name and addresses: \(hitsBefore)")
        // A NIK-shaped run: 16 digits, not part of a longer hex string (idempotency keys, blind indexes).
        let nikPattern = /(?:^|[^0-9a-fA-F])[0-9]{16}(?:[^0-9a-fA-F]|$)/
        let niksBefore =
            before.files.values.reduce(0) { $0 + $1.matches(of: nikPattern).count }
            + before.rows.values.joined().reduce(0) { $0 + ($1.values.contains { $0.contains(nikPattern) } ? 1 : 0) }

        let arguments =
            [
                "subject", "erase", "--participant", participant, "--reason", "permintaan penghapusan 2026/001",
                "--confirm", "--audit-log", directory.appendingPathComponent("audit.jsonl").path, "--operator", "ppdp",
                "--notification-log", directory.appendingPathComponent("notifications.jsonl").path,
            ] + Self.roles.flatMap { ["--store", "\($0)=\(directory.appendingPathComponent("var/\($0).sqlite").path)"] }
        let (exit, printed) = try await runProcess(
            builtProductsDirectory.appendingPathComponent("kaltim-admin").path, arguments, environment: [:])
        #expect(exit == 0, "\(printed)")
        #expect(printed.contains("subject erase: ") && !printed.contains("not published yet"), "\(printed)")

        var after = try await Self.snapshot(directory)
        after.files["audit.jsonl"] = nil  // written by the erase itself: ids and the masked NIK only
        // The certificate record is kept (DOMAIN.md §6.3 rule 5), and it names its holder: the
        // signed documents in the store and the certificate files beside them. Everything else
        // must be free of the person's name and addresses.
        var outsideRecord = after
        let certificateIDs = person.ids.filter { id in
            after.rows["certificates.cert_certificates"]?.contains { $0["certificate_id"] == id } == true
        }
        outsideRecord.rows["certificates.cert_certificates"] = after.rows["certificates.cert_certificates"]?.filter {
            $0["participant_id"] != participant
        }
        for id in certificateIDs { outsideRecord.files["certificates/\(id).json"] = nil }
        let hitsAfter = needles.map(outsideRecord.hits)
        #expect(hitsAfter.allSatisfy { $0 == 0 }, "after the erase: \(hitsAfter)")
        let inRecord = after.hits(person.name) - outsideRecord.hits(person.name)
        #expect(inRecord >= 1, "the kept certificate record names its holder")
        let niksAfter =
            after.files.values.reduce(0) { $0 + $1.matches(of: nikPattern).count }
            + after.rows.values.joined().reduce(0) { $0 + ($1.values.contains { $0.contains(nikPattern) } ? 1 : 0) }
        #expect(niksBefore == 0 && niksAfter == 0, "a NIK in clear: \(niksBefore) before, \(niksAfter) after")
        // The certificate record stays.
        let certificates = after.rows["certificates.cert_certificates"]?.filter { $0["participant_id"] == participant }
        #expect((certificates?.count ?? 0) >= 1, "the certificate record is kept")
        // Nothing that did not name the person changed.
        for (table, rows) in before.rows {
            let untouched = rows.filter { !Self.names($0, person) }.map(Self.fingerprint).sorted()
            let now = (after.rows[table] ?? []).filter { !Self.names($0, person) }.map(Self.fingerprint)
            let kept = Set(now)
            #expect(untouched.allSatisfy(kept.contains), "\(table): a row about someone else changed")
        }
        for (file, text) in before.files where file != "notifications.jsonl" && file != "audit.jsonl" {
            #expect(after.files[file] == text, "\(file) changed")
        }
        let lines = { (text: String?) in (text ?? "").split(separator: "\n").count }
        #expect(lines(after.files["notifications.jsonl"]) < lines(before.files["notifications.jsonl"]))
        print(
            "erasure scan: \(Self.roles.count) stores, \(before.rows.count) tables, \(before.rowCount) rows, \(before.files.count) files; hits of the name and addresses before \(hitsBefore), after \(hitsAfter) outside the kept certificate record (which names the holder \(inRecord) times); 16-digit runs before \(niksBefore), after \(niksAfter)"
        )
        let audit = try String(contentsOf: directory.appendingPathComponent("audit.jsonl"), encoding: .utf8)
        #expect(audit.contains("\"subject-erase\"") && audit.contains("\"subject-erased\"") && audit.contains("2026/001"))
    }
}

/// `kaltim-admin subject export` as an attacker or a careless admin would call it: every bad
/// argument is refused with what to do, a NIK is never echoed, nothing is exported unaudited,
/// and the export never follows a link planted where the file goes.
@Suite(.timeLimit(.minutes(5)))
struct SubjectExportCommandTests {
    static func admin(_ arguments: [String], stdin: String? = nil) async throws -> (Int32, String) {
        let binary = builtProductsDirectory.appendingPathComponent("kaltim-admin").path
        let quoted = ([binary] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let command = stdin.map { "printf '%s\\n' '\($0)' | " } ?? "exec </dev/null; "
        let child = try ChildProcess("/bin/sh", ["-c", command + quoted.joined(separator: " ")])
        defer { unlink(child.outputPath) }
        let status = try await child.waitForExit(timeout: .seconds(120))
        return (status, child.output)
    }

    @Test func badArgumentsAreRefusedWithWhatToDoAndNothingIsWritten() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("subject-cli"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = directory.appendingPathComponent("intake.sqlite").path
        _ = try SQLiteStore(path: store)
        let output = directory.appendingPathComponent("out.json").path
        let audit = directory.appendingPathComponent("audit.jsonl").path
        let base = ["subject", "export", "--output", output, "--audit-log", audit]
        let cases: [([String], String?, String)] = [
            (base + ["--participant", "PST-1"], nil, "give at least one --store ROLE=PATH"),
            (base + ["--store", "intake", "--participant", "PST-1"], nil, "--store wants ROLE=PATH"),
            (base + ["--store", "payroll=\(store)", "--participant", "PST-1"], nil, "no role \"payroll\""),
            (base + ["--store", "intake=\(store)", "--store", "intake=\(store)", "--participant", "PST-1"], nil, "given twice"),
            (base + ["--store", "intake=\(store)"], nil, "say whom"),
            (base + ["--store", "intake=\(store)", "--participant", "PST-1' OR '1'='1"], nil, "letters, digits and -"),
            (base + ["--store", "intake=\(store)", "--participant", String(repeating: "A", count: 65)], nil, "at most 64"),
            (base + ["--store", "intake=\(store)", "--nik-from-stdin"], "6474014509990001", "needs --nik-key-file"),
            (
                base + ["--store", "intake=\(store)", "--nik-from-stdin", "--development-key"], "64740145099900019",
                "not a NIK of 16 digits"
            ),
            (
                base + ["--store", "intake=\(directory.path)/missing/intake.sqlite", "--participant", "PST-1"], nil,
                "cannot open the intake store"
            ),
        ]
        for (arguments, input, why) in cases {
            let (status, printed) = try await Self.admin(arguments, stdin: input)
            #expect(status != 0, "\(arguments.dropFirst(6)) was accepted")
            #expect(printed.contains(why), "\(arguments.dropFirst(6)): \(printed.suffix(400))")
            #expect(!printed.contains("6474014509990001"), "the NIK is echoed")
            #expect(!printed.contains("Fatal error"), "\(printed.suffix(400))")
            #expect(!FileManager.default.fileExists(atPath: output), "a file was written")
        }
        let erase = ["subject", "erase", "--audit-log", audit, "--store", "intake=\(store)", "--participant", "PST-1"]
        let erasures: [([String], String)] = [
            (erase, "--reason"),
            (erase + ["--reason", " "], "one line of at most 200 characters"),
            (erase + ["--reason", "a\nb"], "one line of at most 200 characters"),
            (erase + ["--reason", String(repeating: "x", count: 201)], "one line of at most 200 characters"),
            (
                erase + ["--reason", "r", "--confirm", "--notification-log", "\(directory.path)/none.jsonl"],
                "no such writable regular file"
            ),
            (
                ["subject", "erase", "--audit-log", audit, "--reason", "r", "--confirm", "--participant", "PST-1"]
                    + ["--store", "intake=\(directory.path)/typo.sqlite"], "no such file"
            ),
        ]
        for (arguments, why) in erasures {
            let (status, printed) = try await Self.admin(arguments)
            #expect(status != 0, "\(arguments) was accepted")
            #expect(printed.contains(why), "\(arguments): \(printed.suffix(400))")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(directory.path)/typo.sqlite"), "a mistyped store is not created")
        #expect(!FileManager.default.fileExists(atPath: audit), "nothing refused was audited")
        let dryRun = try await Self.admin(erase + ["--reason", "r"])
        #expect(dryRun.0 == 0 && dryRun.1.contains("nothing erased: add --confirm"), "\(dryRun.1.suffix(400))")
        #expect(!FileManager.default.fileExists(atPath: audit), "a dry run changes nothing")

        // An audit log that cannot be written: nothing is exported.
        let unaudited = try await Self.admin(
            ["subject", "export", "--output", output, "--audit-log", "/dev/null/audit.jsonl", "--store", "intake=\(store)"]
                + ["--participant", "PST-1"])
        #expect(unaudited.0 != 0 && unaudited.1.contains("nothing was exported"), "\(unaudited.1.suffix(400))")
        #expect(!FileManager.default.fileExists(atPath: output))
        // A link planted where the export goes is not followed.
        let target = directory.appendingPathComponent("elsewhere").path
        _ = FileManager.default.createFile(atPath: target, contents: Data("keep".utf8))
        try FileManager.default.createSymbolicLink(atPath: output, withDestinationPath: target)
        let linked = try await Self.admin(base + ["--store", "intake=\(store)", "--participant", "PST-1"])
        #expect(linked.0 != 0, "\(linked.1.suffix(400))")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep")
        // A NIK nobody registered, through its blind index: an export with no rows, audited masked.
        try FileManager.default.removeItem(atPath: output)
        let (status, printed) = try await Self.admin(
            base + ["--store", "intake=\(store)", "--nik-from-stdin", "--development-key", "--operator", "ppdp"],
            stdin: "6474 0145 0999 0001")
        #expect(status == 0, "\(printed.suffix(400))")
        #expect(printed.contains("subject export: 0 rows"), "\(printed.suffix(400))")
        let entry = try String(contentsOfFile: audit, encoding: .utf8)
        #expect(entry.contains("\"subject-export\"") && !entry.contains("6474014509990001"))
        #expect(entry.contains("************0001") && !entry.contains("647401"), "the last four digits only: \(entry)")
    }
}

/// Someone who registered with another person's NIK (refused as a duplicate) must not end up
/// in that person's export or erasure, nor the other way round.
@Suite(.timeLimit(.minutes(5)))
struct SubjectLinkingTests {
    @Test func aRegistrationIntakeDidNotAcceptIsNotFollowedThroughTheNIK() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("linking"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let catalogue = try ProgrammeCatalogueFixture.load()
        let intake = try SQLiteStore(path: directory.appendingPathComponent("intake.sqlite").path)
        try await intake.migrate(IntakeHandler(catalogue: catalogue, nikKey: .development).migrations)
        let templates = try NotificationTemplates(directory: DatabaseUsersTests.repositoryFile("config/notifications"))
        let notifications = try SQLiteStore(path: directory.appendingPathComponent("notifications.sqlite").path)
        try await notifications.migrate(
            NotificationHandler(templates: templates, catalogue: catalogue, verificationBaseURL: "https://v.example/c").migrations
        )
        try await intake.write { transaction in
            try transaction.execute(
                "INSERT INTO intake_registry (nik_index, full_name, birth_date, sex, region_code) VALUES ('nik-x', 'Siti Pemilik', '1999-01-01', 'P', '6471051001')"
            )
            for (registration, participant, outcome) in [("REG-A", "PST-A", "accepted"), ("REG-B", nil, "rejected")] {
                try transaction.execute(
                    """
                    INSERT INTO intake_registrations (registration_id, nik_index, masked_nik, year, participant_id, programme,
                        outcome, reasons, decided_at) VALUES (?, 'nik-x', '************0001', 2025, ?, 'TATA_GRAHA', ?, '', '2025-03-01T00:00:00Z')
                    """, [.text(registration), participant.map(SQLValue.text) ?? .null, .text(outcome)])
            }
        }
        try await notifications.write { transaction in
            for (registration, participant, name) in [("REG-A", "PST-A", "Siti Pemilik"), ("REG-B", nil, "Orang Lain")] {
                try transaction.execute(
                    "INSERT INTO notif_contacts (registration_id, participant_id, name, phone, updated_at) VALUES (?, ?, ?, '+6281200000000', 0)",
                    [.text(registration), participant.map(SQLValue.text) ?? .null, .text(name)])
            }
        }
        let stores: [(role: String, store: any MessageStore)] = [("intake", intake), ("notifications", notifications)]

        let owner = try await SubjectExport.collect(from: stores, start: SubjectIdentifiers(participantIDs: ["PST-A"]))
        let ownerText = String(decoding: try owner.json(), as: UTF8.self)
        #expect(owner.identifiers.registrationIDs == ["REG-A"] && owner.notFollowed == ["REG-B"])
        #expect(ownerText.contains("Siti Pemilik") && !ownerText.contains("Orang Lain"))

        let other = try await SubjectExport.collect(from: stores, start: SubjectIdentifiers(registrationIDs: ["REG-B"]))
        let otherText = String(decoding: try other.json(), as: UTF8.self)
        #expect(other.identifiers.nikIndexes.isEmpty, "a refused registration does not lend its NIK")
        #expect(otherText.contains("Orang Lain") && !otherText.contains("Siti Pemilik") && !otherText.contains("PST-A"))

        // Erasing the owner leaves the other person's contact alone.
        let report = try await SubjectErasure.erase(owner.identifiers, in: stores)
        #expect(report.rowCount > 0)
        let left = try await notifications.read("SELECT name FROM notif_contacts", [])
        #expect(left.compactMap { $0["name"]?.text } == ["Orang Lain"])
        #expect(try await intake.read("SELECT COUNT(*) AS n FROM intake_registry", []).first?["n"]?.integer == 0)
    }
}

/// Dead letters are whole messages, personal data and all: an erasure with `--dead-letters`
/// removes those that name the person, in any role's dead-letter queue, JSON or not, and leaves
/// everyone else's.
struct SubjectDeadLetterTests {
    @Test func theMatcherFindsThePersonByIdOrNIKReportsAnAddressAloneAndNobodyElse() {
        var identifiers = SubjectIdentifiers(
            registrationIDs: ["REG-1"], participantIDs: ["PST-1"], certificateIDs: [], assessmentIDs: ["7"])
        identifiers.nikIndexes = [NIKKey.development.blindIndex("6474015708999901")]
        let matcher = MessageMatcher(
            identifiers: identifiers, addresses: ["+6281250000001", "Siti@Contoh.id"], nikKey: .development)
        let cases: [(String, MessageMatcher.Match)] = [
            (#"{"data":{"registrationID":"REG-1"}}"#, .person),
            (#"{"subject":"x","data":{"items":[{"deep":{"participantID":"PST-1"}}]}}"#, .person),
            (#"{"data":{"nik":"6474 0157 0899 9901"}}"#, .person),
            (#"{"data":{"nik":6474015708999901}}"#, .person),
            (#"{"data":{"reason":"registration REG-1 was decided twice."}}"#, .person),
            (#"{"data":{"text":"NIK 6474-0157-0899-9901 081250000009"}}"#, .person),
            (#"{"data":{"recipient":"+6281250000001"}}"#, .addressOnly),
            (#"{"data":{"phone":"081250000001"}}"#, .addressOnly),
            (#"{"data":{"email":"siti@contoh.id"}}"#, .addressOnly),
            (#"{"data":{"registrationID":"REG-10","participantID":"PST-10"}}"#, .none),
            (#"{"data":{"nik":"6474015708999902"}}"#, .none),
            (#"{"data":{"assessmentID":"7","units":7}}"#, .none),
            (#"{"registrationID": REG-1, broken"#, .person),
            (#"{"registrationID": REG-10, broken"#, .none),
            ("id=REG-1&x=1", .person),
            ("telepon 0812-5000-0001? tanpa JSON", .none),
            ("telepon +6281250000001 tanpa JSON", .addressOnly),
            ("nik 6474.0157.0899.9901 tanpa JSON", .person),
            ("", .none),
        ]
        for (body, expected) in cases {
            #expect(matcher.match(Data(body.utf8)) == expected, "\(body)")
        }
        // Without the key a NIK is not recognised (the ids in the same message usually are).
        let keyless = MessageMatcher(identifiers: identifiers, addresses: [], nikKey: nil)
        #expect(keyless.match(Data(#"{"data":{"nik":"6474015708999901"}}"#.utf8)) == .none)
    }

    @Test func anErasureWithDeadLettersRemovesThePersonsAndLeavesTheRest() async throws {
        let url = try #require(BrokerEnvironment.url)
        let connection = try await BrokerEnvironment.connect()
        let prefix = uniqueName("erase-dead") + "."
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(prefix + "d")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // The notification worker's contact: where the erasure learns the person's phone.
        let storePath = directory.appendingPathComponent("notifications.sqlite").path
        let store = try SQLiteStore(path: storePath)
        try await store.migrate([
            """
            CREATE TABLE IF NOT EXISTS notif_contacts (
                registration_id TEXT PRIMARY KEY, participant_id TEXT, name TEXT NOT NULL, phone TEXT,
                whatsapp TEXT, email TEXT, updated_at REAL NOT NULL)
            """
        ])
        try await store.write { transaction in
            try transaction.execute(
                "INSERT INTO notif_contacts VALUES ('REG-1', 'PST-1', 'Siti Rahmawati', '+6281250000001', NULL, NULL, 0)")
        }
        let topologies = [WorkerRole.intake, .notifications].map { RoleTopology(role: $0, prefix: prefix) }
        for topology in topologies { try await topology.declare(on: connection) }
        let letters: [(Int, String, String)] = [
            (
                0, "theirs-registration",
                #"{"type":"registration.submitted","data":{"registrationID":"REG-1","nik":"6474015708999901"}}"#
            ),
            (0, "theirs-malformed", #"{"data":{"registrationID": REG-1, broken"#),
            (0, "shared-phone", #"{"type":"notification.requested","data":{"recipient":"081250000001"}}"#),
            (0, "someone-else", #"{"type":"registration.submitted","data":{"registrationID":"REG-10"}}"#),
            (1, "theirs-request", #"{"type":"notification.requested","data":{"participantID":"PST-1"}}"#),
        ]
        for (index, id, body) in letters {
            try await connection.publish(
                Data(body.utf8), exchange: "", routingKey: topologies[index].deadLetterQueue,
                properties: AMQPProperties(deliveryMode: .persistent, messageID: id), mandatory: true)
        }
        let audit = directory.appendingPathComponent("audit.jsonl").path
        let erase = [
            "subject", "erase", "--broker-url", url, "--topology-prefix", prefix, "--audit-log", audit, "--reason", "PDP-9",
            "--store", "notifications=\(storePath)", "--registration", "REG-1", "--dead-letters",
        ]
        let engine = DeadLetterAdmin(connection: connection, prefix: prefix)
        // The export lists them, and leaves them.
        let output = directory.appendingPathComponent("export.json").path
        let export = try await SubjectExportCommandTests.admin([
            "subject", "export", "--broker-url", url, "--topology-prefix", prefix, "--audit-log", audit, "--output", output,
            "--store", "notifications=\(storePath)", "--registration", "REG-1", "--dead-letters",
        ])
        #expect(export.0 == 0, "\(export.1.suffix(400))")
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output))) as? [String: Any]
        let listed = (document?["deadLetters"] as? [[String: Any]])?.compactMap { $0["messageID"] as? String }
        #expect(Set(listed ?? []) == ["theirs-registration", "theirs-malformed", "theirs-request", "shared-phone"])
        let exported = try String(contentsOfFile: output, encoding: .utf8)
        #expect(!exported.contains("6474015708999901"), "no NIK in clear from a dead letter's body")
        let dryRun = try await SubjectExportCommandTests.admin(erase)
        #expect(dryRun.0 == 0 && dryRun.1.contains("dead letters naming the person: 3"), "\(dryRun.1.suffix(400))")
        #expect(dryRun.1.contains("naming only an address of theirs") && dryRun.1.contains("shared-phone"))
        #expect(Set(try await engine.list([.intake, .notifications]).map(\.messageID)).count == 5, "a dry run removes nothing")

        let confirmed = try await SubjectExportCommandTests.admin(erase + ["--confirm"])
        #expect(confirmed.0 == 0 && confirmed.1.contains("dead letters removed: 3"), "\(confirmed.1.suffix(400))")
        #expect(Set(try await engine.list([.intake, .notifications]).map(\.messageID)) == ["someone-else", "shared-phone"])
        let entries = try String(contentsOfFile: audit, encoding: .utf8)
        #expect(entries.contains("\"deadLetters\":\"3 removed, 0 remaining\""), "\(entries)")
        // Without a broker URL, --dead-letters is refused before anything is erased.
        let unreachable = try await SubjectExportCommandTests.admin(
            erase.filter { $0 != url && $0 != "--broker-url" } + ["--confirm"])
        #expect(unreachable.0 != 0 && unreachable.1.contains("--dead-letters needs the admin's broker URL"))
        for topology in topologies { await topology.delete(on: connection) }
        await connection.close()
    }
}
