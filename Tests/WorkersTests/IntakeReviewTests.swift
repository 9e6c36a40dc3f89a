import ContractKit
import Contracts
import Foundation
import Jobs
import ReviewDesk
import Stores
import Testing
import Workers

/// An officer's review of a registration intake could not decide alone: the case the officer
/// sees, and what each decision does.
struct IntakeReviewTests {
    /// Siti's registration with a birth date one day off the registry's: a review.
    static func wrongDate(_ id: String) -> RegistrationSubmittedV2 {
        IntakeDriver.registration(id, birthDate: "1999-08-18")
    }

    static func decision(
        _ id: String, _ decision: RegistrationReviewedV1.Decision, officer: String = "Rina Wulandari (verifikator)",
        verified: [String] = [], reason: RegistrationReason? = nil, respondBy: String? = nil,
        messageID: String = UUID().uuidString
    ) -> EventEnvelope<RegistrationReviewedV1> {
        EventEnvelope(
            id: messageID, source: "/kaltim/office/review",
            data: RegistrationReviewedV1(
                registrationID: id, decision: decision, officer: officer, verifiedReasons: verified, reason: reason,
                respondBy: respondBy))
    }

    static func refusal(_ driver: IntakeDriver, _ envelope: EventEnvelope<RegistrationReviewedV1>) async -> Failure? {
        do {
            _ = try await driver.kit.deliver(envelope)
            return nil
        } catch {
            return error as? Failure
        }
    }

    @Test func theCaseShowsDeclaredBesideRegistryAndAnApprovalAcceptsWithTheOriginalTimeAndTier() async throws {
        let driver = try await IntakeDriver.make()
        let submittedAt = Date(timeIntervalSince1970: 1_743_562_798)
        let submitted = try await driver.kit.deliver(
            EventEnvelope(id: "sub-1", source: "/kaltim/registration-portal", time: submittedAt, data: Self.wrongDate("REG-R1")))
        #expect(submitted.events.first?.type == RegistrationReviewNeededV1.eventType)

        let pending = try await ReviewCase.read(from: driver.kit.store)
        let reviewCase = try #require(pending.first)
        #expect(pending.count == 1 && reviewCase.isPending && reviewCase.state == "open")
        #expect(Set(reviewCase.reasons.map(\.code)) == ["NIK_DATA_MISMATCH", "REGISTRY_BIRTH_DATE_MISMATCH"])
        let file = try #require(reviewCase.caseFile)
        #expect(file.maskedNIK == "************9901")
        #expect(file.declared.birthDate == "1999-08-18" && file.registry?.birthDate == "1999-08-17")
        #expect(file.registry?.fullName == "Siti Rahmawati" && file.registry?.livesInKaltim == true)
        // The store never holds the NIK in clear, the case file included.
        let rows = try await driver.kit.query("SELECT * FROM intake_reviews")
        #expect(!"\(rows)".contains("6474015708999901"))

        // While in review, the same person cannot register again.
        #expect(try await driver.submit(IntakeDriver.registration("REG-R2")).codes == ["DUPLICATE_REGISTRATION"])

        // The office corrects the name while the case is open: the approval names the
        // participant by the corrected name.
        let correction = RegistrationCorrectedV1(
            registrationID: "REG-R1", fullName: "  Siti Rahmawati Putri ", phone: nil, whatsApp: nil, email: nil,
            correctedBy: "Petugas PPDP", reference: "KOREKSI/2025/7")
        #expect(try await driver.kit.deliver(EventEnvelope(source: "/kaltim/office", data: correction)).events.isEmpty)
        let approval = try await driver.kit.deliver(
            Self.decision(
                "REG-R1", .approve, verified: ["NIK_DATA_MISMATCH", "REGISTRY_BIRTH_DATE_MISMATCH"], messageID: "rev-1"))
        let event = try #require(approval.events.first)
        #expect(
            approval.events.map(\.type) == [RegistrationAcceptedV1.eventType, ParticipantNamedV1.eventType]
                && event.type == RegistrationAcceptedV1.eventType)
        let named = try ContractJSON.decoder().decode(
            EventEnvelope<ParticipantNamedV1>.self, from: try #require(approval.events.last).body
        ).data
        let accepted = try driver.accepted(event)
        #expect(named.participantID == accepted.participantID && named.fullName == "Siti Rahmawati Putri")
        // A later correction of the accepted participant's name goes on to the certificates role.
        let later = RegistrationCorrectedV1(
            registrationID: "REG-R1", fullName: "Siti Rahmawati", phone: nil, whatsApp: nil, email: nil,
            correctedBy: "Petugas PPDP", reference: "KOREKSI/2025/8")
        // Dated at the office's correction, not when intake handled it: the certificates role
        // keeps the newest name, and a correction retried after a later one must not win.
        let correctedAt = Date(timeIntervalSince1970: 1_750_000_000)
        let renamed = try await driver.kit.deliver(EventEnvelope(source: "/kaltim/office", time: correctedAt, data: later))
            .events
        #expect(renamed.map(\.type) == [ParticipantNamedV1.eventType])
        let renamedEnvelope = try ContractJSON.decoder().decode(
            EventEnvelope<ParticipantNamedV1>.self, from: try #require(renamed.first).body)
        let renamedBody = renamedEnvelope.data
        #expect(renamedBody.fullName == "Siti Rahmawati" && renamedBody.participantID == accepted.participantID)
        #expect(renamedEnvelope.time == correctedAt)
        // A correction that only changes contacts, or names an unknown registration, says nothing;
        // a name that is no name is refused.
        let phoneOnly = RegistrationCorrectedV1(
            registrationID: "REG-R1", fullName: nil, phone: "+6281250001999", whatsApp: nil, email: nil,
            correctedBy: "Petugas PPDP", reference: "KOREKSI/2025/9")
        #expect(try await driver.kit.deliver(EventEnvelope(source: "/kaltim/office", data: phoneOnly)).events.isEmpty)
        let stranger = RegistrationCorrectedV1(
            registrationID: "REG-UNKNOWN", fullName: "Orang Lain", phone: nil, whatsApp: nil, email: nil,
            correctedBy: "Petugas PPDP", reference: "KOREKSI/2025/10")
        do {
            _ = try await driver.kit.deliver(EventEnvelope(source: "/kaltim/office", data: stranger))
            Issue.record("a correction of an unknown registration was dropped")
        } catch let failure as Failure {
            #expect(failure.code == .registrationUnknown && failure.kind == .transient, "it may be on its way")
        }
        for bad in ["   ", "Siti\u{0}Rahma", String(repeating: "a", count: 201)] {
            let correction = RegistrationCorrectedV1(
                registrationID: "REG-R1", fullName: bad, phone: nil, whatsApp: nil, email: nil,
                correctedBy: "Petugas PPDP", reference: "KOREKSI/2025/11")
            await #expect(throws: (any Error).self, "\(bad.prefix(10))") {
                _ = try await driver.kit.deliver(EventEnvelope(source: "/kaltim/office", data: correction))
            }
        }
        #expect(accepted.registrationID == "REG-R1" && accepted.participantID.hasPrefix("PST-2025-"))
        #expect(accepted.priorityTier == .neverTrained && accepted.centre == .bontang && accepted.apprenticeshipInterest)
        #expect(accepted.submittedAt == submittedAt, "scheduling orders by the original submission time")
        #expect(try await ReviewCase.read(from: driver.kit.store).isEmpty, "nothing pending")
        let decided = try #require(try await ReviewCase.read(from: driver.kit.store, pendingOnly: false).first)
        #expect(decided.state == "approved" && decided.caseFile == nil, "the personal data of the case is removed")
        let audit = try await driver.kit.query("SELECT officer, decision, verified_reasons FROM intake_review_log")
        #expect(audit.count == 1 && audit[0]["officer"]?.text == "Rina Wulandari (verifikator)")
        #expect(audit[0]["decision"]?.text == "DISETUJUI")

        // The same decision again (a redelivery) changes nothing; another decision is refused.
        #expect(try await driver.kit.deliver(Self.decision("REG-R1", .approve, messageID: "rev-1")).duplicate)
        let second = await Self.refusal(
            driver, Self.decision("REG-R1", .reject, reason: RegistrationReason(code: "X_Y", message: "Tidak.")))
        #expect(second?.code == .reviewAlreadyDecided && second?.kind == .permanent)
    }

    @Test func aRejectionFreesThePersonForALaterRegistration() async throws {
        let driver = try await IntakeDriver.make()
        _ = try await driver.submit(Self.wrongDate("REG-R3"))
        let reason = RegistrationReason(code: "DATA_TIDAK_SESUAI", message: "Tanggal lahir pada akta tidak sesuai dengan KTP-el.")
        let rejection = try await driver.kit.deliver(Self.decision("REG-R3", .reject, reason: reason))
        let event = try #require(rejection.events.first)
        #expect(event.type == RegistrationRejectedV1.eventType)
        let rejected = try ContractJSON.decoder().decode(EventEnvelope<RegistrationRejectedV1>.self, from: event.body).data
        #expect(rejected.reasons == [reason])
        // Decided: the person may register again, with corrected data.
        #expect(try await driver.submit(IntakeDriver.registration("REG-R4")).type == RegistrationAcceptedV1.eventType)
    }

    @Test func aRequestForDocumentsKeepsTheReviewOpenUntilTheOfficerDecides() async throws {
        let driver = try await IntakeDriver.make()
        _ = try await driver.submit(Self.wrongDate("REG-R5"))
        let reason = RegistrationReason(code: "AKTA_DIPERLUKAN", message: "Mohon bawa akta kelahiran asli.")
        let request = try await driver.kit.deliver(
            Self.decision("REG-R5", .requestDocuments, reason: reason, respondBy: "2025-04-14"))
        let event = try #require(request.events.first)
        let documents = try ContractJSON.decoder().decode(
            EventEnvelope<RegistrationDocumentsRequestedV1>.self, from: event.body
        ).data
        #expect(documents == .init(registrationID: "REG-R5", centre: .bontang, reason: reason, respondBy: "2025-04-14"))
        let pending = try await ReviewCase.read(from: driver.kit.store)
        #expect(pending.map(\.state) == ["documents-requested"] && pending[0].caseFile != nil)
        let approval = try await driver.kit.deliver(
            Self.decision("REG-R5", .approve, verified: ["NIK_DATA_MISMATCH", "REGISTRY_BIRTH_DATE_MISMATCH"]))
        #expect(approval.events.map(\.type) == [RegistrationAcceptedV1.eventType, ParticipantNamedV1.eventType])
        let audit = try await driver.kit.query("SELECT decision FROM intake_review_log ORDER BY decided_at, decision")
        #expect(Set(audit.compactMap { $0["decision"]?.text }) == ["PERLU_DOKUMEN", "DISETUJUI"])
    }

    /// What an officer's tool, or someone posing as one, might send.
    @Test func decisionsThatCannotBeCarriedOutAreRefusedWithTheReasonAndChangeNothing() async throws {
        let driver = try await IntakeDriver.make()
        _ = try await driver.submit(Self.wrongDate("REG-R6"))
        let reason = RegistrationReason(code: "DATA_TIDAK_SESUAI", message: "Data tidak sesuai.")
        let refused: [(EventEnvelope<RegistrationReviewedV1>, Failure.Code)] = [
            (Self.decision("REG-NONE", .approve), .reviewUnknown),
            (Self.decision("REG-R6", .approve, verified: ["NIK_DATA_MISMATCH"]), .invalidReviewDecision),
            (Self.decision("REG-R6", .approve, officer: "  ", verified: ["NIK_DATA_MISMATCH"]), .invalidReviewDecision),
            (
                Self.decision("REG-R6", .reject, officer: String(repeating: "x", count: 201), reason: reason),
                .invalidReviewDecision
            ),
            (Self.decision("REG-R6", .reject), .invalidReviewDecision),
            (Self.decision("REG-R6", .requestDocuments), .invalidReviewDecision),
            (
                Self.decision("REG-R6", .requestDocuments, reason: reason, respondBy: "2025-02-30"),
                .invalidReviewDecision
            ),
            (
                Self.decision("REG-R6", .reject, reason: RegistrationReason(code: "lower", message: "x")),
                .invalidReviewDecision
            ),
            (
                Self.decision(
                    "REG-R6", .reject, reason: RegistrationReason(code: "NIK", message: "NIK 6474015708999901 ditolak.")),
                .invalidReviewDecision
            ),
            (
                Self.decision(
                    "REG-R6", .reject, reason: RegistrationReason(code: "NIK", message: "NIK 6474 0157 0899 9901 salah.")),
                .invalidReviewDecision
            ),
            (
                Self.decision(
                    "REG-R6", .approve, verified: ["NIK_DATA_MISMATCH", "REGISTRY_BIRTH_DATE_MISMATCH", "lower case"]),
                .invalidReviewDecision
            ),
            (
                Self.decision(
                    "REG-R6", .reject, reason: RegistrationReason(code: "X_Y", message: String(repeating: "a", count: 501))),
                .invalidReviewDecision
            ),
        ]
        for (envelope, code) in refused {
            let failure = await Self.refusal(driver, envelope)
            #expect(failure?.code == code && failure?.kind == .permanent, "\(envelope.data)")
            #expect(failure.map { !"\($0)".contains("6474015708999901") } ?? true, "no NIK in the error")
        }
        let pending = try await ReviewCase.read(from: driver.kit.store)
        #expect(pending.map(\.state) == ["open"], "nothing changed")
        #expect(try await driver.kit.query("SELECT * FROM intake_review_log").isEmpty)
    }
}
