import Foundation
import Jobs
import Stores
import TestSupport

/// The two stores a role can use, for process tests that run on both: each case gives the
/// `--database` and `--store-schema` arguments of a fresh store, and reads it beside the workers.
enum StoreKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgres
    var description: String { rawValue }

    /// Both under the test script (which starts PostgreSQL); SQLite alone otherwise.
    static var available: [StoreKind] { PostgresEnvironment.url != nil || PostgresEnvironment.required ? allCases : [.sqlite] }

    /// A fresh store of this kind for `role`: (database, schema).
    func location(role: String, directory: URL) throws -> (database: String, schema: String) {
        switch self {
        case .sqlite: (directory.appendingPathComponent("\(role).sqlite").path, role)
        case .postgres: (try PostgresEnvironment.requireURL(), PostgresEnvironment.uniqueSchema(role))
        }
    }

    /// The worker arguments naming that store.
    static func arguments(_ location: (database: String, schema: String)) -> [String] {
        ["--database", location.database, "--store-schema", location.schema]
    }

    /// `SELECT COUNT(*) AS n …` on the store, or -1 while it does not exist yet.
    static func count(_ sql: String, _ location: (database: String, schema: String)) async -> Int {
        if !Stores.isPostgres(location.database), !FileManager.default.fileExists(atPath: location.database) { return -1 }
        let rows = try? await Stores.openForReading(location.database, schema: location.schema).read(sql)
        return Int(rows?.first?["n"]?.integer ?? -1)
    }

    static func open(_ location: (database: String, schema: String)) async throws -> any MessageStore {
        try await Stores.openForReading(location.database, schema: location.schema)
    }

    /// Drops a PostgreSQL schema (a SQLite file goes with its folder).
    static func remove(_ location: (database: String, schema: String)) async {
        guard Stores.isPostgres(location.database) else { return }
        _ = try? await open(location).write { try $0.execute("DROP SCHEMA \(location.schema) CASCADE") }
    }
}
