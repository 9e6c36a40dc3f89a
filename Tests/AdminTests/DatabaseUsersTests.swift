import Admin
import CertificateTrust
import ContractKit
import Contracts
import Foundation
import Jobs
import Programme
import Stores
import TestSupport
import Testing
import Topology
import Verification

/// deploy/postgres/role-users.sql on a real server: each role signs in as its own user, builds
/// its tables in its own schema, and can neither read nor change another role's.
@Suite(
    .enabled(
        if: PostgresEnvironment.url != nil || PostgresEnvironment.required,
        "needs the private PostgreSQL server: run the tests through scripts/test.sh"),
    .timeLimit(.minutes(10))
)
struct DatabaseUsersTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

    static func repositoryFile(_ path: String) -> String { root.appendingPathComponent(path).path }

    static func psql(_ arguments: [String], input: String? = nil) async throws -> (Int32, String) {
        let process = try ChildProcess(Self.repositoryFile("scripts/postgres.sh"), ["psql", "-v", "ON_ERROR_STOP=1"] + arguments)
        let status = try await process.waitForExit(timeout: .seconds(60))
        return (status, process.output)
    }

    /// A database whose default collation comes from ICU orders text otherwise than SQLite
    /// ('a' before 'B'), even with LC_COLLATE 'C': the store refuses it and says how to create
    /// one that orders by bytes.
    @Test func aDatabaseCollatingWithICUIsRefused() async throws {
        let server = try #require(URLComponents(string: try PostgresEnvironment.requireURL()))
        let database = "icu_\(UUID().uuidString.prefix(8).lowercased())"
        let (created, creation) = try await Self.psql([
            "-d", "postgres", "-c",
            "CREATE DATABASE \(database) LOCALE_PROVIDER icu ICU_LOCALE 'und' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
        ])
        try #require(created == 0, "\(creation)")
        var url = server
        url.path = "/" + database
        let location = try #require(url.string)
        do {
            _ = try await PostgresStore(url: location, schema: "intake")
            Issue.record("a database collating with ICU was taken")
        } catch let error as PostgresStoreError {
            #expect("\(error)".contains("ICU") && "\(error)".contains("LOCALE_PROVIDER libc"), "\(error)")
        }
        // FORCE: the refused store's connection is closed on its own queue, perhaps not yet.
        let (dropped, drop) = try await Self.psql(["-d", "postgres", "-c", "DROP DATABASE \(database) WITH (FORCE)"])
        #expect(dropped == 0, "\(drop)")
    }

    /// A database (or role) may default to `synchronous_commit = off` and to REPEATABLE READ.
    /// The first lets a commit return before it is on the disk, although the worker then
    /// acknowledges its message; the second gives a transaction a snapshot from before it
    /// waited for the role's lock. The store's sessions run with a flushed commit and READ
    /// COMMITTED whatever the database says.
    @Test func aDatabaseThatDefaultsToUnflushedCommitsAndRepeatableReadIsOverruled() async throws {
        let server = try #require(URLComponents(string: try PostgresEnvironment.requireURL()))
        let database = "lax_\(UUID().uuidString.prefix(8).lowercased())"
        let user = try #require(server.user)
        for statement in [
            "CREATE DATABASE \(database) OWNER \(user) LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
            "ALTER DATABASE \(database) SET synchronous_commit = off",
            "ALTER DATABASE \(database) SET default_transaction_isolation = 'repeatable read'",
        ] {
            let (status, output) = try await Self.psql(["-d", "postgres", "-c", statement])
            try #require(status == 0, "\(output)")
        }
        var url = server
        url.path = "/" + database
        var failure: (any Error)?
        do {
            let store = try await PostgresStore(url: try #require(url.string), schema: "intake")
            #expect(store.commitsSurvivePowerLoss)  // the test server runs with fsync on
            let seen = try await store.write { transaction in
                (
                    try transaction.query("SHOW synchronous_commit", []).first?["synchronous_commit"]?.text,
                    try transaction.query("SHOW transaction_isolation", []).first?["transaction_isolation"]?.text
                )
            }
            #expect(seen.0 == "on")
            #expect(seen.1 == "read committed")
        } catch {
            failure = error
        }
        // Dropped whatever happened above (FORCE: the store's connection closes on its own queue).
        let (dropped, drop) = try await Self.psql(["-d", "postgres", "-c", "DROP DATABASE \(database) WITH (FORCE)"])
        #expect(dropped == 0, "\(drop)")
        if let failure { throw failure }
    }

    @Test func eachRoleIsItsOwnDatabaseUserAndReachesNoOtherRolesTables() async throws {
        let server = try #require(URLComponents(string: try PostgresEnvironment.requireURL()))
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let database = "deploy_\(suffix)"
        let prefix = "t\(suffix)_"
        let (created, creation) = try await Self.psql([
            "-d", "postgres", "-c", "CREATE DATABASE \(database) LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
        ])
        #expect(created == 0, "\(creation)")
        let passwords =
            WorkerRole.all.flatMap { ["-v", "\($0.name)_password=secret-\($0.name)"] }
            + DeploymentFiles.databaseReaders.flatMap { ["-v", "\($0.name)_password=secret-\($0.name)"] }
        for _ in 0..<2 {  // a second run changes nothing
            let (applied, output) = try await Self.psql(
                ["-d", database, "-v", "user_prefix=\(prefix)"] + passwords + [
                    "-f", Self.repositoryFile("deploy/postgres/role-users.sql"),
                ])
            #expect(applied == 0, "\(output)")
        }

        func url(_ role: WorkerRole) -> String {
            "postgres://\(prefix)\(role.name)@\(server.host ?? "127.0.0.1"):\(server.port ?? 5432)/\(database)"
        }
        // Each role opens its store in its own schema: the migrations run as its user.
        for role in [WorkerRole.intake, .notifications] {
            let store = try await Stores.open(url(role), schema: role.name)
            _ = try await store.read("SELECT count(*) AS n FROM jobs_migrations", [])
        }
        // Intake's user against notifications' tables, and against a schema of its own making.
        let intake = try await Stores.open(url(.intake), schema: "intake")
        await #expect(throws: (any Error).self, "another role's table is closed") {
            _ = try await intake.read("SELECT count(*) AS n FROM notifications.jobs_migrations", [])
        }
        // Refused at once with what to do, not retried as if the server were starting.
        let refusal = await #expect(throws: PostgresStoreError.self, "no new schemas") {
            _ = try await Stores.open(url(.intake), schema: "notifications_copy")
        }
        #expect("\(refusal.map { "\($0)" } ?? "")".contains("role-users.sql"))
        #expect(refusal?.code == .permission, "a code the caller can switch on")
        await #expect(throws: (any Error).self, "nothing in public") {
            _ = try await intake.write { try $0.execute("CREATE TABLE public.leak (x TEXT)") }
        }

        // The readers, once the workers made their tables and reader-grants.sql ran: the
        // verification service reads the certificates, not the holders' names, and cannot
        // write even there; the console reads the review cases, not the registry extract.
        let certificates = try await Stores.open(url(.certificates), schema: "certificates")
        let signed = try CertificateSigner.development.sign(
            CertificateDocument.Payload(
                certificateID: "BTG-2025-PBK-00001", kind: "PELATIHAN", issuer: "BLKI Bontang",
                certificateNumber: "00001/PBK/BTG/2025", registrationNumber: nil, participantID: "PST-1",
                programme: "TATA_GRAHA", scheme: nil, issuedOn: "2025-08-08", validUntil: nil, holderName: "Siti Aminah"),
            at: Date(timeIntervalSince1970: 1_756_000_000))
        try await certificates.write { transaction in
            try transaction.execute(
                "CREATE TABLE cert_certificates (certificate_id TEXT PRIMARY KEY, participant_id TEXT, document BYTEA NOT NULL)")
            try transaction.execute("CREATE TABLE cert_revocations (certificate_id TEXT PRIMARY KEY, reason TEXT NOT NULL)")
            try transaction.execute("CREATE TABLE cert_holders (participant_id TEXT PRIMARY KEY)")
            try transaction.execute(
                "INSERT INTO cert_certificates VALUES ('BTG-2025-PBK-00001', 'PST-1', ?)", [.blob(try signed.json())])
        }
        try await intake.write { transaction in
            try transaction.execute("CREATE TABLE intake_reviews (registration_id TEXT PRIMARY KEY)")
            try transaction.execute("CREATE TABLE intake_profiles (registration_id TEXT PRIMARY KEY, sex TEXT)")
            try transaction.execute("CREATE TABLE intake_registry (nik_index TEXT PRIMARY KEY)")
        }
        for _ in 0..<2 {  // a second run changes nothing
            let (granted, grantOutput) = try await Self.psql(
                ["-d", database, "-v", "user_prefix=\(prefix)", "-f", Self.repositoryFile("deploy/postgres/reader-grants.sql")])
            #expect(granted == 0, "\(grantOutput)")
        }
        let host = "\(server.host ?? "127.0.0.1"):\(server.port ?? 5432)"
        let verification = try await Stores.openForReading(
            "postgres://\(prefix)verification@\(host)/\(database)", schema: "certificates")
        // Through the function only: one certificate for its whole code, nothing to list.
        let lookup = CertificateLookup(
            store: verification, verifier: try CertificateVerifier(publicKeyHex: CertificateSigner.development.publicKeyHex),
            catalogue: try ProgrammeCatalogue.load(path: Self.repositoryFile("config/programme-2025.json")),
            access: .function, today: { "2025-09-01" })
        let valid = try await lookup.result(forCode: signed.verificationCode)
        #expect(valid.status == .valid && valid.holder == "Siti A.", "\(valid)")
        #expect(try await lookup.result(forCode: "BTG-2025-PBK-00001.AAAAAAAAAAAAAAAA").status == .unknown)
        #expect(
            try await verification.read("SELECT * FROM verification_document(?)", [.text("BTG-2025-PBK-00001.AAAAAAAAAAAAAAAA")])
                .isEmpty, "a guessed check part returns nothing")
        try await certificates.write { transaction in
            try transaction.execute("INSERT INTO cert_revocations VALUES ('BTG-2025-PBK-00001', 'FRAUD')")
        }
        #expect(try await lookup.result(forCode: signed.verificationCode).status == .revoked)
        for closed in ["cert_certificates", "cert_revocations", "cert_holders", "jobs_outbox", "intake.intake_reviews"] {
            await #expect(throws: (any Error).self, "\(closed) is closed to the verification service") {
                _ = try await verification.read("SELECT count(*) AS n FROM \(closed)", [])
            }
        }
        // A write is refused by the grants, not only by the read-only default a session can undo.
        let (wrote, refusal2) = try await Self.psql([
            "-d", database, "-U", "\(prefix)verification", "-c",
            "BEGIN READ WRITE; INSERT INTO certificates.cert_certificates VALUES ('forged'); COMMIT;",
        ])
        #expect(wrote != 0 && refusal2.contains("permission denied"), "\(refusal2)")
        // Nor can it hold a role's advisory lock to stall its writers.
        let (locked, refusal3) = try await Self.psql([
            "-d", database, "-U", "\(prefix)verification", "-c", "SELECT pg_advisory_lock(hashtext('certificates'))",
        ])
        #expect(locked != 0 && refusal3.contains("permission denied"), "\(refusal3)")
        let console = try await Stores.openForReading(
            "postgres://\(prefix)console_reader@\(host)/\(database)", schema: "intake")
        _ = try await console.read("SELECT count(*) AS n FROM intake_reviews", [])
        _ = try await console.read("SELECT count(*) AS n FROM intake_profiles", [])
        _ = try await console.read("SELECT count(*) AS n FROM certificates.cert_holders", [])
        for closed in ["intake_registry", "certificates.cert_certificates", "certificates.cert_revocations", "jobs_outbox"] {
            await #expect(throws: (any Error).self, "\(closed) is closed to the console's reader") {
                _ = try await console.read("SELECT count(*) AS n FROM \(closed)", [])
            }
        }

        let drop =
            ["DROP DATABASE \(database) WITH (FORCE)"] + WorkerRole.all.map { "DROP ROLE \(prefix)\($0.name)" }
            + DeploymentFiles.databaseReaders.map { "DROP ROLE \(prefix)\($0.name)" }
        for statement in drop { _ = try await Self.psql(["-d", "postgres", "-c", statement]) }
    }
}
