import Foundation
import Jobs
import Stores
import TestSupport
import Testing

/// `kaltim-worker revoke-certificate` on a certificate already revoked names the certificate in
/// force instead: the scheme's own record and its reissues (`scheme#n`), and nothing else. The
/// answer comes from the store before any broker is reached.
struct RevokeCertificateCommandTests {
    let binary = builtProductsDirectory.appendingPathComponent("kaltim-worker").path

    @Test func anAlreadyRevokedCertificateNamesTheOneInForceOfItsOwnSchemeOnly() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("revoke-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("certificates.sqlite").path
        let store = try SQLiteStore(path: path)
        try await store.migrate([
            """
            CREATE TABLE IF NOT EXISTS cert_certificates (
                certificate_id TEXT PRIMARY KEY, participant_id TEXT NOT NULL, scheme TEXT NOT NULL, kind TEXT NOT NULL,
                issuer_code TEXT NOT NULL, year INTEGER NOT NULL, serial INTEGER NOT NULL, document BLOB NOT NULL,
                UNIQUE (participant_id, scheme, kind), UNIQUE (issuer_code, year, serial))
            """,
            "CREATE TABLE IF NOT EXISTS cert_revocations (certificate_id TEXT PRIMARY KEY, reason TEXT NOT NULL)",
        ])
        // One holder's records of one kind: the revoked one, its reissue in force, and two of
        // other schemes that a pattern would take for it (a `_` matching any character, and the
        // same letters in lower case).
        let records: [(id: String, scheme: String)] = [
            ("OLD-1", "SKM_PBK"), ("NEW-2", "SKM_PBK#2"), ("OTHER-3", "SKMXPBK#2"), ("LOWER-4", "skm_pbk#3"),
        ]
        try await store.write { transaction in
            for (serial, record) in records.enumerated() {
                try transaction.execute(
                    """
                    INSERT INTO cert_certificates (certificate_id, participant_id, scheme, kind, issuer_code, year, serial, document)
                    VALUES (?, 'PST-1', ?, 'competency', 'LSP-1', 2025, ?, ?)
                    """, [.text(record.id), .text(record.scheme), .integer(Int64(serial + 1)), .blob(Data("{}".utf8))])
            }
            try transaction.execute("INSERT INTO cert_revocations (certificate_id, reason) VALUES ('OLD-1', 'DATA_ERROR')", [])
        }
        let again = try ChildProcess(
            binary,
            [
                "revoke-certificate", "--certificate-id", "OLD-1", "--reason", "FRAUD", "--database", path, "--broker-url",
                "amqp://guest:guest@127.0.0.1:9/",
            ])
        #expect(try await again.waitForExit(timeout: .seconds(60)) != 0)
        #expect(again.output.contains("OLD-1 is already revoked (DATA_ERROR)"), "\(again.output)")
        #expect(again.output.contains("in force now: NEW-2 (revoke that one)"), "\(again.output)")
        #expect(!again.output.contains("OTHER-3") && !again.output.contains("LOWER-4"), "\(again.output)")
    }
}
