import ContractKit
import Contracts
import Foundation
import Jobs
import Programme
import Stores
import Testing
import Workers

/// One message waitlists a bounded number of applicants; `enrolment.allocation-continued`,
/// which scheduling publishes to itself, carries on. The outcome is the one an unbounded
/// message gives: the same seats, offers, waiting lists and positions, each event once.
struct SchedulingContinuationTests {
    /// Delivers the continuations the driver published and not yet delivered, and those they
    /// publish, until none is left. Returns how many it delivered.
    /// `largest` becomes the most waitlisted events one of them published, if more.
    @discardableResult
    static func drain(_ driver: SchedulingDriver, delivered: inout Set<String>, largest: inout Int) async throws -> Int {
        var count = 0
        while let next = driver.events.first(where: {
            $0.type == EnrolmentAllocationContinuedV1.eventType && !delivered.contains($0.messageID)
        }) {
            delivered.insert(next.messageID)
            let envelope = try ContractJSON.decoder().decode(EventEnvelope<EnrolmentAllocationContinuedV1>.self, from: next.body)
            let events = try await driver.deliver(envelope)
            largest = max(largest, events.filter { $0.type == EnrolmentWaitlistedV1.eventType }.count)
            count += 1
        }
        return count
    }

    /// Twelve accepted before the classes open (tiers mixed, so the list's order is not the
    /// arrival order); the plan has five places (three at Balikpapan, two offered at Bontang).
    static func run(budget: Int, page: Int = 256) async throws -> (driver: SchedulingDriver, continuations: Int, largest: Int) {
        let driver = try await SchedulingDriver(
            catalogue: smallCatalogue(quotaBalikpapan: 3), waitlistedPerMessage: budget, walkPage: page)
        var delivered: Set<String> = []
        var continuations = 0
        var largest = 0
        for index in 1...12 {
            let tier: RegistrationAcceptedV1.PriorityTier = index % 3 == 0 ? .neverTrained : .previouslyTrained
            try await driver.accept(String(format: "P%02d", index), tier: tier)
        }
        for planned in driver.catalogue.plannedClasses {
            let events = try await driver.deliver(EventEnvelope(id: "open-\(planned.classID)", source: "/test", data: planned))
            largest = max(largest, events.filter { $0.type == EnrolmentWaitlistedV1.eventType }.count)
            continuations += try await drain(driver, delivered: &delivered, largest: &largest)
        }
        // A latecomer of the best tier, and a withdrawal that frees a seat.
        try await driver.accept("P13", tier: .neverTrained)
        continuations += try await drain(driver, delivered: &delivered, largest: &largest)
        let seated = try #require(try driver.scheduled.keys.sorted().first)
        try await driver.withdraw(seated)
        continuations += try await drain(driver, delivered: &delivered, largest: &largest)
        return (driver, continuations, largest)
    }

    @Test func aBoundedMessageWaitlistsInStepsAndEndsAsAnUnboundedOne() async throws {
        // Pages of two rows: the walk's later pages (read from where the last one ended) run.
        let bounded = try await Self.run(budget: 3, page: 2)
        let unbounded = try await Self.run(budget: 500)
        #expect(bounded.largest <= 3, "no message waitlisted more than its budget")
        #expect(bounded.continuations >= 2, "the waiting list took several messages")
        #expect(unbounded.continuations == 0)
        let waitlisted = try bounded.driver.decoded(EnrolmentWaitlistedV1.self)
        #expect(!waitlisted.isEmpty)
        #expect(Set(waitlisted.map(\.participantID)).count == waitlisted.count, "each applicant waitlisted once")
        func outcome(_ driver: SchedulingDriver) async throws -> [String] {
            try await driver.kit.query(
                "SELECT participant_id, status, class_id, waitlist_position FROM sched_applicants ORDER BY participant_id"
            ).map { row in
                ["participant_id", "status", "class_id", "waitlist_position"].map { "\(row[$0] ?? .null)" }
                    .joined(separator: " ")
            }
        }
        let end = try await outcome(bounded.driver)
        #expect(end == (try await outcome(unbounded.driver)), "the same seats, lists and positions")
        #expect(!end.contains { $0.contains("pooled") }, "nobody left in the pool")
        #expect(
            try bounded.driver.waitlisted.mapValues(\.position) == unbounded.driver.waitlisted.mapValues(\.position),
            "the positions the applicants were told")
        #expect(try bounded.driver.offers.keys.sorted() == unbounded.driver.offers.keys.sorted())
        let ids = bounded.driver.events.filter { $0.type == EnrolmentAllocationContinuedV1.eventType }.map(\.messageID)
        #expect(Set(ids).count == ids.count && ids.allSatisfy { $0.count == "allocation-continued-".count + 24 })
    }

    /// Other messages arrive while the waiting list is still being filled in steps (the
    /// order the broker gives is not the order of the chain): a latecomer of the best tier and
    /// a withdrawal that frees a seat. When the chain has run, nobody is left pooled, each list
    /// is numbered 1…n in its order of service, and the freed seat went to someone.
    @Test func messagesBetweenTheStepsLeaveNobodyPooledAndEachListInOrder() async throws {
        let driver = try await SchedulingDriver(
            catalogue: smallCatalogue(quotaBalikpapan: 3), waitlistedPerMessage: 2, walkPage: 3)
        for index in 1...12 {
            try await driver.accept(String(format: "P%02d", index), tier: index % 4 == 0 ? .neverTrained : .previouslyTrained)
        }
        try await driver.openClasses()
        #expect(try await driver.kit.query("SELECT 1 FROM sched_applicants WHERE status = 'pooled'").count > 0)
        try await driver.accept("P13", tier: .neverTrained)
        let seated = try #require(try driver.scheduled.keys.sorted().first)
        try await driver.withdraw(seated)
        var delivered: Set<String> = []
        var largest = 0
        try await Self.drain(driver, delivered: &delivered, largest: &largest)
        #expect(largest <= 2)
        #expect(try await driver.kit.query("SELECT 1 FROM sched_applicants WHERE status = 'pooled'").isEmpty)
        let lists = try await driver.kit.query(
            """
            SELECT preferred_centre, tier, waitlist_position FROM sched_applicants WHERE status = 'waitlisted'
            ORDER BY preferred_centre, tier, arrival, registration_id, participant_id
            """)
        #expect(!lists.isEmpty)
        for centre in Set(lists.compactMap { $0["preferred_centre"]?.text }) {
            let positions = lists.filter { $0["preferred_centre"]?.text == centre }.compactMap {
                $0["waitlist_position"]?.integer
            }
            #expect(positions == Array(1...Int64(positions.count)), "\(centre): \(positions)")
        }
        let seats = try await driver.kit.query("SELECT 1 FROM sched_applicants WHERE status = 'scheduled'").count
        #expect(seats == 5, "three at Balikpapan, two held or taken at Bontang: the freed seat was given again")
    }

    /// A continuation delivered again is a duplicate; one for a programme not in the plan (a
    /// forged or stale one) is refused for good; one with nothing left to do publishes nothing.
    @Test func aContinuationAgainOrForAnUnknownProgrammeChangesNothing() async throws {
        let driver = try await SchedulingDriver(catalogue: smallCatalogue(), waitlistedPerMessage: 2)
        let continued = EventEnvelope(
            id: "c-1", source: "/kaltim/workers/scheduling",
            data: EnrolmentAllocationContinuedV1(programme: "MEKANIK_SEPEDA_MOTOR"))
        #expect(try await driver.deliver(continued).isEmpty, "nothing pooled: nothing to do, no further continuation")
        #expect(try await driver.kit.deliver(continued).duplicate)
        for programme in ["OPERATOR_EXCAVATOR", "", String(repeating: "X", count: 10_000)] {
            do {
                try await driver.deliver(
                    EventEnvelope(source: "/test", data: EnrolmentAllocationContinuedV1(programme: programme)))
                Issue.record("a continuation for \(programme.prefix(20)) was taken")
            } catch let failure as Failure {
                #expect(failure.code == .unknownProgramme && failure.kind == .permanent, "\(failure)")
            }
        }
    }
}
