import CertificateTrust
import ContractKit
import Contracts
import Foundation
import Jobs
import Programme
import Stores
import TestSupport
import Testing
import Workers

/// Drives the certificates handler through the runtime's test kit.
struct CertificateDriver {
    let kit: HandlerTestKit
    let output: String
    /// The worker's clock: grading's results are sent at its time (one dated ahead waits).
    var now: @Sendable () -> Date = Date.init

    static func make(
        outputDirectory: Bool = false, signer: CertificateSigner = .development,
        now: @escaping @Sendable () -> Date = Date.init
    ) async throws -> CertificateDriver {
        let catalogue = try ProgrammeCatalogue.load(path: repositoryFile("config/programme-2025.json"))
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("certs-\(UUID().uuidString)").path
        let handler = CertificateHandler(catalogue: catalogue, signer: signer, writesFiles: outputDirectory, now: now)
        let driver = CertificateDriver(
            kit: try await HandlerTestKit(handler: handler, registry: .pipeline), output: output, now: now)
        // Named an hour before the worker's clock (a name dated ahead of it waits).
        for (participant, name) in [("PST-1", "Siti Aminah"), ("PST-2", "Budi Santoso")] {
            let named = ParticipantNamedV1(participantID: participant, registrationID: "REG-\(participant)", fullName: name)
            _ = try await driver.kit.deliver(
                EventEnvelope(source: "/kaltim/workers/intake", time: now().addingTimeInterval(-3600), data: named))
            let scheduled = ClassScheduledV1(
                participantID: participant, classID: "BTG-2025-TATA_GRAHA-01", centre: .bontang, programme: "TATA_GRAHA",
                startDate: "2025-07-07", endDate: "2025-08-08", seat: 1)
            _ = try await driver.kit.deliver(EventEnvelope(source: "/test", data: scheduled))
        }
        return driver
    }

    static func graded(
        _ id: String, participant: String = "PST-1", competent: Bool = true,
        training: AssessmentGradedV2.TrainingOutcome = .passed,
        numbers: Bool = true, supersedes: String? = nil
    ) -> AssessmentGradedV2 {
        AssessmentGradedV2(
            assessmentID: id, participantID: participant, scheme: "SKM-2025-HTL-TGR",
            outcome: competent ? .competent : .notYetCompetent, notYetCompetentUnits: competent ? [] : ["I.551100.002.01"],
            lspLicence: "BNSP-LSP-0123-ID", assessedOn: "2025-08-12", attendancePercent: 90, trainingOutcome: training,
            supersedes: supersedes, lspCertificateNumber: numbers ? "No. 55101 5151 2 0001234 2025" : nil,
            lspRegistrationNumber: numbers ? "No. Reg. PAR 0123 00456 2025" : nil)
    }

    /// The BLKI's training result of a participant of the Tata Graha class at Bontang.
    func trained(
        _ participant: String = "PST-1", attendance: Double = 92, result: TrainingCompletedV1.Result = .passed,
        id: String = UUID().uuidString
    ) async throws -> [OutgoingEvent] {
        let completed = TrainingCompletedV1(
            participantID: participant, classID: "BTG-2025-TATA_GRAHA-01", attendancePercent: attendance, result: result,
            recordedBy: "Instruktur Tata Graha")
        return try await kit.deliver(EventEnvelope(id: id, source: "/kaltim/blki/pelatihan", data: completed)).events
    }

    func deliver(_ graded: AssessmentGradedV2, id: String = UUID().uuidString) async throws -> [OutgoingEvent] {
        try await kit.deliver(EventEnvelope(id: id, source: "/kaltim/workers/grading", time: now(), data: graded)).events
    }

    func issued(_ events: [OutgoingEvent]) throws -> [CertificateIssuedV2] {
        try events.filter { $0.type == CertificateIssuedV2.eventType }.map {
            try ContractJSON.decoder().decode(EventEnvelope<CertificateIssuedV2>.self, from: $0.body).data
        }
    }

    func document(_ certificateID: String) async throws -> Data {
        let rows = try await kit.query("SELECT document FROM cert_certificates WHERE certificate_id = ?", [.text(certificateID)])
        guard case .blob(let data) = try #require(rows.first?["document"]) else { throw CertificateTestError() }
        return data
    }
}

struct CertificateTestError: Error {}

struct CertificateTests {
    let verifier = try! CertificateVerifier(publicKeyHex: CertificateSigner.development.publicKeyHex)

    @Test func aCompetentGraduateGetsATrainingCertificateAndACompetencyRecordWithTheLSPNumbers() async throws {
        let driver = try await CertificateDriver.make()
        // The BLKI's result gives the training certificate, dated the class's last day.
        let trained = try driver.issued(try await driver.trained())
        let training = try #require(trained.first)
        #expect(trained.map(\.kind) == [.training])
        #expect(
            training.issuer == "BLKI Bontang" && training.certificateNumber == "00001/PBK/BTG/2025" && training.validUntil == nil)
        #expect(training.issuedOn == "2025-08-08")
        // The LSP's assessment decides competency only.
        let issued = try driver.issued(try await driver.deliver(CertificateDriver.graded("A-1")))
        #expect(issued.map(\.kind) == [.competency])
        let competency = issued[0]
        #expect(competency.certificateNumber == "No. 55101 5151 2 0001234 2025", "as the LSP sent it, never invented")
        #expect(competency.registrationNumber == "No. Reg. PAR 0123 00456 2025")
        #expect(competency.validUntil == "2028-08-12", "three years for this scheme")
        #expect(verifier.verify(try await driver.document(training.certificateID), today: "2025-09-01") == .valid)
    }

    @Test func redeliveryReplayAndCorrectionsGiveNoSecondCertificate() async throws {
        let driver = try await CertificateDriver.make()
        #expect(try driver.issued(try await driver.deliver(CertificateDriver.graded("A-1"), id: "m-1")).count == 1)
        #expect(
            try await driver.kit.deliver(EventEnvelope(id: "m-1", source: "/x", data: CertificateDriver.graded("A-1"))).duplicate)
        #expect(try await driver.deliver(CertificateDriver.graded("A-1"), id: "m-2").isEmpty, "a replay under a new id")
        #expect(try await driver.deliver(CertificateDriver.graded("A-2", supersedes: "A-1")).isEmpty, "a correction, same result")
        #expect(try driver.issued(try await driver.trained()).first?.certificateNumber == "00001/PBK/BTG/2025")
        #expect(try await driver.trained().isEmpty, "the same result again under a new id: no second certificate")
        #expect(
            try driver.issued(try await driver.trained("PST-2")).first?.certificateNumber == "00002/PBK/BTG/2025",
            "the next serial, no gap")
    }

    @Test func withoutTheLSPNumbersNoCompetencyRecordIsIssuedAndACorrectionRevokes() async throws {
        let driver = try await CertificateDriver.make()
        #expect(try await driver.deliver(CertificateDriver.graded("A-1", numbers: false)).isEmpty)
        let issued = try driver.issued(try await driver.deliver(CertificateDriver.graded("A-2", supersedes: "A-1")))
        #expect(issued.map(\.kind) == [.competency], "the correction brought the numbers")
        let revoked = try await driver.deliver(CertificateDriver.graded("A-3", competent: false, supersedes: "A-2"))
        #expect(revoked.map(\.type) == [CertificateRevokedV1.eventType])
        #expect(try await driver.trained("PST-2", attendance: 60, result: .failed).isEmpty, "no pass, no certificate")
        // A result that contradicts the one recorded, or for a seat the participant does not hold
        // (another class, or withdrawn), is refused.
        for bad in [
            TrainingCompletedV1(
                participantID: "PST-2", classID: "BTG-2025-TATA_GRAHA-01", attendancePercent: 85, result: .passed,
                recordedBy: "X"),
            TrainingCompletedV1(
                participantID: "PST-1", classID: "BTG-2025-TATA_GRAHA-02", attendancePercent: 85, result: .passed,
                recordedBy: "X"),
        ] {
            await #expect(throws: Failure.self) {
                _ = try await driver.kit.deliver(EventEnvelope(source: "/kaltim/blki/pelatihan", data: bad))
            }
        }
        _ = try await driver.kit.deliver(
            EventEnvelope(
                source: "/kaltim/workers/scheduling",
                data: EnrolmentWithdrawnV1(participantID: "PST-1", classID: "BTG-2025-TATA_GRAHA-01", reason: .noShow)))
        do {
            _ = try await driver.trained("PST-1")
            Issue.record("a withdrawn participant got a training certificate")
        } catch let failure as Failure {
            #expect(failure.code == .invalidTrainingResult && failure.kind == .permanent)
        }
        // A BLKI record that cannot be true is refused, not turned into a certificate.
        for (attendance, result) in [(70.0, TrainingCompletedV1.Result.passed), (120, .failed), (-1, .failed)] {
            do {
                _ = try await driver.trained("PST-2", attendance: attendance, result: result)
                Issue.record("accepted \(attendance) \(result)")
            } catch let failure as Failure {
                #expect(failure.code == .invalidTrainingResult && failure.kind == .permanent)
            }
        }
    }

    @Test func tamperingWrongKeyRevocationAndDatesEachFailWithTheirOwnReason() async throws {
        let driver = try await CertificateDriver.make()
        let competency = try #require(try driver.issued(try await driver.deliver(CertificateDriver.graded("A-1"))).last)
        let json = try await driver.document(competency.certificateID)
        #expect(verifier.verify(json, today: "2025-09-01") == .valid)

        var document = try JSONDecoder().decode(CertificateDocument.self, from: json)
        document.payload.participantID = "PST-9"
        #expect(verifier.verify(document, today: "2025-09-01") == .signatureInvalid)
        var bytes = [UInt8](json)
        let index = try #require(bytes.firstIndex(of: UInt8(ascii: "5")))
        bytes[index] = UInt8(ascii: "6")  // one byte of the signed payload changed
        #expect(verifier.verify(Data(bytes), today: "2025-09-01") == .signatureInvalid)
        let stranger = try CertificateVerifier(publicKeyHex: otherKey())
        #expect(stranger.verify(json, today: "2025-09-01") == .unknownKey)
        #expect(
            verifier.verify(json, revocations: [competency.certificateID: "FRAUD"], today: "2025-09-01")
                == .revoked(reason: "FRAUD"))
        #expect(verifier.verify(json, today: "2028-08-13") == .expired(on: "2028-08-12"))
        #expect(verifier.verify(json, today: "2025-08-11") == .notYetValid(from: "2025-08-12"))
        #expect(verifier.verify(Data("{}".utf8), today: "2025-09-01").code == "MALFORMED")
        #expect(!String(decoding: json, as: UTF8.self).contains("nik"), "no NIK in the public part")
    }

    @Test func theCertificateCarriesTheHolderNameAndTheOfficialAndWaitsForAName() async throws {
        let driver = try await CertificateDriver.make()
        let training = try #require(try driver.issued(try await driver.trained()).first)
        let document = try JSONDecoder().decode(
            CertificateDocument.self, from: try await driver.document(training.certificateID))
        #expect(document.payload.holderName == "Siti Aminah")
        #expect(
            document.payload.signatory
                == .init(name: "Nama Pejabat BLKI Bontang (contoh)", title: "Kepala UPTD BLKI Bontang", place: "Bontang"))
        #expect(verifier.verify(document, today: "2025-09-01") == .valid, "the name and the official are signed")
        // A corrected name is carried by what is issued next; the issued certificate keeps its
        // own (it is revoked and issued again under the new one: the next test).
        let renamed = ParticipantNamedV1(participantID: "PST-1", registrationID: "REG-PST-1", fullName: " Siti Aminah Putri ")
        _ = try await driver.kit.deliver(EventEnvelope(source: "/kaltim/workers/intake", data: renamed))
        let record = try #require(try driver.issued(try await driver.deliver(CertificateDriver.graded("A-1"))).first)
        let recordDocument = try JSONDecoder().decode(
            CertificateDocument.self, from: try await driver.document(record.certificateID))
        #expect(recordDocument.payload.holderName == "Siti Aminah Putri")
        #expect(recordDocument.payload.signatory?.place == "Samarinda", "records are signed by the provincial office")
        #expect(
            try JSONDecoder().decode(CertificateDocument.self, from: try await driver.document(training.certificateID))
                .payload.holderName == "Siti Aminah")
        // A participant whose name has not arrived waits (transient), and is issued once it comes.
        let scheduled = ClassScheduledV1(
            participantID: "PST-3", classID: "BTG-2025-TATA_GRAHA-01", centre: .bontang, programme: "TATA_GRAHA",
            startDate: "2025-07-07", endDate: "2025-08-08", seat: 3)
        _ = try await driver.kit.deliver(EventEnvelope(source: "/test", data: scheduled))
        do {
            _ = try await driver.trained("PST-3", id: "t-3")
            Issue.record("a certificate without a name")
        } catch let failure as Failure {
            #expect(failure.code == .holderUnknown && failure.kind == .transient)
        }
        #expect(try await driver.kit.query("SELECT 1 FROM cert_training_results WHERE participant_id = 'PST-3'").isEmpty)
        let named = ParticipantNamedV1(participantID: "PST-3", registrationID: "REG-PST-3", fullName: "Made Wirawan")
        _ = try await driver.kit.deliver(EventEnvelope(source: "/kaltim/workers/intake", data: named))
        #expect(try driver.issued(try await driver.trained("PST-3", id: "t-3b")).count == 1)
        // A name that is no name is refused, and changes nothing.
        for bad in ["", "  ", "Made\u{7}Wirawan", String(repeating: "x", count: 201)] {
            do {
                _ = try await driver.kit.deliver(
                    EventEnvelope(
                        source: "/kaltim/workers/intake",
                        data: ParticipantNamedV1(participantID: "PST-3", registrationID: "REG-PST-3", fullName: bad)))
                Issue.record("accepted the name \(bad.debugDescription.prefix(12))")
            } catch let failure as Failure {
                #expect(failure.code == .invalidHolderName && failure.kind == .permanent)
            }
        }
        // Who leaves without a certificate no longer has a name here; who has one keeps it.
        for participant in ["PST-2", "PST-1"] {
            _ = try await driver.kit.deliver(
                EventEnvelope(
                    source: "/kaltim/workers/scheduling",
                    data: EnrolmentWithdrawnV1(participantID: participant, classID: "BTG-2025-TATA_GRAHA-01", reason: .noShow)))
        }
        // A name that comes after the participant left without a certificate is not kept, and an
        // older name arriving late (a retried acceptance) does not undo a newer one.
        _ = try await driver.kit.deliver(
            EventEnvelope(
                source: "/kaltim/workers/intake",
                data: ParticipantNamedV1(participantID: "PST-2", registrationID: "REG-PST-2", fullName: "Budi Santoso")))
        _ = try await driver.kit.deliver(
            EventEnvelope(
                source: "/kaltim/workers/intake", time: Date(timeIntervalSince1970: 1_700_000_000),
                data: ParticipantNamedV1(participantID: "PST-3", registrationID: "REG-PST-3", fullName: "Made Lama")))
        let holders = try await driver.kit.query("SELECT participant_id, full_name FROM cert_holders ORDER BY participant_id")
        #expect(holders.compactMap { $0["participant_id"]?.text } == ["PST-1", "PST-3"])
        #expect(holders.compactMap { $0["full_name"]?.text } == ["Siti Aminah Putri", "Made Wirawan"])
    }

    /// A name corrected after issuance (the office's correction at the holder's request): each
    /// certificate in force is revoked and issued again under the new name with the same number
    /// and dates; the same name again, or an older one arriving late, changes nothing; a record
    /// revoked for another reason is not brought back; a later correction of the assessment
    /// revokes the reissued record.
    @Test func aCorrectedNameReissuesTheCertificatesInForceUnderIt() async throws {
        // The worker's clock, which the test moves; the first names are dated an hour before
        // it, and a name may be dated at most 5 minutes ahead of it.
        let start = try Date("2025-09-01T00:00:00Z", strategy: .iso8601)
        let clock = NotificationDeliveryTests.Clock(start)
        let driver = try await CertificateDriver.make(now: { clock.date })
        let training = try #require(try driver.issued(try await driver.trained()).first)
        let competency = try #require(try driver.issued(try await driver.deliver(CertificateDriver.graded("A-1"))).first)
        let other = try #require(try driver.issued(try await driver.trained("PST-2")).first)
        func rename(_ name: String, minutesAfterStart minutes: Double, participant: String = "PST-1", id: String? = nil)
            async throws -> [OutgoingEvent]
        {
            try await driver.kit.deliver(
                EventEnvelope(
                    id: id ?? UUID().uuidString, source: "/kaltim/workers/intake",
                    time: start.addingTimeInterval(minutes * 60),
                    data: ParticipantNamedV1(participantID: participant, registrationID: "REG-\(participant)", fullName: name))
            ).events
        }
        func revoked(_ events: [OutgoingEvent]) throws -> [CertificateRevokedV1] {
            try events.filter { $0.type == CertificateRevokedV1.eventType }.map {
                try ContractJSON.decoder().decode(EventEnvelope<CertificateRevokedV1>.self, from: $0.body).data
            }
        }
        func holder(_ certificateID: String) async throws -> String? {
            try JSONDecoder().decode(CertificateDocument.self, from: try await driver.document(certificateID)).payload
                .holderName
        }

        let events = try await rename("Siti Aminah Putri", minutesAfterStart: 1)
        let revocations = try revoked(events)
        #expect(Set(revocations.map(\.certificateID)) == [training.certificateID, competency.certificateID])
        #expect(revocations.allSatisfy { $0.reasonCode == "NAME_CORRECTED" && $0.participantID == "PST-1" })
        let reissued = try driver.issued(events)
        #expect(events.filter { $0.type == CertificateIssuedV2.eventType }.allSatisfy { $0.contractVersion == 1 }, "v1 still")
        let newTraining = try #require(reissued.first { $0.kind == .training })
        let newRecord = try #require(reissued.first { $0.kind == .competency })
        #expect(reissued.count == 2)
        for (old, new) in [(training, newTraining), (competency, newRecord)] {
            #expect(new.certificateID != old.certificateID && new.verificationCode != old.verificationCode)
            #expect(new.certificateNumber == old.certificateNumber && new.registrationNumber == old.registrationNumber)
            #expect(new.issuedOn == old.issuedOn && new.validUntil == old.validUntil && new.issuer == old.issuer)
            #expect(try await holder(new.certificateID) == "Siti Aminah Putri")
            #expect(try await holder(old.certificateID) == "Siti Aminah", "the old document is kept as it was signed")
            #expect(verifier.verify(try await driver.document(new.certificateID), today: "2025-09-01") == .valid)
        }
        // A series of their own: the BLKI's series, whose serials the numbers print, keeps no hole.
        #expect(newTraining.certificateID == "BTG-R-2025-PBK-00001" && newTraining.certificateNumber == "00001/PBK/BTG/2025")
        #expect(newRecord.certificateID == "KOM-BNSP-LSP-0123-ID-R-2025-KOM-00001")
        let series = try await driver.kit.query(
            "SELECT issuer_code, MAX(serial) AS n FROM cert_certificates GROUP BY issuer_code ORDER BY issuer_code", [])
        #expect(
            series.map { "\($0["issuer_code"]?.text ?? "") \($0["n"]?.integer ?? 0)" }
                == ["BTG-PBK 2", "BTG-PBK-R 1", "LSP-BNSP-LSP-0123-ID 1", "LSP-BNSP-LSP-0123-ID-R 1"])
        let reasons = try await driver.kit.query(
            "SELECT certificate_id, reason FROM cert_revocations ORDER BY certificate_id", [])
        #expect(reasons.compactMap { $0["reason"]?.text } == ["NAME_CORRECTED", "NAME_CORRECTED"])

        // The same name again (a redelivery, the backfill) and an older name arriving late.
        #expect(try await rename("Siti Aminah Putri", minutesAfterStart: 2).isEmpty)
        #expect(try await rename("Siti Aminah", minutesAfterStart: 0.5).isEmpty)
        // A replayed result or grade issues nothing more.
        #expect(try await driver.trained().isEmpty)
        #expect(try await driver.deliver(CertificateDriver.graded("A-1")).isEmpty)

        // A second correction reissues the reissued ones.
        let second = try await rename("Siti Aminah Putri Lestari", minutesAfterStart: 3)
        #expect(Set(try revoked(second).map(\.certificateID)) == [newTraining.certificateID, newRecord.certificateID])
        let secondRecord = try #require(try driver.issued(second).first { $0.kind == .competency })
        #expect(secondRecord.certificateNumber == competency.certificateNumber)
        #expect(try driver.issued(second).first { $0.kind == .training }?.certificateID == "BTG-R-2025-PBK-00002")

        // The assessment corrected to BELUM KOMPETEN revokes the record in force, the reissued one.
        let corrected = try await driver.deliver(CertificateDriver.graded("A-2", competent: false, supersedes: "A-1"))
        #expect(try revoked(corrected).map(\.certificateID) == [secondRecord.certificateID])
        #expect(try revoked(corrected).first?.reasonCode == "ASSESSMENT_CORRECTED")

        // A record revoked for another reason is not brought back by the next correction.
        let third = try await rename("Siti A. P. Lestari", minutesAfterStart: 4)
        #expect(try driver.issued(third).map(\.kind) == [.training])
        let inForce = try await driver.kit.query(
            """
            SELECT c.kind, c.certificate_id FROM cert_certificates c LEFT JOIN cert_revocations r
                ON r.certificate_id = c.certificate_id
            WHERE c.participant_id = 'PST-1' AND r.certificate_id IS NULL
            """, [])
        #expect(inForce.compactMap { $0["kind"]?.text } == ["PELATIHAN"], "one training certificate in force, no record")
        #expect(try await holder(try #require(inForce.first?["certificate_id"]?.text)) == "Siti A. P. Lestari")
        // Someone else's certificate is untouched.
        #expect(try await holder(other.certificateID) == "Budi Santoso")
        #expect(
            try await driver.kit.query(
                "SELECT 1 FROM cert_revocations WHERE certificate_id = ?", [.text(other.certificateID)]
            ).isEmpty)

        // Two names of one instant: the greater stands whichever came first, and the other
        // under a new id does not swap it back.
        clock.set(start.addingTimeInterval(86_400))
        func currentName(_ participant: String) async throws -> String? {
            try await driver.kit.query(
                "SELECT full_name FROM cert_holders WHERE participant_id = ?", [.text(participant)]
            ).first?["full_name"]?.text
        }
        #expect(try driver.issued(try await rename("Budi Santoso", minutesAfterStart: 600, participant: "PST-3")).isEmpty)
        #expect(try await rename("Budi Santosa", minutesAfterStart: 600, participant: "PST-3").isEmpty)
        #expect(try await currentName("PST-3") == "Budi Santoso")
        #expect(try await rename("Budi Santosa", minutesAfterStart: 600, participant: "PST-2").count == 2)
        #expect(try await rename("Budi Santoso", minutesAfterStart: 600, participant: "PST-2").count == 2)
        #expect(try await rename("Budi Santosa", minutesAfterStart: 600, participant: "PST-2").isEmpty)
        #expect(try await currentName("PST-2") == "Budi Santoso")
        // A name dated more than 5 minutes ahead of the worker's clock waits (transient) and
        // changes nothing; a correction dated before the clock is taken.
        do {
            _ = try await rename("Budi Lama", minutesAfterStart: 60 * 24 * 365, participant: "PST-2")
            Issue.record("a name dated a year ahead was taken")
        } catch let failure as Failure {
            #expect(failure.code == .nameDatedAhead && failure.kind == .transient)
        }
        #expect(try await currentName("PST-2") == "Budi Santoso")
        #expect(try await rename("Budi Santoso Jr", minutesAfterStart: 24 * 60 + 4, participant: "PST-2").count == 2)
        #expect(try await currentName("PST-2") == "Budi Santoso Jr")
        // An expired record is not in force: a name corrected after it expired leaves it be.
        clock.set(try Date("2031-01-01T00:00:00Z", strategy: .iso8601))
        let late = try driver.issued(try await driver.deliver(CertificateDriver.graded("B-1", participant: "PST-2")))
        let lateRecord = try #require(late.first)
        #expect(lateRecord.validUntil == "2028-08-12")
        let afterExpiry = try await rename("Budi Santoso Putra", minutesAfterStart: 24 * 60 * 365 * 5, participant: "PST-2")
        #expect(try driver.issued(afterExpiry).map(\.kind) == [.training], "the training certificate does not expire")
        // A scheme code with the key's separator is refused.
        await #expect(throws: Failure.self) {
            var graded = CertificateDriver.graded("C-1", participant: "PST-1")
            graded.scheme = "SKM-2025-HTL-TGR#X"
            _ = try await driver.deliver(graded)
        }
    }

    /// A certificate signed before names reached the role carries none: a name arriving later
    /// (the upgrade's `republish-names`) is not a correction and reissues nothing.
    @Test func aNamelessOlderCertificateIsNotReissuedWhenItsNameArrives() async throws {
        let driver = try await CertificateDriver.make()
        let training = try #require(try driver.issued(try await driver.trained()).first)
        var document = try JSONDecoder().decode(CertificateDocument.self, from: try await driver.document(training.certificateID))
        document.payload.holderName = nil
        let signed = try CertificateSigner.development.sign(document.payload, at: Date())
        try await driver.kit.store.write { transaction in
            try transaction.execute(
                "UPDATE cert_certificates SET document = ? WHERE certificate_id = ?",
                [.blob(try signed.json()), .text(training.certificateID)])
        }
        let events = try await driver.kit.deliver(
            EventEnvelope(
                source: "/kaltim/workers/intake", time: Date().addingTimeInterval(60),
                data: ParticipantNamedV1(participantID: "PST-1", registrationID: "REG-PST-1", fullName: "Siti Aminah Putri"))
        ).events
        #expect(events.isEmpty)
        #expect(try await driver.kit.query("SELECT 1 FROM cert_revocations", []).isEmpty)
    }

    /// A round drawn on several threads: every certificate gets its own JSON and PDF, one that
    /// cannot be drawn (its stored document damaged) fails alone and keeps its row with the
    /// attempt counted, and no temporary file is left.
    @Test func severalRenderersWriteEachCertificatesOwnFilesAndAFailureStaysItsOwn() async throws {
        let driver = try await CertificateDriver.make(outputDirectory: true)
        var issued: [CertificateIssuedV2] = []
        for participant in ["PST-1", "PST-2"] {
            issued += try driver.issued(try await driver.trained(participant))
            issued += try driver.issued(
                try await driver.deliver(CertificateDriver.graded("A-\(participant)", participant: participant)))
        }
        #expect(issued.count == 4)
        let damaged = try #require(issued.last).certificateID
        try await driver.kit.store.write { transaction in
            try transaction.execute(
                "UPDATE cert_certificates SET document = ? WHERE certificate_id = ?", [.blob(Data("{}".utf8)), .text(damaged)])
        }
        let writer = CertificateFileWriter(store: driver.kit.store, directory: driver.output, renderers: 3)
        #expect(await writer.runOnce() == 3)
        let written = try FileManager.default.contentsOfDirectory(atPath: driver.output).sorted()
        let whole = issued.dropLast()
        #expect(written == whole.flatMap { [$0.certificateID + ".json", $0.certificateID + ".pdf"] }.sorted(), "\(written)")
        for certificate in whole {
            let base = URL(fileURLWithPath: driver.output).appendingPathComponent(certificate.certificateID)
            #expect(
                try Data(contentsOf: base.appendingPathExtension("json"))
                    == (try await driver.document(certificate.certificateID)))
            #expect(try Data(contentsOf: base.appendingPathExtension("pdf")).starts(with: Data("%PDF-".utf8)))
        }
        let left = try await driver.kit.query("SELECT certificate_id, attempts FROM cert_files")
        #expect(left.compactMap { $0["certificate_id"]?.text } == [damaged] && left.first?["attempts"]?.integer == 1)
        try? FileManager.default.removeItem(atPath: driver.output)
    }

    /// A LULUS sent while the class still runs (its last day after tomorrow, WITA, by the
    /// worker's clock) issues nothing and is refused; the day before the last day it is taken.
    @Test func aLULUSBeforeTheClassEndsIsRefused() async throws {
        let early = ISO8601DateFormatter().date(from: "2025-08-01T09:00:00+08:00")!
        let driver = try await CertificateDriver.make(now: { early })
        do {
            _ = try await driver.trained()
            Issue.record("a LULUS a week before the class ends was taken")
        } catch let failure as Failure {
            #expect(failure.code == .invalidTrainingResult && failure.kind == .permanent && "\(failure)".contains("2025-08-08"))
        }
        #expect(try await driver.kit.query("SELECT 1 FROM cert_certificates").isEmpty)
        let dayBefore = ISO8601DateFormatter().date(from: "2025-08-07T09:00:00+08:00")!
        let onTime = try await CertificateDriver.make(now: { dayBefore })
        #expect(try onTime.issued(try await onTime.trained()).count == 1)
    }

    @Test func aPrintablePDFWithAQRCodeIsWrittenBesideTheSignedJSON() async throws {
        let driver = try await CertificateDriver.make(outputDirectory: true)
        let issued =
            try driver.issued(try await driver.trained())
            + driver.issued(try await driver.deliver(CertificateDriver.graded("A-1")))
        let training = try #require(issued.first)
        #expect(issued.map(\.kind) == [.training, .competency])
        // Nothing is written inside the issuing transaction: the files come from the writer.
        #expect(!FileManager.default.fileExists(atPath: driver.output))
        let writer = CertificateFileWriter(
            store: driver.kit.store, directory: driver.output, verificationURL: "https://verifikasi.example/v/")
        #expect(await writer.runOnce() == issued.count)
        #expect(await writer.runOnce() == 0, "each certificate's files are written once")
        #expect(try await driver.kit.query("SELECT certificate_id FROM cert_files").isEmpty)
        let pdf = try Data(
            contentsOf: URL(fileURLWithPath: driver.output).appendingPathComponent(training.certificateID + ".pdf"))
        #expect(pdf.starts(with: Data("%PDF-".utf8)))
        #expect(pdf.count > 2_000)
        let json = try Data(
            contentsOf: URL(fileURLWithPath: driver.output).appendingPathComponent(training.certificateID + ".json"))
        #expect(verifier.verify(json, today: "2025-09-01") == .valid)
        // The page as a screen and a printer see it: rendered by poppler at 72, 150 and 300 dpi,
        // its QR code read by zbar each time (the code is an image mask scaled without smoothing).
        let base = URL(fileURLWithPath: driver.output).appendingPathComponent(training.certificateID).path
        for resolution in ["72", "150", "300"] {
            let render = try ChildProcess(
                "/usr/bin/pdftoppm", ["-r", resolution, "-png", "-singlefile", base + ".pdf", base])
            #expect(try await render.waitForExit(timeout: .seconds(60)) == 0, "\(render.output)")
            let scan = try ChildProcess("/usr/bin/zbarimg", ["--quiet", "--raw", base + ".png"], standardErrorToo: false)
            #expect(try await scan.waitForExit(timeout: .seconds(60)) == 0, "\(resolution) dpi")
            #expect(
                scan.output.trimmingCharacters(in: .whitespacesAndNewlines)
                    == "https://verifikasi.example/v/" + training.verificationCode,
                "the QR code holds the verification address at \(resolution) dpi")
            for process in [render, scan] { await process.terminate() }
        }
        // Its text: the holder's name, the official who signed, dates as Indonesians write them
        // (not ISO), and that the development key makes it a sample.
        let extract = try ChildProcess("/usr/bin/pdftotext", [base + ".pdf", "-"], standardErrorToo: false)
        #expect(try await extract.waitForExit(timeout: .seconds(60)) == 0)
        let page = extract.output
        #expect(page.contains("Diterbitkan: \(IndonesianCalendar.date(training.issuedOn))"), "\(page)")
        #expect(!page.contains(training.issuedOn), "no ISO date on the page")
        #expect(page.contains("Siti Aminah") && page.contains("Nomor peserta PST-1"), "\(page)")
        #expect(page.contains("Bontang, 8 Agustus 2025") && page.contains("Kepala UPTD BLKI Bontang"), "\(page)")
        #expect(page.contains("Nama Pejabat BLKI Bontang (contoh)") && page.contains("CONTOH"), "\(page)")
        #expect(!page.contains("Data sintetis"))
        // The competency record says what it is.
        let record = try #require(issued.last)
        let recordBase = URL(fileURLWithPath: driver.output).appendingPathComponent(record.certificateID).path
        let recordText = try ChildProcess("/usr/bin/pdftotext", [recordBase + ".pdf", "-"], standardErrorToo: false)
        #expect(try await recordText.waitForExit(timeout: .seconds(60)) == 0)
        #expect(recordText.output.contains("CATATAN SERTIFIKAT KOMPETENSI BNSP"), "\(recordText.output)")
        #expect(
            recordText.output.contains("bukan sertifikat BNSP") && recordText.output.contains("No. 55101 5151 2 0001234 2025"))
        #expect(recordText.output.contains("Samarinda, 12 Agustus 2025"), "signed by the provincial office's official")
        for process in [extract, recordText] { await process.terminate() }
        try? FileManager.default.removeItem(atPath: driver.output)
    }
}

/// The files follow the commit: a batch that rolls back leaves no signed certificate on disk,
/// and one committed before a crash is written when the writer next runs.
struct CertificateFileTests {
    @Test func aRolledBackIssueLeavesNoFileAndACommittedOneIsWrittenAfterACrash() async throws {
        let driver = try await CertificateDriver.make(outputDirectory: true)
        defer { try? FileManager.default.removeItem(atPath: driver.output) }
        let handler = driver.kit.handler
        let event = try ContractRegistry.pipeline.decode(
            try ContractJSON.encode(EventEnvelope(source: "/kaltim/workers/grading", data: CertificateDriver.graded("A-9"))))
        // The handler issues inside a transaction that a later message of its batch rolls back.
        await #expect(throws: CertificateTestError.self) {
            try await driver.kit.store.write { transaction in
                let events = try handler.handle(event, in: transaction)
                #expect(!events.isEmpty, "the certificate was issued inside the transaction")
                throw CertificateTestError()
            }
        }
        let writer = CertificateFileWriter(store: driver.kit.store, directory: driver.output)
        #expect(await writer.runOnce() == 0)
        #expect(try await driver.kit.query("SELECT certificate_id FROM cert_certificates").isEmpty)
        let folder = (try? FileManager.default.contentsOfDirectory(atPath: driver.output)) ?? []
        #expect(folder.isEmpty, "no file of a rolled-back certificate: \(folder)")

        // Committed, then the process dies before any writer ran: a new writer finds the row.
        let issued =
            try driver.issued(try await driver.trained())
            + driver.issued(try await driver.deliver(CertificateDriver.graded("A-10")))
        #expect(issued.count == 2, "a training certificate and a competency record")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: driver.output)) ?? []).isEmpty)
        #expect(await CertificateFileWriter(store: driver.kit.store, directory: driver.output).runOnce() == 2)
        let written = try FileManager.default.contentsOfDirectory(atPath: driver.output).sorted()
        #expect(
            written == issued.flatMap { [$0.certificateID + ".json", $0.certificateID + ".pdf"] }.sorted(),
            "no temporary file left")
        for certificate in issued {
            let json = try Data(contentsOf: URL(fileURLWithPath: driver.output + "/" + certificate.certificateID + ".json"))
            #expect(json == (try await driver.document(certificate.certificateID)), "the file is the stored signed document")
        }
    }

    /// A certificate whose files cannot be written stays waiting with its attempts counted, and
    /// does not hold back the others; it is tried again only after its wait (1 s, 2 s, 4 s, …),
    /// however many rounds come before, so the attempts last minutes, not one busy second.
    @Test func aCertificateThatCannotBeWrittenWaitsWithoutBlockingTheRest() async throws {
        let driver = try await CertificateDriver.make(outputDirectory: true)
        defer { try? FileManager.default.removeItem(atPath: driver.output) }
        // Training certificates only (no BNSP numbers, so no competency record).
        let first = try #require(try driver.issued(try await driver.trained()).first)
        let second = try #require(try driver.issued(try await driver.trained("PST-2")).first)
        // A folder where the first's PDF should go: its rename cannot replace it.
        try FileManager.default.createDirectory(
            atPath: driver.output + "/" + first.certificateID + ".pdf/blocked", withIntermediateDirectories: true)
        let clock = NotificationDeliveryTests.Clock(Date(timeIntervalSince1970: 1_751_000_000))
        let writer = CertificateFileWriter(
            store: driver.kit.store, directory: driver.output, batchSize: 1, now: { clock.date })
        #expect(await writer.runOnce() == 0)
        #expect(await writer.runOnce() == 1, "the next round takes the one that has not failed yet")
        func attempts() async throws -> Int64? {
            try await driver.kit.query("SELECT attempts FROM cert_files").first?["attempts"]?.integer
        }
        for _ in 1...5 { #expect(await writer.runOnce() == 0) }
        #expect(try await attempts() == 1, "rounds within its wait do not try it again")
        // The wait is in the store: another process writing the same store's files keeps to it.
        let replica = CertificateFileWriter(store: driver.kit.store, directory: driver.output, now: { clock.date })
        #expect(await replica.runOnce() == 0)
        #expect(try await attempts() == 1, "nor does another writer")
        var waited: TimeInterval = 0
        #expect(FileManager.default.fileExists(atPath: driver.output + "/" + second.certificateID + ".pdf"))
        let waiting = try await driver.kit.query("SELECT certificate_id, attempts FROM cert_files")
        #expect(waiting.count == 1)
        #expect(waiting.first?["certificate_id"]?.text == first.certificateID)
        #expect(waiting.first?["attempts"]?.integer == 1)
        // Tried again after each wait up to the limit, then left for an operator, not tried forever.
        for attempt in 1..<CertificateFileWriter.maximumAttempts {
            let delay = CertificateFileWriter.retryDelay(afterAttempts: attempt)
            clock.set(clock.date.addingTimeInterval(delay - 0.5))
            #expect(await writer.runOnce() == 0)
            #expect(try await attempts() == Int64(attempt), "half a second early: not tried")
            clock.set(clock.date.addingTimeInterval(0.5))
            waited += delay
            #expect(await writer.runOnce() == 0)
            #expect(try await attempts() == Int64(attempt + 1))
        }
        #expect(waited >= 500, "the attempts are spread over minutes: \(waited) s")
        clock.set(clock.date.addingTimeInterval(86_400))
        #expect(await writer.runOnce() == 0)
        #expect(try await attempts() == Int64(CertificateFileWriter.maximumAttempts))
        let names = try FileManager.default.contentsOfDirectory(atPath: driver.output)
        #expect(!names.contains { $0.contains(".tmp-") }, "no temporary file left: \(names)")
    }

    /// The writer as the worker runs it, its rounds overlapping (the next drawn while the last is
    /// flushed and recorded): every certificate's files once, none drawn twice, none left.
    @Test func overlappingRoundsWriteEveryCertificateOnce() async throws {
        let driver = try await CertificateDriver.make(outputDirectory: true)
        defer { try? FileManager.default.removeItem(atPath: driver.output) }
        let count = 21
        var ids: [String] = []
        for index in 0..<count {
            let participant = "PST-\(100 + index)"
            _ = try await driver.kit.deliver(
                EventEnvelope(
                    source: "/kaltim/workers/intake", time: Date().addingTimeInterval(-3600),
                    data: ParticipantNamedV1(
                        participantID: participant, registrationID: "REG-\(participant)", fullName: "Peserta \(index)")))
            _ = try await driver.kit.deliver(
                EventEnvelope(
                    source: "/test",
                    data: ClassScheduledV1(
                        participantID: participant, classID: "BTG-2025-TATA_GRAHA-01", centre: .bontang,
                        programme: "TATA_GRAHA", startDate: "2025-07-07", endDate: "2025-08-08", seat: 1)))
            ids += try driver.issued(try await driver.trained(participant)).map(\.certificateID)
        }
        #expect(ids.count == count)
        let writer = CertificateFileWriter(
            store: driver.kit.store, directory: driver.output, batchSize: 4, renderers: 2, idleInterval: .milliseconds(20))
        let service = Task { try await writer.run() }
        let store = driver.kit.store
        try await waitUntil(timeout: .seconds(300), "every certificate's files are written") {
            try await store.read("SELECT COUNT(*) AS n FROM cert_files", []).first?["n"]?.integer == 0
        }
        service.cancel()
        try await service.value
        #expect(writer.filesWritten == count, "each certificate written once")
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: driver.output))
        #expect(names == Set(ids.flatMap { [$0 + ".json", $0 + ".pdf"] }), "\(names)")
    }

    /// A stored id that is not a file name (a path) is refused, and nothing is written outside
    /// the folder.
    @Test func aCertificateIdThatIsAPathIsRefused() async throws {
        let driver = try await CertificateDriver.make(outputDirectory: true)
        defer { try? FileManager.default.removeItem(atPath: driver.output) }
        let issued = try #require(try driver.issued(try await driver.trained()).first)
        let document = try await driver.document(issued.certificateID)
        try await driver.kit.store.write { transaction in
            try transaction.execute(
                """
                INSERT INTO cert_certificates (certificate_id, participant_id, scheme, kind, issuer_code, year, serial, document)
                VALUES ('../escaped', 'PST-9', 'S', 'PELATIHAN', 'X', 2025, 1, ?)
                """, [.blob(document)])
            try transaction.execute("DELETE FROM cert_files")
            try transaction.execute("INSERT INTO cert_files (certificate_id, programme_name) VALUES ('../escaped', 'P')")
        }
        #expect(await CertificateFileWriter(store: driver.kit.store, directory: driver.output + "/inner").runOnce() == 0)
        #expect(!FileManager.default.fileExists(atPath: driver.output + "/escaped.pdf"))
        #expect(!FileManager.default.fileExists(atPath: driver.output + "/escaped.json"))
    }
}

/// The public key of a key that did not sign anything here.
func otherKey() -> String {
    (try? newSigner().publicKeyHex) ?? ""
}

/// A new random signing key (through a key file, as the worker reads one).
func newSigner() throws -> CertificateSigner {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("other-\(UUID().uuidString).key").path
    try CertificateSigner.generateHex().write(toFile: path, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try CertificateSigner(file: path)
}
