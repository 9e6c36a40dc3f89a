import Contracts
import Foundation
import Jobs
import Synchronization
import Testing

/// The SQLite store's group commit, without a broker.
struct SQLiteStoreTests {
    struct Boom: Error {}

    func event(_ id: String) throws -> OutgoingEvent {
        try OutgoingEvent(
            EventEnvelope(
                id: id, source: "/test",
                data: EnrolmentWithdrawnV1(participantID: "P-\(id)", classID: "C-1", reason: .administrative)))
    }

    @Test func aHandlerThatThrowsInABatchUndoesOnlyItsOwnWrites() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(EventID.random()).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let store = try SQLiteStore(path: path)
        try await store.migrate(["CREATE TABLE effects (id TEXT PRIMARY KEY)"])
        let failingRuns = Atomic<Int>(0)
        func work(_ id: String, failing: Bool = false) -> StoreWork {
            StoreWork(messageID: id) { transaction in
                if failing { failingRuns.add(1, ordering: .relaxed) }
                try transaction.execute("INSERT INTO effects (id) VALUES (?)", [.text(id)])
                if failing { throw Boom() }
                return [try self.event("out-\(id)")]
            }
        }
        // m-1 was processed by an earlier batch; this batch holds it again, a failing m-3, and
        // m-2 twice.
        _ = try await store.process([work("m-1")])
        let results = try await store.process([work("m-1"), work("m-2"), work("m-3", failing: true), work("m-4"), work("m-2")])
        #expect(results.count == 5)
        #expect((try? results[0].get()) == .duplicate)
        guard case .success(.processed(let second)) = results[1], case .failure(let third) = results[2],
            case .success(.processed(let fourth)) = results[3]
        else {
            Issue.record("unexpected outcomes \(results)")
            return
        }
        #expect(third is Boom)
        #expect(failingRuns.load(ordering: .relaxed) == 1, "the failing handler ran once")
        #expect(second.map(\.event.messageID) == ["out-m-2"] && fourth.map(\.event.messageID) == ["out-m-4"])
        #expect((try? results[4].get()) == .duplicate)
        let effects = try await store.read("SELECT id FROM effects ORDER BY id").compactMap { $0["id"]?.text }
        #expect(effects == ["m-1", "m-2", "m-4"])
        let inbox = try await store.read("SELECT message_id FROM jobs_inbox ORDER BY message_id").compactMap {
            $0["message_id"]?.text
        }
        #expect(inbox == ["m-1", "m-2", "m-4"])
        let outbox = try await store.unpublished(limit: 10, createdBefore: .distantFuture).map(\.event.messageID)
        #expect(outbox == ["out-m-1", "out-m-2", "out-m-4"])
        // The failed message succeeds later, once its handler does.
        let retried = try await store.process([work("m-3")])
        guard case .success(.processed) = retried.first else {
            Issue.record("the retry did not commit: \(retried)")
            return
        }
    }
}
