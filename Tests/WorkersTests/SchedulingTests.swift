import ContractKit
import Contracts
import Foundation
import Jobs
import Programme
import Stores
import Testing
import Workers

/// A small plan: one programme in each BLKI, two classes of two seats each, Balikpapan's quota
/// three places, two apprenticeship places.
func smallCatalogue(quotaBalikpapan: Int = 3, reRegistration: Bool = false, reserveSeats: Int = 0) throws
    -> ProgrammeCatalogue
{
    let window = #" "reRegistration": {"opensDaysBeforeStart": 7, "days": 3, "start": "08:00", "end": "15:00"},"#
    let json = """
        {"year": 2025, "referenceDate": "2025-07-01", "timeZone": "Asia/Makassar",
         "sessions": [{"days": [1, 2, 3, 4, 5], "start": "08:00", "end": "15:00"}],
         "ageWindow": {"minimum": 17, "maximum": 35}, "classSize": 2, "reserveSeats": \(reserveSeats),
         "firstClassStart": "2025-07-07", "cohortSpacingDays": 14,\(reRegistration ? window : "")
         "apprenticeships": {"places": 2, "months": 6,
           "companies": [{"name": "PT Contoh (sintetis)", "regionCode": "6471", "sectors": ["G"]}]},
         "centres": [
           {"centre": "BLKI_BALIKPAPAN", "code": "BPN", "quota": \(quotaBalikpapan), "programmes": [
             {"code": "MEKANIK_SEPEDA_MOTOR", "name": "Mekanik", "sector": "G", "classes": 2, "trainingHours": 240, "weeks": 8,
              "scheme": {"code": "SKM-T", "units": ["G.454000.001.01"], "validityYears": 3}}]},
           {"centre": "BLKI_BONTANG", "code": "BTG", "quota": 4, "programmes": [
             {"code": "MEKANIK_SEPEDA_MOTOR", "name": "Mekanik", "sector": "G", "classes": 1, "trainingHours": 240, "weeks": 8,
              "scheme": {"code": "SKM-T", "units": ["G.454000.001.01"], "validityYears": 3}}]}
         ]}
        """
    return try JSONDecoder().decode(ProgrammeCatalogue.self, from: Data(json.utf8))
}

/// Drives a scheduling handler through the runtime's test kit and keeps what it published.
final class SchedulingDriver {
    let kit: HandlerTestKit
    let catalogue: ProgrammeCatalogue
    private(set) var events: [OutgoingEvent] = []
    private var clock = Date(timeIntervalSince1970: 1_751_000_000)

    init(catalogue: ProgrammeCatalogue, waitlistedPerMessage: Int = 500, walkPage: Int = 256) async throws {
        self.catalogue = catalogue
        kit = try await HandlerTestKit(
            handler: SchedulingHandler(catalogue: catalogue, waitlistedPerMessage: waitlistedPerMessage, walkPage: walkPage),
            registry: .pipeline)
    }

    @discardableResult
    func accept(
        _ participant: String, tier: RegistrationAcceptedV1.PriorityTier = .neverTrained, centre: TrainingCentre = .balikpapan,
        apprenticeship: Bool = false, id: String = UUID().uuidString
    ) async throws -> [OutgoingEvent] {
        clock += 1
        let accepted = RegistrationAcceptedV1(
            registrationID: "REG-" + participant, participantID: participant, centre: centre, programme: "MEKANIK_SEPEDA_MOTOR",
            priorityTier: tier, priorityReasons: [], apprenticeshipInterest: apprenticeship)
        return try await deliver(EventEnvelope(id: id, source: "/test", time: clock, data: accepted))
    }

    /// Opens the plan's classes (all, or those of one BLKI).
    func openClasses(_ centre: TrainingCentre? = nil) async throws {
        for planned in catalogue.plannedClasses where centre == nil || planned.centre == centre {
            try await deliver(EventEnvelope(source: "/test", data: planned))
        }
    }

    /// The office asks scheduling to withdraw the participant, who left on `on`.
    @discardableResult
    func withdraw(_ participant: String, classID: String? = nil, on: String = "2025-07-01") async throws -> [OutgoingEvent] {
        try await deliver(
            EventEnvelope(
                source: "/test",
                data: EnrolmentWithdrawalRequestedV1(
                    participantID: participant, classID: classID, reason: .participantResigned, on: on,
                    requestedBy: "Petugas Disnakertrans")))
    }

    @discardableResult
    func deliver<M: ContractMessage>(_ envelope: EventEnvelope<M>) async throws -> [OutgoingEvent] {
        let result = try await kit.deliver(envelope)
        events += result.events
        return result.events
    }

    func decoded<M: ContractMessage>(_ type: M.Type) throws -> [M] {
        try events.filter { $0.type == M.eventType }.map {
            try ContractJSON.decoder().decode(EventEnvelope<M>.self, from: $0.body).data
        }
    }

    var scheduled: [String: ClassScheduledV2] {
        get throws { Dictionary(try decoded(ClassScheduledV2.self).map { ($0.participantID, $0) }) { _, last in last } }
    }
    var offers: [String: EnrolmentTransferOfferedV1] {
        get throws {
            Dictionary(try decoded(EnrolmentTransferOfferedV1.self).map { ($0.participantID, $0) }) { _, last in last }
        }
    }

    /// The portal's answer to the participant's offer.
    @discardableResult
    func answer(
        _ participant: String, _ answer: EnrolmentTransferAnsweredV1.Answer, classID: String? = nil, on: String = "2025-06-20"
    ) async throws -> [OutgoingEvent] {
        let offered = try classID ?? #require(try offers[participant]?.classID)
        return try await deliver(
            EventEnvelope(
                source: "/kaltim/registration-portal",
                data: EnrolmentTransferAnsweredV1(participantID: participant, classID: offered, answer: answer, answeredOn: on)))
    }

    var waitlisted: [String: EnrolmentWaitlistedV1] {
        get throws { Dictionary(try decoded(EnrolmentWaitlistedV1.self).map { ($0.participantID, $0) }) { _, last in last } }
    }
}

struct SchedulingTests {
    /// Peserta cadangan: each full class gets the plan's reserves from its BLKI's waiting list,
    /// in its order, once; a seat freed in the class goes to its first reserve, before anyone
    /// who joined the list since, even of a better tier; a reserve who is seated or leaves is
    /// replaced by the next one waiting.
    @Test func aFreedSeatGoesToTheClasssReservesInTheirOrder() async throws {
        let driver = try await SchedulingDriver(catalogue: smallCatalogue(quotaBalikpapan: 4, reserveSeats: 2))
        try await driver.openClasses()
        try await driver.accept("B1", centre: .bontang)
        try await driver.accept("B2", centre: .bontang)
        for index in 1...7 { try await driver.accept("P\(index)", tier: .previouslyTrained) }
        let seated = try driver.scheduled
        #expect(Set(seated.keys) == ["B1", "B2", "P1", "P2", "P3", "P4"])
        let first = try #require(seated["P1"]?.classID)
        let second = try #require(seated["P3"]?.classID)
        #expect(first != second && seated["P2"]?.classID == first && seated["P4"]?.classID == second)
        var reserves = try driver.decoded(EnrolmentReserveDesignatedV1.self)
        #expect(
            reserves.map { "\($0.participantID) \($0.classID) \($0.rank)" } == [
                "P5 \(first) 1", "P6 \(first) 2", "P7 \(second) 1",
            ])
        #expect(reserves.allSatisfy { $0.centre == .balikpapan && $0.programme == "MEKANIK_SEPEDA_MOTOR" })
        #expect(reserves.first?.startDate == seated["P1"]?.startDate)
        // A better tier joins the list later: first in line on it, but not a reserve of the first
        // class, which has its two; it is the second class's second reserve.
        try await driver.accept("P8", tier: .neverTrained)
        #expect(try driver.waitlisted["P8"]?.position == 1)
        reserves = try driver.decoded(EnrolmentReserveDesignatedV1.self)
        #expect(reserves.last.map { "\($0.participantID) \($0.classID) \($0.rank)" } == "P8 \(second) 2")

        // P1 does not come to daftar ulang: the seat goes to P5, the first class's first reserve.
        let noShow = try await driver.deliver(
            EventEnvelope(
                source: "/test",
                data: EnrolmentReRegisteredV1(participantID: "P1", classID: first, attended: false, recordedBy: "BLKI")))
        #expect(noShow.map(\.type) == [EnrolmentWithdrawnV1.eventType, ClassScheduledV2.eventType])
        let replacement = try #require(try driver.scheduled["P5"])
        #expect(replacement.classID == first && replacement.replacing && replacement.seat == seated["P1"]?.seat)
        #expect(try driver.scheduled["P8"] == nil, "P8 waits: the seat was promised to the class's reserves")
        // Nobody is left who is not a reserve: the first class keeps one (P6) until someone
        // joins, who is second in line behind P6.
        try await driver.accept("P9", tier: .previouslyTrained)
        reserves = try driver.decoded(EnrolmentReserveDesignatedV1.self)
        #expect(reserves.last.map { "\($0.participantID) \($0.classID) \($0.rank)" } == "P9 \(first) 2")

        // A reserve who leaves the waiting list is replaced by the next one waiting.
        try await driver.accept("P10", tier: .previouslyTrained)
        try await driver.withdraw("P6")
        reserves = try driver.decoded(EnrolmentReserveDesignatedV1.self)
        #expect(reserves.last.map { "\($0.participantID) \($0.classID) \($0.rank)" } == "P10 \(first) 2")
        let rows = try await driver.kit.query("SELECT participant_id, status FROM sched_reserves ORDER BY participant_id")
        #expect(
            Dictionary(uniqueKeysWithValues: rows.map { ($0["participant_id"]?.text ?? "", $0["status"]?.text ?? "") }) == [
                "P5": "promoted", "P6": "released", "P7": "reserve", "P8": "reserve", "P9": "reserve", "P10": "reserve",
            ])

        // A withdrawal from the second class before it starts: its first reserve, P7, takes the seat.
        try await driver.withdraw("P4", classID: second, on: "2025-06-01")
        let refilled = try #require(try driver.scheduled["P7"])
        #expect(refilled.classID == second && refilled.replacing)
        #expect(try driver.scheduled["P8"] == nil)
        // Each reserve was told once: one event per person and class.
        let all = try driver.decoded(EnrolmentReserveDesignatedV1.self)
        #expect(Set(all.map(\.participantID)).count == all.count)
    }

    /// A reserve offered a seat at the other BLKI keeps their place while they decide: a no
    /// brings them back as the class's first reserve, and the next seat freed there is theirs.
    @Test func aReserveWhoDeclinesAnOfferAtTheOtherBLKIStaysTheClasssReserve() async throws {
        let driver = try await SchedulingDriver(catalogue: smallCatalogue(quotaBalikpapan: 4, reserveSeats: 2))
        try await driver.openClasses()
        try await driver.accept("B1", centre: .bontang)
        try await driver.accept("B2", centre: .bontang)
        for index in 1...6 { try await driver.accept("P\(index)", tier: .previouslyTrained) }
        let first = try #require(try driver.scheduled["P1"]?.classID)
        #expect(try driver.decoded(EnrolmentReserveDesignatedV1.self).map(\.participantID) == ["P5", "P6"])
        // B1 leaves Bontang's class before it starts: the seat is offered to P5, first in line.
        try await driver.withdraw("B1", classID: try #require(try driver.scheduled["B1"]?.classID), on: "2025-06-01")
        let offer = try #require(try driver.offers["P5"])
        #expect(offer.centre == .bontang)
        try await driver.answer("P5", .decline)
        // P5 is still the first class's first reserve: P1's no-show gives them the seat.
        try await driver.deliver(
            EventEnvelope(
                source: "/test",
                data: EnrolmentReRegisteredV1(participantID: "P1", classID: first, attended: false, recordedBy: "BLKI")))
        #expect(try driver.scheduled["P5"]?.classID == first)
        #expect(try driver.decoded(EnrolmentReserveDesignatedV1.self).map(\.participantID) == ["P5", "P6"])
    }

    @Test func classesOpenedAfterSelectionSeatByTierThenArrivalAndWaitlistTheRest() async throws {
        let driver = try await SchedulingDriver(catalogue: smallCatalogue(quotaBalikpapan: 4))
        try await driver.accept("P1", tier: .previouslyTrained)
        try await driver.accept("P2", tier: .neverTrained)
        try await driver.accept("P3", tier: .previouslyFailed)
        try await driver.accept("P4", tier: .neverTrained)
        try await driver.accept("P5", tier: .neverTrained)
        try await driver.accept("P6", tier: .previouslyTrained)
        #expect(driver.events.isEmpty, "nothing is decided before classes open")
        try await driver.openClasses(.balikpapan)
        let scheduled = try driver.scheduled
        #expect(Set(scheduled.keys) == ["P2", "P4", "P5", "P3"], "tier 1 in arrival order, then tier 2")
        #expect(scheduled["P2"]?.classID == "BPN-2025-MEKANIK_SEPEDA_MOTOR-01", "the earliest class first")
        #expect(scheduled["P5"]?.classID == "BPN-2025-MEKANIK_SEPEDA_MOTOR-02")
        #expect(try driver.waitlisted.isEmpty, "Bontang's class is not open yet: P1 and P6 may still get a seat there")
        try await driver.openClasses(.bontang)
        // Another class of the same programme, at the other BLKI: offered, not given silently.
        #expect(try driver.scheduled["P1"] == nil && driver.offers["P1"]?.centre == .bontang)
        #expect(try driver.offers["P6"]?.preferredCentre == .balikpapan)
        for participant in ["P1", "P6"] { try await driver.answer(participant, .accept) }
        #expect(try driver.scheduled["P1"]?.centre == .bontang, "a yes seats them there")
        #expect(try driver.scheduled["P6"]?.centre == .bontang)
    }

    @Test func arrivalIsWhenTheRegistrationWasSubmittedNotWhenIntakeDecided() async throws {
        let driver = try await SchedulingDriver(catalogue: smallCatalogue(quotaBalikpapan: 2))
        let noon = Date(timeIntervalSince1970: 1_751_000_000)
        // Two intake replicas decided Q2 (submitted last) first, then Q1 (submitted first).
        for (participant, submitted) in [("Q3", noon + 2), ("Q2", noon + 1), ("Q1", noon)] {
            let accepted = RegistrationAcceptedV2(
                registrationID: "REG-" + participant, participantID: participant, centre: .balikpapan,
                programme: "MEKANIK_SEPEDA_MOTOR", priorityTier: .neverTrained, priorityReasons: [],
                apprenticeshipInterest: false,
                submittedAt: submitted)
            try await driver.deliver(EventEnvelope(source: "/test", time: noon + 60, data: accepted))
        }
        try await driver.openClasses(.balikpapan)
        #expect(Set(try driver.scheduled.keys) == ["Q1", "Q2"], "the two who registered first")
        #expect(try driver.scheduled["Q3"] == nil, "Q3 registered last")
    }

    @Test func theQuotaHoldsAndTheRestIsWaitlistedWithPositions() async throws {
        let driver = try await SchedulingDriver(catalogue: smallCatalogue(quotaBalikpapan: 3))
        try await driver.openClasses()
        for index in 1...10 { try await driver.accept("P\(index)") }
        let scheduled = try driver.scheduled
        #expect(scheduled.values.filter { $0.centre == .balikpapan }.count == 3, "Balikpapan's quota is 3 though it has 4 seats")
        #expect(try driver.offers.values.filter { $0.centre == .bontang }.count == 2, "then Bontang's class, offered")
        let waitlisted = try driver.waitlisted
        #expect(waitlisted.count == 5)
        #expect(waitlisted.values.map(\.position).sorted() == [1, 2, 3, 4, 5])
        #expect(waitlisted["P6"]?.position == 1)
        #expect(Set(scheduled.keys).isDisjoint(with: waitlisted.keys), "each applicant is scheduled or waitlisted, once")
        var seats = Set<String>()
        for value in scheduled.values { #expect(seats.insert("\(value.classID)#\(value.seat)").inserted, "a seat is taken once") }
    }

    @Test func aWithdrawalGivesTheSeatToTheFirstOnTheWaitlist() async throws {
        let driver = try await SchedulingDriver(catalogue: smallCatalogue(quotaBalikpapan: 4))
        try await driver.openClasses()
        for index in 1...8 { try await driver.accept("P\(index)") }
        let seat = try #require(try driver.scheduled["P2"])
        #expect(try driver.waitlisted["P7"]?.position == 1)
        let published = try await driver.withdraw("P2", classID: seat.classID)
        let withdrawn = try #require(
            try published.first { $0.type == EnrolmentWithdrawnV1.eventType }.map {
                try ContractJSON.decoder().decode(EventEnvelope<EnrolmentWithdrawnV1>.self, from: $0.body).data
            })
        #expect(withdrawn.classID == seat.classID && withdrawn.reason == .participantResigned, "scheduling publishes the fact")
        let moved = try #require(try driver.scheduled["P7"])
        #expect(moved.classID == seat.classID && moved.seat == seat.seat, "the freed seat, not another")
        #expect(try await driver.withdraw("P2").isEmpty, "a repeat changes nothing")
    }

    /// Someone withdrawn while a seat at the other BLKI is on offer leaves the waiting, not a
    /// class: the withdrawal names no class, and the held seat is offered to the next person.
    @Test func withdrawingSomeoneHoldingAnOfferFreesTheHeldSeat() async throws {
        let driver = try await SchedulingDriver(catalogue: smallCatalogue(quotaBalikpapan: 2, reRegistration: true))
        try await driver.openClasses()
        for index in 1...5 { try await driver.accept("P\(index)") }
        let held = try #require(try driver.offers["P3"])
        #expect(try driver.waitlisted["P5"] != nil)
        let published = try await driver.withdraw("P3")
        let withdrawn = try #require(
            try published.first { $0.type == EnrolmentWithdrawnV1.eventType }.map {
                try ContractJSON.decoder().decode(EventEnvelope<EnrolmentWithdrawnV1>.self, from: $0.body).data
            })
        #expect(withdrawn.classID == nil, "the offered seat was never theirs")
        #expect(try driver.offers["P5"]?.classID == held.classID, "the held seat goes on to the next person")
        await #expect(throws: Failure.self) { try await driver.answer("P3", .accept) }
    }

    /// A class that has started is not refilled: the seat stays taken (nobody joins mid-way) and
    /// later allocations do not give it away either. What the office cannot do: withdraw someone
    /// from a class they do not hold, name a no-show, or send no date or no name. A request for
    /// an unknown participant waits for their acceptance (transient), then is dead-lettered.
    @Test func aSeatLeftAfterTheClassStartedStaysEmptyAndABadRequestIsRefused() async throws {
        let driver = try await SchedulingDriver(catalogue: smallCatalogue(quotaBalikpapan: 4))
        try await driver.openClasses()
        for index in 1...8 { try await driver.accept("P\(index)") }
        let seat = try #require(try driver.scheduled["P1"])
        await #expect(throws: Failure.self) { try await driver.withdraw("P1", classID: "BPN-2025-MEKANIK_SEPEDA_MOTOR-02") }
        do {
            _ = try await driver.withdraw("P99")
            Issue.record("a withdrawal for an unknown participant was taken")
        } catch let failure as Failure {
            #expect(failure.code == .participantNotYetKnown && failure.kind == .transient)
        }
        // An attendance below 80 % is known only in a class that has started.
        await #expect(throws: Failure.self) {
            try await driver.deliver(
                EventEnvelope(
                    source: "/test",
                    data: EnrolmentWithdrawalRequestedV1(
                        participantID: "P1", classID: seat.classID, reason: .attendanceTooLow, on: "2025-07-01",
                        requestedBy: "X")))
        }
        for bad in [
            EnrolmentWithdrawalRequestedV1(
                participantID: "P1", classID: nil, reason: .noShow, on: "2025-07-01", requestedBy: "X"),
            EnrolmentWithdrawalRequestedV1(
                participantID: "P1", classID: nil, reason: .administrative, on: "1 Juli 2025", requestedBy: "X"),
            EnrolmentWithdrawalRequestedV1(
                participantID: "P1", classID: nil, reason: .administrative, on: "2025-07-01", requestedBy: "  "),
        ] {
            await #expect(throws: Failure.self) { try await driver.deliver(EventEnvelope(source: "/test", data: bad)) }
        }
        // P1's class started on 7 July; P1 left on 9 July.
        let published = try await driver.withdraw("P1", classID: seat.classID, on: "2025-07-09")
        #expect(published.map(\.type) == [EnrolmentWithdrawnV1.eventType], "withdrawn, and nobody seated in their place")
        #expect(try driver.scheduled["P7"] == nil && driver.waitlisted["P7"]?.position == 1)
        // Another seat frees before its class starts: P7 gets that one, never P1's.
        let later = try #require(try driver.scheduled["P3"])
        try await driver.withdraw("P3", classID: later.classID, on: "2025-07-01")
        let moved = try #require(try driver.scheduled["P7"])
        #expect(moved.classID == later.classID && moved.seat == later.seat, "P7 gets P3's seat, never P1's")
        // The audit: who asked, the day, the seat left, whether it was given away.
        let audit = try await driver.kit.query(
            "SELECT participant_id, class_id, left_on, requested_by, refilled FROM sched_withdrawals ORDER BY participant_id")
        #expect(audit.map { $0["participant_id"]?.text } == ["P1", "P3"])
        #expect(
            audit.map { $0["refilled"]?.integer } == [0, 1]
                && audit.map { $0["class_id"]?.text } == [seat.classID, later.classID])
        #expect(audit.first?["requested_by"]?.text == "Petugas Disnakertrans" && audit.first?["left_on"]?.text == "2025-07-09")
    }

    /// Daftar ulang: a seat is the selection's result with its window; whoever does not come
    /// loses it to the first on the waiting list, who gets the later window; an attendance
    /// changes nothing; a record is not changed by another.
    @Test func aNoShowAtDaftarUlangLosesTheSeatToTheFirstOnTheWaitingListWithALaterWindow() async throws {
        let driver = try await SchedulingDriver(catalogue: smallCatalogue(quotaBalikpapan: 4, reRegistration: true))
        try await driver.openClasses()
        try await driver.accept("P1", apprenticeship: true)
        // P1–P6 seated, P7 and P8 waiting; P1 and P7 asked for an apprenticeship.
        for index in 2...8 { try await driver.accept("P\(index)", apprenticeship: index == 7) }
        let seat = try #require(try driver.scheduled["P1"])
        #expect(seat.cohort == 1 && !seat.replacing)
        #expect(seat.reRegistration == DateWindow(from: "2025-06-30", until: "2025-07-02"), "the plan's window")
        #expect(try driver.decoded(ApprenticeshipPlacedV1.self).map(\.participantID) == ["P1"])
        func record(_ participant: String, _ classID: String, attended: Bool, by staff: String = "Petugas BLKI")
            -> EventEnvelope<EnrolmentReRegisteredV1>
        {
            EventEnvelope(
                source: "/test",
                data: EnrolmentReRegisteredV1(
                    participantID: participant, classID: classID, attended: attended, recordedBy: staff))
        }
        let other = try #require(try driver.scheduled["P2"])
        #expect(try await driver.deliver(record("P2", other.classID, attended: true)).isEmpty, "came: nothing changes")

        let noShow = try await driver.deliver(record("P1", seat.classID, attended: false))
        #expect(
            noShow.map(\.type)
                == [EnrolmentWithdrawnV1.eventType, ClassScheduledV2.eventType, ApprenticeshipPlacedV1.eventType])
        let withdrawn = try #require(try driver.decoded(EnrolmentWithdrawnV1.self).first)
        #expect(withdrawn == EnrolmentWithdrawnV1(participantID: "P1", classID: seat.classID, reason: .noShow))
        let replacement = try #require(try driver.scheduled["P7"])
        #expect(replacement.classID == seat.classID && replacement.seat == seat.seat && replacement.replacing)
        #expect(
            replacement.reRegistration == DateWindow(from: "2025-07-03", until: "2025-07-06"),
            "from the day after the window closed to the day before the class starts")
        #expect(try driver.waitlisted["P8"] != nil)
        let places = try await driver.kit.query("SELECT placement_id, participant_id FROM sched_apprenticeships")
        #expect(places.map { $0["participant_id"]?.text } == ["P7"], "P1's place is released and goes to P7")
        #expect(places.first?["placement_id"]?.text == "MAG-2025-0002", "a released place's number is not given again")

        // The same record again changes nothing; a contradicting one and one for a seat the
        // participant does not hold are refused.
        #expect(try await driver.deliver(record("P1", seat.classID, attended: false)).isEmpty)
        for (bad, code) in [
            (record("P1", seat.classID, attended: true), Failure.Code.reRegistrationConflict),
            (record("P8", seat.classID, attended: true), .invalidReRegistration),
            (record("P7", "BTG-2025-MEKANIK_SEPEDA_MOTOR-01", attended: true), .invalidReRegistration),
            (record("P7", seat.classID, attended: true, by: "   "), .invalidReRegistration),
        ] {
            do {
                _ = try await driver.deliver(bad)
                Issue.record("accepted: \(bad.data)")
            } catch let failure as Failure {
                #expect(failure.code == code && failure.kind == .permanent, "\(failure)")
            }
        }
        #expect(try await driver.deliver(record("P7", seat.classID, attended: true)).isEmpty)
    }

    @Test func waitlistPositionsAreUniqueAndFollowTheOrderOfService() async throws {
        let driver = try await SchedulingDriver(catalogue: smallCatalogue(quotaBalikpapan: 4))
        try await driver.openClasses()
        for index in 1...8 { try await driver.accept("P\(index)") }  // P1–P6 seated, P7 and P8 waiting
        try await driver.accept("P9", tier: .previouslyTrained)
        try await driver.accept("P10")  // tier 1, later: served before P9
        func positions() async throws -> [String] {
            try await driver.kit.query(
                "SELECT participant_id, waitlist_position FROM sched_applicants WHERE status = 'waitlisted' ORDER BY waitlist_position"
            ).map { "\($0["participant_id"]?.text ?? "?")=\($0["waitlist_position"]?.integer ?? 0)" }
        }
        #expect(try driver.waitlisted["P8"]?.position == 2, "at the end of the list")
        #expect(try driver.waitlisted["P10"]?.position == 3, "ahead of the tier 3 applicant who came before")
        #expect(try await positions() == ["P7=1", "P8=2", "P10=3", "P9=4"])
        try await driver.withdraw("P2")  // P7 takes the seat; everyone behind moves up
        #expect(try driver.scheduled["P7"] != nil)
        #expect(try await positions() == ["P8=1", "P10=2", "P9=3"])
        try await driver.withdraw("P10")  // leaving the waiting list
        try await driver.accept("P11", tier: .previouslyFailed)
        #expect(try driver.waitlisted["P11"]?.position == 2, "a position nobody holds")
        #expect(try await positions() == ["P8=1", "P11=2", "P9=3"])
    }

    @Test func aLongWaitingListStaysNumberedInTheOrderOfServiceWhateverTheTiersOfNewcomers() async throws {
        // Most newcomers go to the end of the list (numbered without reading it), some of a
        // better tier go ahead (the list renumbered): the positions are always 1…n in order.
        let driver = try await SchedulingDriver(catalogue: smallCatalogue(quotaBalikpapan: 4))
        try await driver.openClasses()
        for index in 1...6 { try await driver.accept("S\(index)") }  // the seats
        let tiers: [RegistrationAcceptedV1.PriorityTier] = [.previouslyTrained, .previouslyFailed, .neverTrained]
        for index in 1...40 { try await driver.accept(String(format: "W%02d", index), tier: tiers[(index * 7 / 5) % 3]) }
        let rows = try await driver.kit.query(
            """
            SELECT participant_id, waitlist_position FROM sched_applicants WHERE status = 'waitlisted'
            ORDER BY tier, arrival, registration_id, participant_id
            """)
        #expect(rows.count == 40)
        // Each newcomer was told the position they had then: the end of the list for those who
        // came after everyone waiting.
        let last = try #require(driver.waitlisted["W40"])
        #expect(last.position == rows.firstIndex { $0["participant_id"]?.text == "W40" }.map { $0 + 1 })
        #expect(rows.map { Int($0["waitlist_position"]?.integer ?? 0) } == Array(1...40), "\(rows)")
    }

    @Test func theSameAcceptanceTwiceIsPlacedOnceAndApprenticeshipsAreCapped() async throws {
        let driver = try await SchedulingDriver(catalogue: smallCatalogue(quotaBalikpapan: 4))
        try await driver.openClasses()
        try await driver.accept("P1", apprenticeship: true, id: "first")
        #expect(try await driver.accept("P1", apprenticeship: true, id: "resent").isEmpty, "a resent acceptance changes nothing")
        try await driver.accept("P2", apprenticeship: true)
        try await driver.accept("P3", apprenticeship: true)
        let placements = try driver.decoded(ApprenticeshipPlacedV1.self)
        #expect(placements.map(\.participantID) == ["P1", "P2"], "two places in the plan")
        #expect(placements.map(\.placementID) == ["MAG-2025-0001", "MAG-2025-0002"])
        #expect(placements.allSatisfy { $0.companyName.contains("sintetis") })
    }

    @Test func anAcceptanceForAProgrammeNotInThePlanIsAPermanentFailure() async throws {
        let kit = try await HandlerTestKit(handler: SchedulingHandler(catalogue: smallCatalogue()), registry: .pipeline)
        let accepted = RegistrationAcceptedV1(
            registrationID: "R", participantID: "P", centre: .bontang, programme: "OPERATOR_EXCAVATOR",
            priorityTier: .neverTrained,
            priorityReasons: [], apprenticeshipInterest: false)
        await #expect(throws: Failure.self) { try await kit.deliver(EventEnvelope(source: "/test", data: accepted)) }
    }

    /// A class opening as a hostile or broken office system might send it: each is refused
    /// (dead-lettered with its reason) and seats nobody; the planned class is taken, once.
    @Test func aClassOpeningThatCannotBeRealIsRefusedAndSeatsNobody() async throws {
        let driver = try await SchedulingDriver(catalogue: smallCatalogue(quotaBalikpapan: 3))
        for participant in ["P1", "P2", "P3"] { try await driver.accept(participant) }
        let planned = try #require(driver.catalogue.plannedClasses.first { $0.centre == .balikpapan })
        var bad: [(String, ClassOpenedV1)] = []
        func variant(_ label: String, _ change: (inout ClassOpenedV1) -> Void) {
            var opened = planned
            opened.classID = "BPN-X-\(bad.count)"
            change(&opened)
            bad.append((label, opened))
        }
        variant("a million seats") { $0.capacity = 1_000_000 }
        variant("no seats") { $0.capacity = 0 }
        variant("negative reserves") { $0.reserveSeats = -5 }
        variant("a programme not at this BLKI") { $0.programme = "OPERATOR_EXCAVATOR" }
        variant("a date that is not one") { $0.startDate = "2025-02-30" }
        variant("the end before the start") { $0.endDate = "2025-07-01" }
        variant("an id with markup") { $0.classID = "<script>" }
        variant("an id of 10,000 bytes") { $0.classID = String(repeating: "A", count: 10_000) }
        variant("an empty id") { $0.classID = "" }
        variant("the id of a class of the other BLKI") { $0.classID = "BTG-2025-MEKANIK_SEPEDA_MOTOR-09" }
        for (label, opened) in bad {
            do {
                try await driver.deliver(EventEnvelope(source: "/test", data: opened))
                Issue.record("\(label): accepted")
            } catch let failure as Failure {
                #expect(failure.code == .invalidClass, "\(label)")
            }
        }
        #expect(try driver.scheduled.isEmpty, "no class was opened, so nobody has a seat")
        try await driver.deliver(EventEnvelope(source: "/test", data: planned))
        #expect(try driver.scheduled.count == 2, "the planned class seats its two")
        try await driver.deliver(EventEnvelope(source: "/test", data: planned))
        var changed = planned
        changed.capacity = 50
        await #expect(throws: Failure.self, "the same id with other seats") {
            try await driver.deliver(EventEnvelope(source: "/test", data: changed))
        }
        #expect(try driver.scheduled.count == 2)
        let rows = try await driver.kit.query("SELECT capacity FROM sched_classes")
        #expect(rows.map { $0["capacity"]?.integer } == [2])
    }

    @Test func theProgrammePlanOf2025HasTheAnnouncedQuotas() throws {
        let catalogue = try ProgrammeCatalogue.load(path: repositoryFile("config/programme-2025.json"))
        #expect(catalogue.centre(.balikpapan)?.quota == 1000)
        #expect(catalogue.centre(.bontang)?.quota == 500)
        #expect(catalogue.apprenticeships.places == 400)
        let classes = catalogue.plannedClasses
        #expect(classes.filter { $0.centre == .balikpapan }.count * catalogue.classSize >= 1000, "enough seats for the quota")
        #expect(classes.filter { $0.centre == .bontang }.count * catalogue.classSize >= 500)
        #expect(Set(classes.map(\.classID)).count == classes.count, "class ids are unique")
        let sectors = Set(catalogue.centres.flatMap { $0.programmes.map(\.sector) })
        #expect(sectors == ["B", "C", "F", "G", "I"], "mining, manufacturing, construction, trade and repair, housekeeping")
        #expect(catalogue.classSize == 16)
        // Hours in WITA: Monday to Thursday 08:00–16:00, Friday 08:00–11:30.
        #expect(catalogue.timeZone == "Asia/Makassar")
        #expect(catalogue.weeklyHours == "Senin–Kamis 08.00–16.00 WITA, Jumat 08.00–11.30 WITA")
        #expect(classes.allSatisfy { catalogue.startTime(on: $0.startDate) == "08.00" }, "every class starts on a training day")
        #expect(catalogue.startTime(on: "2025-07-12") == nil, "no training on Saturdays")
        #expect(catalogue.startTime(on: "2025-02-30") == nil, "no such day")
    }

    /// A session's hours: `HH:mm`, two digits each, 00:00 to 23:59, nothing else.
    @Test func sessionTimesAreTwoDigitHoursAndMinutes() {
        for (text, minutes) in [("00:00", 0), ("08:30", 510), ("23:59", 1_439), ("11:30", 690)] {
            #expect(ProgrammeCatalogue.minutes(text) == minutes, "\(text)")
        }
        for text in ["24:00", "7:00", "07:60", "07:5a", "\u{0660}\u{0667}:00", "07:00 ", "0700", "", "-1:00", "07.00"] {
            #expect(ProgrammeCatalogue.minutes(text) == nil, "\(text)")
        }
    }

    @Test func aProgrammeFileOutsideWITAOrWithBadHoursIsRefusedWithItsReason() throws {
        let good = try String(contentsOfFile: repositoryFile("config/programme-2025.json"), encoding: .utf8)
        let cases = [
            ("\"Asia/Makassar\"", "\"Asia/Jakarta\"", "timeZone must be Asia/Makassar"),
            ("\"end\": \"16:00\"", "\"end\": \"07:00\"", "start before end"),
            ("\"days\": [5]", "\"days\": [4]", "each in one session only"),
        ]
        for (original, replacement, reason) in cases {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("programme-\(EventID.random()).json").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            #expect(good.contains(original))
            try good.replacingOccurrences(of: original, with: replacement).write(toFile: path, atomically: true, encoding: .utf8)
            #expect {
                _ = try ProgrammeCatalogue.load(path: path)
            } throws: { "\($0)".contains(reason) }
        }
    }

    /// Balikpapan is full; Bontang's two seats are offered in the order of service. A no (or no
    /// answer) gives the seat to the next person and leaves the applicant waiting for their own
    /// BLKI, asked once; a yes seats them. What the portal cannot change: an answer again, a
    /// different answer, an answer for another class; a daftar ulang before the answer.
    @Test func aSeatAtTheOtherBLKIIsOfferedAndANoGivesItToTheNextPerson() async throws {
        let driver = try await SchedulingDriver(catalogue: smallCatalogue(quotaBalikpapan: 2, reRegistration: true))
        try await driver.openClasses()
        for index in 1...6 { try await driver.accept("P\(index)") }
        #expect(Set(try driver.scheduled.keys) == ["P1", "P2"])
        let offer = try #require(try driver.offers["P3"])
        #expect(
            offer.centre == .bontang && offer.preferredCentre == .balikpapan
                && offer.classID == "BTG-2025-MEKANIK_SEPEDA_MOTOR-01")
        #expect(offer.answerBy == "2025-06-29", "the day before the daftar ulang window opens (7 days before 7 July)")
        #expect(try Set(driver.offers.keys) == ["P3", "P4"] && Set(driver.waitlisted.keys) == ["P5", "P6"])

        try await driver.answer("P3", .decline)
        #expect(try driver.offers["P5"]?.classID == offer.classID, "the seat P3 refused goes to the next, P5")
        #expect(try driver.waitlisted["P3"]?.centre == .balikpapan, "P3 waits for a seat at Balikpapan")
        #expect(try await driver.answer("P3", .decline).isEmpty, "the same answer again changes nothing")
        await #expect(throws: Failure.self) { try await driver.answer("P3", .accept) }
        await #expect(throws: Failure.self) {
            try await driver.answer("P4", .accept, classID: "BPN-2025-MEKANIK_SEPEDA_MOTOR-01")
        }
        await #expect(throws: Failure.self) {
            try await driver.deliver(
                EventEnvelope(
                    source: "/test",
                    data: EnrolmentReRegisteredV1(
                        participantID: "P4", classID: offer.classID, attended: true, recordedBy: "Petugas")))
        }

        try await driver.answer("P4", .accept)
        #expect(try driver.scheduled["P4"]?.centre == .bontang && driver.scheduled["P4"]?.replacing == false)
        try await driver.answer("P5", .noAnswer, on: "2025-06-30")
        #expect(try driver.offers["P6"]?.classID == offer.classID, "no answer by the date is a no")
        #expect(try driver.offers["P6"]?.answerBy == "2025-06-30", "never before the day the seat was freed again")
        #expect(try driver.decoded(EnrolmentTransferOfferedV1.self).count == 4, "P3 is not asked again")
        #expect(try driver.scheduled["P3"] == nil && driver.scheduled["P5"] == nil, "nobody is seated without a yes")
        // A yes after the answer date counts as no answer: the seat goes on, P6 waits at home.
        try await driver.answer("P6", .accept, on: "2025-07-01")
        #expect(try driver.scheduled["P6"] == nil && driver.waitlisted["P6"]?.centre == .balikpapan)
        let status = try await driver.kit.query("SELECT status FROM sched_offers WHERE participant_id = 'P6'")
        #expect(status.first?["status"]?.text == "TIDAK_MENJAWAB")
        await #expect(throws: Failure.self) { try await driver.answer("P4", .accept, on: "besok") }
    }

}

func repositoryFile(_ path: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(path).path
}
