import Foundation
import Stores
import Synchronization
import Testing

/// Processes of one role started together open the same new SQLite file at once. Turning a new
/// file to WAL takes a lock SQLite does not wait for (its busy timeout does not apply), so one
/// of them could fail at start with "database is locked" (seen once in a CI run, two
/// certificates workers starting together). The store retries the opening instead.
struct SQLiteOpeningTests {
    @Test func storesOpenedTogetherOnANewFileAllOpen() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("opening-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let failures = Mutex<[String]>([])
        for round in 0..<40 {
            let path = folder.appendingPathComponent("store-\(round).sqlite").path
            DispatchQueue.concurrentPerform(iterations: 6) { _ in
                do {
                    _ = try SQLiteStore(path: path)
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0.prefix(3) })")
    }
}
