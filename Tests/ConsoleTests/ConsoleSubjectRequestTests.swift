import Admin
import ContractKit
import Contracts
import Foundation
import Jobs
import Programme
import Stores
import SubjectRights
import TestSupport
import Testing
import Workers

@testable import Console

/// A data subject's export and erasure from the console, tried as an admin and as an attacker:
/// the console is given intake's, the notification role's and its own store, holding two
/// people; the export holds one person's rows and nobody
/// else's; the erasure shows what it would change, changes nothing until confirmed with the
/// id typed again, then removes that person's contact and masked NIK and leaves the
/// other person's (the local notification log is left to `kaltim-admin`). Every step is audited; a forged token, another role, a bad id or an unknown
/// person changes nothing.
@Suite struct ConsoleSubjectRequestTests {
    static func submission(_ id: String, nik: String, name: String, phone: String, email: String) -> RegistrationSubmittedV2 {
        RegistrationSubmittedV2(
            registrationID: id, nik: nik, familyCardNumber: nil, fullName: name, birthPlace: "Bontang",
            birthDate: "1999-08-17", sex: .female, phone: phone, whatsApp: nil, email: email,
            domicile: Domicile(regionCode: "6474011001", address: "Jl. Contoh 1"), education: .smk,
            employmentStatus: .unemployed, jobSeekerCardNumber: nil, preferredCentre: .bontang, programme: "TATA_GRAHA",
            secondChoiceProgramme: nil, apprenticeshipInterest: true, declaredTrainings: [],
            consent: Consent(given: true, givenAt: "2025-03-03T01:14:10Z", textVersion: "pdp-2025-01"))
    }

    @Test func anAdminExportsAndErasesOnePersonAndNobodyElseIsTouched() async throws {
        let root = BrokerEnvironment.repositoryRoot
        let catalogue = try ProgrammeCatalogue.load(path: root.appendingPathComponent("config/programme-2025.json").path)
        let notifications = try await HandlerTestKit(
            handler: NotificationHandler(
                templates: try NotificationTemplates(directory: root.appendingPathComponent("config/notifications").path),
                catalogue: catalogue, verificationBaseURL: "https://v.example/c"),
            registry: .pipeline)
        let siti = Self.submission(
            "REG-1", nik: "6474015708999901", name: "Siti Rahmawati", phone: "0812-5000-1001", email: "siti@example.org")
        let dewi = Self.submission(
            "REG-2", nik: "6474014203980002", name: "Dewi Lestari", phone: "0812-5000-2002", email: "dewi@example.org")
        for submission in [siti, dewi] {
            _ = try await notifications.deliver(
                EventEnvelope(id: "sub-\(submission.registrationID)", source: "/kaltim/registration-portal", data: submission))
        }
        let desk = try await ConsoleStaffDeskTests.Desk { configuration, _, console, intake in
            configuration.subjectStores = try SubjectStores([
                "intake=\(intake.path)", "notifications=\(notifications.path)", "console=\(console.path)",
            ])
        }
        // Intake accepts Siti (the registry knows her NIK).
        let accepted = try await desk.intake.deliver(
            EventEnvelope(id: "sub-REG-1", source: "/kaltim/registration-portal", data: siti))
        #expect(accepted.events.first?.type == RegistrationAcceptedV1.eventType)

        let page = try await desk.page("/subjects", user: "adi")
        #expect(page.status == 200 && page.body.contains("id=\"export\"") && page.body.contains("id=\"erase\""))
        for user in ["vivi", "rina", "budi", "lina"] {
            #expect(
                try await desk.post("/subjects/export", user: user, from: "/", ["kind": ["registration"], "id": ["REG-1"]])
                    .status == 403, "\(user)")
        }
        let (_, _, cookie, _) = try await desk.page("/subjects", user: "adi")
        let forged = try await desk.request(
            "POST", "/subjects/erase", user: "adi",
            form: [
                "csrf": [String(repeating: "0", count: 64)], "kind": ["registration"], "id": ["REG-1"],
                "reference": ["PDP-1"], "confirm": ["1"], "confirm-id": ["REG-1"],
            ], cookie: cookie)
        #expect(forged.status == 403)
        for (path, fields, status, why) in [
            ("/subjects/export", ["kind": ["registration"], "id": ["REG 1;"]], 422, "nomor pendaftaran hanya"),
            ("/subjects/export", ["kind": ["participant"], "id": ["PST_1'"]], 422, "ID peserta hanya"),
            ("/subjects/export", ["kind": ["nik"], "id": ["6474015708999901"]], 422, "pilih jenis nomor"),
            ("/subjects/export", ["kind": ["registration"], "id": ["REG-404"]], 404, "tidak ada data tentang nomor itu"),
            (
                "/subjects/erase", ["kind": ["registration"], "id": ["6474015708999901"], "reference": ["PDP-1"]], 404,
                "nomor itu"
            ),
            ("/subjects/erase", ["kind": ["registration"], "id": ["REG-1"], "reference": ["\u{0007}"]], 422, "nomor permohonan"),
            (
                "/subjects/erase",
                ["kind": ["registration"], "id": ["REG-1"], "reference": ["PDP-1"], "confirm": ["1"], "confirm-id": ["REG-2"]],
                422, "ketikan ulang nomornya berbeda"
            ),
        ] {
            let refused = try await desk.post(path, user: "adi", from: "/subjects", fields)
            #expect(refused.status == status && refused.body.contains(why), "\(why): \(refused.status)")
            #expect(!refused.body.contains("6474015708999901"), "a NIK typed is not echoed")
        }
        #expect(try desk.auditLog.entries().isEmpty, "nothing refused is audited as done")

        // The export: a download with Siti's rows only, audited.
        let exported = try await desk.post(
            "/subjects/export", user: "adi", from: "/subjects", ["kind": ["registration"], "id": ["REG-1"]])
        #expect(exported.status == 200)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(exported.body.utf8)) as? [String: Any])
        let identifiers = try #require(document["identifiers"] as? [String: Any])
        #expect(identifiers["registrationIDs"] as? [String] == ["REG-1"])
        #expect(exported.body.contains("+6281250001001") && exported.body.contains("siti@example.org"))
        for other in ["Dewi", "+6281250002002", "dewi@example.org", "REG-2", "6474015708999901"] {
            #expect(!exported.body.contains(other), "\(other) in Siti's export")
        }
        let stores = try #require(document["stores"] as? [[String: Any]])
        #expect(Set(stores.compactMap { $0["role"] as? String }) == ["intake", "notifications", "console"])
        var entries = try desk.auditLog.entries()
        #expect(entries.map(\.action) == ["subject-export"] && entries.first?.target == "REG-1")
        #expect(entries.first?.who == "adi (console)" && (entries.first?.count ?? 0) > 0)

        func contacts() async throws -> [String] {
            try await notifications.query("SELECT registration_id FROM notif_contacts ORDER BY registration_id").compactMap {
                $0["registration_id"]?.text
            }
        }
        #expect(try await contacts() == ["REG-1", "REG-2"])

        // The preview changes nothing and is not an erasure.
        let preview = try await desk.post(
            "/subjects/erase", user: "adi", from: "/subjects",
            ["kind": ["registration"], "id": ["REG-1"], "reference": ["PDP-2026-001"]])
        #expect(preview.status == 200 && preview.body.contains("Uji coba") && preview.body.contains("notif_contacts"))
        #expect(preview.body.contains("id=\"erase-confirm\"") && !preview.body.contains("Dewi"))
        // The stores the console was not given are named: nothing is erased there.
        #expect(
            preview.body.contains("tidak diberikan kepada konsol") && preview.body.contains("scheduling, grading, certificates"))
        #expect(try await contacts() == ["REG-1", "REG-2"])
        #expect(try desk.auditLog.entries().count == 1)

        // Confirmed: Siti's contact and masked NIK go; Dewi's stay.
        let erased = try await desk.post(
            "/subjects/erase", user: "adi", from: "/subjects",
            [
                "kind": ["registration"], "id": ["REG-1"], "reference": ["PDP-2026-001"], "confirm": ["1"],
                "confirm-id": ["REG-1"],
            ])
        #expect(erased.status == 200 && erased.body.contains("Data REG-1 dihapus"), "\(erased.body.suffix(600))")
        #expect(erased.body.contains("Log notifikasi lokal"), "the page says the console leaves the log to the command")
        #expect(try await contacts() == ["REG-2"])
        let intakeRow = try #require(
            try await desk.intake.query("SELECT masked_nik, nik_index FROM intake_registrations WHERE registration_id = 'REG-1'")
                .first)
        #expect(intakeRow["masked_nik"]?.text == "****" && intakeRow["nik_index"] == .null)
        entries = try desk.auditLog.entries()
        #expect(entries.map(\.action) == ["subject-export", "subject-erase", "subject-erased"])
        #expect(entries.last?.details["reason"] == "PDP-2026-001" && (entries.last?.count ?? 0) > 0)
        // Siti's contact is gone; Dewi's data is whole.
        let again = try await desk.post(
            "/subjects/export", user: "adi", from: "/subjects", ["kind": ["registration"], "id": ["REG-2"]])
        #expect(again.status == 200 && again.body.contains("Dewi Lestari"), "the other person's data is whole")
        try await desk.stop()
    }

    /// Without the stores the page names the commands, and a request posted anyway is refused.
    @Test func withoutTheStoresThePageNamesTheCommands() async throws {
        let desk = try await ConsoleStaffDeskTests.Desk()
        let page = try await desk.page("/subjects", user: "adi")
        #expect(page.body.contains("kaltim-admin subject export") && !page.body.contains("id=\"export\""))
        let refused = try await desk.post(
            "/subjects/export", user: "adi", from: "/subjects", ["kind": ["registration"], "id": ["REG-1"]])
        #expect(refused.status == 503 && refused.body.contains("--subject-store"))
        try await desk.stop()
    }
}
