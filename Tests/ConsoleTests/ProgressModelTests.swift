import ClientAddress
import ContractKit
import Contracts
import Foundation
import Jobs
import Logging
import MetricsTestKit
import Programme
import Stores
import Synchronization
import TestSupport
import Testing
import Topology
import Workers

@testable import Console

/// The console's read model: counts from events in any order, the same whether an event
/// arrives once or three times (redelivery, replay, rebuild).
@Suite struct ProgressModelTests {
    static let fixtures = BrokerEnvironment.repositoryRoot.appendingPathComponent("Tests/ContractsTests/Fixtures")
    static let catalogue: ProgrammeCatalogue = {
        // The fixture-free way would need a second plan: the real one is what the console reads.
        try! ProgrammeCatalogue.load(
            path: BrokerEnvironment.repositoryRoot.appendingPathComponent("config/programme-2025.json").path)
    }()

    /// A fixture with its id, time and some data fields replaced, decoded as the worker would.
    func event(_ fixture: String, id: String, time: String, subject: String? = nil, data: [String: Any] = [:]) throws
        -> DecodedEvent
    {
        let url = Self.fixtures.appendingPathComponent("\(fixture).json")
        var envelope = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        envelope["id"] = id
        envelope["time"] = time
        if let subject { envelope["subject"] = subject }
        var payload = try #require(envelope["data"] as? [String: Any])
        for (key, value) in data { payload[key] = value }
        envelope["data"] = payload
        return try ContractRegistry.pipeline.decode(JSONSerialization.data(withJSONObject: envelope))
    }

    /// One job seeker's whole path, and a second one who was rejected.
    func journey() throws -> [DecodedEvent] {
        let participant = ["participantID": "PST-1"]
        return [
            try event(
                "registration.received.v1", id: "e1", time: "2025-03-01T00:00:00Z",
                data: ["registrationID": "REG-1", "centre": "BLKI_BALIKPAPAN"]),
            try event(
                "registration.accepted.v2", id: "e2", time: "2025-03-02T00:00:00Z",
                data: ["registrationID": "REG-1", "participantID": "PST-1", "centre": "BLKI_BONTANG"]),
            try event("class.scheduled.v1", id: "e3", time: "2025-03-03T00:00:00Z", data: participant),
            try event(
                "assessment.graded.v2", id: "e4", time: "2025-05-01T00:00:00Z",
                data: ["participantID": "PST-1", "outcome": "BELUM_KOMPETEN"]),
            // A correction: competent after all.
            try event(
                "assessment.graded.v2", id: "e5", time: "2025-05-02T00:00:00Z",
                data: ["participantID": "PST-1", "outcome": "KOMPETEN"]),
            try event(
                "certificate.issued.v1", id: "e6", time: "2025-05-03T00:00:00Z",
                data: ["participantID": "PST-1", "kind": "KOMPETENSI", "certificateID": "KOM-1"]),
            try event("notification.delivered.v1", id: "e7", time: "2025-05-04T00:00:00Z", subject: "PST-1"),
            try event(
                "registration.received.v1", id: "e8", time: "2025-03-01T00:00:00Z", data: ["registrationID": "REG-2"]),
            try event("registration.rejected.v1", id: "e9", time: "2025-03-02T00:00:00Z", data: ["registrationID": "REG-2"]),
        ]
    }

    /// Both stores under the test script (which starts PostgreSQL); SQLite alone otherwise.
    static var stores: [String] {
        PostgresEnvironment.url != nil || PostgresEnvironment.required ? ["sqlite", "postgres"] : ["sqlite"]
    }

    /// A console store (SQLite, or a schema of the test's PostgreSQL server) after `events`,
    /// then `read` on it.
    func afterEvents<T>(
        _ events: [DecodedEvent], store kind: String, read: (any MessageStore) async throws -> T
    ) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("progress"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store: any MessageStore =
            kind == "postgres"
            ? try await Stores.open(try PostgresEnvironment.requireURL(), schema: PostgresEnvironment.uniqueSchema("console"))
            : try SQLiteStore(path: directory.appendingPathComponent("console.sqlite").path)
        let handler = ProgressHandler(catalogue: Self.catalogue)
        try await store.migrate(handler.migrations)
        for event in events {
            try await store.write { transaction in _ = try handler.handle(event, in: transaction) }
        }
        return try await read(store)
    }

    func report(after events: [DecodedEvent], store kind: String = "sqlite") async throws -> ProgressReport {
        try await afterEvents(events, store: kind) { try await ProgressReport.read(from: $0, catalogue: Self.catalogue) }
    }

    /// The review queue after `events`, read at `now`.
    func reviews(after events: [DecodedEvent], store kind: String = "sqlite", now: String) async throws -> ReviewQueue {
        let instant = try Date(now, strategy: .iso8601)
        return try await afterEvents(events, store: kind) { try await ReviewQueue.read(from: $0, now: instant) }
    }

    func counts(_ report: ProgressReport) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: report.funnel.map { ($0.key, $0.count) })
    }

    /// A `registration.submitted` a binding left by an earlier version brings is taken and
    /// dropped: nothing of it is kept, nothing is dead-lettered.
    @Test(arguments: stores) func aRetiredSubmissionIsAcknowledgedAndNothingOfItIsKept(store: String) async throws {
        let submitted = try event(
            "registration.submitted.v2", id: "old-1", time: "2025-03-01T00:00:00Z", data: ["registrationID": "REG-OLD"])
        let rows = try await afterEvents([submitted], store: store) { store in
            try await store.read("SELECT * FROM console_registrations")
        }
        #expect(rows.isEmpty)
        #expect(!WorkerRole.console.consumes.contains("registration.submitted"), "the console's queue is not bound to it")
        #expect(WorkerRole.consoleRetiredKeys == ["registration.submitted"])
    }

    /// What a BLKI recorded lands whatever the order: a training result and a daftar ulang
    /// record that arrive before the seat, applied three times, show beside it once it comes.
    @Test(arguments: stores) func classRecordsLandInAnyOrder(store: String) async throws {
        let classID = "BTG-2025-TATA_GRAHA-01"
        let seat = try event(
            "class.scheduled.v2", id: "seat-1", time: "2025-06-01T00:00:00Z",
            data: ["participantID": "PST-9", "classID": classID, "centre": "BLKI_BONTANG", "programme": "TATA_GRAHA"])
        let records = [
            try event(
                "training.completed.v1", id: "trained-1", time: "2025-08-20T00:00:00Z",
                data: ["participantID": "PST-9", "classID": classID, "attendancePercent": 91.0, "result": "LULUS"]),
            try event(
                "enrolment.reregistered.v1", id: "rereg-1", time: "2025-07-01T00:00:00Z",
                data: ["participantID": "PST-9", "classID": classID, "attended": true]),
        ]
        let rows = try await afterEvents(records + records + [seat] + records, store: store) { store in
            try await store.read(
                """
                SELECT s.class_id, r.reregistered, r.attendance, r.training_passed FROM console_seats s
                LEFT JOIN console_seat_records r ON r.participant_id = s.participant_id AND r.class_id = s.class_id
                """)
        }
        #expect(rows.count == 1)
        #expect(rows.first?["class_id"]?.text == classID && rows.first?["reregistered"]?.integer == 1)
        #expect(rows.first?["attendance"]?.real == 91 && rows.first?["training_passed"]?.integer == 1)
    }

    @Test(arguments: stores) func aWholeJourneyFillsTheFunnel(store: String) async throws {
        let report = try await report(after: try journey(), store: store)
        #expect(
            counts(report) == [
                "registered": 2, "accepted": 1, "scheduled": 1, "assessed": 1, "certified": 1, "notified": 1,
            ])
        #expect(report.rejected == 1)
        // The acceptance's centre counts, not the preferred one.
        #expect(report.centres.map(\.certified) == [0, 1])
        #expect(report.centres.map(\.target) == [1000, 500])
        #expect(report.apprenticeships.target == 400)
        #expect(report.sectors.contains { $0.certified == 1 })
    }

    @Test(arguments: stores) func eventsInAnyOrderAndAppliedThreeTimesGiveTheSameCounts(store: String) async throws {
        let events = try journey()
        let once = try await report(after: events, store: store)
        let shuffled = try await report(after: (events + events + events).reversed(), store: store)
        #expect(counts(shuffled) == counts(once))
        #expect(shuffled.centres == once.centres && shuffled.sectors == once.sectors)
        #expect(shuffled.rejected == once.rejected)
    }

    @Test func aRevokedCompetencyCertificateNoLongerCountsAndANotificationBeforeItIsNotNotified() async throws {
        var events = try journey().filter { $0.header.type != NotificationDeliveredV1.eventType }
        events.append(try event("notification.delivered.v1", id: "n0", time: "2025-04-01T00:00:00Z", subject: "PST-1"))
        #expect(counts(try await report(after: events))["notified"] == 0)
        // Revoking another certificate of theirs (the training one) leaves them certified.
        events.append(
            try event(
                "certificate.revoked.v1", id: "r0", time: "2025-06-01T00:00:00Z",
                data: ["participantID": "PST-1", "certificateID": "PBK-1"]))
        #expect(counts(try await report(after: events))["certified"] == 1)
        events.append(
            try event(
                "certificate.revoked.v1", id: "r1", time: "2025-06-02T00:00:00Z",
                data: ["participantID": "PST-1", "certificateID": "KOM-1"]))
        #expect(counts(try await report(after: events))["certified"] == 0)
        // A revocation that arrives before the certificate does too.
        #expect(counts(try await report(after: events.reversed()))["certified"] == 0)
    }

    /// A competency record reissued under a corrected name (the old one revoked, a new one
    /// issued in the same batch) keeps its holder certified and notified, whatever order the
    /// two events arrive in; the certificate counted (the one the Kemnaker export names) is the
    /// one in force.
    @Test(arguments: stores) func aRecordReissuedUnderACorrectedNameKeepsItsHolderCertified(store: String) async throws {
        let reissue = [
            try event(
                "certificate.revoked.v1", id: "r-name", time: "2025-06-01T00:00:00Z",
                data: ["participantID": "PST-1", "certificateID": "KOM-1", "reasonCode": "NAME_CORRECTED"]),
            try event(
                "certificate.issued.v1", id: "i-name", time: "2025-06-01T00:00:00Z",
                data: ["participantID": "PST-1", "kind": "KOMPETENSI", "certificateID": "KOM-2"]),
        ]
        let journey = try journey()
        let before = counts(try await report(after: journey, store: store))
        #expect(before["certified"] == 1 && before["notified"] == 1)
        for order in [journey + reissue, journey + reissue.reversed(), reissue + journey, (reissue + journey).reversed()] {
            let (after, counted) = try await afterEvents(order + order, store: store) { database in
                (
                    try await ProgressReport.read(from: database, catalogue: Self.catalogue),
                    try await database.read(
                        "SELECT certificate_id FROM console_participants WHERE participant_id = 'PST-1'", []
                    ).first?["certificate_id"]?.text
                )
            }
            #expect(counts(after) == before, "\(order.map(\.header.id))")
            #expect(counted == "KOM-2", "\(order.map(\.header.id))")
        }
        // The reissued one revoked too (say, the assessment corrected): no longer certified.
        let revokedAgain = try event(
            "certificate.revoked.v1", id: "r-2", time: "2025-07-01T00:00:00Z",
            data: ["participantID": "PST-1", "certificateID": "KOM-2", "reasonCode": "ASSESSMENT_CORRECTED"])
        #expect(counts(try await report(after: journey + reissue + [revokedAgain], store: store))["certified"] == 0)
        #expect(counts(try await report(after: [revokedAgain] + reissue + journey, store: store))["certified"] == 0)
    }
}

extension ProgressModelTests {
    /// Three registrations go to review; an officer asks one applicant for documents, approves
    /// another and rejects nothing yet: two wait, the oldest since the first review, whatever
    /// the order the events arrive in and however often.
    @Test(arguments: stores) func theReviewQueueHoldsWhatNoOfficerDecidedAndItsOldestAge(store: String) async throws {
        func review(_ id: String, _ time: String) throws -> DecodedEvent {
            try event(
                "registration.review-needed.v1", id: "review-\(id)", time: time,
                data: ["registrationID": id, "reasons": [["code": "REGISTRY_NAME_MISMATCH", "message": "Nama berbeda."]]])
        }
        let events = [
            try event(
                "registration.received.v1", id: "s1", time: "2025-03-01T00:00:00Z",
                data: ["registrationID": "REG-1", "centre": "BLKI_BONTANG", "programme": "TATA_GRAHA"]),
            try review("REG-1", "2025-03-01T01:00:00Z"),
            try review("REG-2", "2025-03-01T05:00:00Z"),
            try review("REG-3", "2025-03-01T03:00:00Z"),
            try event(
                "registration.documents-requested.v1", id: "docs-1", time: "2025-03-02T00:00:00Z",
                data: ["registrationID": "REG-1", "respondBy": "2025-03-09"]),
            // The officer approved REG-3: intake accepted it.
            try event(
                "registration.accepted.v2", id: "a3", time: "2025-03-02T02:00:00Z",
                data: ["registrationID": "REG-3", "participantID": "PST-3"]),
        ]
        for order in [events, (events + events + events).reversed()] {
            let queue = try await reviews(after: order, store: store, now: "2025-03-03T01:00:00Z")
            #expect(queue.count == 2 && queue.pending.map(\.registrationID) == ["REG-1", "REG-2"])
            let age = try #require(queue.oldestAgeSeconds)
            #expect(abs(age - 48 * 3600) < 0.01, "REG-1 has waited since 1 March 01:00: \(age)")
            let first = try #require(queue.pending.first)
            #expect(first.centre == "BLKI_BONTANG" && first.programme == "TATA_GRAHA")
            #expect(first.reasons.map(\.code) == ["REGISTRY_NAME_MISMATCH"] && first.respondBy == "2025-03-09")
            #expect(first.documentsReason?.contains("akta kelahiran") == true && queue.pending[1].documentsRequestedAt == nil)
        }
        // Once the last two are decided, nothing waits and there is no oldest age.
        let decided = try await reviews(
            after: events + [
                try event("registration.rejected.v1", id: "r1", time: "2025-03-04T00:00:00Z", data: ["registrationID": "REG-1"]),
                try event(
                    "registration.accepted.v2", id: "a2", time: "2025-03-04T00:00:00Z",
                    data: ["registrationID": "REG-2", "participantID": "PST-2"]),
            ], store: store, now: "2025-03-05T00:00:00Z")
        #expect(decided.count == 0 && decided.pending.isEmpty && decided.oldestAgeSeconds == nil)
    }

    /// The metrics an alert watches: the count and the oldest one's age, at a given time.
    @Test func theReviewGaugesCarryTheCountAndTheOldestAge() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("gauges"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("console.sqlite").path)
        let handler = ProgressHandler(catalogue: Self.catalogue)
        try await store.migrate(handler.migrations)
        let metrics = TestMetrics()
        let gauges = ReviewGauges(store: store, logger: Logger(label: "test"), factory: metrics)
        try await gauges.refresh(now: try Date("2025-03-01T00:00:00Z", strategy: .iso8601))
        #expect(try metrics.expectGauge("kaltim_reviews_pending").lastValue == 0)
        #expect(try metrics.expectGauge("kaltim_review_oldest_pending_age_seconds").lastValue == 0)
        for (id, time) in [("REG-1", "2025-03-01T01:00:00Z"), ("REG-2", "2025-03-01T02:00:00Z")] {
            let review = try event(
                "registration.review-needed.v1", id: "review-\(id)", time: time, data: ["registrationID": id])
            try await store.write { transaction in _ = try handler.handle(review, in: transaction) }
        }
        try await gauges.refresh(now: try Date("2025-03-01T04:00:00Z", strategy: .iso8601))
        #expect(try metrics.expectGauge("kaltim_reviews_pending").lastValue == 2)
        let age = try #require(try metrics.expectGauge("kaltim_review_oldest_pending_age_seconds").lastValue)
        #expect(abs(age - 3 * 3600) < 0.01, "\(age)")
    }

    /// The target's gap per BLKI and what could close it: the BELUM KOMPETEN (those with an uji
    /// ulang left) and the applicants on its waiting lists.
    @Test(arguments: stores) func eachBLKIsGapShowsWhoCouldCloseIt(store: String) async throws {
        var events = try journey()
        for (index, participant) in ["PST-3", "PST-4", "PST-5"].enumerated() {
            events.append(
                try event(
                    "registration.accepted.v2", id: "acc-\(participant)", time: "2025-03-02T00:00:0\(index)Z",
                    data: ["registrationID": "REG-\(participant)", "participantID": participant, "centre": "BLKI_BALIKPAPAN"]))
        }
        events += [
            try event("class.scheduled.v1", id: "s3", time: "2025-03-03T00:00:00Z", data: ["participantID": "PST-3"]),
            try event(
                "assessment.graded.v3", id: "g3", time: "2025-05-01T00:00:00Z",
                data: ["participantID": "PST-3", "outcome": "BELUM_KOMPETEN", "retakeAvailable": true]),
            try event("class.scheduled.v1", id: "s5", time: "2025-03-03T00:00:00Z", data: ["participantID": "PST-5"]),
            try event(
                "assessment.graded.v3", id: "g5", time: "2025-05-01T00:00:00Z",
                data: ["participantID": "PST-5", "outcome": "BELUM_KOMPETEN", "retakeAvailable": false]),
            try event("enrolment.waitlisted.v1", id: "w4", time: "2025-03-03T00:00:00Z", data: ["participantID": "PST-4"]),
        ]
        let report = try await report(after: events, store: store)
        let balikpapan = try #require(report.gaps.first { $0.key == "BLKI_BALIKPAPAN" })
        #expect(balikpapan.gap == 1000 && balikpapan.notYetCompetent == 2 && balikpapan.mayRetake == 1)
        #expect(balikpapan.waiting == 1)
        let bontang = try #require(report.gaps.first { $0.key == "BLKI_BONTANG" })
        #expect(bontang.gap == 499 && bontang.notYetCompetent == 0 && bontang.waiting == 0, "PST-1 is certified there")
    }

    @Test func indonesianDatesAndDurations() {
        #expect(IndonesianText.dateTime(Date(timeIntervalSince1970: 1_751_846_400)) == "7 Juli 2025 08.00 WITA")
        #expect(IndonesianText.date("2025-06-20") == "20 Juni 2025" && IndonesianText.date("20/06/2025") == "20/06/2025")
        #expect(IndonesianText.date("2025-13-01") == "2025-13-01")
        #expect(IndonesianText.duration(30) == "30 detik" && IndonesianText.duration(3 * 3600) == "3 jam")
        #expect(IndonesianText.duration(3 * 86400) == "3 hari" && IndonesianText.duration(-40) == "0 detik")
    }
}

@Suite struct ConsoleAccessTests {
    @Test func aPasswordHashVerifiesItsPasswordOnly() throws {
        let hash = try PasswordHash.make("rahasia-2025", rounds: 210_000)
        let decoded = try #require(PasswordHash(encoded: hash.encoded))
        #expect(decoded.verify("rahasia-2025"))
        #expect(!decoded.verify("rahasia-2026"))
        #expect(hash.encoded.hasPrefix("pbkdf2-sha256$210000$"))
        #expect(!hash.encoded.contains("rahasia"))
    }

    @Test(arguments: ["", "md5$x", "pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0c2FsdA==$AAAA", "pbkdf2-sha256$600000$$"])
    func aMalformedOrWeakHashIsRefused(encoded: String) {
        #expect(PasswordHash(encoded: encoded) == nil)
    }

    @Test func accountsAuthenticateByNameAndPassword() throws {
        let accounts = ConsoleAccounts(users: [
            .init(name: "siti", role: .operator, passwordHash: try PasswordHash.make("kata-sandi", rounds: 210_000).encoded)
        ])
        #expect(accounts.authenticate(name: "siti", password: "kata-sandi")?.role == .operator)
        #expect(accounts.authenticate(name: "siti", password: "salah") == nil)
        #expect(accounts.authenticate(name: "budi", password: "kata-sandi") == nil)
        // Each role sees what its work needs: operations staff do not decide reviews, officers
        // and BLKI staff do not see dead letters, a BLKI administrator sees no review queue.
        #expect(ConsoleRole.operator.allows(.replay) && !ConsoleRole.viewer.allows(.replay))
        #expect(ConsoleRole.admin.allows(.purgeAndReveal) && !ConsoleRole.operator.allows(.purgeAndReveal))
        #expect(ConsoleRole.allCases.filter { $0.allows(.decideReviews) } == [.officer])
        #expect(ConsoleRole.allCases.filter { $0.allows(.runBLKIDesk) } == [.blki])
        #expect(!ConsoleRole.officer.allows(.viewOperations) && !ConsoleRole.blki.allows(.viewOperations))
        #expect(!ConsoleRole.blki.allows(.viewReviewQueue) && ConsoleRole.officer.allows(.viewReviewQueue))
    }

    @Test func aBLKIAccountNamesItsCentreAndNoOtherAccountHasOne() throws {
        let hash = try PasswordHash.make("kata-sandi", rounds: 210_000).encoded
        let directory = FileManager.default.temporaryDirectory
        func load(_ users: String) throws -> ConsoleAccounts {
            let path = directory.appendingPathComponent(uniqueName("accounts") + ".json").path
            try Data("{\"users\": [\(users)]}".utf8).write(to: URL(fileURLWithPath: path))
            defer { try? FileManager.default.removeItem(atPath: path) }
            return try ConsoleAccounts(path: path)
        }
        let loaded = try load(#"{"name": "budi", "role": "blki", "centre": "BLKI_BONTANG", "passwordHash": "\#(hash)"}"#)
        #expect(loaded.users["budi"]?.centre == "BLKI_BONTANG")
        for bad in [
            #"{"name": "budi", "role": "blki", "passwordHash": "\#(hash)"}"#,
            #"{"name": "budi", "role": "blki", "centre": "BLKI_SAMARINDA", "passwordHash": "\#(hash)"}"#,
            #"{"name": "rina", "role": "officer", "centre": "BLKI_BONTANG", "passwordHash": "\#(hash)"}"#,
            #"{"name": "rina", "role": "superuser", "passwordHash": "\#(hash)"}"#,
        ] {
            #expect(throws: ConsoleError.self) { try load(bad) }
        }
    }
}

/// Sessions on an injected clock: idle time counts the user's own requests only.
@Suite struct SessionStoreTests {
    final class ManualClock: Sendable {
        private let now = Mutex(ContinuousClock.now)
        func advance(_ duration: Duration) { now.withLock { $0 += duration } }
        var instant: ContinuousClock.Instant { now.withLock { $0 } }
    }

    static let user = ConsoleAccounts.User(name: "rina", role: .viewer, passwordHash: "unused")

    @Test func aPagesAutomaticRefreshDoesNotKeepAnIdleSessionAlive() {
        let clock = ManualClock()
        let store = SessionStore(idleTimeout: .seconds(1800), lifetime: .seconds(43_200), clock: { clock.instant })
        let session = store.create(Self.user)
        // The page refreshes itself every 30 s for 29 minutes: the session is still there…
        for _ in 0..<58 {
            clock.advance(.seconds(30))
            #expect(store.find(session.id, touch: false) != nil)
        }
        // …and ends 30 minutes after the user's last request, refreshes or not.
        clock.advance(.seconds(61))
        #expect(store.find(session.id, touch: false) == nil)
        #expect(store.find(session.id) == nil, "gone for good")
    }

    /// Behind a proxy that names the user, each request without the console's cookie makes a
    /// session: a user holds at most `maximumPerUser`, the least recently used going first, and
    /// nobody else's session is touched.
    @Test func aUserHoldsABoundedNumberOfSessions() {
        let clock = ManualClock()
        let store = SessionStore(idleTimeout: .seconds(1800), lifetime: .seconds(43_200), clock: { clock.instant })
        let other = store.create(ConsoleAccounts.User(name: "budi", role: .viewer, passwordHash: "unused"))
        var made: [ConsoleSession] = []
        for _ in 0..<(SessionStore.maximumPerUser + 5) {
            clock.advance(.seconds(1))
            made.append(store.create(Self.user))
        }
        #expect(made.prefix(5).allSatisfy { store.find($0.id, touch: false) == nil }, "the five least recently used went")
        #expect(made.suffix(SessionStore.maximumPerUser).allSatisfy { store.find($0.id, touch: false) != nil })
        #expect(store.find(other.id, touch: false) != nil)
        // Used again, an old session is kept and the next least recently used one goes.
        clock.advance(.seconds(1))
        #expect(store.find(made[5].id) != nil)
        _ = store.create(Self.user)
        #expect(store.find(made[5].id, touch: false) != nil && store.find(made[6].id, touch: false) == nil)
    }

    @Test func theUsersOwnRequestsKeepItAliveUntilItsLifetimeEnds() {
        let clock = ManualClock()
        let store = SessionStore(idleTimeout: .seconds(1800), lifetime: .seconds(43_200), clock: { clock.instant })
        let session = store.create(Self.user)
        for _ in 0..<24 {  // 24 × 1,799 s = 43,176 s: within the 12 hours
            clock.advance(.seconds(1799))
            #expect(store.find(session.id) != nil)
        }
        clock.advance(.seconds(1799))  // 25 × 1,799 s: past the 12 hours since sign-in
        #expect(store.find(session.id) == nil)
    }
}

@Suite struct SignInGateTests {
    /// The gate's clock in these tests: it does not move, so no verdict depends on how long the
    /// password checks take on a busy machine.
    static let frozen = ContinuousClock.now

    /// One admin account, siti, whose password is "benar".
    static func sitiWithPasswordBenar() throws -> ConsoleAccounts {
        ConsoleAccounts(users: [
            .init(name: "siti", role: .admin, passwordHash: try PasswordHash.make("benar", rounds: 210_000).encoded)
        ])
    }

    /// A flood of sign-ins under new names queues no more than `maximumChecks` password checks:
    /// the next is refused at once until one is given back.
    @Test func passwordChecksUnderWayAreBounded() {
        let gate = SignInGate(clock: { Self.frozen })
        #expect((0..<SignInGate.maximumChecks).allSatisfy { gate.reserveCheck(client: "10.0.0.\($0)") })
        #expect(!gate.reserveCheck(client: "10.0.1.1"), "every place is taken")
        gate.releaseCheck(client: "10.0.0.3")
        #expect(gate.reserveCheck(client: "10.0.1.1") && !gate.reserveCheck(client: "10.0.1.2"))
        for index in 0..<SignInGate.maximumChecks where index != 3 { gate.releaseCheck(client: "10.0.0.\(index)") }
        gate.releaseCheck(client: "10.0.1.1")
        #expect(gate.reserveCheck(client: "10.0.1.2"))
    }

    /// One client cannot take every place: past its two checks under way it is refused, and
    /// staff at another address still get a check.
    @Test func oneClientTakesAtMostItsShareOfTheChecks() {
        let gate = SignInGate(clock: { Self.frozen })
        #expect(gate.reserveCheck(client: "203.0.113.9") && gate.reserveCheck(client: "203.0.113.9"))
        #expect(!gate.reserveCheck(client: "203.0.113.9"), "a third check of the same client waits for none")
        #expect(gate.reserveCheck(client: "198.51.100.4"), "another client is not kept out")
        gate.releaseCheck(client: "203.0.113.9")
        #expect(gate.reserveCheck(client: "203.0.113.9"))
    }

    /// Guesses at many accounts from one client: after twenty failures in a row it waits a
    /// minute whatever the name; another client, and the accounts themselves, are not locked.
    @Test func oneClientGuessingAtManyAccountsIsRefused() async throws {
        let accounts = try Self.sitiWithPasswordBenar()
        let gate = SignInGate(clock: { Self.frozen })
        for index in 0..<SignInGate.allowedFailuresPerClient {
            #expect(gate.begin("pengguna-\(index)", client: "203.0.113.9"))
        }
        #expect(!gate.begin("siti", client: "203.0.113.9") && gate.clientLockedOut("203.0.113.9"))
        #expect(gate.begin("siti", client: "198.51.100.4") && !gate.clientLockedOut("198.51.100.4"))
        // A right password, here from another client, clears the account's failures only.
        #expect(await gate.authenticate(name: "siti", password: "benar", with: accounts) != nil)
        #expect(gate.clientLockedOut("203.0.113.9"))
        // Where clients are not known (no proxy header, no per-peer limit), only the other bounds hold.
        #expect(gate.begin("siti", client: nil) && !gate.clientLockedOut(nil))
    }

    @Test func fiveFailuresInARowLockTheUserOutButNotTheOthers() async throws {
        let accounts = try Self.sitiWithPasswordBenar()
        let gate = SignInGate(clock: { Self.frozen })
        for _ in 0..<SignInGate.allowedFailures {
            #expect(gate.begin("siti", client: "192.0.2.1"))
            #expect(await gate.authenticate(name: "siti", password: "salah", with: accounts) == nil)
        }
        #expect(!gate.begin("siti", client: "192.0.2.1"), "the sixth attempt is refused before its password is checked")
        #expect(gate.begin("budi", client: "192.0.2.1"))
    }

    /// A lockout lasts a minute from the last failure, for a user and for a client, on the
    /// gate's clock: a second before the minute is still refused, a second after is not.
    @Test func aLockoutEndsAMinuteAfterTheLastFailure() {
        let clock = SessionStoreTests.ManualClock()
        let gate = SignInGate(clock: { clock.instant })
        for _ in 0..<SignInGate.allowedFailures { #expect(gate.begin("siti", client: nil)) }
        clock.advance(.seconds(59))
        #expect(!gate.begin("siti", client: nil), "59 s after the fifth failure")
        clock.advance(.seconds(2))
        #expect(gate.begin("siti", client: nil), "61 s after it: the count starts again")
        for index in 0..<SignInGate.allowedFailuresPerClient {
            clock.advance(.seconds(30))  // slower than one a minute would not let a client off
            #expect(gate.begin("pengguna-\(index)", client: "203.0.113.9"))
        }
        clock.advance(.seconds(59))
        #expect(gate.clientLockedOut("203.0.113.9") && !gate.begin("budi", client: "203.0.113.9"))
        clock.advance(.seconds(2))
        #expect(!gate.clientLockedOut("203.0.113.9") && gate.begin("budi", client: "203.0.113.9"))
    }

    @Test func parallelAttemptsCannotAllPassTheCheckBeforeTheFirstFailureIsRecorded() async throws {
        let accounts = try Self.sitiWithPasswordBenar()
        let gate = SignInGate(clock: { Self.frozen })
        // Twenty guesses at once, as the sign-in route makes them: begin, then check the password.
        let checked = await withTaskGroup(of: Bool.self) { group in
            for guess in 0..<20 {
                group.addTask {
                    guard gate.begin("siti", client: "192.0.2.1") else { return false }
                    _ = await gate.authenticate(name: "siti", password: "salah-\(guess)", with: accounts)
                    return true
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(checked == SignInGate.allowedFailures)
        // Even the right password waits out the lockout once five guesses are under way.
        #expect(!gate.begin("siti", client: "192.0.2.1"))
    }

    /// Someone who knows siti's name locks the account out for every browser but the ones siti
    /// signed in from: a device cookie given to siti's browser counts its own failures, five a
    /// minute like a user's. A cookie for another name (also one that shares siti's first 200
    /// bytes), for an older password, an altered one or a made-up one is no device cookie.
    @Test func aBrowserTheUserSignedInFromIsNotLockedOutByOthersFailures() async throws {
        let accounts = try Self.sitiWithPasswordBenar()
        let hash = try #require(accounts.users["siti"]?.passwordHash)
        let gate = SignInGate(clock: { Self.frozen })
        let cookie = gate.deviceCookie(for: "siti", account: hash)
        #expect(cookie.wholeMatch(of: /[0-9a-f]{32}\.[0-9]{1,12}\.[0-9a-f]{64}/) != nil && !cookie.contains("siti"))
        let browser = try #require(gate.device(cookie, for: "siti", account: hash))
        for _ in 0..<SignInGate.allowedFailures {
            #expect(gate.begin("siti", client: "203.0.113.9"))
            #expect(await gate.authenticate(name: "siti", password: "tebakan", with: accounts) == nil)
        }
        #expect(!gate.begin("siti", client: "198.51.100.4"), "the account is locked for a browser without the cookie")
        #expect(gate.begin("siti", client: "192.0.2.1", device: browser))
        #expect(await gate.authenticate(name: "siti", password: "benar", with: accounts, device: browser)?.name == "siti")
        #expect(!gate.begin("siti", client: "198.51.100.4"), "and still locked for the others")

        let altered = String(cookie.dropLast()) + (cookie.last == "0" ? "1" : "0")
        let budi = gate.deviceCookie(for: "budi", account: hash)
        let anotherProcess = SignInGate(clock: { Self.frozen }).deviceCookie(for: "siti", account: hash)
        let olderPassword = gate.deviceCookie(for: "siti", account: "pbkdf2-sha256$1$lama$lama")
        let parts = cookie.split(separator: ".").map(String.init)
        let otherTime = [parts[0], String(Int(parts[1])! - 1), parts[2]].joined(separator: ".")
        for forged in [
            altered, budi, anotherProcess, olderPassword, otherTime, String(cookie.prefix(32)), cookie + "0",
            cookie.uppercased(), "", String(repeating: "a", count: 97), String(repeating: "é", count: 97),
            "." + String(cookie.dropFirst()), parts[0] + "." + parts[2],
        ] {
            #expect(gate.device(forged, for: "siti", account: hash) == nil, "\(forged)")
        }
        #expect(gate.device(budi, for: "budi", account: hash) != nil && gate.device(nil, for: "siti", account: hash) == nil)
        // Two names alike in their first 200 bytes are two names.
        let long = String(repeating: "a", count: 200)
        #expect(gate.device(gate.deviceCookie(for: long + "x", account: hash), for: long + "y", account: hash) == nil)

        // The browser's own five failures lock that browser, and no other of siti's.
        for _ in 0..<SignInGate.allowedFailures {
            #expect(gate.begin("siti", client: "192.0.2.1", device: browser))
            #expect(await gate.authenticate(name: "siti", password: "salah", with: accounts, device: browser) == nil)
        }
        #expect(!gate.begin("siti", client: "192.0.2.1", device: browser) && gate.deviceLockedOut(browser))
        let laptop = try #require(gate.device(gate.deviceCookie(for: "siti", account: hash), for: "siti", account: hash))
        #expect(!gate.deviceLockedOut(laptop) && gate.begin("siti", client: "192.0.2.1", device: laptop))
    }

    /// A device cookie is good for 180 days from the sign-in that gave it, on the gate's wall
    /// clock; the key comes from the accounts, so a console started again on the same accounts
    /// file knows the cookies, and one started on a changed file does not.
    @Test func aDeviceCookieLastsHalfAYearAndOutlivesARestartButNotNewAccounts() throws {
        let accounts = try Self.sitiWithPasswordBenar()
        let hash = try #require(accounts.users["siti"]?.passwordHash)
        let start = Date(timeIntervalSince1970: 1_765_000_000)
        let clock = Mutex(start)
        let gate = SignInGate(clock: { Self.frozen }, now: { clock.withLock { $0 } }, accounts: accounts)
        let cookie = gate.deviceCookie(for: "siti", account: hash)
        clock.withLock { $0 = start.addingTimeInterval(SignInGate.deviceCookieLifetime - 60) }
        #expect(gate.device(cookie, for: "siti", account: hash) != nil, "a minute before its 180 days")
        clock.withLock { $0 = start.addingTimeInterval(SignInGate.deviceCookieLifetime + 60) }
        #expect(gate.device(cookie, for: "siti", account: hash) == nil, "a minute after")
        clock.withLock { $0 = start.addingTimeInterval(-3_600) }
        #expect(gate.device(cookie, for: "siti", account: hash) == nil, "given an hour in the future")

        clock.withLock { $0 = start }
        let restarted = SignInGate(clock: { Self.frozen }, now: { clock.withLock { $0 } }, accounts: accounts)
        #expect(restarted.device(cookie, for: "siti", account: hash) != nil)
        let changed = ConsoleAccounts(
            users: accounts.users.values.map { $0 } + [
                .init(name: "budi", role: .viewer, passwordHash: try PasswordHash.make("lain", rounds: 210_000).encoded)
            ])
        let afterChange = SignInGate(clock: { Self.frozen }, now: { clock.withLock { $0 } }, accounts: changed)
        #expect(afterChange.device(cookie, for: "siti", account: hash) == nil)
    }

    @Test func aRightPasswordClearsTheFailures() async throws {
        let accounts = try Self.sitiWithPasswordBenar()
        let gate = SignInGate(clock: { Self.frozen })
        for _ in 0..<(SignInGate.allowedFailures - 1) {
            #expect(gate.begin("siti", client: "192.0.2.1"))
            #expect(await gate.authenticate(name: "siti", password: "salah", with: accounts) == nil)
        }
        #expect(gate.begin("siti", client: "192.0.2.1"))
        #expect(await gate.authenticate(name: "siti", password: "benar", with: accounts)?.name == "siti")
        for _ in 0..<SignInGate.allowedFailures { #expect(gate.begin("siti", client: "192.0.2.1")) }
    }
}

@Suite struct ClientAddressTests {
    /// The proxy's last entry when it is an address (a port or brackets dropped), else the peer.
    @Test func theProxysLastEntryCountsWhenItIsAnAddress() {
        #expect(ClientAddress.key(peer: "127.0.0.1", forwarded: "198.51.100.4, 203.0.113.9") == "203.0.113.9")
        #expect(ClientAddress.key(peer: "127.0.0.1", forwarded: "203.0.113.9:5678") == "203.0.113.9", "no key per port")
        #expect(ClientAddress.key(peer: "127.0.0.1", forwarded: "[2001:db8:1:2::7]:443") == "20010db800010002::/64")
        #expect(ClientAddress.key(peer: "127.0.0.1", forwarded: "203.0.113.9, ") == "127.0.0.1", "an empty last entry")
        #expect(ClientAddress.key(peer: "127.0.0.1", forwarded: "unknown") == "127.0.0.1")
        #expect(ClientAddress.key(peer: "127.0.0.1", forwarded: String(repeating: "9", count: 10_000)) == "127.0.0.1")
        #expect(ClientAddress.key(peer: nil, forwarded: nil) == "unknown")
        #expect(ClientAddress.key(peer: "::ffff:203.0.113.7", forwarded: nil) == "203.0.113.7")
    }
}

@Suite struct ConsoleMarkupTests {
    @Test(arguments: ["<b>", "\"\u{301}onmouseover=x", "\u{600}<script>", "a'b&c"])
    func escapingLeavesNoMarkupEvenWithCombiningMarks(text: String) {
        let page: HTML = "<td title=\"\(text)\">\(text)</td>"
        let safe = escaped(text)
        #expect(!safe.unicodeScalars.contains { ["<", ">", "\"", "'"].contains($0) })
        #expect(page.description == "<td title=\"\(safe)\">\(safe)</td>", "a String interpolated into HTML is escaped")
    }

    /// Markup interpolated into markup is kept; a number is written as it is.
    @Test func markupInsideMarkupIsKeptAndTextIsNot() {
        let tag = "<i>"
        let inner: HTML = "<b>\(tag)</b>"
        let page: HTML = "<p>\(inner) \(42)</p>"
        #expect(page.description == "<p><b>&lt;i&gt;</b> 42</p>")
        let link: HTML = "<a href=\"/x?id=\(query: "a b&c")\">"
        #expect(link.description == "<a href=\"/x?id=a%20b%26c\">")
    }

    @Test func aFormKeepsRepeatedFieldsAndDecodesThem() {
        let form = Form("id=a%2Fb&id=c+d&csrf=x&empty=")
        #expect(form.all("id") == ["a/b", "c d"])
        #expect(form.first("csrf") == "x")
        #expect(form.all("empty").isEmpty && form.first("missing") == nil)
    }
}

@Suite struct QueueRateMeterTests {
    @Test func ratesSpanTenSecondsOfTheBrokersCountersSoAQuietSampleIntervalIsNoZero() {
        let clock = SessionStoreTests.ManualClock()
        let meter = QueueRateMeter(clock: { clock.instant })
        #expect(meter.observe(queue: "q", published: 1000, acknowledged: 900) == nil, "nothing to compare with yet")
        clock.advance(.seconds(5))
        #expect(meter.observe(queue: "q", published: 1500, acknowledged: 1400) == nil, "5 s: shorter than the window")
        clock.advance(.seconds(5))
        #expect(meter.observe(queue: "q", published: 2000, acknowledged: 1900) == .init(incoming: 100, acknowledged: 100))
        // The broker's counters did not move since its last collection: still the rate over the
        // last ten seconds or more (1,000 in 12 s), not 0.
        clock.advance(.seconds(2))
        let twelve = QueueRateMeter.Rates(incoming: 1000.0 / 12, acknowledged: 1000.0 / 12)
        #expect(meter.observe(queue: "q", published: 2000, acknowledged: 1900) == twelve)
        // Two viewers a moment apart share the samples and see the same.
        #expect(meter.observe(queue: "q", published: 2000, acknowledged: 1900) == twelve)
        #expect(meter.observe(queue: "other", published: 5, acknowledged: 5) == nil, "each queue on its own")
    }

    @Test func aCounterThatWentBackOrAnOldSampleStartsOver() {
        let clock = SessionStoreTests.ManualClock()
        let meter = QueueRateMeter(clock: { clock.instant })
        _ = meter.observe(queue: "q", published: 1000, acknowledged: 1000)
        clock.advance(.seconds(10))
        #expect(meter.observe(queue: "q", published: 10, acknowledged: 10) == nil, "the queue was declared again")
        clock.advance(.seconds(10))
        #expect(meter.observe(queue: "q", published: 110, acknowledged: 10) == .init(incoming: 10, acknowledged: 0))
        clock.advance(.seconds(301))
        #expect(meter.observe(queue: "q", published: 120, acknowledged: 20) == nil, "a sample from long ago is not compared")
        #expect(meter.observe(queue: "q", published: Int?.none, acknowledged: 20) == nil, "no counters, no rate")
        #expect(meter.observe(queue: "q", published: -1, acknowledged: 20) == nil)
        #expect(meter.observe(queue: "q", published: Int.max, acknowledged: Int.max) == nil)
    }
}

@Suite struct IndonesianFiguresTests {
    @Test func numbersGroupThousandsWithPointsAndDecimalsTakeAComma() {
        #expect(IndonesianText.number(0) == "0")
        #expect(IndonesianText.number(999) == "999")
        #expect(IndonesianText.number(1500) == "1.500")
        #expect(IndonesianText.number(1_234_567) == "1.234.567")
        #expect(IndonesianText.number(-20_000) == "-20.000")
        #expect(IndonesianText.decimal(12.46) == "12,5")
        #expect(IndonesianText.decimal(0) == "0,0")
        #expect(IndonesianText.decimal(1234.5) == "1.234,5")
        #expect(IndonesianText.decimal(-0.01) == "0,0")
        #expect(IndonesianText.decimal(.nan) == "–")
        #expect(IndonesianText.decimal(9e18) == "–" && IndonesianText.decimal(-.infinity) == "–", "no trap on a hostile rate")
    }

    @Test func smallFiguresAreRoundedToFivesAndOneToFourHidden() {
        let shown = [0, 1, 4, 5, 7, 8, 12, 13, 1234].map { ProgrammeReports.shown($0, hidingSmall: true) }
        #expect(shown == ["0", "<5", "<5", "5", "5", "10", "10", "15", "1.235"])
        #expect([1, 4, 1234].map { ProgrammeReports.shown($0, hidingSmall: false) } == ["1", "4", "1.234"])
        // A row whose registered less accepted would give a small rejected figure exactly: not any more.
        let line = ReportLine(key: "x", label: "x", registered: 40, accepted: 37, rejected: 3)
        #expect(ProgrammeReports.shown([line], hidingSmall: true)[0].prefix(3) == ["40", "35", "<5"])
    }

    @Test func targetChartsKeepEveryBarInsideTheirBoxAndCarryALegend() throws {
        // Accepted far above the target: the bars are scaled to the largest figure.
        let lines = [
            ProgressReport.Line(key: "a", label: "BLKI Balikpapan", accepted: 3000, certified: 1200, target: 1000),
            ProgressReport.Line(key: "b", label: "BLKI Bontang", accepted: 0, certified: 0, target: 500),
        ]
        let svg = Chart.targets(lines, id: "c", acceptedLabel: "Diterima", doneLabel: "Kompeten").description
        #expect(svg.contains("id=\"c-legend\"") && svg.contains("Target") && svg.contains("Diterima"))
        let width = 640
        let rects = svg.matches(of: /<rect x="(\d+)" y="\d+" width="(\d+)"/)
        #expect(rects.count == 6)
        for rect in rects { #expect(Int(rect.output.1)! + Int(rect.output.2)! <= width) }
        for figure in svg.matches(of: /<text x="(\d+)" y="\d+" class="value">/) {
            #expect(Int(figure.output.1)! + 140 <= width, "the figures fit after the longest bar")
        }
        #expect(svg.contains("1.200 / 1.000 (120 %)"))
    }
}
