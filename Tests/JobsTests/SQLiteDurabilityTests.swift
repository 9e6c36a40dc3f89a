import Foundation
import Jobs
import Stores
import Testing

/// `--durability full` is what lets a worker acknowledge a message at its commit: the commit
/// must be on the disk before the broker forgets the message. A GRDB pool puts its writer
/// into WAL mode with `synchronous = NORMAL` after the store's own set-up ran, which silently
/// turned every "full" store into a "normal" one (no fsync per commit) until this was checked.
struct SQLiteDurabilityTests {
    /// What the writer connection, the one every commit goes through, reports.
    private func synchronousOfTheWriter(_ durability: SQLiteStore.Durability) async throws -> Int64? {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("durability-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let store = try SQLiteStore(path: path, durability: durability)
        #expect(store.commitsSurvivePowerLoss == (durability == .full))
        return try await store.write { transaction in
            try transaction.query("PRAGMA synchronous", []).first?["synchronous"]?.integer
        }
    }

    @Test func aFullStoreSyncsEveryCommit() async throws {
        #expect(try await synchronousOfTheWriter(.full) == 2)  // FULL
    }

    @Test func aNormalStoreSyncsAtCheckpoints() async throws {
        #expect(try await synchronousOfTheWriter(.normal) == 1)  // NORMAL
    }

    @Test func theDefaultIsFull() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("durability-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let store = try SQLiteStore(path: path)
        let synchronous = try await store.write { transaction in
            try transaction.query("PRAGMA synchronous", []).first?["synchronous"]?.integer
        }
        #expect(synchronous == 2)
        #expect(store.commitsSurvivePowerLoss)
    }
}
