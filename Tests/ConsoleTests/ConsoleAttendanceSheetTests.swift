import Admin
import ContractKit
import Contracts
import Foundation
import Jobs
import Stores
import TestSupport
import Testing
import Topology

@testable import Console

/// The printable daftar hadir of a class, as a BLKI administrator prints it and as someone
/// probing another BLKI's classes tries it: a sheet per training week with a column per
/// training day, only the participants who hold their seat, names only from the certificates
/// role's store and then audited, and nothing of another BLKI.
@Suite struct ConsoleAttendanceSheetTests {
    @Test func trainingDaysAreMondayToFridayByCalendarWeekAndNothingForDatesThatAreNotDays() {
        // Wednesday 9 July to Tuesday 15 July 2025.
        let weeks = ConsoleServer.trainingWeeks(from: "2025-07-09", to: "2025-07-15")
        #expect(weeks.map { $0.map { $0.day ?? 0 } } == [[9, 10, 11], [14, 15]])
        #expect(
            weeks.flatMap { $0 }.map { ConsoleServer.weekdayNames[($0.weekday ?? 1) - 1] } == [
                "Rabu", "Kamis", "Jumat", "Senin", "Selasa",
            ])
        // Six weeks from a Monday to a Friday: 30 training days.
        let class6 = ConsoleServer.trainingWeeks(from: "2025-07-07", to: "2025-08-15")
        #expect(class6.count == 6 && class6.allSatisfy { $0.count == 5 })
        // A weekend alone has no training day; across a year's end the weeks go on.
        #expect(ConsoleServer.trainingWeeks(from: "2025-07-12", to: "2025-07-13").isEmpty)
        #expect(ConsoleServer.trainingWeeks(from: "2025-12-29", to: "2026-01-02").map(\.count) == [5])
        for (start, end) in [
            ("2025-02-30", "2025-03-07"), ("2025-08-15", "2025-07-07"), ("2025-07-07", "2027-07-07"), ("", ""),
            ("2025-07-07'--", "2025-07-08"), ("99999-01-01", "99999-02-01"),
        ] {
            #expect(ConsoleServer.trainingWeeks(from: start, to: end).isEmpty, "\(start) … \(end)")
        }
    }

    @Test func aBLKIPrintsItsClassWithTheNamesOfThoseWhoHoldTheirSeatAndTheAuditSaysSo() async throws {
        let certificates = try await ConsoleNameSearchTests.certificatesStore()
        let desk = try await ConsoleStaffDeskTests.Desk { configuration, _, _, _ in
            configuration.certificatesStore = certificates.store
        }
        let bontang = "BTG-2025-TATA_GRAHA-01"
        let balikpapan = "BPN-2025-TATA_GRAHA-01"
        for participant in ["PST-2025-000001", "PST-2025-000002", "PST-2025-000003", "PST-2025-000004"] {
            try await desk.seat(participant, bontang, .bontang)
        }
        try await desk.seat("PST-2025-000009", balikpapan, .balikpapan)
        // 2 did not come to daftar ulang, 3 left: neither signs in.
        _ = try await desk.console.deliver(
            EventEnvelope(
                id: "absent-2", source: "/kaltim/blki", subject: "PST-2025-000002",
                data: EnrolmentReRegisteredV1(
                    participantID: "PST-2025-000002", classID: bontang, attended: false, recordedBy: "budi")))
        _ = try await desk.console.deliver(
            EventEnvelope(
                id: "left-3", source: "/kaltim/scheduling", subject: "PST-2025-000003",
                data: EnrolmentWithdrawnV1(participantID: "PST-2025-000003", classID: bontang, reason: .participantResigned)))
        // The names as the certificates role holds them; one with markup in it.
        try await certificates.store.write { transaction in
            for (participant, name) in [
                ("PST-2025-000001", "Siti Aminah"), ("PST-2025-000002", "Rina Wati"), ("PST-2025-000003", "Budi Santoso"),
                ("PST-2025-000004", "<b>Dewi</b> Lestari"), ("PST-2025-000009", "Andi Balikpapan"),
            ] {
                try transaction.execute(
                    "INSERT INTO cert_holders (participant_id, full_name, as_of) VALUES (?, ?, '2025-06-01')",
                    [.text(participant), .text(name)])
            }
        }

        let roster = try await desk.page("/blki/class?id=\(bontang)", user: "budi")
        #expect(roster.body.contains("/blki/class/daftar-hadir?id=\(bontang)"), "the class page links the sheet")
        let sheet = try await desk.page("/blki/class/daftar-hadir?id=\(bontang)", user: "budi")
        #expect(sheet.status == 200)
        let body = sheet.body
        #expect(body.matches(of: /<section class="sheet"/).count == 6, "a sheet per training week")
        #expect(body.contains("Minggu ke-1 (7 Juli 2025 – 11 Juli 2025)") && body.contains("Minggu ke-6 (11 Agustus 2025"))
        #expect(body.contains("Senin<br>7/7") && body.contains("Jumat<br>15/8"))
        #expect(!body.contains("Sabtu") && !body.contains("Minggu<br>"), "no weekend column")
        // Those who hold their seat, each on every sheet; the others on none.
        #expect(body.matches(of: /data-participant="PST-2025-000001"/).count == 6)
        #expect(body.matches(of: /data-participant="PST-2025-000004"/).count == 6)
        #expect(!body.contains("PST-2025-000002") && !body.contains("Rina Wati"), "absent at daftar ulang")
        #expect(!body.contains("PST-2025-000003") && !body.contains("Budi Santoso"), "withdrawn")
        #expect(!body.contains("PST-2025-000009") && !body.contains("Andi Balikpapan"), "another BLKI's")
        #expect(body.contains("Siti Aminah") && body.contains("&lt;b&gt;Dewi&lt;/b&gt; Lestari") && !body.contains("<b>Dewi"))
        #expect(body.matches(of: /<td class="sign"><\/td>/).count == 2 * 30, "a box per participant and training day")
        // Printing names is audited, with the class and how many, never the names.
        let audit = try String(contentsOfFile: desk.auditLog.path, encoding: .utf8)
        #expect(audit.contains("attendance-sheet") && audit.contains(bontang) && !audit.contains("Siti"))

        // Another BLKI's class, a class that does not exist and a hostile id: 404, nothing audited.
        for id in [balikpapan, "BTG-2025-TATA_GRAHA-99", "BTG-2025-TATA_GRAHA-01'--", "%3Cscript%3E"] {
            #expect(try await desk.page("/blki/class/daftar-hadir?id=\(id)", user: "budi").status == 404, "\(id)")
        }
        #expect(try await desk.page("/blki/class/daftar-hadir?id=\(bontang)", user: "bella").status == 404)
        for user in ["vivi", "rina", "lina", "opi"] {
            #expect(try await desk.page("/blki/class/daftar-hadir?id=\(bontang)", user: user).status == 403, "\(user)")
        }
        let audited = try String(contentsOfFile: desk.auditLog.path, encoding: .utf8)
        #expect(audited.matches(of: /attendance-sheet/).count == 1)
        try await desk.stop()
    }

    @Test func withoutTheCertificatesStoreTheNamesAreLeftToBeWrittenByHandAndNothingIsAudited() async throws {
        let desk = try await ConsoleStaffDeskTests.Desk()
        let bontang = "BTG-2025-TATA_GRAHA-01"
        try await desk.seat("PST-2025-000001", bontang, .bontang, end: "2025-07-11")
        let sheet = try await desk.page("/blki/class/daftar-hadir?id=\(bontang)", user: "budi")
        #expect(sheet.status == 200 && sheet.body.contains("Kolom nama diisi tangan"))
        #expect(sheet.body.contains("<td class=\"name\"></td>"))
        let audit = (try? String(contentsOfFile: desk.auditLog.path, encoding: .utf8)) ?? ""
        #expect(!audit.contains("attendance-sheet"))
        try await desk.stop()
    }
}
