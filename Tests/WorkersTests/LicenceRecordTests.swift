import CertificateTrust
import ContractKit
import Contracts
import Foundation
import Jobs
import Stores
import TestSupport
import Testing
import Workers

/// The office records the licences LPJK and Kemnaker issued (`licence.recorded`): the
/// certificates role keeps them with the issuer's own numbers, for the programmes that lead to
/// them, and refuses anything else.
struct LicenceRecordTests {
    let verifier = try! CertificateVerifier(publicKeyHex: CertificateSigner.development.publicKeyHex)

    /// The Tata Graha driver (PST-1, PST-2) plus a forklift operator (PST-3, Bontang) and a
    /// bricklayer (PST-4, Balikpapan), each named and seated.
    static func driver(outputDirectory: Bool = false) async throws -> CertificateDriver {
        let driver = try await CertificateDriver.make(outputDirectory: outputDirectory)
        for (participant, name, classID, centre, programme) in [
            ("PST-3", "Rahmat Hidayat", "BTG-2025-OPERATOR_FORKLIFT-01", TrainingCentre.bontang, "OPERATOR_FORKLIFT"),
            ("PST-4", "Dewi Lestari", "BPN-2025-TUKANG_BATU_BETON-01", .balikpapan, "TUKANG_BATU_BETON"),
        ] {
            let named = ParticipantNamedV1(participantID: participant, registrationID: "REG-\(participant)", fullName: name)
            _ = try await driver.kit.deliver(EventEnvelope(source: "/kaltim/workers/intake", data: named))
            let scheduled = ClassScheduledV1(
                participantID: participant, classID: classID, centre: centre, programme: programme,
                startDate: "2025-07-07", endDate: "2025-08-08", seat: 1)
            _ = try await driver.kit.deliver(EventEnvelope(source: "/test", data: scheduled))
        }
        return driver
    }

    static func licence(
        _ participant: String = "PST-3", kind: LicenceRecordedV1.Kind = .safetyLicence,
        number: String = "KEP.5/123/AS.03.02/X/2025", registration: String? = "SIO-FL-2025-0003",
        qualification: String = "Operator Forklift Kelas II", issuedOn: String = "2025-09-15",
        validUntil: String = "2030-09-14", recordedBy: String = "Seksi Pengawasan K3"
    ) -> LicenceRecordedV1 {
        LicenceRecordedV1(
            participantID: participant, kind: kind, certificateNumber: number, registrationNumber: registration,
            qualification: qualification, issuedOn: issuedOn, validUntil: validUntil, recordedBy: recordedBy)
    }

    static func record(_ driver: CertificateDriver, _ licence: LicenceRecordedV1) async throws -> [OutgoingEvent] {
        try await driver.kit.deliver(
            EventEnvelope(id: UUID().uuidString, source: "/kaltim/office/lisensi", data: licence)
        ).events
    }

    @Test func aForkliftOperatorsK3LicenceAndABricklayersSKKAreRecordedWithTheIssuersNumbers() async throws {
        let driver = try await Self.driver()
        let k3 = try #require(try driver.issued(try await Self.record(driver, Self.licence())).first)
        #expect(k3.kind == .safetyLicence && k3.issuer == "Kemnaker")
        #expect(k3.certificateID == "KEMNAKER-2025-K3-00001")
        #expect(k3.certificateNumber == "KEP.5/123/AS.03.02/X/2025", "the issuer's number, never generated")
        #expect(k3.registrationNumber == "SIO-FL-2025-0003" && k3.qualification == "Operator Forklift Kelas II")
        #expect(k3.issuedOn == "2025-09-15" && k3.validUntil == "2030-09-14", "the issuer's dates")
        let document = try await driver.document(k3.certificateID)
        #expect(verifier.verify(document, today: "2025-10-01") == .valid)
        let payload = try JSONDecoder().decode(CertificateDocument.self, from: document).payload
        #expect(payload.holderName == "Rahmat Hidayat" && payload.qualification == "Operator Forklift Kelas II")

        let skk = try #require(
            try driver.issued(
                try await Self.record(
                    driver,
                    Self.licence(
                        "PST-4", kind: .constructionCompetency, number: "1.2.3.4.5-000123-2025", registration: nil,
                        qualification: "Tukang Pasang Bata Jenjang 2", validUntil: "2030-09-14"))
            ).first)
        #expect(skk.kind == .constructionCompetency && skk.issuer == "LPJK" && skk.certificateID == "LPJK-2025-SKK-00001")
        #expect(skk.registrationNumber == nil && skk.scheme == "SKM-2025-KON-BTN")
    }

    @Test func theSameRecordAgainChangesNothingAndAnotherNumberIsRefused() async throws {
        let driver = try await Self.driver()
        #expect(try driver.issued(try await Self.record(driver, Self.licence())).count == 1)
        #expect(try await Self.record(driver, Self.licence()).isEmpty, "the office sent it twice")
        do {
            _ = try await Self.record(driver, Self.licence(number: "KEP.5/999/AS.03.02/X/2025"))
            Issue.record("a second number for the same licence was taken")
        } catch let failure as Failure {
            #expect(failure.code == .licenceConflict && failure.kind == .permanent)
        }
        let rows = try await driver.kit.query("SELECT certificate_id FROM cert_certificates WHERE kind = 'LISENSI_K3'", [])
        #expect(rows.count == 1)
    }

    /// What an office system, a mistaken clerk or an attacker with the office's credentials might
    /// send: each refused permanently, with nothing recorded.
    @Test(arguments: [
        ("a K3 licence for housekeeping", Self.licence("PST-1")),
        ("an SKK for a forklift operator", Self.licence(kind: .constructionCompetency)),
        ("an empty number", Self.licence(number: "")),
        ("spaces as the number", Self.licence(number: "   ")),
        ("65 characters", Self.licence(number: String(repeating: "7", count: 65))),
        ("a newline", Self.licence(number: "KEP.5/123\nLULUS")),
        ("markup", Self.licence(number: "<script>alert(1)</script>")),
        ("Arabic-Indic digits", Self.licence(number: "١٢٣٤٥")),
        ("a formula", Self.licence(number: "=HYPERLINK(1)")),
        ("a bad registration number", Self.licence(registration: "SIO;DROP")),
        ("an empty qualification", Self.licence(qualification: " ")),
        ("a right-to-left override", Self.licence(qualification: "Operator \u{202E}II saleK")),
        ("201 characters", Self.licence(qualification: String(repeating: "a", count: 201))),
        ("a blank recorder", Self.licence(recordedBy: "")),
        ("30 February", Self.licence(issuedOn: "2025-02-30")),
        ("not a day", Self.licence(validUntil: "selamanya")),
        ("valid until before issued", Self.licence(issuedOn: "2025-09-15", validUntil: "2025-09-14")),
        ("before the class ended", Self.licence(issuedOn: "2025-08-01")),
        ("dated in the future", Self.licence(issuedOn: "2099-01-01", validUntil: "2104-01-01")),
    ])
    func aRecordThatCannotBeTrueIsRefusedAndNothingIsKept(_ case: String, licence: LicenceRecordedV1) async throws {
        let driver = try await Self.driver()
        do {
            let events = try await Self.record(driver, licence)
            Issue.record("\(`case`): accepted with \(events.count) events")
        } catch let failure as Failure {
            #expect(failure.code == .invalidLicence && failure.kind == .permanent, "\(`case`)")
        }
        #expect(try await driver.kit.query("SELECT 1 FROM cert_certificates", []).isEmpty, "\(`case`)")
    }

    @Test func nobodyWhoLeftTheTrainingGetsARecordAndAnUnknownParticipantWaits() async throws {
        let driver = try await Self.driver()
        _ = try await driver.kit.deliver(
            EventEnvelope(
                source: "/kaltim/workers/scheduling",
                data: EnrolmentWithdrawnV1(participantID: "PST-3", classID: "BTG-2025-OPERATOR_FORKLIFT-01", reason: .noShow)))
        do {
            _ = try await Self.record(driver, Self.licence())
            Issue.record("a participant who left got a licence record")
        } catch let failure as Failure {
            #expect(failure.code == .invalidLicence && failure.kind == .permanent)
        }
        do {
            _ = try await Self.record(driver, Self.licence("PST-9"))
            Issue.record("a licence for a participant with no class was recorded")
        } catch let failure as Failure {
            #expect(failure.code == .enrolmentUnknown && failure.kind == .transient, "the class may be on its way")
        }
    }

    @Test func theLicencesPageSaysItIsARecordOfTheIssuersLicence() async throws {
        let driver = try await Self.driver(outputDirectory: true)
        defer { try? FileManager.default.removeItem(atPath: driver.output) }
        let licence = try #require(try driver.issued(try await Self.record(driver, Self.licence())).first)
        let writer = CertificateFileWriter(
            store: driver.kit.store, directory: driver.output, verificationURL: "https://verifikasi.example/v/")
        #expect(await writer.runOnce() == 1)
        let base = URL(fileURLWithPath: driver.output).appendingPathComponent(licence.certificateID).path
        let extract = try ChildProcess("/usr/bin/pdftotext", [base + ".pdf", "-"], standardErrorToo: false)
        #expect(try await extract.waitForExit(timeout: .seconds(60)) == 0)
        let page = extract.output
        await extract.terminate()
        #expect(page.contains("CATATAN LISENSI K3 (SIO)") && page.contains("No. KEP.5/123/AS.03.02/X/2025"), "\(page)")
        #expect(page.contains("Nomor registrasi SIO-FL-2025-0003") && page.contains("Operator Forklift Kelas II"), "\(page)")
        #expect(page.contains("Rahmat Hidayat") && page.contains("bukan lisensi tersebut"), "\(page)")
        #expect(page.contains("Diterbitkan: 15 September 2025") && page.contains("14 September 2030"), "\(page)")
        #expect(!page.contains("UPTD"), "a licence is not the BLKI's")
    }
}
