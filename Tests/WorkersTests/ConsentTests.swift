import ContractKit
import Contracts
import DataProtection
import Foundation
import IntakeRules
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

    static func time(_ text: String) -> Date? { ConsentRules.time(text) }

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

    static func submit(_ registration: RegistrationSubmittedV3, at time: Date = Date(), to kit: HandlerTestKit) async throws
        -> (String, [String])
    {
        let result = try await kit.deliver(EventEnvelope(source: "/kaltim/registration-portal", time: time, data: registration))
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
        let profiles = try await kit.query("SELECT registration_id FROM intake_profiles")
        #expect(profiles.map { $0["registration_id"] } == [.text("REG-C8")], "no consent, no profile for the reports")
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
        #expect(kept["given_at"] == .text("2025-03-05T01:09:12.000Z"))
    }

    @Test func aWithdrawalAsksSchedulingToWithdrawAnAcceptedParticipantOnce() async throws {
        let kit = try await Self.intake()
        let accepted = try await kit.deliver(
            EventEnvelope(source: "/kaltim/registration-portal", data: Self.child("REG-W1", guardian: Self.parent)))
        let participant = try ContractJSON.decoder().decode(
            EventEnvelope<RegistrationAcceptedV2>.self, from: try #require(accepted.events.first).body
        ).data.participantID
        #expect(try await kit.query("SELECT 1 FROM intake_profiles WHERE registration_id = 'REG-W1'").count == 1)
        // A time with fractional seconds, as a JavaScript portal writes it.
        let handled = Date()
        let result = try await kit.deliver(
            Self.withdrawal("REG-W1", at: "2025-07-10T17:00:00.123Z", recordedBy: "  petugas-7 "))
        let request = try #require(result.events.first)
        #expect(result.events.count == 1 && request.type == EnrolmentWithdrawalRequestedV1.eventType)
        let asked = try ContractJSON.decoder().decode(EventEnvelope<EnrolmentWithdrawalRequestedV1>.self, from: request.body)
            .data
        #expect(asked.participantID == participant && asked.classID == nil && asked.reason == .participantResigned)
        // The day intake handled it, in WITA (not the publisher's time, which decides nothing).
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Asia/Makassar")!
        let days = [handled, Date()].map {
            let day = calendar.dateComponents([.year, .month, .day], from: $0)
            return String(format: "%04d-%02d-%02d", day.year!, day.month!, day.day!)
        }
        #expect(days.contains(asked.on) && asked.requestedBy == "petugas-7")
        let row = try #require(try await kit.query("SELECT * FROM intake_consents WHERE registration_id = 'REG-W1'").first)
        #expect(row["withdrawn_by"] == .text("ORANG_TUA_WALI") && row["withdrawal_reference"] == .text("PDP-19"))
        #expect(row["guardian_name"] == .text("Rahma Lestari"), "the consent given stays on record")
        #expect(
            try await kit.query("SELECT 1 FROM intake_profiles WHERE registration_id = 'REG-W1'").isEmpty,
            "no longer counted in the reports")
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

    @Test func aWithdrawalThatCannotBeRecordedIsRefusedAndOneBeforeTheRegistrationIsRemembered() async throws {
        let kit = try await Self.intake()
        #expect(try await Self.submit(Self.child("REG-X1", guardian: Self.parent), to: kit).0 == RegistrationAcceptedV2.eventType)
        var noReference = Self.withdrawal("REG-X1")
        noReference.data.reference = "PDP\u{202E}91"
        for bad in [
            Self.withdrawal("REG-X1", at: "besok"), Self.withdrawal("REG-X1", recordedBy: " "),
            Self.withdrawal("REG-X1", recordedBy: "petugas\u{0007}"),
            Self.withdrawal("REG-X1", recordedBy: String(repeating: "x", count: 201)), noReference,
        ] {
            do {
                _ = try await kit.deliver(bad)
                Issue.record("accepted a withdrawal without a valid time or recorder")
            } catch let failure as Failure {
                #expect(failure.code == .invalidConsentWithdrawal && failure.kind == .permanent)
            }
        }
        #expect(try await kit.query("SELECT 1 FROM intake_consents WHERE withdrawn_at IS NOT NULL").isEmpty)
        // A withdrawal that overtakes its registration (late, or waiting for a retry) is
        // remembered: the registration, when it comes, is rejected and nothing else happens.
        #expect(try await kit.deliver(Self.withdrawal("REG-X2")).events.isEmpty)
        var late = Self.child("REG-X2", guardian: Self.parent)
        late.nik = "6474010107079908"
        late.fullName = "Budi Santoso"
        late.birthDate = "2007-07-01"
        late.sex = .male
        // Submitted on the 9th, withdrawn on the 10th (`withdrawal`'s default time).
        let submittedAt = try #require(ConsentRules.time("2025-07-09T03:00:00Z"))
        let outcome = try await Self.submit(late, at: submittedAt, to: kit)
        #expect(outcome.0 == RegistrationRejectedV1.eventType && outcome.1 == ["CONSENT_WITHDRAWN"])
        // Nothing of it was processed: no blind index, no masked NIK.
        let row = try #require(
            try await kit.query("SELECT * FROM intake_registrations WHERE registration_id = 'REG-X2'").first)
        #expect(row["nik_index"] == .null && row["masked_nik"] == .text("****") && row["reasons"] == .text("CONSENT_WITHDRAWN"))
        // A withdrawal for a number not given out yet (a typo) does not stop the stranger who
        // later registers under it: submitted after the withdrawal, decided as usual.
        #expect(try await kit.deliver(Self.withdrawal("REG-X3")).events.isEmpty)
        var stranger = Self.child("REG-X3", guardian: Self.parent)
        stranger.nik = "6474010107079908"
        stranger.fullName = "Budi Santoso"
        stranger.birthDate = "2007-07-01"
        stranger.sex = .male
        let decided = try await Self.submit(stranger, to: kit)
        #expect(decided.0 == RegistrationAcceptedV2.eventType)
        #expect(
            try await kit.query("SELECT 1 FROM intake_consents WHERE registration_id = 'REG-X3' AND withdrawn_at IS NOT NULL")
                .isEmpty)
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

    @Test func aMessageWaitingForARetryIsNotSentAfterAWithdrawalAndABadOneIsRefusedHereToo() async throws {
        // The first attempt is held at the gateway while the withdrawal is handled, then
        // answered 503: the sender holds the message (claimed) when the withdrawal comes.
        let (released, release) = AsyncStream.makeStream(of: Void.self)
        let gateway = try await TestGateway.start(
            respond: { _, attempt in attempt == 1 ? (503, [:]) : (200, [:]) },
            hold: { request, attempt in
                if attempt == 1 && request.to == "+6281250000004" { for await _ in released { break } }
            })
        let clock = Clock(Self.noon())
        let sender = HTTPGatewaySender(url: gateway.url, token: nil)
        let (kit, dispatcher) = try await Self.rig(senders: [.sms: sender], clock: clock)
        _ = try await kit.deliver(Self.submitted(4))
        let firstRound = Task { await dispatcher.runOnce() }
        try await waitUntil(timeout: .seconds(30), "the first attempt at the gateway") { gateway.requests.count == 1 }
        var bad = ConsentTests.withdrawal("REG-4")
        bad.data.recordedBy = ""
        do {
            _ = try await kit.deliver(bad)
            Issue.record("notifications took a withdrawal intake refuses")
        } catch let failure as Failure {
            #expect(failure.code == .invalidConsentWithdrawal && failure.kind == .permanent)
        }
        #expect(try await kit.query("SELECT 1 FROM notif_contacts WHERE registration_id = 'REG-4'").count == 1)
        _ = try await kit.deliver(ConsentTests.withdrawal("REG-4"))
        release.yield()
        _ = await firstRound.value
        clock.set(Self.noon().addingTimeInterval(3600))
        while await dispatcher.runOnce() > 0 {}
        #expect(gateway.requests.count == 1, "the retry is never sent")
        #expect(try await kit.query("SELECT 1 FROM notif_messages WHERE registration_id = 'REG-4'").isEmpty)
        // And should a message for them still be waiting, the dispatcher passes it over.
        try await kit.store.write { transaction in
            try transaction.execute(
                """
                INSERT INTO notif_messages (notification_id, event_id, event_type, template, parameters, routes, urgent,
                    registration_id, participant_id, correlation_id, created_at, event_time, next_attempt_at)
                VALUES ('left-over', 'e', 't', 'pemberitahuan_kegagalan_pdp', ?, '[{"channel":"SMS","recipient":"+6281250000044"}]',
                    1, 'REG-4', NULL, 'c', 0, 0, 0)
                """,
                [
                    .text(
                        #"{"jenis_data":"nama","kontak_ppdp":"ppdp@contoh.id","langkah":"uji","nama":"Peserta 4","uraian_singkat":"uji","waktu_kejadian":"7 Juli 2025"}"#
                    )
                ])
        }
        while await dispatcher.runOnce() > 0 {}
        #expect(gateway.requests.count == 1, "a left-over message is not sent either")
        // Its rejection (CONSENT_WITHDRAWN), even arriving first for another person, is not told.
        _ = try await kit.deliver(Self.submitted(5))
        _ = try await kit.deliver(
            EventEnvelope(
                source: "/test",
                data: RegistrationRejectedV1(
                    registrationID: "REG-5",
                    reasons: [RegistrationReason(code: "CONSENT_WITHDRAWN", message: "Persetujuan ditarik.")])))
        #expect(
            try await kit.query("SELECT template FROM notif_messages WHERE registration_id = 'REG-5'").map { $0["template"] }
                == [.text("pendaftaran_diterima")])
    }

    @Test func aWithdrawalBeforeTheRegistrationArrivesKeepsNoContact() async throws {
        let gateway = try await TestGateway.start()
        let sender = HTTPGatewaySender(url: gateway.url, token: nil)
        let (kit, dispatcher) = try await Self.rig(senders: [.sms: sender], clock: Clock(Self.noon()))
        _ = try await kit.deliver(ConsentTests.withdrawal("REG-3"))
        var submitted = Self.submitted(3)
        submitted.time = try #require(ConsentTests.time("2025-07-09T03:00:00Z"))
        _ = try await kit.deliver(submitted)
        _ = try await kit.deliver(Self.accepted(3))
        _ = try await kit.deliver(Self.scheduled(3))
        while await dispatcher.runOnce() > 0 {}
        #expect(gateway.requests.count == 0)
        #expect(try await kit.query("SELECT 1 FROM notif_contacts").isEmpty)
        #expect(try await kit.query("SELECT 1 FROM notif_messages").isEmpty)
        // One recorded for a number not given out yet does not silence a later registration.
        _ = try await kit.deliver(ConsentTests.withdrawal("REG-6"))
        _ = try await kit.deliver(Self.submitted(6))
        while await dispatcher.runOnce() > 0 {}
        #expect(gateway.requests.values.map(\.to) == ["+6281250000006"])
    }
}

/// Retention of what intake keeps about a person after the programme year and its audit
/// window: the masked NIK and blind index, a parent's name, an undecided case file; nothing
/// before its time, and nothing twice.
struct IntakeRetentionTests {
    @Test func pastTheRetentionAnEarlierYearsMaskedNIKIndexAndGuardianNameGoAndNothingElse() async throws {
        let kit = try await ConsentTests.intake()
        let handler = IntakeHandler(
            catalogue: try ProgrammeCatalogue.load(path: repositoryFile("config/programme-2025.json")), nikKey: .development,
            registrationRetention: .seconds(730 * 86_400))
        #expect(
            try await ConsentTests.submit(ConsentTests.child("REG-T1", guardian: ConsentTests.parent), to: kit).0
                == RegistrationAcceptedV2.eventType)
        var unknown = ConsentTests.child("REG-T2", guardian: ConsentTests.parent)
        unknown.nik = "6474015108079911"
        #expect(try await ConsentTests.submit(unknown, to: kit).0 == RegistrationReviewNeededV1.eventType)
        var adult = ConsentTests.child("REG-T3", guardian: nil, birthDate: "2007-07-01")
        adult.nik = "6474010107079908"
        adult.fullName = "Budi Santoso"
        adult.sex = .male
        #expect(try await ConsentTests.submit(adult, to: kit).0 == RegistrationAcceptedV2.eventType)
        // T1 and T2 belong to the 2024 programme; T3 to this year's (2025), whose duplicate rule
        // and grades still need its index, however old.
        try await kit.store.write { transaction in
            try transaction.execute("UPDATE intake_registrations SET year = 2024 WHERE registration_id IN ('REG-T1', 'REG-T2')")
            try transaction.execute("UPDATE intake_profiles SET year = 2024 WHERE registration_id IN ('REG-T1', 'REG-T2')")
        }
        func apply(after days: Double) async throws -> [String: Int] {
            var changed: [String: Int] = [:]
            for rule in handler.retention {
                // Batches of one: the loop over batches is what runs.
                changed[rule.table] = try await rule.apply(
                    now: Date().addingTimeInterval(days * 86_400), to: kit.store, batch: 1)
            }
            return changed
        }
        // A year on: nothing is past its time.
        #expect(try await apply(after: 365) == ["intake_registrations": 0, "intake_consents": 0, "intake_profiles": 0])
        #expect(try await kit.query("SELECT 1 FROM intake_profiles").count == 3, "a profile per registration")
        #expect(try await kit.query("SELECT 1 FROM intake_registrations WHERE nik_index IS NOT NULL").count == 3)
        // Past two years: the 2024 registrations and their parents' names; not this year's.
        #expect(try await apply(after: 731) == ["intake_registrations": 2, "intake_consents": 2, "intake_profiles": 2])
        let profiles = try await kit.query("SELECT registration_id, sex, age_band, regency FROM intake_profiles")
        #expect(profiles.map { $0["registration_id"] } == [.text("REG-T3")], "the earlier year's profiles are deleted")
        #expect(profiles.first?["sex"] == .text("L") && profiles.first?["age_band"] == .text("17-19"), "\(profiles)")
        #expect(profiles.first?["regency"] == .text("6474"), "Kota Bontang, from the domicile")
        let registrations = try await kit.query("SELECT * FROM intake_registrations ORDER BY registration_id")
        #expect(registrations.prefix(2).allSatisfy { $0["nik_index"] == .null && $0["masked_nik"] == .text("****") })
        #expect(registrations.last?["nik_index"] != .null, "this year's registration keeps its index")
        #expect(registrations.map { $0["outcome"] } == [.text("accepted"), .text("review"), .text("accepted")], "outcomes stay")
        #expect(registrations.first?["participant_id"]?.text?.hasPrefix("PST-2025-") == true, "the participant id stays")
        #expect(try await kit.query("SELECT 1 FROM intake_consents WHERE guardian_name IS NOT NULL").isEmpty)
        #expect(
            try await kit.query("SELECT 1 FROM intake_consents WHERE given_at IS NOT NULL").count == 3, "the consent's time stays"
        )
        #expect(try await kit.query("SELECT 1 FROM intake_reviews WHERE case_file IS NOT NULL").count == 1, "an open case stays")
        // Done once: a second pass finds nothing to change.
        #expect(try await apply(after: 732) == ["intake_registrations": 0, "intake_consents": 0, "intake_profiles": 0])
        // No retention configured: no rules.
        let forever = IntakeHandler(
            catalogue: try ProgrammeCatalogue.load(path: repositoryFile("config/programme-2025.json")), nikKey: .development,
            registrationRetention: nil)
        #expect(forever.retention.isEmpty)
    }
}
