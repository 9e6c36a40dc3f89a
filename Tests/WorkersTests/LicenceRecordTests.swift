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
/// certificates role keeps them with the issuer's own numbers, for participants who passed the
/// training of a programme that leads to them, under their own name, and refuses anything else.
struct LicenceRecordTests {
    let verifier = try! CertificateVerifier(publicKeyHex: CertificateSigner.development.publicKeyHex)

    /// The participants with a licence programme: seated, named, and (unless `trained` leaves
    /// them out) LULUS.
    static let operators: [(id: String, name: String, classID: String, centre: TrainingCentre, programme: String)] = [
        ("PST-3", "Rahmat Hidayat", "BTG-2025-OPERATOR_FORKLIFT-01", .bontang, "OPERATOR_FORKLIFT"),
        ("PST-4", "Dewi Lestari", "BPN-2025-TUKANG_BATU_BETON-01", .balikpapan, "TUKANG_BATU_BETON"),
        ("PST-5", "Fajar Nugroho", "BTG-2025-OPERATOR_FORKLIFT-01", .bontang, "OPERATOR_FORKLIFT"),
        ("PST-6", "Eko Santoso", "BTG-2025-OPERATOR_FORKLIFT-01", .bontang, "OPERATOR_FORKLIFT"),
    ]

    /// The Tata Graha driver (PST-1, PST-2) plus the operators above; PST-6 did not pass, and
    /// those in `untrained` have no training result yet.
    static func driver(
        outputDirectory: Bool = false, untrained: Set<String> = [],
        now: @escaping @Sendable () -> Date = { ISO8601DateFormatter().date(from: "2025-10-01T02:00:00Z")! }
    ) async throws -> CertificateDriver {
        let driver = try await CertificateDriver.make(outputDirectory: outputDirectory, now: now)
        for person in operators {
            let named = ParticipantNamedV1(participantID: person.id, registrationID: "REG-\(person.id)", fullName: person.name)
            _ = try await driver.kit.deliver(
                EventEnvelope(source: "/kaltim/workers/intake", time: now().addingTimeInterval(-3600), data: named))
            let scheduled = ClassScheduledV1(
                participantID: person.id, classID: person.classID, centre: person.centre, programme: person.programme,
                startDate: "2025-07-07", endDate: "2025-08-08", seat: 1)
            _ = try await driver.kit.deliver(EventEnvelope(source: "/test", data: scheduled))
            guard !untrained.contains(person.id) else { continue }
            let passed = person.id != "PST-6"
            let completed = TrainingCompletedV1(
                participantID: person.id, classID: person.classID, attendancePercent: passed ? 95 : 60,
                result: passed ? .passed : .failed, recordedBy: "Instruktur")
            _ = try await driver.kit.deliver(EventEnvelope(source: "/kaltim/blki/pelatihan", data: completed))
        }
        return driver
    }

    static func licence(
        _ participant: String = "PST-3", holder: String = "Rahmat Hidayat", kind: LicenceRecordedV1.Kind = .safetyLicence,
        number: String = "KEP.5/123/AS.03.02/X/2025", registration: String? = "SIO-FL-2025-0003",
        qualification: String = "Operator Forklift Kelas II", issuedOn: String = "2025-09-15",
        validUntil: String = "2030-09-14", recordedBy: String = "Seksi Pengawasan K3"
    ) -> LicenceRecordedV1 {
        LicenceRecordedV1(
            participantID: participant, holderName: holder, kind: kind, certificateNumber: number,
            registrationNumber: registration, qualification: qualification, issuedOn: issuedOn, validUntil: validUntil,
            recordedBy: recordedBy)
    }

    static func record(_ driver: CertificateDriver, _ licence: LicenceRecordedV1, time: Date = Date()) async throws
        -> [OutgoingEvent]
    {
        try await driver.kit.deliver(
            EventEnvelope(id: UUID().uuidString, source: "/kaltim/office/lisensi", time: time, data: licence)
        ).events
    }

    /// The failure a record gets, or nil when it was taken.
    static func failure(_ driver: CertificateDriver, _ licence: LicenceRecordedV1, time: Date = Date()) async throws
        -> Failure?
    {
        do {
            _ = try await record(driver, licence, time: time)
            return nil
        } catch let failure as Failure {
            return failure
        }
    }

    @Test func aForkliftOperatorsK3LicenceAndABricklayersSKKAreRecordedWithTheIssuersNumbers() async throws {
        let driver = try await Self.driver()
        let events = try await Self.record(driver, Self.licence())
        #expect(events.first?.type == CertificateIssuedV2.eventType)
        let k3 = try #require(try driver.issued(events).first)
        #expect(k3.kind == .safetyLicence && k3.issuer == "Kemnaker")
        #expect(k3.certificateID == "CATATAN-2025-K3-00001", "the record's own id, not one that looks like the issuer's")
        #expect(k3.certificateNumber == "KEP.5/123/AS.03.02/X/2025", "the issuer's number, never generated")
        #expect(k3.registrationNumber == "SIO-FL-2025-0003" && k3.qualification == "Operator Forklift Kelas II")
        #expect(k3.issuedOn == "2025-09-15" && k3.validUntil == "2030-09-14", "the issuer's dates")
        let document = try await driver.document(k3.certificateID)
        #expect(verifier.verify(document, today: "2025-10-01") == .valid)
        let payload = try JSONDecoder().decode(CertificateDocument.self, from: document).payload
        #expect(payload.holderName == "Rahmat Hidayat" && payload.qualification == "Operator Forklift Kelas II")

        // The name as the clerk typed it from the licence: case and spacing do not matter.
        let skk = try #require(
            try driver.issued(
                try await Self.record(
                    driver,
                    Self.licence(
                        "PST-4", holder: "DEWI  LESTARI", kind: .constructionCompetency, number: "1.2.3.4.5-000123-2025",
                        registration: nil, qualification: "Tukang Pasang Bata Jenjang 2", validUntil: "2030-09-14"))
            ).first)
        #expect(skk.kind == .constructionCompetency && skk.issuer == "LPJK" && skk.certificateID == "CATATAN-2025-SKK-00001")
        // Who at the office recorded each, as the office sent it (trimmed).
        let recorders = try await driver.kit.query(
            "SELECT recorded_by FROM cert_licence_recorders WHERE certificate_id = ?", [.text(skk.certificateID)])
        #expect(recorders.compactMap { $0["recorded_by"]?.text } == ["Seksi Pengawasan K3"])
        #expect(skk.registrationNumber == nil && skk.scheme == "SKM-2025-KON-BTN")
        // The programme's own certificates are still published as version 1, which consumers
        // not yet upgraded read.
        #expect(
            try await driver.trained().first.map { try ContractRegistry.pipeline.decode($0.body).receivedVersion } == 1)
    }

    @Test func theSameRecordAgainChangesNothingAndAContradictionIsRefused() async throws {
        let driver = try await Self.driver()
        #expect(try driver.issued(try await Self.record(driver, Self.licence())).count == 1)
        #expect(try await Self.record(driver, Self.licence()).isEmpty, "the office sent it twice")
        for (contradiction, why) in [
            (Self.licence(number: "KEP.5/999/AS.03.02/X/2025"), "in force under another number"),
            (Self.licence(qualification: "Operator Forklift Kelas I"), "other details"),
            (Self.licence(registration: nil), "other details"),
            (Self.licence(validUntil: "2031-09-14"), "other details"),
            (Self.licence("PST-5", holder: "Fajar Nugroho"), "in force for another participant"),
            // The same number typed in other case and spacing is the same number.
            (
                Self.licence("PST-5", holder: "Fajar Nugroho", number: "kep.5/123/AS.03.02/ X/2025"),
                "in force for another participant"
            ),
        ] {
            let failure = try await Self.failure(driver, contradiction)
            #expect(failure?.code == .licenceConflict && failure?.kind == .permanent, "\(why): \(String(describing: failure))")
            #expect(failure?.message.contains(why) == true, "\(failure?.message ?? "accepted")")
        }
        #expect(try await driver.kit.query("SELECT 1 FROM cert_certificates WHERE kind = 'LISENSI_K3'", []).count == 1)
        // A record that expired is no longer in force: a renewed licence is recorded, under
        // another number or the same one; an expired licence itself is not recorded.
        let clock = NotificationDeliveryTests.Clock(ISO8601DateFormatter().date(from: "2025-09-20T02:00:00Z")!)
        let expiring = try await Self.driver(now: { clock.date })
        let old = Self.licence(number: "KEP.5/1/OLD", issuedOn: "2025-08-10", validUntil: "2025-09-30")
        #expect(try await Self.failure(expiring, old) == nil)
        #expect(try await Self.failure(expiring, Self.licence())?.code == .licenceConflict, "while the first is in force")
        clock.set(ISO8601DateFormatter().date(from: "2025-10-01T02:00:00Z")!)
        let late = try await Self.failure(expiring, Self.licence("PST-5", holder: "Fajar Nugroho", validUntil: "2025-09-30"))
        #expect(late?.code == .invalidLicence && late?.message.contains("has expired") == true)
        #expect(try await Self.failure(expiring, Self.licence()) == nil, "the renewal under another number")
        let renewed = Self.licence("PST-5", holder: "Fajar Nugroho", number: "KEP.5/1/OLD", issuedOn: "2025-09-25")
        #expect(try await Self.failure(expiring, renewed) == nil, "an expired record's number is no longer in force")
    }

    static func revoke(_ driver: CertificateDriver, _ certificate: CertificateIssuedV2) async throws {
        _ = try await driver.kit.deliver(
            EventEnvelope(
                source: "/kaltim/admin/revoke-certificate",
                data: CertificateRevokedV1(
                    certificateID: certificate.certificateID, participantID: certificate.participantID, reasonCode: "DATA_ERROR"))
        )
    }

    @Test func aWrongRecordRevokedMakesRoomForTheRightOne() async throws {
        let driver = try await Self.driver()
        // A wrong number: revoked, then the right one is recorded.
        let wrong = try #require(try driver.issued(try await Self.record(driver, Self.licence(number: "KEP.5/12/X"))).first)
        #expect(try await Self.failure(driver, Self.licence())?.message.contains("in force under another number") == true)
        try await Self.revoke(driver, wrong)
        let right = try #require(try driver.issued(try await Self.record(driver, Self.licence())).first)
        #expect(right.certificateID == "CATATAN-2025-K3-00002" && right.certificateNumber == "KEP.5/123/AS.03.02/X/2025")
        #expect(try await Self.failure(driver, Self.licence(number: "KEP.5/12/X"))?.code == .licenceConflict)
        // The right number with a wrong detail: revoked, then recorded again with the detail right.
        let mistyped = try #require(
            try driver.issued(
                try await Self.record(
                    driver, Self.licence("PST-5", holder: "Fajar Nugroho", number: "KEP.5/555/X", qualification: "Kelas I"))
            ).first)
        let correction = Self.licence("PST-5", holder: "Fajar Nugroho", number: "KEP.5/555/X")
        #expect(try await Self.failure(driver, correction)?.message.contains("revoke that record") == true)
        try await Self.revoke(driver, mistyped)
        #expect(try driver.issued(try await Self.record(driver, correction)).first?.qualification == "Operator Forklift Kelas II")
        // A number recorded for the wrong person and revoked goes to the right one.
        let fresh = try await Self.driver()
        let misplaced = try #require(try fresh.issued(try await Self.record(fresh, Self.licence(number: "KEP.5/777/X"))).first)
        let mine = Self.licence("PST-5", holder: "Fajar Nugroho", number: "KEP.5/777/X")
        #expect(try await Self.failure(fresh, mine)?.message.contains("in force for another participant") == true)
        try await Self.revoke(fresh, misplaced)
        #expect(try await Self.failure(fresh, mine) == nil, "the revoked number is free for its holder")
    }

    /// What an office system, a mistaken clerk or an attacker with the office's credentials might
    /// send: each refused permanently for its own reason, with nothing recorded.
    @Test(arguments: [
        ("a K3 licence for housekeeping", Self.licence("PST-1", holder: "Siti Aminah"), "does not lead to"),
        ("an SKK for a forklift operator", Self.licence(kind: .constructionCompetency), "does not lead to"),
        ("an empty number", Self.licence(number: ""), "licence's number is"),
        ("spaces as the number", Self.licence(number: "   "), "licence's number is"),
        ("65 characters", Self.licence(number: String(repeating: "7", count: 65)), "licence's number is"),
        ("a newline", Self.licence(number: "KEP.5/123\nLULUS"), "licence's number is"),
        ("markup", Self.licence(number: "<script>alert(1)</script>"), "licence's number is"),
        ("Arabic-Indic digits", Self.licence(number: "١٢٣٤٥"), "licence's number is"),
        ("a formula", Self.licence(number: "=HYPERLINK(1)"), "licence's number is"),
        ("a bad registration number", Self.licence(registration: "SIO;DROP"), "registration number is"),
        ("an empty qualification", Self.licence(qualification: " "), "qualification is"),
        ("a right-to-left override", Self.licence(qualification: "Operator \u{202E}II saleK"), "qualification is"),
        ("101 characters", Self.licence(qualification: String(repeating: "a", count: 101)), "qualification is"),
        ("a blank recorder", Self.licence(recordedBy: ""), "who recorded"),
        ("a link as the number", Self.licence(number: "https://kemnaker.example/cek"), "not web addresses"),
        ("a link as the registration", Self.licence(registration: "HTTP://X.Y/Z"), "not web addresses"),
        ("a link in the qualification", Self.licence(qualification: "Operator, cek www.lisensi.example"), "not web addresses"),
        ("a bare domain as the number", Self.licence(number: "cek-k3.id/x"), "not web addresses"),
        (
            "a bare domain in the qualification", Self.licence(qualification: "Operator (lihat lisensi.go.id)"),
            "not web addresses"
        ),
        ("no holder", Self.licence(holder: " "), "names its holder"),
        ("30 February", Self.licence(issuedOn: "2025-02-30"), "days (YYYY-MM-DD)"),
        ("not a day", Self.licence(validUntil: "selamanya"), "days (YYYY-MM-DD)"),
        ("a five-digit year", Self.licence(validUntil: "10000-01-01"), "days (YYYY-MM-DD)"),
        ("eleven years", Self.licence(validUntil: "2036-09-16"), "within 10 years"),
        ("valid until before issued", Self.licence(issuedOn: "2025-09-15", validUntil: "2025-09-14"), "days (YYYY-MM-DD)"),
        ("before the class ended", Self.licence(issuedOn: "2025-08-01"), "before the class's last day"),
        ("dated after today", Self.licence(issuedOn: "2025-10-02", validUntil: "2030-10-01"), "after today"),
        ("another person's name", Self.licence(holder: "Budi Santoso"), "not the name of PST-3"),
        ("a name with a word more", Self.licence(holder: "Rahmat Hidayat Saputra"), "not the name of PST-3"),
        ("a participant who did not pass", Self.licence("PST-6", holder: "Eko Santoso"), "did not pass"),
    ])
    func aRecordThatCannotBeTrueIsRefusedAndNothingIsKept(_ case: String, licence: LicenceRecordedV1, why: String)
        async throws
    {
        let driver = try await Self.driver()
        let failure = try await Self.failure(driver, licence)
        #expect(failure?.code == .invalidLicence && failure?.kind == .permanent, "\(`case`): \(String(describing: failure))")
        #expect(failure?.message.contains(why) == true, "\(`case`): \(failure?.message ?? "accepted")")
        #expect(!(failure?.message.contains("Budi") ?? false), "no name in a failure")
        #expect(
            try await driver.kit.query(
                "SELECT 1 FROM cert_certificates WHERE kind IN ('LISENSI_K3', 'SKK_KONSTRUKSI')", []
            ).isEmpty)
    }

    @Test func todayIsTheWorkersWITADayNotThePublishersTime() async throws {
        // 07:30 WITA on 16 September is still the 15th in UTC: a licence of the 16th is today's.
        let driver = try await Self.driver(now: { ISO8601DateFormatter().date(from: "2025-09-15T23:30:00Z")! })
        #expect(try await Self.failure(driver, Self.licence(issuedOn: "2025-09-16", validUntil: "2030-09-15")) == nil)
        // A publisher that dates its message in the future gains nothing.
        let forged = try await Self.failure(
            driver, Self.licence("PST-5", holder: "Fajar Nugroho", number: "KEP.5/555/X", issuedOn: "2025-09-20"),
            time: ISO8601DateFormatter().date(from: "2099-01-01T00:00:00Z")!)
        #expect(forged?.code == .invalidLicence && forged?.message.contains("after today") == true)
    }

    @Test func anSKKIsNotTheCompetencyCertificateRecordedAgain() async throws {
        let driver = try await Self.driver()
        var graded = CertificateDriver.graded("A-4", participant: "PST-4")
        graded.scheme = "SKM-2025-KON-BTN"
        #expect(try driver.issued(try await driver.deliver(graded)).map(\.kind) == [.competency])
        let same = try await Self.failure(
            driver,
            Self.licence(
                "PST-4", holder: "Dewi Lestari", kind: .constructionCompetency, number: "NO. 55101  5151 2 0001234 2025",
                registration: nil, qualification: "Tukang Pasang Bata Jenjang 2"))
        #expect(same?.code == .invalidLicence && same?.message.contains("BNSP competency certificate") == true)
    }

    @Test func nobodyWhoLeftGetsARecordAndOneWithoutAResultOrAClassWaits() async throws {
        let driver = try await Self.driver(untrained: ["PST-5"])
        _ = try await driver.kit.deliver(
            EventEnvelope(
                source: "/kaltim/workers/scheduling",
                data: EnrolmentWithdrawnV1(participantID: "PST-3", classID: "BTG-2025-OPERATOR_FORKLIFT-01", reason: .noShow)))
        let left = try await Self.failure(driver, Self.licence())
        #expect(left?.code == .invalidLicence && left?.message.contains("left the training") == true)
        let waiting = try await Self.failure(driver, Self.licence("PST-5", holder: "Fajar Nugroho"))
        #expect(waiting?.code == .trainingResultUnknown && waiting?.kind == .transient, "the result may be on its way")
        let unknown = try await Self.failure(driver, Self.licence("PST-9"))
        #expect(unknown?.code == .enrolmentUnknown && unknown?.kind == .transient, "the class may be on its way")
    }

    @Test func theLicencesPageSaysItIsARecordOfTheIssuersLicence() async throws {
        let driver = try await Self.driver(outputDirectory: true)
        defer { try? FileManager.default.removeItem(atPath: driver.output) }
        let licence = try #require(try driver.issued(try await Self.record(driver, Self.licence())).first)
        let writer = CertificateFileWriter(
            store: driver.kit.store, directory: driver.output, verificationURL: "https://verifikasi.example/v/")
        // The operators' training certificates and the licence record.
        #expect(await writer.runOnce() >= 1)
        let base = URL(fileURLWithPath: driver.output).appendingPathComponent(licence.certificateID).path
        let extract = try ChildProcess("/usr/bin/pdftotext", [base + ".pdf", "-"], standardErrorToo: false)
        #expect(try await extract.waitForExit(timeout: .seconds(60)) == 0)
        let page = extract.output
        await extract.terminate()
        #expect(page.contains("CATATAN LISENSI K3 (SIO)") && page.contains("No. KEP.5/123/AS.03.02/X/2025"), "\(page)")
        #expect(page.contains("Nomor registrasi SIO-FL-2025-0003") && page.contains("Operator Forklift Kelas II"), "\(page)")
        #expect(page.contains("Rahmat Hidayat") && page.contains("bukan lisensi itu sendiri"), "\(page)")
        #expect(page.contains("Diterbitkan: 15 September 2025") && page.contains("14 September 2030"), "\(page)")
        #expect(!page.contains("UPTD"), "a licence is not the BLKI's")
    }
}
