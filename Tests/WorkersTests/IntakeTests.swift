import ContractKit
import Contracts
import DataProtection
import Foundation
import Jobs
import Programme
import Stores
import Testing

@testable import Workers

/// Synthetic residents (serials 99xx; DOMAIN.md §2.4) in the registry extract the tests import.
let registryCSV = """
    nik,full_name,birth_date,sex,region_code
    6474015708999901,Siti Rahmawati,1999-08-17,P,6474011001
    6471050302019902,Mochamad Rizky Pratama,2001-02-03,L,6471051002
    6471054510009903,Dewi Lestari,2000-10-05,P,3171011001
    3171010101029904,Andi Saputra,2002-01-01,L,6472041001
    6472046612989905,Nur Aisyah,1998-12-26,P,6472041002
    """

/// Drives the intake handler through the runtime's test kit.
struct IntakeDriver {
    let kit: HandlerTestKit

    static func make(history: String? = nil) async throws -> IntakeDriver {
        let catalogue = try ProgrammeCatalogue.load(path: repositoryFile("config/programme-2025.json"))
        let kit = try await HandlerTestKit(
            handler: IntakeHandler(catalogue: catalogue, nikKey: .development), registry: .pipeline)
        let imported = try await IntakeImport.registry(csv: registryCSV, into: kit.store, key: .development)
        #expect(imported.imported == 5)
        if let history { _ = try await IntakeImport.history(csv: history, into: kit.store, key: .development) }
        return IntakeDriver(kit: kit)
    }

    static func registration(
        _ id: String, nik: String = "6474015708999901", name: String = "Siti Rahmawati", birthDate: String = "1999-08-17",
        sex: Sex = .female, phone: String = "0812-5000-1001", email: String? = "siti@example.org",
        centre: TrainingCentre = .bontang, programme: String = "TATA_GRAHA", trainings: [DeclaredTraining] = [],
        consent: Bool = true
    ) -> RegistrationSubmittedV2 {
        RegistrationSubmittedV2(
            registrationID: id, nik: nik, familyCardNumber: nil, fullName: name, birthPlace: "Bontang", birthDate: birthDate,
            sex: sex, phone: phone, whatsApp: nil, email: email,
            domicile: Domicile(regionCode: "6474011001", address: "Jl. Contoh 1"), education: .smk, employmentStatus: .unemployed,
            jobSeekerCardNumber: nil, preferredCentre: centre, programme: programme, secondChoiceProgramme: nil,
            apprenticeshipInterest: true, declaredTrainings: trainings,
            consent: Consent(given: consent, givenAt: "2025-03-03T01:14:10Z", textVersion: "pdp-2025-01"))
    }

    /// The one event the handler published, its type, reason codes and body.
    func submit(_ registration: RegistrationSubmittedV2, id: String = UUID().uuidString) async throws -> (
        type: String, codes: [String], body: String, event: OutgoingEvent
    ) {
        let result = try await kit.deliver(EventEnvelope(id: id, source: "/kaltim/registration-portal", data: registration))
        let event = try #require(result.events.first)
        // The decision, what the counts need of the registration without its personal data, and
        // for an acceptance the name the certificates will carry (to the certificates role only).
        let accepted = event.type == RegistrationAcceptedV1.eventType
        #expect(
            result.events.map(\.type).dropFirst()
                == [RegistrationReceivedV1.eventType] + (accepted ? [ParticipantNamedV1.eventType] : []))
        let receivedEvent = try #require(result.events.first { $0.type == RegistrationReceivedV1.eventType })
        let received = try ContractJSON.decoder().decode(EventEnvelope<RegistrationReceivedV1>.self, from: receivedEvent.body)
        #expect(
            received.data.registrationID == registration.registrationID && received.data.centre == registration.preferredCentre)
        // The programme as the plan has it there; one it does not offer is not repeated.
        #expect(
            received.data.programme == registration.programme || received.data.programme == IntakeHandler.unknownProgramme)
        let receivedBody = String(decoding: receivedEvent.body, as: UTF8.self)
        if accepted {
            let named = try ContractJSON.decoder().decode(
                EventEnvelope<ParticipantNamedV1>.self, from: try #require(result.events.last).body)
            let participant = try ContractJSON.decoder().decode(EventEnvelope<RegistrationAcceptedV2>.self, from: event.body)
            #expect(
                named.data.participantID == participant.data.participantID
                    && named.data.fullName == registration.fullName.trimmingCharacters(in: .whitespacesAndNewlines)
                    && named.data.registrationID == registration.registrationID)
        }
        for personal in [registration.nik, registration.fullName, registration.phone, registration.birthDate] {
            #expect(personal.isEmpty || !receivedBody.contains(personal), "registration.received carries no personal data")
        }
        let body = String(decoding: event.body, as: UTF8.self)
        var codes: [String] = []
        if event.type == RegistrationRejectedV1.eventType {
            codes = try ContractJSON.decoder().decode(EventEnvelope<RegistrationRejectedV1>.self, from: event.body).data.reasons
                .map(
                    \.code)
        } else if event.type == RegistrationReviewNeededV1.eventType {
            codes = try ContractJSON.decoder().decode(EventEnvelope<RegistrationReviewNeededV1>.self, from: event.body).data
                .reasons
                .map(\.code)
        }
        return (event.type, codes, body, event)
    }

    func accepted(_ event: OutgoingEvent) throws -> RegistrationAcceptedV2 {
        try ContractJSON.decoder().decode(EventEnvelope<RegistrationAcceptedV2>.self, from: event.body).data
    }
}

struct IntakeTests {
    @Test func aRegistrationThatMatchesTheRegistryIsAcceptedAsTierOne() async throws {
        let driver = try await IntakeDriver.make()
        let outcome = try await driver.submit(IntakeDriver.registration("REG-1"))
        #expect(outcome.type == RegistrationAcceptedV1.eventType)
        let accepted = try driver.accepted(outcome.event)
        #expect(accepted.priorityTier == .neverTrained)
        #expect(accepted.priorityReasons == ["NO_TRAINING_RECORD"])
        #expect(accepted.participantID.hasPrefix("PST-2025-"))
        #expect(!outcome.body.contains("6474015708999901"), "no NIK leaves the intake worker")
    }

    @Test func aDecidedRegistrationNumberSentAgainUnderANewIdIsAFailureNotSilence() async throws {
        let intake = try await IntakeDriver.make()
        #expect(try await intake.submit(IntakeDriver.registration("REG-REUSED")).type == RegistrationAcceptedV2.eventType)
        // The same number, another message id, another person's NIK.
        let other = IntakeDriver.registration(
            "REG-REUSED", nik: "6471050302019902", name: "Mochamad Rizky Pratama", birthDate: "2001-02-03", sex: .male)
        await #expect(throws: Failure.self) {
            _ = try await intake.kit.deliver(EventEnvelope(source: "/kaltim/registration-portal", data: other))
        }
        do {
            _ = try await intake.kit.deliver(EventEnvelope(source: "/kaltim/registration-portal", data: other))
        } catch let failure as Failure {
            #expect(failure.code == .registrationNumberReused && failure.kind == .permanent)
            #expect(!failure.message.contains("6471050302019902"))
        }
        let rows = try await intake.kit.query("SELECT outcome FROM intake_registrations WHERE registration_id = 'REG-REUSED'")
        #expect(rows.count == 1 && rows.first?["outcome"]?.text == "accepted", "the first decision stands")
    }

    @Test func spellingVariantsOfANameStillMatchTheRegistry() async throws {
        let driver = try await IntakeDriver.make()
        let registration = IntakeDriver.registration(
            "REG-2", nik: "6471050302019902", name: "Muhammad Rizki Pratama", birthDate: "2001-02-03", sex: .male,
            centre: .balikpapan, programme: "MEKANIK_SEPEDA_MOTOR")
        #expect(try await driver.submit(registration).type == RegistrationAcceptedV1.eventType)
        var other = registration
        other.registrationID = "REG-2b"
        other.nik = "6472046612989905"
        other.fullName = "Budi Santoso"
        other.birthDate = "1998-12-26"
        other.sex = .female
        #expect(try await driver.submit(other).codes == ["REGISTRY_NAME_MISMATCH"])
    }

    @Test(arguments: [
        ("647401570899990", "NIK_FORMAT"),  // 15 digits
        ("6474015708990000", "NIK_SERIAL_ZERO"),
        ("9974015708999901", "NIK_PROVINCE_UNKNOWN"),
        ("6474017308999901", "NIK_BIRTH_DATE_INVALID"),  // day 73 − 40 = 33
    ])
    func aMalformedNIKIsRejectedWithItsCodeAndABahasaText(nik: String, code: String) async throws {
        let driver = try await IntakeDriver.make()
        let outcome = try await driver.submit(IntakeDriver.registration("REG-N", nik: nik))
        #expect(outcome.type == RegistrationRejectedV1.eventType)
        #expect(outcome.codes.contains(code), "\(outcome.codes)")
        #expect(!outcome.body.contains(nik), "the NIK is not echoed in the reasons")
        let reasons = try ContractJSON.decoder().decode(EventEnvelope<RegistrationRejectedV1>.self, from: outcome.event.body).data
            .reasons
        #expect(reasons.allSatisfy { !$0.message.isEmpty && !$0.message.contains("must") })
    }

    @Test func domicileIsCheckedOnTheRegistryRecordNotOnTheNIKPrefix() async throws {
        let driver = try await IntakeDriver.make()
        // A Kaltim NIK prefix, but the registry records a Jakarta domicile.
        let moved = IntakeDriver.registration(
            "REG-3", nik: "6471054510009903", name: "Dewi Lestari", birthDate: "2000-10-05", centre: .balikpapan,
            programme: "PENJUALAN_RITEL")
        #expect(try await driver.submit(moved).codes == ["NOT_KALTIM_RESIDENT"])
        // A Jakarta NIK prefix (first registered there), living in Samarinda: eligible.
        let arrived = IntakeDriver.registration(
            "REG-4", nik: "3171010101029904", name: "Andi Saputra", birthDate: "2002-01-01", sex: .male, centre: .balikpapan,
            programme: "PENJUALAN_RITEL")
        #expect(try await driver.submit(arrived).type == RegistrationAcceptedV1.eventType)
    }

    @Test func noRegistryRecordOrADateThatDisagreesNeedsReviewNotRejection() async throws {
        let driver = try await IntakeDriver.make()
        let unknown = IntakeDriver.registration("REG-5", nik: "6474015708999999")
        #expect(try await driver.submit(unknown).codes == ["REGISTRY_NOT_FOUND"])
        let wrongDate = IntakeDriver.registration("REG-6", birthDate: "1999-08-18")
        let outcome = try await driver.submit(wrongDate)
        #expect(outcome.type == RegistrationReviewNeededV1.eventType)
        #expect(Set(outcome.codes) == ["NIK_DATA_MISMATCH", "REGISTRY_BIRTH_DATE_MISMATCH"])
    }

    @Test func aSecondRegistrationOfTheSamePersonIsADuplicateAndAResendChangesNothing() async throws {
        let driver = try await IntakeDriver.make()
        #expect(try await driver.submit(IntakeDriver.registration("REG-7")).type == RegistrationAcceptedV1.eventType)
        let again = try await driver.submit(IntakeDriver.registration("REG-8", nik: "6474 0157 0899 9901"))
        #expect(again.codes == ["DUPLICATE_REGISTRATION"], "the same NIK, written with spaces")
        await #expect(throws: Failure.self, "the same registration under a new message id is not decided twice") {
            _ = try await driver.kit.deliver(
                EventEnvelope(source: "/kaltim/registration-portal", data: IntakeDriver.registration("REG-7")))
        }
    }

    @Test func contactDataConsentProgrammeAndAgeAreChecked() async throws {
        let driver = try await IntakeDriver.make()
        let bad = IntakeDriver.registration(
            "REG-9", phone: "021-555-1234", email: "siti@@example", programme: "OPERATOR_EXCAVATOR", consent: false)
        let outcome = try await driver.submit(bad)
        #expect(Set(outcome.codes) == ["PHONE_INVALID", "EMAIL_INVALID", "CONSENT_MISSING", "PROGRAMME_NOT_OFFERED"])
        let old = IntakeDriver.registration(
            "REG-10", nik: "6472046612789905", name: "Nur Aisyah", birthDate: "1978-12-26", centre: .balikpapan,
            programme: "TATA_GRAHA")
        #expect(try await driver.submit(old).codes.contains("AGE_OUT_OF_RANGE"))
    }

    @Test func aMissingNameIsRejectedAndABadWhatsAppNumberIsOnlyAWarning() async throws {
        let driver = try await IntakeDriver.make()
        let nameless = IntakeDriver.registration("REG-14", name: " \t ")
        let rejected = try await driver.submit(nameless)
        #expect(rejected.type == RegistrationRejectedV1.eventType && rejected.codes.contains("NAME_MISSING"))
        // A name no certificate can print: a direction override, a control character, 201 letters.
        for (index, name) in ["Siti \u{202E}hamraR", "Siti\u{7}Rahma", String(repeating: "a", count: 201)].enumerated() {
            let result = try await driver.submit(IntakeDriver.registration("REG-14-\(index)", name: name))
            #expect(result.type == RegistrationRejectedV1.eventType && result.codes == ["NAME_INVALID"], "\(result.codes)")
        }
        var badWhatsApp = IntakeDriver.registration("REG-15")
        badWhatsApp.whatsApp = "0811-23"
        let accepted = try await driver.submit(badWhatsApp)
        #expect(accepted.type == RegistrationAcceptedV1.eventType, "a WhatsApp number is optional")
        let recorded = try await driver.kit.query(
            "SELECT outcome, reasons FROM intake_registrations WHERE registration_id = 'REG-15'")
        #expect(recorded.first?["outcome"]?.text == "accepted")
        #expect(recorded.first?["reasons"]?.text?.split(separator: ",").contains("WHATSAPP_INVALID") == true)
    }

    @Test func priorityComesFromHistoryDeclarationsAndGradingOutcomes() async throws {
        let history = """
            nik,programme,year,outcome
            6471050302019902,MEKANIK_SEPEDA_MOTOR,2023,TIDAK_LULUS
            6472046612989905,TATA_GRAHA,2022,LULUS
            """
        let driver = try await IntakeDriver.make(history: history)
        let failedBefore = IntakeDriver.registration(
            "REG-11", nik: "6471050302019902", name: "Mochamad Rizky Pratama", birthDate: "2001-02-03", sex: .male,
            centre: .balikpapan, programme: "MEKANIK_SEPEDA_MOTOR")
        let tier2 = try driver.accepted(try await driver.submit(failedBefore).event)
        #expect(tier2.priorityTier == .previouslyFailed && tier2.priorityReasons == ["FAILED_BEFORE_RECORDED"])
        let trainedBefore = IntakeDriver.registration(
            "REG-12", nik: "6472046612989905", name: "Nur Aisyah", birthDate: "1998-12-26", centre: .balikpapan,
            programme: "TATA_GRAHA")
        #expect(try driver.accepted(try await driver.submit(trainedBefore).event).priorityTier == .previouslyTrained)
        let declared = IntakeDriver.registration(
            "REG-13", trainings: [DeclaredTraining(programme: "TATA_GRAHA", year: 2024, outcome: .notCompleted)])
        let tier2Declared = try driver.accepted(try await driver.submit(declared).event)
        #expect(tier2Declared.priorityTier == .previouslyFailed && tier2Declared.priorityReasons == ["FAILED_BEFORE_DECLARED"])

        // A grading outcome of this year's participant becomes history for a later programme year.
        let graded = AssessmentGradedV1(
            assessmentID: "ASM-1", participantID: tier2Declared.participantID, scheme: "TATA_GRAHA",
            outcome: .notYetCompetent, notYetCompetentUnits: ["I.55HDR00.001.1"])
        #expect(try await driver.kit.deliver(EventEnvelope(source: "/kaltim/workers/grading", data: graded)).events.isEmpty)
        let rows = try await driver.kit.query("SELECT outcome, source, year FROM intake_history WHERE source = 'assessment'")
        #expect(rows.count == 1 && rows.first?["outcome"]?.text == "failed" && rows.first?["year"]?.integer == 2025)
        // It finds the registration by an index, not by reading every registration.
        let plan = try await driver.kit.query(
            "EXPLAIN QUERY PLAN " + IntakeHandler.registrationOfParticipantQuery, [.text(tier2Declared.participantID)])
        let steps = plan.compactMap { $0["detail"]?.text }
        #expect(steps.contains { $0.contains("USING INDEX intake_registrations_participant") }, "\(steps)")
    }

    @Test func anOlderContractVersionIsDecidedLikeTheNewest() async throws {
        let driver = try await IntakeDriver.make()
        let v1 = RegistrationSubmittedV1(
            registrationID: "REG-14", nik: "6474015708999901", fullName: "Siti Rahmawati", birthPlace: "Bontang",
            birthDate: "1999-08-17", sex: .female, phone: "+6281250001001", email: nil,
            domicile: Domicile(regionCode: "6474011001", address: "Jl. Contoh 1"), education: .smk, jobSeekerCardNumber: nil,
            preferredCentre: .bontang, programme: "TATA_GRAHA", apprenticeshipInterest: false, declaredTrainings: [],
            consent: Consent(given: true, givenAt: "2025-03-03T01:14:10Z", textVersion: "pdp-2025-01"))
        let result = try await driver.kit.deliver(EventEnvelope(source: "/kaltim/registration-portal", data: v1))
        #expect(
            result.events.map(\.type)
                == [RegistrationAcceptedV1.eventType, RegistrationReceivedV1.eventType, ParticipantNamedV1.eventType])
    }

    @Test func theRegistryImportSkipsBadRowsAndNamesThem() async throws {
        let kit = try await HandlerTestKit(
            handler: IntakeHandler(
                catalogue: ProgrammeCatalogue.load(path: repositoryFile("config/programme-2025.json")), nikKey: .development),
            registry: .pipeline)
        let csv =
            "nik,full_name,birth_date,sex,region_code\n6474015708999901,A,1999-08-17,P,6474011001\n123,B,1999-01-01,L,64\n"
            + "6474015708999902,C,1999-02-30,P,6474011001\n"
        let summary = try await IntakeImport.registry(csv: csv, into: kit.store, key: .development)
        #expect(summary.imported == 1)
        #expect(summary.skipped.map(\.line) == [3, 4])
        let stored = try await kit.query("SELECT * FROM intake_registry")
        #expect(stored.count == 1)
        #expect(!"\(stored)".contains("6474015708999901"), "the extract is stored under the NIK's blind index only")
        await #expect(throws: (any Error).self) {
            try await IntakeImport.registry(csv: "name,birth\nA,B\n", into: kit.store, key: .development)
        }
    }

    @Test func theRegistryImportRefusesEveryValueItDoesNotKnowAndKeepsOnlyWhatTheCheckNeeds() async throws {
        let kit = try await HandlerTestKit(
            handler: IntakeHandler(
                catalogue: ProgrammeCatalogue.load(path: repositoryFile("config/programme-2025.json")), nikKey: .development),
            registry: .pipeline)
        let rows: [(String, String?)] = [
            ("6474015708999901,Siti,1999-08-17,P,6474011001", nil),
            ("6474 0157 0899 9902,Siti,1999-08-17,P,6474011001", nil),
            ("6474.0157.0899.9903,Siti,1999-08-17,L,3171011001", nil),
            // The sex is not read: whatever the extract says there, the row is imported.
            ("6474015708999904,Budi,1999-08-17,Laki-laki,6474011001", nil),
            ("6474015708999908, ,1999-08-17,L,6474011001", "full_name is empty"),
            ("6474015708999909,Budi,17-08-1999,L,6474011001", "birth_date is not yyyy-MM-dd"),
            ("6474015708999910,Budi,1999-08-17,L,64-74", "region_code is not a 10-digit village code"),
            ("6474015708999911,Budi,1999-08-17,L,647401100", "region_code is not a 10-digit village code"),
            (
                "٦٤٧٤٠١٥٧٠٨٩٩٩٩١٢,Budi,1999-08-17,L,6474011001",
                "nik is not 16 digits (spaces, dots or dashes between them allowed)"
            ),
            (
                "6474O15708999913,Budi,1999-08-17,L,6474011001",
                "nik is not 16 digits (spaces, dots or dashes between them allowed)"
            ),
        ]
        let csv = "nik,full_name,birth_date,sex,region_code\n" + rows.map(\.0).joined(separator: "\n") + "\n"
        let summary = try await IntakeImport.registry(csv: csv, into: kit.store, key: .development)
        #expect(summary.imported == 4)
        let expected = rows.enumerated().compactMap { index, row in row.1.map { (index + 2, $0) } }
        #expect(summary.skipped.map(\.line) == expected.map(\.0))
        #expect(summary.skipped.map(\.reason) == expected.map(\.1))
        // Only the name, the birth date and the province: no sex, no village (DOMAIN.md §6.4).
        let kept = try await kit.query("SELECT sex, region_code FROM intake_registry ORDER BY region_code")
        #expect(kept.map { $0["sex"] } == [.null, .null, .null, .null])
        #expect(kept.compactMap { $0["region_code"]?.text } == ["31", "64", "64", "64"])
        // An extract without a sex column is enough.
        let lean = try await IntakeImport.registry(
            csv: "nik,full_name,birth_date,region_code\n6471050302019902,Rizky,2001-02-03,6471051002\n", into: kit.store,
            key: .development)
        #expect(lean.imported == 1 && lean.skipped.isEmpty)
    }

    @Test func aReplacingImportDeletesTheRecordsTheNewExtractNoLongerHasUnlessARowWasSkipped() async throws {
        let driver = try await IntakeDriver.make()  // the five residents
        let header = "nik,full_name,birth_date,region_code\n"
        // One row is bad: nothing is deleted (the bad row may be a record still valid).
        let withBadRow = try await IntakeImport.registry(
            csv: header + "6474015708999901,Siti Rahmawati,1999-08-17,6474011001\n64740157089999,X,1999-08-17,6474011001\n",
            into: driver.kit.store, key: .development, replace: true)
        #expect(withBadRow.skipped.count == 1 && withBadRow.removed == 0)
        #expect(try await driver.kit.query("SELECT 1 FROM intake_registry").count == 5)
        // An empty extract, or one that would remove more than a tenth (a truncated file, another
        // key): refused, nothing imported.
        await #expect(throws: ImportError.self) {
            _ = try await IntakeImport.registry(csv: header, into: driver.kit.store, key: .development, replace: true)
        }
        let twoRows =
            header + "6474015708999901,Siti Rahmawati,1999-08-17,6474011001\n"
            + "6471050302019902,Mochamad Rizky Pratama,2001-02-03,6471051002\n"
        await #expect(throws: ImportError.self) {
            _ = try await IntakeImport.registry(csv: twoRows, into: driver.kit.store, key: .development, replace: true)
        }
        #expect(try await driver.kit.query("SELECT 1 FROM intake_registry").count == 5)
        // Two records only, the removal allowed: the three others are gone.
        let two = try await IntakeImport.registry(
            csv: twoRows, into: driver.kit.store, key: .development, replace: true, maximumRemoved: 3)
        #expect(two.imported == 2 && two.removed == 3)
        #expect(try await driver.kit.query("SELECT 1 FROM intake_registry").count == 2)
        // Without --replace an import only adds and updates.
        let added = try await IntakeImport.registry(
            csv: header + "6472046612989905,Nur Aisyah,1998-12-26,6472041002\n", into: driver.kit.store, key: .development)
        #expect(added.removed == 0)
        #expect(try await driver.kit.query("SELECT 1 FROM intake_registry").count == 3)
        // The person no longer in the registry goes to review, as anyone unknown does.
        let outcome = try await driver.submit(
            IntakeDriver.registration(
                "REG-GONE", nik: "6471054510009903", name: "Dewi Lestari", birthDate: "2000-10-05"))
        #expect(outcome.codes.contains("REGISTRY_NOT_FOUND"))
    }

    @Test func aStoreFilledBeforeTheExtractWasReducedLosesTheSexAndTheVillage() async throws {
        let kit = try await IntakeDriver.make()
        try await kit.kit.store.write { transaction in
            try transaction.execute("UPDATE intake_registry SET sex = 'P', region_code = '6474011001'")
        }
        try await kit.kit.store.migrate(RegistryExtract().migrations)
        let rows = try await kit.kit.query("SELECT sex, region_code FROM intake_registry")
        #expect(rows.count == 5 && rows.allSatisfy { $0["sex"] == .null && $0["region_code"] == .text("64") })
        // And the check still finds the person living in Kaltim.
        let outcome = try await kit.submit(IntakeDriver.registration("REG-AFTER"))
        #expect(outcome.type == RegistrationAcceptedV2.eventType)
    }
}
