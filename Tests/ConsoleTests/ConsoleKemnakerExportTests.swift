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

/// The export for Kemnaker's systems: one row per seat with the documented columns in order,
/// the BLKI's records, the latest assessment and the LSP's certificate number, the holder's
/// name from the certificates role's store; a BLKI administrator gets their own BLKI's rows;
/// roles that look up no one are refused; a cell a spreadsheet would run as a formula is
/// quoted; each download is audited; no NIK.
@Suite struct ConsoleKemnakerExportTests {
    @Test func officersGetEverySeatABLKIItsOwnAndNothingRunsAsAFormula() async throws {
        let certificates = try await ConsoleNameSearchTests.certificatesStore()
        let desk = try await ConsoleStaffDeskTests.Desk { configuration, _, _, _ in
            configuration.certificatesStore = certificates.store
        }
        let decided = try await desk.intake.deliver(
            EventEnvelope(
                id: "sub-k1", source: "/kaltim/registration-portal",
                data: ConsoleStaffDeskTests.submission("REG-K1", birthDate: "1999-08-17")))
        for event in decided.events {
            if WorkerRole.console.consumes.contains(event.type) { _ = try await desk.console.deliver(body: event.body) }
            if WorkerRole.certificates.consumes.contains(event.type) { _ = try await certificates.deliver(body: event.body) }
        }
        let siti = try #require(
            try await desk.console.query("SELECT participant_id FROM console_registrations WHERE registration_id = 'REG-K1'")
                .first?["participant_id"]?.text)
        // Siti's seat at Bontang, her daftar ulang, training and a KOMPETEN grade; a second seat
        // at Balikpapan whose holder's "name" is a formula.
        let events: [Data] = [
            try ContractJSON.encode(
                EventEnvelope(
                    source: "/kaltim/workers/scheduling",
                    data: ClassScheduledV2(
                        participantID: siti, classID: "BTG-2025-TATA_GRAHA-01", centre: .bontang, programme: "TATA_GRAHA",
                        cohort: 1, startDate: "2025-07-07", endDate: "2025-08-08", seat: 1, reRegistration: nil,
                        replacing: false))),
            try ContractJSON.encode(
                EventEnvelope(
                    source: "/kaltim/blki/daftar-ulang",
                    data: EnrolmentReRegisteredV1(
                        participantID: siti, classID: "BTG-2025-TATA_GRAHA-01", attended: true, recordedBy: "budi"))),
            try ContractJSON.encode(
                EventEnvelope(
                    source: "/kaltim/blki/pelatihan",
                    data: TrainingCompletedV1(
                        participantID: siti, classID: "BTG-2025-TATA_GRAHA-01", attendancePercent: 92.5, result: .passed,
                        recordedBy: "budi"))),
            try ContractJSON.encode(
                EventEnvelope(
                    source: "/kaltim/workers/grading",
                    data: AssessmentGradedV3(
                        assessmentID: "ASM-K1", participantID: siti, scheme: "SKM-2025-HTL-TGR", outcome: .competent,
                        notYetCompetentUnits: [], lspLicence: "BNSP-LSP-0123-ID", assessedOn: "2025-08-12",
                        attendancePercent: 92.5, trainingOutcome: .passed, supersedes: nil,
                        lspCertificateNumber: "No. 55101 5151 2 0001234 2025", lspRegistrationNumber: nil, retakeOf: nil,
                        attempt: 1, retakeAvailable: false))),
            try ContractJSON.encode(
                EventEnvelope(
                    source: "/kaltim/workers/scheduling",
                    data: ClassScheduledV2(
                        participantID: "PST-2025-RUMUS", classID: "BPN-2025-MSM-01", centre: .balikpapan,
                        programme: "MEKANIK_SEPEDA_MOTOR", cohort: 1, startDate: "2025-07-07", endDate: "2025-08-08", seat: 1,
                        reRegistration: nil, replacing: false))),
        ]
        for body in events { _ = try await desk.console.deliver(body: body) }
        try await certificates.store.write { transaction in
            try transaction.execute(
                "INSERT INTO cert_holders (participant_id, full_name, as_of) VALUES ('PST-2025-RUMUS', '=HYPERLINK(\"x\")', 'x')")
        }

        func rows(_ body: String) -> [[String]] {
            body.replacingOccurrences(of: "\u{FEFF}", with: "").split(separator: "\r\n").map { line in
                // Good enough for these rows: the one quoted cell holds no comma outside its quotes.
                var cells: [String] = []
                var cell = ""
                var quoted = false
                for character in line {
                    if character == "\"" {
                        quoted.toggle()
                        cell.append(character)
                    } else if character == "," && !quoted {
                        cells.append(cell)
                        cell = ""
                    } else {
                        cell.append(character)
                    }
                }
                cells.append(cell)
                return cells
            }
        }
        let all = try await desk.request("GET", "/laporan/kemnaker.csv", user: "rina")
        #expect(all.status == 200)
        let table = rows(all.body)
        #expect(table.first == ConsoleServer.kemnakerColumns)
        #expect(table.count == 3, "\(table)")
        let sitiRow = try #require(table.first { $0.first == siti })
        let column = { (name: String) in ConsoleServer.kemnakerColumns.firstIndex(of: name)! }
        #expect(sitiRow[column("nomor_pendaftaran")] == "REG-K1" && sitiRow[column("nama")] == "Siti Rahmawati")
        #expect(sitiRow[column("blki")] == "BLKI_BONTANG" && sitiRow[column("kelas")] == "BTG-2025-TATA_GRAHA-01")
        #expect(sitiRow[column("daftar_ulang")] == "HADIR" && sitiRow[column("kehadiran_persen")] == "92.5")
        #expect(sitiRow[column("hasil_pelatihan")] == "LULUS" && sitiRow[column("hasil_uji")] == "KOMPETEN")
        #expect(sitiRow[column("nomor_sertifikat_bnsp")] == "No. 55101 5151 2 0001234 2025")
        let formula = try #require(table.first { $0.first == "PST-2025-RUMUS" })
        #expect(formula[column("nama")].hasPrefix("\"'=") || formula[column("nama")].hasPrefix("'="), "\(formula)")
        // A BLKI administrator: her own BLKI's seats only.
        let bontang = rows(try await desk.request("GET", "/laporan/kemnaker.csv", user: "budi").body)
        #expect(bontang.dropFirst().map(\.first) == [siti])
        for user in ["vivi", "opi", "lina"] {
            #expect(try await desk.request("GET", "/laporan/kemnaker.csv", user: user).status == 403, "\(user)")
        }
        let exports = try desk.auditLog.entries().filter { $0.action == "kemnaker-export" }
        #expect(exports.map(\.count) == [2, 1] && exports.last?.target == "BLKI_BONTANG")
        try await desk.stop()
    }

    /// A cell a spreadsheet would run as a formula is quoted however it is disguised: a
    /// combining mark on the `=`, spaces before it, or a `;` (the Indonesian list separator)
    /// that would start a new cell.
    @Test func aFormulaIsQuotedHoweverItIsDisguised() {
        #expect(ConsoleServer.csvField("=1+1") == "'=1+1")
        #expect(ConsoleServer.csvField("=\u{0301}HYPERLINK(1)").unicodeScalars.first == "'")
        #expect(ConsoleServer.csvField("  =cmd").hasPrefix("'"))
        #expect(ConsoleServer.csvField("\t=cmd").hasPrefix("'"))
        #expect(ConsoleServer.csvField("X;=cmd|' /C calc'!A0") == "\"X;=cmd|' /C calc'!A0\"")
        #expect(ConsoleServer.csvField("Siti Rahmawati") == "Siti Rahmawati")
        #expect(ConsoleServer.csvField("Dewi \"Ayu\", S.Pd") == "\"Dewi \"\"Ayu\"\", S.Pd\"")
    }
}
