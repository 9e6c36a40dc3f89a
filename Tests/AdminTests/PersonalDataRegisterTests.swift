import CertificateTrust
import Console
import ContractKit
import DataProtection
import Foundation
import Jobs
import Programme
import Stores
import Testing
import Topology
import Workers

/// The register of personal data cannot drift from the code: every column of every table the
/// roles create is classified in it (personal, a key to the person, or other), nothing it names
/// is missing, docs/OPERATIONS.md carries exactly what `kaltim-admin personal-data register`
/// prints, and the history stream is bound to nothing that carries personal fields.
@Suite(.timeLimit(.minutes(5)))
struct PersonalDataRegisterTests {
    static func handlerMigrations() throws -> [String: [String]] {
        let catalogue = try ProgrammeCatalogue.load(path: DatabaseUsersTests.repositoryFile("config/programme-2025.json"))
        let templates = try NotificationTemplates(directory: DatabaseUsersTests.repositoryFile("config/notifications"))
        return [
            "intake": IntakeHandler(catalogue: catalogue, nikKey: .development).migrations,
            "scheduling": SchedulingHandler(catalogue: catalogue).migrations,
            "grading": GradingHandler(catalogue: catalogue).migrations,
            "certificates": CertificateHandler(catalogue: catalogue, signer: .development).migrations,
            "notifications": NotificationHandler(
                templates: templates, catalogue: catalogue, verificationBaseURL: "https://v.example/c"
            ).migrations,
            "console": ProgressHandler(catalogue: catalogue).migrations,
        ]
    }

    /// Table → its columns, as a role's SQLite store has them after its migrations.
    static func schema(of migrations: [String]) async throws -> [String: Set<String>] {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("register-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: file + suffix) } }
        let store = try SQLiteStore(path: file)
        try await store.migrate(migrations)
        var schema: [String: Set<String>] = [:]
        let tables = try await store.read(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'", [])
        for table in tables.compactMap({ $0["name"]?.text }) {
            let columns = try await store.read("SELECT name FROM pragma_table_info(?)", [.text(table)])
            schema[table] = Set(columns.compactMap { $0["name"]?.text })
        }
        return schema
    }

    @Test func everyColumnOfEveryRolesStoreIsClassifiedAndNothingElseIsNamed() async throws {
        let migrations = try Self.handlerMigrations()
        #expect(Set(migrations.keys) == Set(PersonalDataRegister.storeRoles))
        var seen: Set<String> = []
        for role in PersonalDataRegister.storeRoles {
            // What a worker process migrates: the runtime's tables, then the handler's.
            let schema = try await Self.schema(of: Worker.runtimeTables + (migrations[role] ?? []))
            let entries = PersonalDataRegister.tables(of: role)
            #expect(
                Set(entries.map(\.name)) == Set(schema.keys),
                "\(role): register \(entries.map(\.name).sorted()) vs store \(schema.keys.sorted())")
            for entry in entries {
                seen.insert(entry.name)
                guard let columns = schema[entry.name] else { continue }
                // A new column fails here until someone decides what it holds.
                #expect(Set(entry.fields) == columns, "\(role).\(entry.name): \(entry.fields.sorted()) vs \(columns.sorted())")
                let keyFields = Set(entry.keys.map(\.field))
                #expect(
                    Set(entry.other).isDisjoint(with: keyFields) && Set(entry.personal).isDisjoint(with: Set(entry.other)),
                    "\(entry.name): a field in two classes")
                #expect(entry.fields.count == Set(entry.fields).count || entry.keys.contains { $0.key == .mentionsAnyID })
            }
        }
        #expect(Set(PersonalDataRegister.tables.map(\.name)) == seen, "a table of the register no role creates")
    }

    @Test func columnsNamedLikePersonalDataAreClassifiedPersonal() {
        // Whatever the table, a column whose name says it holds a person's identity or contact
        // is never filed as "other".
        let suspicious = ["nik", "name", "phone", "whatsapp", "email", "birth", "address", "officer", "staff", "_by"]
        for entry in PersonalDataRegister.tables {
            for column in entry.other where suspicious.contains(where: { column.contains($0) }) {
                #expect(
                    // `withdrawn_by` holds a code (PENDAFTAR or ORANG_TUA_WALI), not a name.
                    ["programme_name", "named", "claimed_by", "answer_by", "respond_by", "withdrawn_by"].contains(column),
                    "\(entry.name).\(column) looks personal but is filed as other")
            }
        }
    }

    @Test func everyPersonalFieldOfTheSubjectIsErasedAndOnlyColumnsThatExistAreTouched() {
        // Staff members' user names are theirs, not the subject's: kept for accountability.
        let staff: Set<String> = ["officer", "staff", "recorded_by", "requested_by"]
        for entry in PersonalDataRegister.tables {
            let subjects = entry.personal.filter { !staff.contains($0) }
            switch entry.erasure {
            case .deleteRows:
                #expect(!entry.keys.isEmpty, "\(entry.name): rows to delete, but nothing finds them")
            case .clear(let columns):
                #expect(
                    Set(subjects).isSubset(of: Set(columns.map(\.column))),
                    "\(entry.name): \(subjects) not all cleared")
                #expect(Set(columns.map(\.column)).isSubset(of: Set(entry.fields)), "\(entry.name): clears a column it lacks")
                #expect(!entry.keys.isEmpty)
            case .publishedEvents:
                #expect(entry.name == "jobs_outbox")
            case .expiresWithinADay:
                // Only digests nobody's id finds, kept a day at most.
                #expect(entry.keys.isEmpty && entry.retention.hasPrefix("24 hours"), "\(entry.name)")
            case .keep where entry.name == "cert_certificates":
                // The certificate record outlives an erasure (DOMAIN.md §6.3 rule 5), and with it
                // the name it was issued to, inside the signed document; nothing else of the person.
                #expect(subjects == ["document"], "\(entry.name) keeps \(subjects) of the person after an erasure")
            case .keep:
                #expect(subjects.isEmpty, "\(entry.name) keeps \(subjects) of the person after an erasure")
            }
        }
    }

    @Test func theBreachNoticesTimeColumnsAreColumnsOfTheRegister() {
        for (table, time) in BreachNotice.recordedAt {
            let entry = PersonalDataRegister.tables.first { $0.name == table }
            #expect(entry?.fields.contains(time.column) == true, "\(table).\(time.column)")
            #expect(entry?.keys.isEmpty == false, "\(table) links to nobody")
        }
    }

    @Test func queuesCarryTheContractsPersonalFieldsAndTheHistoryStreamNone() throws {
        let entries = PersonalDataRegister.brokerEntries
        let intake = try #require(entries.first { $0.name == WorkerRole.intake.queue })
        #expect(intake.personal.contains("nik") && intake.personal.contains("phone"))
        let dead = try #require(entries.first { $0.name == WorkerRole.intake.queue + ".dead" })
        #expect(dead.personal == intake.personal, "a dead letter keeps the whole body")
        let history = try #require(entries.first { $0.kind == .stream })
        #expect(history.name == WorkerRole.consoleHistoryStream)
        #expect(history.personal.isEmpty, "a stream entry cannot be deleted: \(history.personal)")
        #expect(entries.filter { $0.kind == .queue }.count == 2 * (WorkerRole.all.count + 1))
    }

    @Test func theOperationsGuideCarriesTheRegisterAsTheCommandPrintsIt() throws {
        let guide = try String(
            contentsOfFile: DatabaseUsersTests.repositoryFile("docs/OPERATIONS.md"), encoding: .utf8)
        let start = "<!-- personal-data-register: generated by `kaltim-admin personal-data register` -->\n"
        let end = "<!-- end of personal-data-register -->"
        let from = try #require(guide.range(of: start), "the register's start marker")
        let to = try #require(guide.range(of: end, range: from.upperBound..<guide.endIndex), "its end marker")
        let carried = String(guide[from.upperBound..<to.lowerBound])
        #expect(
            carried == PersonalDataRegister.markdown(),
            "docs/OPERATIONS.md is out of date: paste `kaltim-admin personal-data register` between the markers")
    }
}

/// The notification log's erasure: the person's lines go, the others stay byte for byte, the
/// log keeps its mode and owner, a link left at the temporary name is not written through, and
/// a log that is a link is refused. (The race the eraser closes, a link put at the temporary
/// name between its creation and a `chown` by path, is not reproduced here: the eraser now sets
/// the owner on its own descriptor.)
struct NotificationLogEraserTests {
    @Test func aPersonsLinesGoAndTheLogKeepsItsModeAndOwnerWithoutFollowingALink() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("erase-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appendingPathComponent("notifications.jsonl").path
        let lines = [
            #"{"recipient":"+6281250001001","text":"Halo Siti"}"#, #"{"recipient":"+6281250002002","text":"Halo Budi"}"#,
            "not json", #"{"recipient":"siti@example.id","text":"Halo Siti"}"#,
        ]
        #expect(
            FileManager.default.createFile(
                atPath: log, contents: Data(lines.joined(separator: "\n").utf8), attributes: [.posixPermissions: 0o640]))
        // A file the erasure must not touch, linked at the temporary name.
        let victim = folder.appendingPathComponent("victim").path
        #expect(
            FileManager.default.createFile(atPath: victim, contents: Data("victim".utf8), attributes: [.posixPermissions: 0o600]))
        try FileManager.default.createSymbolicLink(
            atPath: folder.appendingPathComponent(".notifications.jsonl.erasing").path, withDestinationPath: victim)
        let ownerBefore = try FileManager.default.attributesOfItem(atPath: log)[.ownerAccountID] as? NSNumber

        let removed = try NotificationLogEraser.remove(addresses: ["+6281250001001", "siti@example.id"], from: log)
        #expect(removed == 2)
        #expect(try String(contentsOfFile: log, encoding: .utf8) == [lines[1], lines[2]].joined(separator: "\n"))
        let attributes = try FileManager.default.attributesOfItem(atPath: log)
        #expect(attributes[.type] as? FileAttributeType == .typeRegular)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o640)
        #expect(attributes[.ownerAccountID] as? NSNumber == ownerBefore)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "victim")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent(".notifications.jsonl.erasing").path))
        // A log that is a link is refused, and what it points at is left alone.
        let linked = folder.appendingPathComponent("linked.jsonl").path
        try FileManager.default.createSymbolicLink(atPath: linked, withDestinationPath: log)
        #expect(throws: (any Error).self) { try NotificationLogEraser.remove(addresses: ["+6281250002002"], from: linked) }
        #expect(try String(contentsOfFile: log, encoding: .utf8) == [lines[1], lines[2]].joined(separator: "\n"))
    }
}
