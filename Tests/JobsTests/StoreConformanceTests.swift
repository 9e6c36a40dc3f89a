import ContractKit
import Contracts
import Foundation
import Jobs
import Stores
import Synchronization
import TestSupport
import Testing
import Topology

/// One suite, both stores: what the runtime relies on from a `MessageStore`, run on SQLite and
/// on the private PostgreSQL server of the test script (skipped there only without it, outside
/// the test script).
struct StoreConformanceTests {
    enum Kind: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case sqlite, postgres
        var testDescription: String { rawValue }
    }

    static var kinds: [Kind] { PostgresEnvironment.url != nil || PostgresEnvironment.required ? Kind.allCases : [.sqlite] }

    /// Where a store of `kind` lives; opening it twice gives two stores on the same data, as two
    /// processes (or machines) of one role have.
    struct Location {
        let kind: Kind
        let database: String
        let schema: String

        init(_ kind: Kind) throws {
            self.kind = kind
            schema = PostgresEnvironment.uniqueSchema("conformance")
            switch kind {
            case .sqlite:
                database = FileManager.default.temporaryDirectory.appendingPathComponent("\(schema).sqlite").path
            case .postgres: database = try PostgresEnvironment.requireURL()
            }
        }

        func open() async throws -> any MessageStore { try await Stores.open(database, schema: schema, durability: .normal) }

        func remove() async {
            switch kind {
            case .sqlite: for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database + suffix) }
            case .postgres: _ = try? await open().write { try $0.execute("DROP SCHEMA \(schema) CASCADE") }
            }
        }
    }

    struct Boom: Error {}

    /// Counts handler runs.
    final class Runs: Sendable {
        private let count = Mutex(0)
        func add() { count.withLock { $0 += 1 } }
        var value: Int { count.withLock { $0 } }
    }

    static func event(_ id: String) throws -> OutgoingEvent {
        try OutgoingEvent(
            EventEnvelope(
                id: id, source: "/test",
                data: EnrolmentWithdrawnV1(participantID: "P-\(id)", classID: "C-1", reason: .administrative)),
            exchange: ContractDocuments.exchange)
    }

    /// Records `id` in the handler's table and emits one event; throws after writing when failing.
    static func work(_ id: String, failing: Bool = false, runs: Runs? = nil) -> StoreWork {
        StoreWork(messageID: id) { transaction in
            runs?.add()
            try transaction.execute("INSERT INTO effects (id) VALUES (?)", [.text(id)])
            if failing { throw Boom() }
            return [try event("out-\(id)")]
        }
    }

    static func texts(_ rows: [[String: SQLValue]], _ column: String) -> [String] { rows.compactMap { $0[column]?.text } }

    @Test func readingAPostgreSQLSchemaThatIsNotThereCreatesNothing() async throws {
        guard Self.kinds.contains(.postgres) else { return }
        let location = try Location(.postgres)
        let missing = await #expect(throws: PostgresStoreError.self) {
            _ = try await Stores.openForReading(location.database, schema: location.schema)
        }
        #expect(missing?.code == .configuration)
        let other = try await Stores.open(location.database, schema: PostgresEnvironment.uniqueSchema("probe"))
        let schemas = try await other.read("SELECT nspname FROM pg_namespace WHERE nspname = ?", [.text(location.schema)])
        #expect(schemas.isEmpty, "a tool that only reads leaves no schema behind")
        if let probe = other as? PostgresStore {
            _ = try? await probe.write { try $0.execute("DROP SCHEMA \(probe.schema) CASCADE") }
        }
    }

    /// Both stores tell the time their processes share (the test's servers run on this machine,
    /// so the two clocks are the same clock read twice).
    @Test(arguments: kinds)
    func theStoreTellsItsOwnTime(kind: Kind) async throws {
        let location = try Location(kind)
        let store = try await location.open()
        let before = Date()
        let time = try await store.currentTime()
        let after = Date()
        #expect(time >= before.addingTimeInterval(-1) && time <= after.addingTimeInterval(1), "\(before) \(time) \(after)")
        await location.remove()
    }

    /// Retention, on the store's own timestamps and an injected "now": published outbox rows
    /// past their time and inbox rows past theirs go; unpublished rows and younger ones stay.
    @Test(arguments: kinds)
    func retentionPurgesWhatIsPastItsTimeAndNothingElse(kind: Kind) async throws {
        let location = try Location(kind)
        let store = try await location.open()
        try await store.migrate(["CREATE TABLE IF NOT EXISTS effects (id TEXT PRIMARY KEY)"])
        _ = try await store.process([Self.work("r-1"), Self.work("r-2"), Self.work("r-3")])
        let rows = try await store.unpublished(limit: 10, createdBefore: Date().addingTimeInterval(60))
        #expect(rows.count == 3)
        try await store.markPublished(rows.prefix(2).map(\.id))  // the third stays unpublished
        let policy = RetentionPolicy(publishedOutbox: .seconds(7 * 86_400), inbox: .seconds(90 * 86_400))
        // Six days on: nothing is old enough.
        #expect(try await policy.purge(store, now: Date().addingTimeInterval(6 * 86_400)) == .init())
        // Eight days on: the two published rows go, the unpublished one and the inbox stay.
        let week = try await policy.purge(store, now: Date().addingTimeInterval(8 * 86_400))
        #expect(week.outboxRows == 2 && week.inboxRows == 0)
        #expect(try await store.outboxDepth() == 1)
        #expect(try await store.read("SELECT message_id FROM jobs_inbox").count == 3)
        // A hundred days on: the inbox rows go; the unpublished row still stays; a message with
        // one of those ids is then handled again (which is why the inbox is kept 90 days).
        // (In batches of two, so that no purge holds the write lock for long.)
        let later = try await policy.purge(store, now: Date().addingTimeInterval(100 * 86_400), batch: 2)
        #expect(later.outboxRows == 0 && later.inboxRows == 3)
        #expect(try await store.outboxDepth() == 1)
        let again = try await store.process([StoreWork(messageID: "r-1") { _ in [] }])
        #expect((try? again.first?.get()) == .processed([]), "a purged id is no longer recognised")
        #expect(try await RetentionPolicy(publishedOutbox: nil, inbox: nil).purge(store, now: .distantFuture) == .init())
        await location.remove()
    }

    /// A worker's confirmed outputs ride along with its next commit: the rows it names are
    /// marked published in the batch's transaction, even when a message of the batch fails (the
    /// marks are outside the messages' savepoints), and the batch's own rows stay unpublished.
    @Test(arguments: kinds)
    func aCommitMarksTheConfirmedRowsItCarries(kind: Kind) async throws {
        let location = try Location(kind)
        let store = try await location.open()
        try await store.migrate(["CREATE TABLE IF NOT EXISTS effects (id TEXT PRIMARY KEY)"])
        _ = try await store.process([Self.work("p-1"), Self.work("p-2")])
        let rows = try await store.unpublished(limit: 10, createdBefore: .distantFuture)
        #expect(rows.map(\.event.messageID) == ["out-p-1", "out-p-2"])
        _ = try await store.process([Self.work("p-3")], markingPublished: [rows[0].id])
        var left = try await store.unpublished(limit: 10, createdBefore: .distantFuture).map(\.event.messageID)
        #expect(left == ["out-p-2", "out-p-3"])
        let failed = try await store.process([Self.work("p-4", failing: true)], markingPublished: [rows[1].id])
        #expect(failed.count == 1 && (try? failed.first?.get()) == nil, "the failing message has no effect")
        left = try await store.unpublished(limit: 10, createdBefore: .distantFuture).map(\.event.messageID)
        #expect(left == ["out-p-3"])
        #expect(Self.texts(try await store.read("SELECT id FROM effects ORDER BY id"), "id") == ["p-1", "p-2", "p-3"])
        await location.remove()
    }

    @Test(arguments: kinds)
    func aMessageIdHasOneEffectHoweverOftenItComes(kind: Kind) async throws {
        let location = try Location(kind)
        let store = try await location.open()
        try await store.migrate(["CREATE TABLE IF NOT EXISTS effects (id TEXT PRIMARY KEY)"])
        let first = try await store.process([Self.work("m-1")])
        guard case .success(.processed(let entries)) = first.first else {
            Issue.record("not processed: \(first)")
            return
        }
        #expect(entries.map { $0.event.messageID } == ["out-m-1"])
        // Again later, twice in one batch, and from a second store on the same data (a replica).
        let again = try await store.process([Self.work("m-1"), Self.work("m-2"), Self.work("m-2")])
        #expect((try? again[0].get()) == .duplicate && (try? again[2].get()) == .duplicate)
        let replica = try await location.open()
        #expect(try await replica.process([Self.work("m-1")]).first.flatMap { try? $0.get() } == .duplicate)
        #expect(Self.texts(try await store.read("SELECT id FROM effects ORDER BY id"), "id") == ["m-1", "m-2"])
        await location.remove()
    }

    @Test(arguments: kinds)
    func aHandlerThatThrowsInABatchUndoesOnlyItsOwnWritesAndRunsOnce(kind: Kind) async throws {
        let location = try Location(kind)
        let store = try await location.open()
        try await store.migrate(["CREATE TABLE IF NOT EXISTS effects (id TEXT PRIMARY KEY)"])
        let failingRuns = Runs()
        _ = try await store.process([Self.work("m-1")])
        let results = try await store.process([
            Self.work("m-1"), Self.work("m-2"), Self.work("m-3", failing: true, runs: failingRuns), Self.work("m-4"),
            Self.work("m-2"),
        ])
        #expect(results.count == 5)
        #expect((try? results[0].get()) == .duplicate)
        guard case .success(.processed(let second)) = results[1], case .failure(let third) = results[2],
            case .success(.processed(let fourth)) = results[3]
        else {
            Issue.record("unexpected outcomes \(results)")
            return
        }
        #expect(third is Boom)
        #expect(failingRuns.value == 1, "the failing handler ran once")
        #expect(second.map { $0.event.messageID } == ["out-m-2"] && fourth.map { $0.event.messageID } == ["out-m-4"])
        #expect((try? results[4].get()) == .duplicate)
        #expect(Self.texts(try await store.read("SELECT id FROM effects ORDER BY id"), "id") == ["m-1", "m-2", "m-4"])
        #expect(
            Self.texts(try await store.read("SELECT message_id FROM jobs_inbox ORDER BY message_id"), "message_id")
                == ["m-1", "m-2", "m-4"])
        // The failed message succeeds later, once its handler does.
        guard case .success(.processed) = try await store.process([Self.work("m-3")]).first else {
            Issue.record("the retry did not commit")
            return
        }
        await location.remove()
    }

    @Test(arguments: kinds)
    func theOutboxOfAStoreThatDiedIsFoundByTheNextOne(kind: Kind) async throws {
        let location = try Location(kind)
        var written: [OutgoingEvent] = []
        do {
            let store = try await location.open()
            try await store.migrate(["CREATE TABLE IF NOT EXISTS effects (id TEXT PRIMARY KEY)"])
            for result in try await store.process([Self.work("m-1"), Self.work("m-2")]) {
                if case .success(.processed(let entries)) = result { written += entries.map { $0.event } }
            }
            // The process dies here: committed, never published.
        }
        let next = try await location.open()
        let left = try await next.unpublished(limit: 10, createdBefore: .distantFuture)
        #expect(left.map(\.event.messageID) == ["out-m-1", "out-m-2"])
        #expect(left.map { $0.event.body } == written.map(\.body), "every event as written, byte for byte")
        #expect(left.map { $0.event.routingKey } == written.map(\.routingKey))
        #expect(
            zip(left, written).allSatisfy { abs($0.event.timestamp.timeIntervalSince($1.timestamp)) < 0.001 }, "the timestamps")
        #expect(try await next.outboxBacklog().depth == 2)
        try await next.markPublished(left.map(\.id))
        #expect(try await next.unpublished(limit: 10, createdBefore: .distantFuture).isEmpty)
        #expect(try await next.outboxBacklog().depth == 0)
        await location.remove()
    }

    @Test(arguments: kinds)
    func twoReplicasTakingSerialsConcurrentlyLeaveNoGapAndNoDouble(kind: Kind) async throws {
        let location = try Location(kind)
        let first = try await location.open()
        try await first.migrate(["CREATE TABLE IF NOT EXISTS serials (serial INTEGER PRIMARY KEY, message TEXT NOT NULL)"])
        let second = try await location.open()
        // Each message reads the highest serial and writes the next, as the certificates worker does.
        func take(_ id: String) -> StoreWork {
            StoreWork(messageID: id) { transaction in
                let last = try transaction.query("SELECT MAX(serial) AS last FROM serials").first?["last"]?.integer ?? 0
                try transaction.execute("INSERT INTO serials (serial, message) VALUES (?, ?)", [.integer(last + 1), .text(id)])
                return []
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, store) in [first, second].enumerated() {
                group.addTask {
                    for batch in 0..<20 {
                        let results = try await store.process((0..<10).map { take("s\(index)-\(batch)-\($0)") })
                        for result in results { _ = try result.get() }
                    }
                }
            }
            try await group.waitForAll()
        }
        let serials = try await first.read("SELECT serial FROM serials ORDER BY serial").compactMap { $0["serial"]?.integer }
        #expect(serials == Array(1...400))
        await location.remove()
    }
}
