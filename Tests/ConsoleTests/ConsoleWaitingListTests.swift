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

/// A BLKI's waiting list for one programme, as an officer and a BLKI administrator read it and
/// as someone probing other BLKIs tries it: scheduling's order (tier, then submission), only
/// those who still wait, the tier only for those who decide on applicants, every view audited.
@Suite struct ConsoleWaitingListTests {
    @Test func theListIsInSchedulingsOrderWithOnlyThoseStillWaitingAndEachRoleSeesItsOwn() async throws {
        let desk = try await ConsoleStaffDeskTests.Desk()
        // Registrations as the read model holds them after intake's events: (registration,
        // participant, centre, programme, submitted at, tier).
        let applicants: [(String, String, String, String, Double, Int)] = [
            ("REG-A", "PST-A", "BLKI_BONTANG", "TATA_GRAHA", 1_751_000_300, 2),
            ("REG-B", "PST-B", "BLKI_BONTANG", "TATA_GRAHA", 1_751_000_100, 2),
            ("REG-C", "PST-C", "BLKI_BONTANG", "TATA_GRAHA", 1_751_000_900, 1),  // never trained: ahead
            ("REG-D", "PST-D", "BLKI_BONTANG", "TATA_GRAHA", 1_751_000_000, 3),  // seated later
            ("REG-E", "PST-E", "BLKI_BONTANG", "TATA_GRAHA", 1_751_000_050, 1),  // withdrew
            ("REG-F", "PST-F", "BLKI_BALIKPAPAN", "TATA_GRAHA", 1_751_000_000, 1),  // another BLKI
        ]
        try await desk.console.store.write { transaction in
            for (registration, participant, centre, programme, submitted, tier) in applicants {
                try transaction.execute(
                    """
                    INSERT INTO console_registrations (registration_id, participant_id, centre, programme, registered_at,
                        accepted_at) VALUES (?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .text(registration), .text(participant), .text(centre), .text(programme), .real(submitted),
                        .real(submitted + 60),
                    ])
                try transaction.execute(
                    "INSERT INTO console_priorities (registration_id, tier) VALUES (?, ?)",
                    [.text(registration), .integer(Int64(tier))])
            }
        }
        for (_, participant, centre, programme, _, _) in applicants {
            _ = try await desk.console.deliver(
                EventEnvelope(
                    id: "wait-\(participant)", source: "/kaltim/scheduling", subject: participant,
                    data: EnrolmentWaitlistedV1(
                        participantID: participant, centre: TrainingCentre(rawValue: centre)!, programme: programme,
                        position: 1)))
        }
        _ = try await desk.console.deliver(
            EventEnvelope(
                id: "seat-D", source: "/kaltim/scheduling", subject: "PST-D",
                data: ClassScheduledV2(
                    participantID: "PST-D", classID: "BTG-2025-TATA_GRAHA-02", centre: .bontang, programme: "TATA_GRAHA",
                    cohort: 2, startDate: "2025-09-01", endDate: "2025-10-10", seat: 7,
                    reRegistration: DateWindow(from: "2025-08-25", until: "2025-08-27"), replacing: true)))
        _ = try await desk.console.deliver(
            EventEnvelope(
                id: "left-E", source: "/kaltim/scheduling", subject: "PST-E",
                data: EnrolmentWithdrawnV1(participantID: "PST-E", classID: nil, reason: .participantResigned)))

        let path = "/laporan/daftar-tunggu?blki=BLKI_BONTANG&program=TATA_GRAHA"
        // The officer: the order, with the tier.
        let officer = try await desk.page(path, user: "rina")
        #expect(officer.status == 200)
        let order = officer.body.matches(of: /data-participant="(PST-[A-Z])"/).map { String($0.1) }
        #expect(order == ["PST-C", "PST-B", "PST-A"], "tier first, then the earlier submission")
        #expect(officer.body.contains("<th>Tingkat prioritas</th>"))
        // The report's count links to it.
        let report = try await desk.page("/laporan", user: "rina")
        #expect(report.body.contains("/laporan/daftar-tunggu?blki=BLKI_BONTANG&amp;program=TATA_GRAHA"))
        // Bontang's administrator: the same list without the tier; Balikpapan's is not hers.
        let blki = try await desk.page(path, user: "budi")
        #expect(blki.status == 200 && blki.body.matches(of: /data-participant="PST-/).count == 3)
        #expect(!blki.body.contains("Tingkat prioritas"))
        #expect(
            try await desk.page("/laporan/daftar-tunggu?blki=BLKI_BALIKPAPAN&program=TATA_GRAHA", user: "budi").status
                == 404)
        let csv = try await desk.request("GET", "/laporan/daftar-tunggu.csv?blki=BLKI_BONTANG&program=TATA_GRAHA", user: "budi")
        #expect(csv.status == 200 && csv.body.hasPrefix("\u{FEFF}urutan,nomor_peserta,nomor_pendaftaran,masuk_daftar_tunggu"))
        #expect(csv.body.contains("\r\n1,PST-C,REG-C,") && csv.body.contains("\r\n3,PST-A,REG-A,"), "\(csv.body)")
        // Hostile and unknown scopes, and roles that do not decide on applicants.
        for query in [
            "blki=BLKI_BONTANG", "program=TATA_GRAHA", "blki=BLKI_X&program=TATA_GRAHA", "blki=BLKI_BONTANG&program=NOPE",
            "blki=BLKI_BONTANG&program=TATA_GRAHA'--", "blki=%3Cscript%3E&program=TATA_GRAHA",
        ] {
            #expect(try await desk.page("/laporan/daftar-tunggu?\(query)", user: "rina").status == 404, "\(query)")
        }
        for user in ["vivi", "lina", "opi"] {
            #expect(try await desk.page(path, user: user).status == 403, "\(user)")
        }
        // Each view and download is audited with the list and how many, never who is on it.
        let audit = try String(contentsOfFile: desk.auditLog.path, encoding: .utf8)
        #expect(audit.matches(of: /"waiting-list"/).count == 2 && audit.contains("waiting-list-export"))
        #expect(audit.contains("BLKI_BONTANG/TATA_GRAHA") && !audit.contains("PST-C"))
        try await desk.stop()
    }
}
