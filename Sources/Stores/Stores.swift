import Foundation
public import Jobs
public import Logging

/// Opens a worker's store from where `--database` points.
public enum Stores {
    /// Whether `database` is a PostgreSQL URL rather than a SQLite file path.
    public static func isPostgres(_ database: String) -> Bool {
        database.hasPrefix("postgres://") || database.hasPrefix("postgresql://")
    }

    /// The store `database` names: a `postgres://user:password@host:port/database` URL (the
    /// role's schema `schema` on that server) or a SQLite file path (its folder is created).
    public static func open(
        _ database: String, schema: String, durability: SQLiteStore.Durability = .full,
        logger: Logger = Logger(label: "kaltim.store")
    ) async throws -> any MessageStore {
        if isPostgres(database) {
            // The server may still be starting (a fresh compose or pod): try for a minute.
            var attempt = 0
            while true {
                do {
                    return try await PostgresStore(url: database, schema: schema, logger: logger)
                } catch let error as PostgresStoreError {
                    throw error  // a bad URL, schema or collation: trying again cannot help
                } catch {
                    attempt += 1
                    guard attempt < 30 else { throw error }
                    logger.warning(
                        "the PostgreSQL store is not reachable yet; trying again",
                        metadata: ["attempt": "\(attempt)", "error": "\(String(describing: error).prefix(200))"])
                    try await Task.sleep(for: .seconds(2))
                }
            }
        }
        try FileManager.default.createDirectory(
            at: URL(fileURLWithPath: database).deletingLastPathComponent(), withIntermediateDirectories: true)
        return try SQLiteStore(path: database, durability: durability)
    }

    /// The store `database` names, for reading beside running workers: a SQLite file is opened
    /// read-only, a PostgreSQL schema without creating anything (both must exist).
    public static func openForReading(_ database: String, schema: String) async throws -> any MessageStore {
        if isPostgres(database) { return try await PostgresStore(url: database, schema: schema, create: false) }
        return try SQLiteStore(readingAt: database)
    }

    /// `database` with any password replaced by `***`, for logs.
    public static func redacted(_ database: String) -> String {
        guard isPostgres(database), var components = URLComponents(string: database), components.password != nil else {
            return database
        }
        components.password = "***"
        return components.string ?? "postgres://…"
    }
}
