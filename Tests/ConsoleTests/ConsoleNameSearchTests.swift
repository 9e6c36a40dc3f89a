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
import Workers

@testable import Console

/// Finding an accepted participant by name, tried by the staff and by an attacker: the names
/// come from the certificates role's store (what intake sends it with `participant.named`),
/// their registration, BLKI and programme from the console's read model; a BLKI administrator
/// finds only their own BLKI's participants; the text typed is taken literally (no LIKE
/// wildcards), never written to the audit log, and other roles are refused.
@Suite struct ConsoleNameSearchTests {
    /// A certificates role's store (its tables, through its handler's migrations).
    static func certificatesStore() async throws -> HandlerTestKit {
        let catalogue = try ProgrammeCatalogue.load(
            path: BrokerEnvironment.repositoryRoot.appendingPathComponent("config/programme-2025.json").path)
        return try await HandlerTestKit(
            handler: CertificateHandler(catalogue: catalogue, signer: .development), registry: .pipeline)
    }

    @Test func staffFindAParticipantByPartOfTheNameAndABLKIOnlyItsOwn() async throws {
        let certificates = try await ConsoleNameSearchTests.certificatesStore()
        let desk = try await ConsoleStaffDeskTests.Desk { configuration, _, _, _ in
            configuration.certificatesStore = certificates.store
        }
        // Siti is accepted at Bontang; intake's events reach the console and the certificates role.
        let decided = try await desk.intake.deliver(
            EventEnvelope(
                id: "sub-n1", source: "/kaltim/registration-portal",
                data: ConsoleStaffDeskTests.submission("REG-N1", birthDate: "1999-08-17")))
        #expect(decided.events.contains { $0.type == ParticipantNamedV1.eventType })
        for event in decided.events {
            if WorkerRole.console.consumes.contains(event.type) { _ = try await desk.console.deliver(body: event.body) }
            if WorkerRole.certificates.consumes.contains(event.type) { _ = try await certificates.deliver(body: event.body) }
        }
        // Another Siti, at Balikpapan (fixture rows, as the two roles would hold them).
        try await certificates.store.write { transaction in
            try transaction.execute(
                "INSERT INTO cert_holders (participant_id, full_name, as_of) VALUES ('PST-2025-LAIN', 'Siti Aminah', '2025-03-03')"
            )
            try transaction.execute(
                "INSERT INTO cert_holders (participant_id, full_name, as_of) VALUES ('PST-2025-ELISE', 'Élise Wulandari', '2025-03-03')"
            )
        }
        try await desk.console.store.write { transaction in
            try transaction.execute(
                """
                INSERT INTO console_registrations (registration_id, participant_id, centre, programme, registered_at, accepted_at)
                VALUES ('REG-N9', 'PST-2025-LAIN', 'BLKI_BALIKPAPAN', 'MEKANIK_SEPEDA_MOTOR', 1751000000, 1751000000)
                """)
            try transaction.execute(
                """
                INSERT INTO console_registrations (registration_id, participant_id, centre, programme, registered_at, accepted_at)
                VALUES ('REG-N8', 'PST-2025-ELISE', 'BLKI_BALIKPAPAN', 'MEKANIK_SEPEDA_MOTOR', 1751000000, 1751000000)
                """)
        }
        func search(_ text: String, as user: String) async throws -> (status: Int, body: String) {
            try await desk.post("/laporan/peserta", user: user, from: "/laporan", ["nama": [text]])
        }
        let officer = try await desk.page("/laporan", user: "rina")
        #expect(officer.body.contains("id=\"name-search\""))
        let both = try await search("siti", as: "rina")
        #expect(both.status == 200 && both.body.contains("Siti Rahmawati") && both.body.contains("Siti Aminah"))
        #expect(both.body.contains("/laporan/pendaftaran?nomor=REG-N1") && both.body.contains("REG-N9"))
        let one = try await search("  RAHMA ", as: "adi")
        #expect(one.status == 200 && one.body.contains("Siti Rahmawati") && !one.body.contains("Aminah"))
        // A BLKI administrator at Bontang finds Bontang's Siti only; Balikpapan's none.
        let bontang = try await search("siti", as: "budi")
        #expect(bontang.status == 200 && bontang.body.contains("Rahmawati") && !bontang.body.contains("Aminah"))
        #expect(try await search("aminah", as: "budi").status == 404)
        #expect(try await search("aminah", as: "bella").body.contains("Siti Aminah"))
        // Roles that look up no one, and text that is too short, too long, or a wildcard.
        for user in ["vivi", "opi", "lina", "otto"] {
            #expect(try await search("siti", as: user).status == 403, "\(user)")
        }
        // A forged token.
        let (_, _, cookie, _) = try await desk.page("/laporan", user: "rina")
        let forged = try await desk.request(
            "POST", "/laporan/peserta", user: "rina", form: ["nama": ["siti"], "csrf": [String(repeating: "0", count: 64)]],
            cookie: cookie)
        #expect(forged.status == 403 && !forged.body.contains("Rahmawati"))
        let heavy = "s" + String(repeating: "\u{0301}", count: 300) + "it"  // 3 characters, 603 bytes
        for text in ["si", String(repeating: "a", count: 101), "sit\u{0007}i", "sit\u{202E}i", heavy] {
            #expect(try await search(text, as: "rina").status == 422, "\(text.debugDescription)")
        }
        // Other letters than ASCII as written: composed or not; ASCII ones in any case.
        #expect(try await search("Élise", as: "rina").body.contains("Élise Wulandari"))
        #expect(try await search("E\u{0301}LISE", as: "rina").body.contains("Élise Wulandari"), "decomposed, upper case")
        #expect(try await search("élise", as: "rina").status == 404, "É is not folded (as SQLite and the C collation)")
        for wildcard in ["%%%", "___", "\\%\\"] {
            #expect(try await search(wildcard, as: "rina").status == 404, "\(wildcard) matched as a wildcard")
        }
        // Audited: who searched and the participants found, never the text typed.
        let searches = try desk.auditLog.entries().filter { $0.action == "participant-name-search" }
        #expect(searches.count == 11, "every search that ran, found or not")
        let siti = try #require(
            try await desk.console.query("SELECT participant_id FROM console_registrations WHERE registration_id = 'REG-N1'")
                .first?["participant_id"]?.text)
        #expect(searches.first?.details["participants"] == [siti, "PST-2025-LAIN"].sorted().joined(separator: ","))
        let raw = try String(contentsOfFile: desk.auditLog.path, encoding: .utf8).lowercased()
        #expect(!raw.contains("siti") && !raw.contains("rahma") && !raw.contains("aminah"))
        try await desk.stop()
    }

    /// A user makes at most the hour's allowance of searches; another user is not held back.
    @Test func nameSearchesAreLimitedPerUserAndHour() async throws {
        let certificates = try await ConsoleNameSearchTests.certificatesStore()
        let desk = try await ConsoleStaffDeskTests.Desk { configuration, _, _, _ in
            configuration.certificatesStore = certificates.store
            configuration.nameSearchesPerHour = 3
        }
        for _ in 0..<3 {
            #expect(try await desk.post("/laporan/peserta", user: "rina", from: "/laporan", ["nama": ["siti"]]).status == 404)
        }
        let refused = try await desk.post("/laporan/peserta", user: "rina", from: "/laporan", ["nama": ["siti"]])
        #expect(refused.status == 429 && refused.body.contains("3 per jam"))
        #expect(try await desk.post("/laporan/peserta", user: "adi", from: "/laporan", ["nama": ["siti"]]).status == 404)
        #expect(
            try desk.auditLog.entries().filter { $0.action == "participant-name-search" }.count == 4,
            "a refused search is not run")
        try await desk.stop()
    }

    @Test func withoutTheCertificatesStoreThereIsNoNameSearch() async throws {
        let desk = try await ConsoleStaffDeskTests.Desk()
        #expect(try await !desk.page("/laporan", user: "rina").body.contains("id=\"name-search\""))
        let refused = try await desk.post("/laporan/peserta", user: "rina", from: "/laporan", ["nama": ["siti"]])
        #expect(refused.status == 503 && refused.body.contains("--certificates-store"))
        try await desk.stop()
    }
}
