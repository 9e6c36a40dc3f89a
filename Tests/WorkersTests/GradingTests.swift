import ContractKit
import Contracts
import Foundation
import Jobs
import Programme
import Stores
import Testing
import Workers

/// Drives the grading handler through the runtime's test kit.
struct GradingDriver {
    let kit: HandlerTestKit
    static let scheme = "SKM-2025-OTO-SPM"
    static let units = ["G.454000.001.01", "G.454000.002.01", "G.454000.003.01", "G.454000.004.01"]

    static func make(now: @escaping @Sendable () -> Date = Date.init) async throws -> GradingDriver {
        let catalogue = try ProgrammeCatalogue.load(path: repositoryFile("config/programme-2025.json"))
        let driver = GradingDriver(
            kit: try await HandlerTestKit(handler: GradingHandler(catalogue: catalogue, now: now), registry: .pipeline))
        try await driver.schedule("PST-1")
        return driver
    }

    func schedule(_ participant: String, programme: String = "MEKANIK_SEPEDA_MOTOR") async throws {
        let scheduled = ClassScheduledV1(
            participantID: participant, classID: "BPN-2025-\(programme)-01", centre: .balikpapan, programme: programme,
            startDate: "2025-07-07", endDate: "2025-08-29", seat: 1)
        #expect(try await kit.deliver(EventEnvelope(source: "/test", data: scheduled)).events.isEmpty)
    }

    static func submission(
        _ id: String, participant: String = "PST-1", scheme: String = scheme, on date: String = "2025-09-02",
        results: [String: AssessmentSubmittedV1.UnitResult]? = nil, attendance: Double = 92.5,
        assessor: String = "MET.000.001234 2019"
    ) -> AssessmentSubmittedV1 {
        let units = (results ?? Dictionary(uniqueKeysWithValues: Self.units.map { ($0, .competent) })).sorted { $0.key < $1.key }
            .map { AssessmentSubmittedV1.Unit(code: $0.key, result: $0.value) }
        return AssessmentSubmittedV1(
            assessmentID: id, participantID: participant, lspLicence: "BNSP-LSP-0123-ID", scheme: scheme,
            assessorRegistration: assessor, testSite: "TUK BLKI Balikpapan", assessedOn: date, units: units,
            attendancePercent: attendance)
    }

    func submit(_ submission: AssessmentSubmittedV1, at time: Date = Date()) async throws -> [OutgoingEvent] {
        try await kit.deliver(EventEnvelope(source: "/kaltim/lsp", time: time, data: submission)).events
    }

    func graded(_ events: [OutgoingEvent]) throws -> AssessmentGradedV3 {
        let event = try #require(events.first { $0.type == AssessmentGradedV3.eventType })
        return try ContractJSON.decoder().decode(EventEnvelope<AssessmentGradedV3>.self, from: event.body).data
    }

    /// An uji ulang of `units` (code → result) after `previous`.
    static func retake(
        _ id: String, of previous: String?, on date: String, _ units: [String: AssessmentSubmittedV1.UnitResult],
        participant: String = "PST-1"
    ) -> AssessmentSubmittedV3 {
        AssessmentSubmittedV3(
            assessmentID: id, participantID: participant, lspLicence: "BNSP-LSP-0123-ID", scheme: scheme,
            assessorRegistration: "MET.000.001234 2019", testSite: "TUK BLKI Balikpapan", assessedOn: date,
            units: units.sorted { $0.key < $1.key }.map { AssessmentSubmittedV1.Unit(code: $0.key, result: $0.value) },
            attendancePercent: 92.5, certificateNumber: nil, registrationNumber: nil, retakeOf: previous)
    }

    /// A step of an appeal against `assessment`.
    func appeal(
        _ assessment: String, _ status: AppealStatus, on date: String, units: [String] = [], licence: String = "BNSP-LSP-0123-ID"
    ) async throws -> [OutgoingEvent] {
        let appeal = AssessmentAppealedV1(
            assessmentID: assessment, participantID: "PST-1", lspLicence: licence, scheme: Self.scheme, status: status,
            on: date, revisedUnits: units, certificateNumber: units.isEmpty ? nil : "No. 85223 7233 3 0000009 2025",
            registrationNumber: units.isEmpty ? nil : "No. Reg. LSP 0123 00009 2025")
        return try await kit.deliver(EventEnvelope(source: "/kaltim/lsp", data: appeal)).events
    }

    func appealRecorded(_ events: [OutgoingEvent]) throws -> AssessmentAppealRecordedV1 {
        let event = try #require(events.first { $0.type == AssessmentAppealRecordedV1.eventType })
        return try ContractJSON.decoder().decode(EventEnvelope<AssessmentAppealRecordedV1>.self, from: event.body).data
    }

    func submit(_ submission: AssessmentSubmittedV3) async throws -> [OutgoingEvent] {
        try await kit.deliver(EventEnvelope(source: "/kaltim/lsp", data: submission)).events
    }

    func rejectionCodes(_ events: [OutgoingEvent]) throws -> [String] {
        let event = try #require(events.first { $0.type == AssessmentRejectedV1.eventType })
        return try ContractJSON.decoder().decode(EventEnvelope<AssessmentRejectedV1>.self, from: event.body).data.reasons.map(
            \.code)
    }
}

struct GradingTests {
    @Test func everyUnitKIsKompetenAndTrainingIsReportedApart() async throws {
        let driver = try await GradingDriver.make()
        let graded = try driver.graded(try await driver.submit(GradingDriver.submission("A-1", attendance: 75)))
        #expect(graded.outcome == .competent && graded.notYetCompetentUnits.isEmpty)
        #expect(graded.trainingOutcome == .failed, "attendance under 80 %: training not passed, competency still graded")
        #expect(graded.lspLicence == "BNSP-LSP-0123-ID" && graded.assessedOn == "2025-09-02" && graded.supersedes == nil)
    }

    @Test func oneUnitBKIsBelumKompetenWithThatUnit() async throws {
        let driver = try await GradingDriver.make()
        var results = Dictionary(
            uniqueKeysWithValues: GradingDriver.units.map { ($0, AssessmentSubmittedV1.UnitResult.competent) })
        results["G.454000.003.01"] = .notYetCompetent
        let graded = try driver.graded(try await driver.submit(GradingDriver.submission("A-2", results: results)))
        #expect(graded.outcome == .notYetCompetent)
        #expect(graded.notYetCompetentUnits == ["G.454000.003.01"])
        #expect(graded.trainingOutcome == .passed)
    }

    @Test func anInvalidSubmissionIsRejectedWithEveryReason() async throws {
        let driver = try await GradingDriver.make()
        let results: [String: AssessmentSubmittedV1.UnitResult] = [
            "G.454000.001.01": .competent, "G.454000.002.01": .competent, "G.454000.009.01": .competent, "G-454000-4": .competent,
        ]
        let codes = try driver.rejectionCodes(
            try await driver.submit(
                GradingDriver.submission("A-3", on: "2025-07-01", results: results, attendance: 120, assessor: " ")))
        #expect(
            codes == [
                "ASSESSED_BEFORE_TRAINING", "UNIT_CODE_INVALID", "UNIT_MISSING", "UNIT_MISSING", "UNIT_UNKNOWN",
                "ASSESSOR_MISSING",
                "ATTENDANCE_INVALID",
            ])
        #expect(
            try driver.rejectionCodes(try await driver.submit(GradingDriver.submission("A-4", participant: "PST-9"))) == [
                "NOT_ENROLLED"
            ])
        #expect(
            try driver.rejectionCodes(try await driver.submit(GradingDriver.submission("A-5", scheme: "SKM-2025-HTL-TGR")))
                == [
                    "SCHEME_MISMATCH", "UNIT_MISSING", "UNIT_MISSING", "UNIT_MISSING", "UNIT_UNKNOWN", "UNIT_UNKNOWN",
                    "UNIT_UNKNOWN", "UNIT_UNKNOWN",
                ])
    }

    @Test func aDuplicatedUnitAnUnknownSchemeABadDateAndAMissingTestSiteAreRejected() async throws {
        let driver = try await GradingDriver.make()
        var twice = GradingDriver.submission("A-20")
        twice.units.append(twice.units[0])
        twice.testSite = "  "
        #expect(try driver.rejectionCodes(try await driver.submit(twice)) == ["UNIT_DUPLICATED", "TEST_SITE_MISSING"])
        #expect(
            try driver.rejectionCodes(try await driver.submit(GradingDriver.submission("A-21", scheme: "SKM-2025-TIDAK-ADA")))
                == ["SCHEME_UNKNOWN"])
        #expect(
            try driver.rejectionCodes(try await driver.submit(GradingDriver.submission("A-22", on: "2 September 2025")))
                == ["DATE_INVALID"])
        #expect(
            try driver.rejectionCodes(try await driver.submit(GradingDriver.submission("A-23", on: "2025-07-07")))
                == ["ASSESSED_BEFORE_TRAINING"], "the first day of training is too early")
        #expect(
            try driver.graded(try await driver.submit(GradingDriver.submission("A-24", on: "2025-07-08"))).outcome == .competent)
    }

    /// A result dated after tomorrow (WITA, by the worker's clock) is refused: dated 9999 it
    /// would make every later correction, uji ulang and appeal older than it.
    @Test func aResultDatedAfterTomorrowIsRejected() async throws {
        let noon = ISO8601DateFormatter().date(from: "2025-09-02T12:00:00+08:00")!
        let driver = try await GradingDriver.make(now: { noon })
        for date in ["2025-09-04", "9999-12-31"] {
            #expect(
                try driver.rejectionCodes(try await driver.submit(GradingDriver.submission("F-\(date)", on: date)))
                    == ["DATE_IN_FUTURE"], "\(date)")
        }
        #expect(
            try driver.graded(try await driver.submit(GradingDriver.submission("F-ok", on: "2025-09-03"))).outcome == .competent)
        // Half past midnight in WITA is still the day before in UTC: tomorrow is WITA's.
        let justAfterMidnight = ISO8601DateFormatter().date(from: "2025-09-02T00:30:00+08:00")!
        let night = try await GradingDriver.make(now: { justAfterMidnight })
        #expect(
            try night.rejectionCodes(try await night.submit(GradingDriver.submission("G-1", on: "2025-09-04")))
                == ["DATE_IN_FUTURE"])
        #expect(try night.graded(try await night.submit(GradingDriver.submission("G-2", on: "2025-09-03"))).outcome == .competent)
    }

    /// The BNSP numbers an LSP sends are signed into the record and sent to the holder: never a
    /// web address, nor anything but letters, digits, spaces and . / - : ( ).
    @Test func anLSPNumberThatIsALinkIsRejected() async throws {
        let driver = try await GradingDriver.make()
        for (index, number) in ["cek di evil.example/aktifkan", "https://x.id", "No. 1\n2", String(repeating: "9", count: 65)]
            .enumerated()
        {
            var submission = GradingDriver.retake("N-\(index)", of: nil, on: "2025-09-02", [:])
            submission.units = GradingDriver.units.map { AssessmentSubmittedV1.Unit(code: $0, result: .competent) }
            submission.certificateNumber = number
            submission.registrationNumber = "No. Reg. PAR 0123 00456 2025"
            #expect(try driver.rejectionCodes(try await driver.submit(submission)) == ["NUMBER_INVALID"], "\(number)")
        }
        var good = GradingDriver.retake("N-ok", of: nil, on: "2025-09-02", [:])
        good.units = GradingDriver.units.map { AssessmentSubmittedV1.Unit(code: $0, result: .competent) }
        good.certificateNumber = "No. 55101 5151 2 0001234 2025"
        #expect(try driver.graded(try await driver.submit(good)).lspCertificateNumber == "No. 55101 5151 2 0001234 2025")
    }

    /// A result or an appeal naming thousands of units is refused with a short list of reasons:
    /// one reason per unit made a rejection larger than the broker takes.
    @Test func thousandsOfUnitsGiveAShortRejection() async throws {
        let driver = try await GradingDriver.make()
        var many = GradingDriver.submission("M-1")
        many.units = (0..<5_000).map { AssessmentSubmittedV1.Unit(code: "X.\($0 % 2_500)", result: .competent) }
        let events = try await driver.submit(many)
        let codes = try driver.rejectionCodes(events)
        #expect(codes.count == GradingHandler.maximumReasons && codes.first == "UNITS_TOO_MANY" && codes.last == "MORE_REASONS")
        #expect(events.allSatisfy { $0.body.count < 16_384 }, "\(events.map(\.body.count))")
        var results = Dictionary(
            uniqueKeysWithValues: GradingDriver.units.map { ($0, AssessmentSubmittedV1.UnitResult.competent) })
        results["G.454000.002.01"] = .notYetCompetent
        _ = try driver.graded(try await driver.submit(GradingDriver.submission("M-2", results: results)))
        _ = try await driver.appeal("M-2", .filed, on: "2025-09-05")
        let appeal = try await driver.appeal("M-2", .upheld, on: "2025-09-06", units: (0..<30_000).map { "U\($0)" })
        let appealCodes = try driver.rejectionCodes(appeal)
        #expect(appealCodes.count == GradingHandler.maximumReasons && appealCodes.contains("UNITS_TOO_MANY"), "\(appealCodes)")
        #expect(appeal.allSatisfy { $0.body.count < 16_384 })
    }

    /// The LSP's licence becomes part of a certificate's id and file name: an LSP cannot send a
    /// path, a control character or a name too long for a file system.
    @Test(arguments: ["../../etc/x", "BNSP/LSP", "BNSP-LSP\n", "", String(repeating: "A", count: 65), "BNSP LSP"])
    func aLicenceThatCannotNameAFileIsRejected(licence: String) async throws {
        let driver = try await GradingDriver.make()
        var submission = GradingDriver.submission("A-30")
        submission.lspLicence = licence
        #expect(try driver.rejectionCodes(try await driver.submit(submission)) == ["LSP_LICENCE_INVALID"])
    }

    @Test func attendanceOfExactlyEightyPercentPassesTrainingAndLessDoesNot() async throws {
        let driver = try await GradingDriver.make()
        let pass = try driver.graded(try await driver.submit(GradingDriver.submission("A-25", attendance: 80)))
        #expect(pass.trainingOutcome == .passed)
        let fail = try driver.graded(
            try await driver.submit(GradingDriver.submission("A-26", on: "2025-09-03", attendance: 79.9)))
        #expect(fail.trainingOutcome == .failed)
    }

    @Test func aWithdrawnParticipantCannotBeGraded() async throws {
        let driver = try await GradingDriver.make()
        _ = try await driver.kit.deliver(
            EventEnvelope(
                source: "/test", data: EnrolmentWithdrawnV1(participantID: "PST-1", classID: nil, reason: .attendanceTooLow)))
        #expect(try driver.rejectionCodes(try await driver.submit(GradingDriver.submission("A-6"))) == ["NOT_ENROLLED"])
    }

    /// The withdrawal holds whatever order the events arrive in: a seat that lands after it (a
    /// retry tier, a replayed copy) does not make the participant gradable again.
    @Test func aSeatArrivingAfterTheWithdrawalDoesNotUndoIt() async throws {
        let driver = try await GradingDriver.make()
        _ = try await driver.kit.deliver(
            EventEnvelope(
                source: "/test",
                data: EnrolmentWithdrawnV1(participantID: "PST-2", classID: nil, reason: .participantResigned)))
        try await driver.schedule("PST-2")
        #expect(
            try driver.rejectionCodes(try await driver.submit(GradingDriver.submission("A-7", participant: "PST-2")))
                == ["NOT_ENROLLED"])
        // And the other way round, with the seat replayed after the withdrawal.
        _ = try await driver.kit.deliver(
            EventEnvelope(
                source: "/test", data: EnrolmentWithdrawnV1(participantID: "PST-1", classID: nil, reason: .administrative)))
        try await driver.schedule("PST-1")
        #expect(try driver.rejectionCodes(try await driver.submit(GradingDriver.submission("A-8"))) == ["NOT_ENROLLED"])
    }

    @Test func aCorrectionSupersedesAndALateOlderSubmissionChangesNothing() async throws {
        let driver = try await GradingDriver.make()
        var results = Dictionary(
            uniqueKeysWithValues: GradingDriver.units.map { ($0, AssessmentSubmittedV1.UnitResult.competent) })
        results["G.454000.001.01"] = .notYetCompetent
        let first = try driver.graded(
            try await driver.submit(GradingDriver.submission("A-7", on: "2025-09-02", results: results)))
        #expect(first.outcome == .notYetCompetent)
        let corrected = try driver.graded(try await driver.submit(GradingDriver.submission("A-8", on: "2025-09-03")))
        #expect(corrected.outcome == .competent && corrected.supersedes == "A-7")
        let late = try await driver.submit(GradingDriver.submission("A-6", on: "2025-09-01", results: results))
        #expect(late.isEmpty, "an older submission arriving late never overwrites a newer one")
        let rows = try await driver.kit.query("SELECT assessment_id, status FROM grading_assessments ORDER BY assessment_id")
        #expect(rows.map { $0["status"]?.text ?? "" } == ["stale", "superseded", "current"])
        #expect(
            try await driver.submit(GradingDriver.submission("A-8", on: "2025-09-03")).isEmpty, "a resend is not graded twice")
    }

    @Test func aRefusedIdSentAgainIsRefusedAgainWithTheReason() async throws {
        let driver = try await GradingDriver.make()
        #expect(
            try driver.rejectionCodes(try await driver.submit(GradingDriver.submission("A-9", attendance: 120)))
                == ["ATTENDANCE_INVALID"])
        // Corrected but under the same id: before, nothing came back and the result was lost.
        let again = try await driver.submit(GradingDriver.submission("A-9"))
        #expect(try driver.rejectionCodes(again) == ["ASSESSMENT_ID_USED"])
        #expect(!again.contains { $0.type == AssessmentGradedV3.eventType })
        // Under a new id it is graded.
        #expect(try driver.graded(try await driver.submit(GradingDriver.submission("A-10"))).outcome == .competent)
        let rows = try await driver.kit.query("SELECT assessment_id, status FROM grading_assessments ORDER BY assessment_id")
        #expect(rows.map { $0["status"]?.text ?? "" } == ["current", "rejected"])
    }

    /// Another LSP cannot replace the result of an LSP's candidate (a correction, an uji ulang),
    /// take its assessment ids, or learn whose they are.
    @Test func anotherLSPCannotReplaceAResultOrTakeItsIds() async throws {
        let driver = try await GradingDriver.make()
        var results = Dictionary(
            uniqueKeysWithValues: GradingDriver.units.map { ($0, AssessmentSubmittedV1.UnitResult.competent) })
        results["G.454000.001.01"] = .notYetCompetent
        #expect(
            try driver.graded(try await driver.submit(GradingDriver.submission("A-1", results: results))).outcome
                == .notYetCompetent)
        func other(_ submission: AssessmentSubmittedV1) -> AssessmentSubmittedV3 {
            var v3 = submission.upcast().upcast()
            v3.lspLicence = "BNSP-LSP-0999-ID"
            return v3
        }
        let correction = try await driver.submit(other(GradingDriver.submission("B-1", on: "2025-09-03")))
        #expect(try driver.rejectionCodes(correction) == ["LSP_MISMATCH"])
        #expect(!correction.contains { $0.type == AssessmentGradedV3.eventType })
        var retake = GradingDriver.retake("B-2", of: "A-1", on: "2025-09-04", ["G.454000.001.01": .competent])
        retake.lspLicence = "BNSP-LSP-0999-ID"
        #expect(try driver.rejectionCodes(try await driver.submit(retake)).contains("LSP_MISMATCH"))
        let taken = try await driver.submit(other(GradingDriver.submission("A-1", on: "2025-09-05")))
        #expect(try driver.rejectionCodes(taken) == ["ASSESSMENT_ID_USED"])
        let text = String(decoding: try #require(taken.first).body, as: UTF8.self)
        #expect(!text.contains("BNSP-LSP-0123-ID") && !text.contains("ditolak"), "neither whose the id is nor what became of it")
        let appeal = try await driver.appeal("A-1", .filed, on: "2025-09-05", licence: "BNSP-LSP-0999-ID")
        #expect(try driver.rejectionCodes(appeal) == ["APPEAL_LSP_MISMATCH"])
        #expect(!String(decoding: try #require(appeal.first).body, as: UTF8.self).contains("BNSP-LSP-0123-ID"))
        let current = try await driver.kit.query("SELECT assessment_id FROM grading_assessments WHERE status = 'current'")
        #expect(current.map { $0["assessment_id"]?.text } == ["A-1"], "the first LSP's result stands")
        // The first LSP's own correction is taken.
        #expect(try driver.graded(try await driver.submit(GradingDriver.submission("A-3", on: "2025-09-06"))).supersedes == "A-1")
    }

    @Test(arguments: [
        ("G.454000.001.01", true), ("M.702090.001.01", true), ("OTO.SM01.001.01", true), ("PAR.HT02.026.01", true),
        ("G.45OTO01.001.1", true), ("G.45400.001.01", false), ("454000.001.01", false), ("g.454000.001.01", false), ("", false),
    ])
    func unitCodesFollowTheSKKNIFormats(code: String, valid: Bool) {
        #expect(GradingHandler.isUnitCode(code) == valid)
    }

    /// Two units BK at the first assessment: an uji ulang of one leaves the other BK (the
    /// outcome is the whole scheme's), a second one of the other makes the candidate KOMPETEN.
    @Test func anUjiUlangReassessesTheBKUnitsAndTheOutcomeIsTheWholeSchemes() async throws {
        let driver = try await GradingDriver.make()
        var results = Dictionary(
            uniqueKeysWithValues: GradingDriver.units.map { ($0, AssessmentSubmittedV1.UnitResult.competent) })
        results["G.454000.001.01"] = .notYetCompetent
        results["G.454000.003.01"] = .notYetCompetent
        let first = try driver.graded(try await driver.submit(GradingDriver.submission("U-1", results: results)))
        #expect(first.outcome == .notYetCompetent && first.attempt == 1 && first.retakeAvailable == true)
        let second = try driver.graded(
            try await driver.submit(GradingDriver.retake("U-2", of: "U-1", on: "2025-09-16", ["G.454000.001.01": .competent])))
        #expect(second.outcome == .notYetCompetent && second.notYetCompetentUnits == ["G.454000.003.01"])
        #expect(second.retakeOf == "U-1" && second.supersedes == "U-1" && second.attempt == 2)
        var third = GradingDriver.retake("U-3", of: "U-2", on: "2025-09-30", ["G.454000.003.01": .competent])
        third.certificateNumber = "No. 85223 7233 3 0000001 2025"
        let competent = try driver.graded(try await driver.submit(third))
        #expect(competent.outcome == .competent && competent.notYetCompetentUnits.isEmpty)
        #expect(competent.retakeAvailable == false && competent.lspCertificateNumber == "No. 85223 7233 3 0000001 2025")
        let units = try await driver.kit.query("SELECT unit, result, attempts FROM grading_units ORDER BY unit")
        #expect(units.map { $0["attempts"]?.integer } == [2, 1, 2, 1], "an attempt counted for each re-assessed unit only")
    }

    /// The plan allows three attempts per unit, the first assessment included: the third uji
    /// ulang of a unit is refused, and the last BK result says no uji ulang is left.
    @Test func theThirdUjiUlangOfAUnitIsRefusedAndTheLastResultSaysSo() async throws {
        let driver = try await GradingDriver.make()
        var results = Dictionary(
            uniqueKeysWithValues: GradingDriver.units.map { ($0, AssessmentSubmittedV1.UnitResult.competent) })
        results["G.454000.002.01"] = .notYetCompetent
        _ = try driver.graded(try await driver.submit(GradingDriver.submission("L-1", results: results)))
        let again = try driver.graded(
            try await driver.submit(
                GradingDriver.retake("L-2", of: "L-1", on: "2025-09-10", ["G.454000.002.01": .notYetCompetent])))
        #expect(again.attempt == 2 && again.retakeAvailable == true)
        let last = try driver.graded(
            try await driver.submit(
                GradingDriver.retake("L-3", of: "L-2", on: "2025-09-20", ["G.454000.002.01": .notYetCompetent])))
        #expect(last.attempt == 3 && last.retakeAvailable == false && last.outcome == .notYetCompetent)
        let refused = try await driver.submit(
            GradingDriver.retake("L-4", of: "L-3", on: "2025-09-30", ["G.454000.002.01": .competent]))
        #expect(try driver.rejectionCodes(refused) == ["RETAKE_LIMIT_REACHED"])
        // Nor can a "correction" of the whole result turn that unit K: only banding can.
        #expect(
            try driver.rejectionCodes(try await driver.submit(GradingDriver.submission("L-5", on: "2025-10-01")))
                == ["RETAKE_LIMIT_REACHED"])
        // A correction that leaves it BK is taken, and counts no attempt.
        let corrected = try driver.graded(
            try await driver.submit(GradingDriver.submission("L-6", on: "2025-10-02", results: results)))
        #expect(corrected.outcome == .notYetCompetent && corrected.supersedes == "L-3" && corrected.attempt == 3)
        #expect(corrected.retakeAvailable == false)
    }

    /// What an LSP's system could send wrongly, or an attacker on purpose: an uji ulang of a
    /// result that is not the current one, of a competent candidate, of a K unit, dated before
    /// the result it follows, with no unit, or of a unit outside the scheme.
    @Test func anUjiUlangThatDoesNotFollowTheCurrentBKResultIsRejected() async throws {
        let driver = try await GradingDriver.make()
        let bk: [String: AssessmentSubmittedV1.UnitResult] = ["G.454000.004.01": .competent]
        // The result it follows has not arrived (yet): tried again later, not refused for good.
        await #expect {
            _ = try await driver.submit(GradingDriver.retake("R-0", of: "NONE", on: "2025-09-10", bk))
        } throws: { ($0 as? Failure)?.kind == .transient && ($0 as? Failure)?.code == .assessmentNotYetKnown }
        // … unless something else is wrong with it: then it is refused with that.
        var wrong = GradingDriver.retake("R-00", of: "NONE", on: "2025-09-10", bk)
        wrong.testSite = " "
        #expect(try driver.rejectionCodes(try await driver.submit(wrong)) == ["TEST_SITE_MISSING"])
        var results = Dictionary(
            uniqueKeysWithValues: GradingDriver.units.map { ($0, AssessmentSubmittedV1.UnitResult.competent) })
        results["G.454000.004.01"] = .notYetCompetent
        _ = try driver.graded(try await driver.submit(GradingDriver.submission("R-1", results: results)))
        // A result grading refused is known but not current.
        _ = try driver.rejectionCodes(try await driver.submit(GradingDriver.submission("R-9", attendance: 120)))
        #expect(
            try driver.rejectionCodes(
                try await driver.submit(GradingDriver.retake("R-2", of: "R-9", on: "2025-09-10", bk)))
                == ["RETAKE_NOT_CURRENT"])
        #expect(
            try driver.rejectionCodes(
                try await driver.submit(GradingDriver.retake("R-3", of: "R-1", on: "2025-09-10", ["G.454000.001.01": .competent]))
            )
                == ["RETAKE_UNIT_COMPETENT"])
        #expect(
            try driver.rejectionCodes(try await driver.submit(GradingDriver.retake("R-4", of: "R-1", on: "2025-09-02", bk)))
                == ["RETAKE_DATE_INVALID"])
        #expect(
            try driver.rejectionCodes(try await driver.submit(GradingDriver.retake("R-5", of: "R-1", on: "2025-09-10", [:])))
                == ["RETAKE_NO_UNITS"])
        #expect(
            try driver.rejectionCodes(
                try await driver.submit(GradingDriver.retake("R-6", of: "R-1", on: "2025-09-10", ["G.454000.009.01": .competent]))
            )
                == ["UNIT_UNKNOWN"])
        // Nothing of the refused ones changed the result: the right uji ulang still works.
        let passed = try driver.graded(
            try await driver.submit(GradingDriver.retake("R-7", of: "R-1", on: "2025-09-10", bk)))
        #expect(passed.outcome == .competent && passed.attempt == 2)
        #expect(
            try driver.rejectionCodes(
                try await driver.submit(GradingDriver.retake("R-8", of: "R-7", on: "2025-09-20", bk))) == ["RETAKE_NOT_NEEDED"])
    }

    /// One unit BK; the candidate appeals. While the appeal is pending no uji ulang is taken;
    /// upheld, the unit is K and the whole result is graded again with the LSP's numbers.
    @Test func anUpheldAppealMakesTheNamedUnitsCompetentAndGradesTheResultAgain() async throws {
        let driver = try await GradingDriver.make()
        var results = Dictionary(
            uniqueKeysWithValues: GradingDriver.units.map { ($0, AssessmentSubmittedV1.UnitResult.competent) })
        results["G.454000.002.01"] = .notYetCompetent
        _ = try driver.graded(try await driver.submit(GradingDriver.submission("B-1", results: results)))
        let filed = try driver.appealRecorded(try await driver.appeal("B-1", .filed, on: "2025-09-05"))
        #expect(filed.status == .filed && filed.retakeAvailable)
        #expect(try await driver.appeal("B-1", .filed, on: "2025-09-05").isEmpty, "the same step again changes nothing")
        #expect(
            try driver.rejectionCodes(
                try await driver.submit(
                    GradingDriver.retake("B-2", of: "B-1", on: "2025-09-10", ["G.454000.002.01": .competent])))
                == ["RETAKE_APPEAL_PENDING"])
        let upheld = try await driver.appeal("B-1", .upheld, on: "2025-09-12", units: ["G.454000.002.01"])
        #expect(try driver.appealRecorded(upheld).status == .upheld)
        let graded = try driver.graded(upheld)
        #expect(graded.outcome == .competent && graded.supersedes == "B-1" && graded.assessedOn == "2025-09-12")
        #expect(graded.lspCertificateNumber == "No. 85223 7233 3 0000009 2025" && graded.retakeAvailable == false)
        #expect(Set(upheld.map(\.messageID)).count == 2, "two events, two ids")
        #expect(try await driver.appeal("B-1", .upheld, on: "2025-09-12", units: ["G.454000.002.01"]).isEmpty)
        #expect(
            try driver.rejectionCodes(try await driver.appeal("B-1", .dismissed, on: "2025-09-13"))
                == ["APPEAL_NOT_CURRENT", "APPEAL_ALREADY_DECIDED"])
    }

    @Test func aDismissedAppealLeavesTheResultAndTheUjiUlangOpen() async throws {
        let driver = try await GradingDriver.make()
        var results = Dictionary(
            uniqueKeysWithValues: GradingDriver.units.map { ($0, AssessmentSubmittedV1.UnitResult.competent) })
        results["G.454000.001.01"] = .notYetCompetent
        _ = try driver.graded(try await driver.submit(GradingDriver.submission("D-1", results: results)))
        _ = try driver.appealRecorded(try await driver.appeal("D-1", .filed, on: "2025-09-03"))
        let dismissed = try await driver.appeal("D-1", .dismissed, on: "2025-09-09")
        #expect(try driver.appealRecorded(dismissed).status == .dismissed && dismissed.count == 1)
        #expect(try driver.appealRecorded(dismissed).retakeAvailable)
        let retake = try driver.graded(
            try await driver.submit(GradingDriver.retake("D-2", of: "D-1", on: "2025-09-16", ["G.454000.001.01": .competent])))
        #expect(retake.outcome == .competent)
    }

    /// An LSP's system, or someone with its credentials, cannot appeal a competent result, have a
    /// decision taken before its filing (it waits), appeal to another LSP, turn a K unit or no
    /// unit by an appeal, change units by a dismissal, date the appeal before the assessment, or
    /// name a licence that is not one.
    @Test func anAppealThatCannotBeTrueIsRejectedWithItsReason() async throws {
        let driver = try await GradingDriver.make()
        _ = try driver.graded(try await driver.submit(GradingDriver.submission("K-1")))
        #expect(try driver.rejectionCodes(try await driver.appeal("K-1", .filed, on: "2025-09-03")) == ["APPEAL_NOT_BK"])
        var results = Dictionary(
            uniqueKeysWithValues: GradingDriver.units.map { ($0, AssessmentSubmittedV1.UnitResult.competent) })
        results["G.454000.004.01"] = .notYetCompetent
        _ = try driver.graded(try await driver.submit(GradingDriver.submission("K-2", on: "2025-09-04", results: results)))
        // A decision before its filing (another process, a retry): tried again later.
        await #expect {
            _ = try await driver.appeal("K-2", .upheld, on: "2025-09-06", units: ["G.454000.004.01"])
        } throws: { ($0 as? Failure)?.kind == .transient && ($0 as? Failure)?.code == .assessmentNotYetKnown }
        // A decision about a result that cannot be appealed is refused at once.
        #expect(
            try driver.rejectionCodes(try await driver.appeal("K-1", .dismissed, on: "2025-09-06")).contains("APPEAL_NOT_FILED"))
        #expect(
            try driver.rejectionCodes(try await driver.appeal("K-2", .filed, on: "2025-09-05", licence: "BNSP-LSP-9999-ID"))
                == ["APPEAL_LSP_MISMATCH"], "only the LSP that assessed decides an appeal")
        #expect(
            try driver.rejectionCodes(try await driver.appeal("K-2", .filed, on: "2025-09-01")) == ["APPEAL_DATE_INVALID"])
        #expect(
            try driver.rejectionCodes(try await driver.appeal("K-2", .filed, on: "2025-09-05", licence: "../x"))
                == ["LSP_LICENCE_INVALID", "APPEAL_LSP_MISMATCH"])
        _ = try driver.appealRecorded(try await driver.appeal("K-2", .filed, on: "2025-09-05"))
        #expect(
            try driver.rejectionCodes(try await driver.appeal("K-2", .upheld, on: "2025-09-06", units: ["G.454000.001.01"]))
                == ["APPEAL_UNIT_NOT_BK"])
        #expect(try driver.rejectionCodes(try await driver.appeal("K-2", .upheld, on: "2025-09-06")) == ["APPEAL_NO_UNITS"])
        #expect(
            try driver.rejectionCodes(
                try await driver.appeal("K-2", .dismissed, on: "2025-09-06", units: ["G.454000.004.01"]))
                == ["APPEAL_UNITS_UNEXPECTED"])
        #expect(
            try driver.rejectionCodes(try await driver.appeal("K-2", .dismissed, on: "2025-09-04")) == ["APPEAL_DATE_INVALID"])
        // None of these changed anything: the appeal is still pending and can be decided.
        #expect(try driver.appealRecorded(try await driver.appeal("K-2", .dismissed, on: "2025-09-07")).status == .dismissed)
    }

    /// A result graded before per-unit results were kept has nothing to re-assess against: the
    /// uji ulang is refused (the LSP sends the whole assessment) instead of grading one unit as
    /// the whole scheme. An LSP cannot take the id an upheld appeal's result will carry.
    @Test func anUjiUlangOfAResultWithNoUnitResultsIsRefusedAndAppealIdsAreReserved() async throws {
        let driver = try await GradingDriver.make()
        var results = Dictionary(
            uniqueKeysWithValues: GradingDriver.units.map { ($0, AssessmentSubmittedV1.UnitResult.competent) })
        results["G.454000.001.01"] = .notYetCompetent
        _ = try driver.graded(try await driver.submit(GradingDriver.submission("O-1", results: results)))
        try await driver.kit.store.write { transaction in try transaction.execute("DELETE FROM grading_units") }
        #expect(
            try driver.rejectionCodes(
                try await driver.submit(
                    GradingDriver.retake("O-2", of: "O-1", on: "2025-09-16", ["G.454000.001.01": .competent])))
                == ["RETAKE_NO_UNIT_RESULTS"])
        // No per-unit results: a dismissed appeal offers no uji ulang either.
        _ = try driver.appealRecorded(try await driver.appeal("O-1", .filed, on: "2025-09-03"))
        #expect(try driver.appealRecorded(try await driver.appeal("O-1", .dismissed, on: "2025-09-05")).retakeAvailable == false)
        // The whole result sent again (two units BK); an id ending in -BANDING is refused and
        // stays free for the result of the appeal that follows.
        results["G.454000.002.01"] = .notYetCompetent
        _ = try driver.graded(try await driver.submit(GradingDriver.submission("O-3", on: "2025-09-20", results: results)))
        #expect(
            try driver.rejectionCodes(try await driver.submit(GradingDriver.submission("O-3-BANDING", on: "2025-09-21")))
                == ["ASSESSMENT_ID_RESERVED"])
        _ = try driver.appealRecorded(try await driver.appeal("O-3", .filed, on: "2025-09-22"))
        let upheld = try driver.graded(try await driver.appeal("O-3", .upheld, on: "2025-09-25", units: ["G.454000.001.01"]))
        #expect(upheld.assessmentID == "O-3-BANDING" && upheld.notYetCompetentUnits == ["G.454000.002.01"])
        #expect(upheld.retakeAvailable == true && upheld.supersedes == "O-3")
    }
}
