import ContractKit
import Contracts
import DataProtection
import Foundation
import Jobs
import Programme
import Senders
import Stores
import TestSupport
import Testing
import Workers

/// Consent: an applicant under 18 needs a parent's or guardian's (UU 27/2022 Art. 25), and a
/// withdrawn consent stops the registration in intake and every message to the person.
struct ConsentTests {
    /// Two more synthetic residents: a child (17 on the reference date, 2025-07-01) and someone
    /// who turns 18 on that very day.
    static let registry =
        registryCSV + """

            6474015108079907,Putri Lestari,2007-08-11,P,6474011001
            6474010107079908,Budi Santoso,2007-07-01,L,6474011001
            """

    static func intake() async throws -> HandlerTestKit {
        let catalogue = try ProgrammeCatalogue.load(path: repositoryFile("config/programme-2025.json"))
        let kit = try await HandlerTestKit(
            handler: IntakeHandler(catalogue: catalogue, nikKey: .development), registry: .pipeline)
        #expect(try await IntakeImport.registry(csv: registry, into: kit.store, key: .development).imported == 7)
        return kit
    }

    static let parent = GuardianConsent(
        guardianName: "Rahma Lestari", relation: .parent, givenAt: "2025-03-05T01:08:40Z", textVersion: "pdp-wali-2025-01")

    static func child(_ id: String, guardian: GuardianConsent?, birthDate: String = "2007-08-11") -> RegistrationSubmittedV3 {
        RegistrationSubmittedV3(
            registrationID: id, nik: "6474015108079907", fullName: "Putri Lestari", birthPlace: "Bontang",
            birthDate: birthDate, sex: .female, phone: "0812-5000-3003", whatsApp: nil, email: nil,
            domicile: Domicile(regionCode: "6474011001", address: "Jl. Contoh 3"), education: .sma,
            employmentStatus: .unemployed, jobSeekerCardNumber: nil, preferredCentre: .bontang, programme: "TATA_GRAHA",
            secondChoiceProgramme: nil, apprenticeshipInterest: false, declaredTrainings: [],
            consent: Consent(given: true, givenAt: "2025-03-05T01:09:12Z", textVersion: "pdp-2025-01"),
            guardianConsent: guardian)
    }

    static func submit(_ registration: RegistrationSubmittedV3, to kit: HandlerTestKit) async throws -> (String, [String]) {
        let result = try await kit.deliver(EventEnvelope(source: "/kaltim/registration-portal", data: registration))
        let decision = try #require(result.events.first)
        if decision.type == RegistrationRejectedV1.eventType {
            let rejected = try ContractJSON.decoder().decode(EventEnvelope<RegistrationRejectedV1>.self, from: decision.body)
            return (decision.type, rejected.data.reasons.map(\.code))
        }
        return (decision.type, [])
    }

    static func withdrawal(_ registration: String, at time: String = "2025-07-10T01:30:00Z", recordedBy: String = "petugas-7")
        -> EventEnvelope<ConsentWithdrawnV1>
    {
        EventEnvelope(
            source: "/kaltim/admin/subject-withdraw-consent",
            data: ConsentWithdrawnV1(
                registrationID: registration, withdrawnBy: .parentOrGuardian, withdrawnAt: time, recordedBy: recordedBy,
                reference: "PDP-19"))
    }

    @Test func aChildWithoutAParentsConsentIsRejectedAndWithOneIsAcceptedAndTheConsentKept() async throws {
        let kit = try await Self.intake()
        let without = try await Self.submit(Self.child("REG-C1", guardian: nil), to: kit)
        #expect(without.0 == RegistrationRejectedV1.eventType && without.1 == ["GUARDIAN_CONSENT_MISSING"])
        // A consent that cannot be relied on is no consent: no name, a name with a control
        // character, no time, a time that is not one, no text version.
        var blankName = Self.parent
        blankName.guardianName = "   "
        var hiddenText = Self.parent
        hiddenText.guardianName = "Rahma\u{202E}atsel"
        var noTime = Self.parent
        noTime.givenAt = "kemarin"
        var noVersion = Self.parent
        noVersion.textVersion = ""
        for (index, bad) in [blankName, hiddenText, noTime, noVersion].enumerated() {
            let outcome = try await Self.submit(Self.child("REG-C\(index + 2)", guardian: bad), to: kit)
            #expect(outcome.1 == ["GUARDIAN_CONSENT_MISSING"], "consent \(index)")
        }
        // A child is a child by the NIK's birth date too, whatever was typed.
        let typedOlder = try await Self.submit(Self.child("REG-C7", guardian: nil, birthDate: "2000-08-11"), to: kit)
        #expect(typedOlder.1.contains("GUARDIAN_CONSENT_MISSING"))

        let with = try await Self.submit(Self.child("REG-C8", guardian: Self.parent), to: kit)
        #expect(with.0 == RegistrationAcceptedV2.eventType)
        let consents = try await kit.query("SELECT * FROM intake_consents")
        #expect(consents.count == 1, "rejected registrations keep no consent record")
        let kept = try #require(consents.first)
        #expect(kept["registration_id"] == .text("REG-C8") && kept["guardian_name"] == .text("Rahma Lestari"))
        #expect(kept["guardian_relation"] == .text("ORANG_TUA") && kept["guardian_given_at"] == .text("2025-03-05T01:08:40Z"))
        #expect(kept["text_version"] == .text("pdp-2025-01") && kept["withdrawn_at"] == .null)
    }

    @Test func anAdultNeedsNoParentAndTheirParentsNameIsNotKept() async throws {
        let kit = try await Self.intake()
        // 18 on the reference date itself.
        var adult = Self.child("REG-A1", guardian: Self.parent, birthDate: "2007-07-01")
        adult.nik = "6474010107079908"
        adult.fullName = "Budi Santoso"
        adult.sex = .male
        #expect(try await Self.submit(adult, to: kit).0 == RegistrationAcceptedV2.eventType)
        let kept = try #require(try await kit.query("SELECT * FROM intake_consents").first)
        #expect(kept["guardian_name"] == .null && kept["guardian_relation"] == .null)
        #expect(kept["given_at"] == .text("2025-03-05T01:09:12Z"))
    }

    @Test func aWithdrawalAsksSchedulingToWithdrawAnAcceptedParticipantOnce() async throws {
        let kit = try await Self.intake()
        let accepted = try await kit.deliver(
            EventEnvelope(source: "/kaltim/registration-portal", data: Self.child("REG-W1", guardian: Self.parent)))
        let participant = try ContractJSON.decoder().decode(
            EventEnvelope<RegistrationAcceptedV2>.self, from: try #require(accepted.events.first).body
        ).data.participantID
        // 01:30 UTC on the 10th is 09:30 WITA the same day; 17:00 UTC is the next day in WITA.
        let result = try await kit.deliver(Self.withdrawal("REG-W1", at: "2025-07-10T17:00:00Z", recordedBy: "  petugas-7 "))
        let request = try #require(result.events.first)
        #expect(result.events.count == 1 && request.type == EnrolmentWithdrawalRequestedV1.eventType)
        let asked = try ContractJSON.decoder().decode(EventEnvelope<EnrolmentWithdrawalRequestedV1>.self, from: request.body)
            .data
        #expect(asked.participantID == participant && asked.classID == nil && asked.reason == .participantResigned)
        #expect(asked.on == "2025-07-11" && asked.requestedBy == "petugas-7")
        let row = try #require(try await kit.query("SELECT * FROM intake_consents WHERE registration_id = 'REG-W1'").first)
        #expect(row["withdrawn_by"] == .text("ORANG_TUA_WALI") && row["withdrawal_reference"] == .text("PDP-19"))
        #expect(row["guardian_name"] == .text("Rahma Lestari"), "the consent given stays on record")
        // The same withdrawal again (another message id): nothing more.
        #expect(try await kit.deliver(Self.withdrawal("REG-W1")).events.isEmpty)
        // The NIK stays this year's registration: a new one is a duplicate, not a second seat.
        let again = try await Self.submit(Self.child("REG-W2", guardian: Self.parent), to: kit)
        #expect(again.1 == ["DUPLICATE_REGISTRATION"])
    }

    @Test func aWithdrawalEndsAReviewAndDeletesItsCaseFile() async throws {
        let kit = try await Self.intake()
        var unknown = Self.child("REG-R1", guardian: Self.parent)
        unknown.nik = "6474015108079911"  // not in the registry: a review
        #expect(try await Self.submit(unknown, to: kit).0 == RegistrationReviewNeededV1.eventType)
        let result = try await kit.deliver(Self.withdrawal("REG-R1"))
        let rejected = try ContractJSON.decoder().decode(
            EventEnvelope<RegistrationRejectedV1>.self, from: try #require(result.events.first).body)
        #expect(rejected.data.reasons.map(\.code) == ["CONSENT_WITHDRAWN"])
        let review = try #require(try await kit.query("SELECT * FROM intake_reviews WHERE registration_id = 'REG-R1'").first)
        #expect(review["state"] == .text("rejected") && review["case_file"] == .null && review["officer"] == .text("petugas-7"))
        let registration = try #require(
            try await kit.query("SELECT outcome FROM intake_registrations WHERE registration_id = 'REG-R1'").first)
        #expect(registration["outcome"] == .text("rejected"))
        // An officer's decision arriving afterwards finds the case closed.
        let decision = RegistrationReviewedV1(
            registrationID: "REG-R1", decision: .approve, officer: "petugas-9", verifiedReasons: ["REGISTRY_NOT_FOUND"],
            reason: nil, respondBy: nil)
        await #expect(throws: Failure.self) { _ = try await kit.deliver(EventEnvelope(source: "/test", data: decision)) }
        // Ended, not active: the same person may register again with a new consent.
        var renewed = Self.child("REG-R2", guardian: Self.parent)
        renewed.nik = unknown.nik
        #expect(try await Self.submit(renewed, to: kit).0 == RegistrationReviewNeededV1.eventType)
    }

    @Test func aWithdrawalThatCannotBeRecordedIsRefusedAndOneTooEarlyWaits() async throws {
        let kit = try await Self.intake()
        #expect(try await Self.submit(Self.child("REG-X1", guardian: Self.parent), to: kit).0 == RegistrationAcceptedV2.eventType)
        for bad in [
            Self.withdrawal("REG-X1", at: "besok"), Self.withdrawal("REG-X1", recordedBy: " "),
            Self.withdrawal("REG-X1", recordedBy: "petugas\u{0007}"),
            Self.withdrawal("REG-X1", recordedBy: String(repeating: "x", count: 201)),
        ] {
            do {
                _ = try await kit.deliver(bad)
                Issue.record("accepted a withdrawal without a valid time or recorder")
            } catch let failure as Failure {
                #expect(failure.code == .invalidConsentWithdrawal && failure.kind == .permanent)
            }
        }
        do {
            _ = try await kit.deliver(Self.withdrawal("REG-NOT-YET"))
            Issue.record("a withdrawal for a registration not decided yet was taken")
        } catch let failure as Failure {
            #expect(failure.code == .registrationNotYetDecided && failure.kind == .transient)
        }
        #expect(try await kit.query("SELECT 1 FROM intake_consents WHERE withdrawn_at IS NOT NULL").isEmpty)
    }
}

/// The notification side: nothing more is sent to a person who withdrew their consent.
extension NotificationDeliveryTests {
    @Test func afterAWithdrawalOfConsentNothingMoreIsSentAndTheContactIsGone() async throws {
        let gateway = try await TestGateway.start()
        let clock = Clock(Self.noon())
        let sender = HTTPGatewaySender(url: gateway.url, token: nil)
        let (kit, dispatcher) = try await Self.rig(senders: [.sms: sender, .whatsApp: sender], clock: clock)
        _ = try await kit.deliver(Self.submitted(1))
        _ = try await kit.deliver(Self.submitted(2))
        while await dispatcher.runOnce() > 0 {}
        #expect(gateway.requests.count == 2)
        // Person 1's acceptance waits (quiet hours) when the withdrawal arrives.
        clock.set(ISO8601DateFormatter().date(from: "2025-07-07T22:15:00+08:00")!)
        _ = try await kit.deliver(Self.accepted(1))
        _ = try await kit.deliver(Self.accepted(2))
        _ = try await kit.deliver(ConsentTests.withdrawal("REG-1"))
        #expect(try await kit.query("SELECT 1 FROM notif_contacts WHERE registration_id = 'REG-1'").isEmpty)
        #expect(try await kit.query("SELECT 1 FROM notif_contacts WHERE registration_id = 'REG-2'").count == 1)
        // Later events about them, by registration or by participant, an office request and a
        // correction: none queues anything, none fails.
        _ = try await kit.deliver(Self.scheduled(1))
        _ = try await kit.deliver(Self.scheduled(2))
        let request = NotificationRequestedV1(
            notificationID: "office-1", participantID: "PST-1", registrationID: "REG-1", channel: .sms,
            recipient: "+6281299999999", template: "pemberitahuan_kegagalan_pdp",
            parameters: [
                "nama": "Peserta 1", "waktu_kejadian": "7 Juli 2025", "jenis_data": "nama", "uraian_singkat": "uji",
                "langkah": "uji", "kontak_ppdp": "ppdp@contoh.id",
            ])
        _ = try await kit.deliver(EventEnvelope(id: "requested-1", source: "/test", data: request))
        _ = try await kit.deliver(Self.corrected("REG-1", id: "c-1", name: "Peserta Satu"))
        let waiting = try await kit.query("SELECT registration_id, participant_id FROM notif_messages WHERE state = 'pending'")
        #expect(waiting.count == 2 && waiting.allSatisfy { $0["registration_id"] == .text("REG-2") })
        clock.set(ISO8601DateFormatter().date(from: "2025-07-08T08:00:00+08:00")!)
        while await dispatcher.runOnce() > 0 {}
        let sent = gateway.requests.values
        #expect(sent.count == 4 && sent.filter { $0.to == "+6281250000001" }.count == 1, "only the message before it")
        #expect(try await kit.query("SELECT 1 FROM notif_withdrawals WHERE participant_id = 'PST-1'").count == 1)
    }

    @Test func aWithdrawalBeforeTheRegistrationArrivesKeepsNoContact() async throws {
        let gateway = try await TestGateway.start()
        let sender = HTTPGatewaySender(url: gateway.url, token: nil)
        let (kit, dispatcher) = try await Self.rig(senders: [.sms: sender], clock: Clock(Self.noon()))
        _ = try await kit.deliver(ConsentTests.withdrawal("REG-3"))
        _ = try await kit.deliver(Self.submitted(3))
        _ = try await kit.deliver(Self.accepted(3))
        _ = try await kit.deliver(Self.scheduled(3))
        while await dispatcher.runOnce() > 0 {}
        #expect(gateway.requests.count == 0)
        #expect(try await kit.query("SELECT 1 FROM notif_contacts").isEmpty)
        #expect(try await kit.query("SELECT 1 FROM notif_messages").isEmpty)
    }
}
