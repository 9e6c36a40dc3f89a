import CertificateTrust
import ContractKit
import Contracts
import Foundation
import Jobs
import Stores
import TestSupport
import Testing
import Workers

/// An LSP's corrections of a competency assessment, in every order two replicas, a retry tier
/// or a dead-letter replay can deliver them: the record follows the result in force (the one
/// no other corrects), a correction back to KOMPETEN gives the record back, a correction of the
/// numbers replaces it, and what the office revoked stays revoked.
struct CompetencyCorrectionTests {
    /// A graded assessment as grading sends it, at `minute` past 10:00 on 15 August 2025.
    static func graded(
        _ id: String, competent: Bool = true, supersedes: String? = nil, number: String = "No. 55101 5151 2 0001234 2025"
    ) -> AssessmentGradedV2 {
        var graded = CertificateDriver.graded(id, competent: competent, supersedes: supersedes)
        if competent { graded.lspCertificateNumber = number }
        return graded
    }

    static func time(_ minute: Int) -> Date { Date(timeIntervalSince1970: 1_755_223_200 + Double(minute) * 60) }

    /// Delivers the assessments in the given order, each stamped with grading's time.
    static func deliver(_ driver: CertificateDriver, _ steps: [(AssessmentGradedV2, Int)]) async throws
        -> [[OutgoingEvent]]
    {
        var outputs: [[OutgoingEvent]] = []
        for (graded, minute) in steps {
            outputs.append(
                try await driver.kit.deliver(
                    EventEnvelope(source: "/kaltim/workers/grading", time: time(minute), data: graded)
                ).events)
        }
        return outputs
    }

    /// The competency records of PST-1 in force (not revoked), with their numbers.
    static func inForce(_ driver: CertificateDriver) async throws -> [(id: String, number: String)] {
        try await driver.kit.query(
            """
            SELECT c.certificate_id, c.document FROM cert_certificates c
            LEFT JOIN cert_revocations r ON r.certificate_id = c.certificate_id
            WHERE c.participant_id = 'PST-1' AND c.kind = 'KOMPETENSI' AND r.certificate_id IS NULL
            """
        ).map { row in
            guard case .blob(let data) = row["document"],
                let document = try? JSONDecoder().decode(CertificateDocument.self, from: data)
            else { return ("", "") }
            return (row["certificate_id"]?.text ?? "", document.payload.certificateNumber)
        }
    }

    @Test func aCorrectionBackToCompetentGivesTheRecordBack() async throws {
        let driver = try await CertificateDriver.make()
        let outputs = try await Self.deliver(
            driver,
            [
                (Self.graded("A-1"), 1), (Self.graded("A-2", competent: false, supersedes: "A-1"), 2),
                (Self.graded("A-3", supersedes: "A-2"), 3),
            ])
        let first = try #require(try driver.issued(outputs[0]).first)
        #expect(outputs[1].map(\.type) == [CertificateRevokedV1.eventType])
        let again = try #require(try driver.issued(outputs[2]).first, "the competence given back gives the record back")
        #expect(again.certificateID != first.certificateID && again.kind == .competency)
        #expect(again.certificateNumber == "No. 55101 5151 2 0001234 2025")
        #expect(try await Self.inForce(driver).map(\.id) == [again.certificateID])
        // The same correction again (a replay under a new message id) changes nothing.
        #expect(try await Self.deliver(driver, [(Self.graded("A-3", supersedes: "A-2"), 3)]).allSatisfy(\.isEmpty))
        #expect(try await Self.inForce(driver).count == 1)
    }

    @Test(arguments: [
        // (the order of arrival, by assessment; whether a record is in force at the end)
        (["A-1", "A-3", "A-2"], true),  // the BELUM KOMPETEN correction arrives after the one correcting it
        (["A-3", "A-1", "A-2"], true),
        (["A-1", "A-2", "A-3"], true),
        (["A-2", "A-1", "A-3"], true),
        (["A-2", "A-3", "A-1"], true),
        (["A-3", "A-2", "A-1"], true),
        // Without the last correction, BELUM KOMPETEN is in force.
        (["A-1", "A-2"], false),
        (["A-2", "A-1"], false),
    ])
    func theResultInForceDecidesWhateverTheOrderOfArrival(order: [String], competentAtTheEnd: Bool) async throws {
        // Grading's chain: A-1 KOMPETEN, A-2 corrects it to BELUM KOMPETEN, A-3 corrects that to KOMPETEN.
        let chain: [String: (AssessmentGradedV2, Int)] = [
            "A-1": (Self.graded("A-1"), 1), "A-2": (Self.graded("A-2", competent: false, supersedes: "A-1"), 2),
            "A-3": (Self.graded("A-3", supersedes: "A-2"), 3),
        ]
        let driver = try await CertificateDriver.make()
        _ = try await Self.deliver(driver, order.compactMap { chain[$0] })
        #expect(try await Self.inForce(driver).count == (competentAtTheEnd ? 1 : 0), "\(order)")
    }

    @Test(arguments: [["B-1", "B-2", "B-3"], ["B-1", "B-3", "B-2"], ["B-3", "B-2", "B-1"]])
    func aLateCompetentResultDoesNotUndoTheBelumKompetenInForce(order: [String]) async throws {
        // B-1 KOMPETEN, B-2 corrects it (still KOMPETEN), B-3 corrects that to BELUM KOMPETEN.
        let chain: [String: (AssessmentGradedV2, Int)] = [
            "B-1": (Self.graded("B-1"), 1), "B-2": (Self.graded("B-2", supersedes: "B-1"), 2),
            "B-3": (Self.graded("B-3", competent: false, supersedes: "B-2"), 3),
        ]
        let driver = try await CertificateDriver.make()
        _ = try await Self.deliver(driver, order.compactMap { chain[$0] })
        #expect(try await Self.inForce(driver).isEmpty, "\(order)")
    }

    /// Grading's replicas may stamp a chain out of order: the chain, not the clock, says which
    /// result is in force once it is whole, and the message that completes it lets that result
    /// take effect even though it is not the result in force itself.
    @Test func theChainNotTheClockDecidesOnceItIsWhole() async throws {
        let competentAtTheEnd = try await CertificateDriver.make()
        _ = try await Self.deliver(
            competentAtTheEnd,
            [
                (Self.graded("A-1"), 10), (Self.graded("A-3", supersedes: "A-2"), 5),
                (Self.graded("A-2", competent: false, supersedes: "A-1"), 8),
            ])
        #expect(try await Self.inForce(competentAtTheEnd).count == 1)
        let belumAtTheEnd = try await CertificateDriver.make()
        let outputs = try await Self.deliver(
            belumAtTheEnd,
            [
                (Self.graded("B-1"), 10), (Self.graded("B-3", competent: false, supersedes: "B-2"), 5),
                (Self.graded("B-2", supersedes: "B-1"), 8),
            ])
        #expect(outputs[1].isEmpty, "B-1 is still the latest result no other supersedes")
        #expect(outputs[2].map(\.type) == [CertificateRevokedV1.eventType], "B-2 completes the chain: B-3 is in force")
        #expect(try await Self.inForce(belumAtTheEnd).isEmpty)
    }

    @Test func aResultDatedAheadOfTheWorkersClockWaitsAndChangesNothing() async throws {
        let driver = try await CertificateDriver.make()
        _ = try await Self.deliver(driver, [(Self.graded("A-1"), 1)])
        // A correction stamped a day ahead: it would stay in force against every later one.
        let ahead = Date().addingTimeInterval(86_400)
        do {
            _ = try await driver.kit.deliver(
                EventEnvelope(
                    source: "/kaltim/workers/grading", time: ahead,
                    data: Self.graded("A-9", competent: false, supersedes: "A-1")))
            Issue.record("a result dated ahead was taken")
        } catch let failure as Failure {
            #expect(failure.code == .gradeDatedAhead && failure.kind == .transient)
        }
        #expect(try await driver.kit.query("SELECT 1 FROM cert_grades WHERE assessment_id = 'A-9'").isEmpty)
        #expect(try await Self.inForce(driver).count == 1)
        // The next real correction still takes effect.
        _ = try await Self.deliver(driver, [(Self.graded("A-2", competent: false, supersedes: "A-1"), 2)])
        #expect(try await Self.inForce(driver).isEmpty)
    }

    @Test func aRevocationOfACertificateNeverIssuedHereIsRefused() async throws {
        let driver = try await CertificateDriver.make()
        // Ids follow a series: revoking the next one ahead would stand against it once issued.
        do {
            _ = try await driver.kit.deliver(
                EventEnvelope(
                    source: "/kaltim/admin/revoke-certificate",
                    data: CertificateRevokedV1(
                        certificateID: "KOM-BNSP-LSP-0123-ID-2025-KOM-00001", participantID: "PST-1", reasonCode: "FRAUD")))
            Issue.record("a revocation of an unknown certificate was recorded")
        } catch let failure as Failure {
            #expect(failure.code == .unknownCertificate && failure.kind == .permanent)
        }
        let issued = try #require(try driver.issued(try await Self.deliver(driver, [(Self.graded("A-1"), 1)])[0]).first)
        #expect(try await Self.inForce(driver).map(\.id) == [issued.certificateID], "issued, and in force")
    }

    @Test func aRecordIssuedAgainAndThenRenamedGoesToTheReissueSeries() async throws {
        let driver = try await CertificateDriver.make()
        let outputs = try await Self.deliver(
            driver,
            [
                (Self.graded("A-1"), 1), (Self.graded("A-2", competent: false, supersedes: "A-1"), 2),
                (Self.graded("A-3", supersedes: "A-2"), 3),
            ])
        let again = try #require(try driver.issued(outputs[2]).first)
        #expect(again.certificateID == "KOM-BNSP-LSP-0123-ID-2025-KOM-00002", "the LSP's own series")
        let renamed = try await driver.kit.deliver(
            EventEnvelope(
                source: "/kaltim/workers/intake",
                data: ParticipantNamedV1(participantID: "PST-1", registrationID: "REG-PST-1", fullName: "Siti Aminah Putri")))
        let reissued = try #require(try driver.issued(renamed.events).first)
        #expect(reissued.certificateID == "KOM-BNSP-LSP-0123-ID-R-2025-KOM-00001", "the reissue series")
    }

    @Test func correctedNumbersReplaceTheRecordAndTheOldOneIsRevoked() async throws {
        let driver = try await CertificateDriver.make()
        let outputs = try await Self.deliver(
            driver,
            [(Self.graded("A-1", number: "No. 55101 5151 2 0009999 2025"), 1), (Self.graded("A-2", supersedes: "A-1"), 2)])
        let wrong = try #require(try driver.issued(outputs[0]).first)
        #expect(outputs[1].map(\.type) == [CertificateRevokedV1.eventType, CertificateIssuedV2.eventType])
        let revoked = try ContractJSON.decoder().decode(EventEnvelope<CertificateRevokedV1>.self, from: outputs[1][0].body)
        #expect(revoked.data.certificateID == wrong.certificateID && revoked.data.reasonCode == "ASSESSMENT_CORRECTED")
        #expect(try await Self.inForce(driver).map(\.number) == ["No. 55101 5151 2 0001234 2025"])
    }

    @Test func whatTheOfficeRevokedStaysRevokedWhateverCorrectionFollows() async throws {
        let driver = try await CertificateDriver.make()
        let first = try #require(try driver.issued(try await Self.deliver(driver, [(Self.graded("A-1"), 1)])[0]).first)
        _ = try await driver.kit.deliver(
            EventEnvelope(
                source: "/kaltim/admin/revoke-certificate",
                data: CertificateRevokedV1(certificateID: first.certificateID, participantID: "PST-1", reasonCode: "FRAUD")))
        let later = try await Self.deliver(
            driver,
            [
                (Self.graded("A-2", supersedes: "A-1", number: "No. 55101 5151 2 0007777 2025"), 2),
                (Self.graded("A-3", competent: false, supersedes: "A-2"), 3), (Self.graded("A-4", supersedes: "A-3"), 4),
            ])
        let nothing = later.allSatisfy(\.isEmpty)
        #expect(nothing, "no record again after the office's revocation")
        #expect(try await Self.inForce(driver).isEmpty)
        // The result waits where operators see it.
        let waiting = try await driver.kit.query("SELECT assessment_id, reason FROM cert_pending")
        #expect(waiting.contains { $0["assessment_id"]?.text == "A-4" && $0["reason"]?.text == "REVOCATION_STANDS" })
    }

    @Test func aRecordTheOfficeWithdrewAsWrongDataComesBackOnlyWithTheLSPsCorrectedDetails() async throws {
        let driver = try await CertificateDriver.make()
        let wrong = try #require(
            try driver.issued(
                try await Self.deliver(driver, [(Self.graded("A-1", number: "No. 55101 5151 2 0009999 2025"), 1)])[0]
            ).first)
        _ = try await driver.kit.deliver(
            EventEnvelope(
                source: "/kaltim/admin/revoke-certificate",
                data: CertificateRevokedV1(certificateID: wrong.certificateID, participantID: "PST-1", reasonCode: "DATA_ERROR")))
        // The same details again (a replay of the result it was made from): still withdrawn.
        let same = try await Self.deliver(
            driver, [(Self.graded("A-2", supersedes: "A-1", number: "No. 55101 5151 2 0009999 2025"), 2)])
        #expect(same[0].isEmpty)
        // The LSP's correction with the right number: a record again, with it.
        let corrected = try await Self.deliver(driver, [(Self.graded("A-3", supersedes: "A-2"), 3)])
        #expect(try driver.issued(corrected[0]).map(\.certificateNumber) == ["No. 55101 5151 2 0001234 2025"])
        #expect(try await Self.inForce(driver).count == 1)
    }

    @Test func anOfficeRevocationDressedAsACorrectionIsStillTheOffices() async throws {
        let driver = try await CertificateDriver.make()
        let first = try #require(try driver.issued(try await Self.deliver(driver, [(Self.graded("A-1"), 1)])[0]).first)
        // A publisher other than this role using its reason: recorded as the office's.
        _ = try await driver.kit.deliver(
            EventEnvelope(
                source: "/kaltim/admin/revoke-certificate",
                data: CertificateRevokedV1(
                    certificateID: first.certificateID, participantID: "PST-1", reasonCode: "ASSESSMENT_CORRECTED")))
        #expect(try await Self.inForce(driver).isEmpty)
        let later = try await Self.deliver(
            driver,
            [(Self.graded("A-2", competent: false, supersedes: "A-1"), 2), (Self.graded("A-3", supersedes: "A-2"), 3)])
        let nothing = later.allSatisfy(\.isEmpty)
        #expect(nothing)
        #expect(try await Self.inForce(driver).isEmpty)
        // This role's own revocation coming back from the exchange is not taken for the office's.
        let driver2 = try await CertificateDriver.make()
        let outputs = try await Self.deliver(
            driver2, [(Self.graded("A-1"), 1), (Self.graded("A-2", competent: false, supersedes: "A-1"), 2)])
        _ = try await driver2.kit.deliver(body: try #require(outputs[1].first).body)
        #expect(try driver2.issued(try await Self.deliver(driver2, [(Self.graded("A-3", supersedes: "A-2"), 3)])[0]).count == 1)
    }

    @Test func aRecordWaitingForTheLSPsNumbersIsIssuedByTheCorrectionThatBringsThem() async throws {
        let driver = try await CertificateDriver.make()
        var missing = Self.graded("A-1")
        missing.lspCertificateNumber = nil
        #expect(try await Self.deliver(driver, [(missing, 1)]).allSatisfy(\.isEmpty))
        #expect(try await driver.kit.query("SELECT 1 FROM cert_pending").count == 1)
        let issued = try await Self.deliver(driver, [(Self.graded("A-2", supersedes: "A-1"), 2)])
        #expect(try driver.issued(issued[0]).count == 1)
        #expect(try await driver.kit.query("SELECT 1 FROM cert_pending").isEmpty, "the wait is over")
        // A result corrected to BELUM KOMPETEN while it waited: nothing waits any more.
        let other = try await CertificateDriver.make()
        _ = try await Self.deliver(other, [(missing, 1), (Self.graded("A-2", competent: false, supersedes: "A-1"), 2)])
        #expect(try await other.kit.query("SELECT 1 FROM cert_pending").isEmpty)
    }
}
