public import Foundation
import GRDB
public import Jobs

/// The embedded store: one SQLite file per role, WAL mode, through GRDB.
///
/// Several processes of a role on one machine may share the file: SQLite serialises their
/// write transactions (busy timeout 30 s), and the inbox's primary key makes a second
/// processing of the same message id a no-op.
public final class SQLiteStore: MessageStore {
    private let pool: DatabasePool
    /// Whether commits are fsynced (`synchronous=FULL`).
    public let commitsSurvivePowerLoss: Bool

    /// How a commit reaches the disk.
    public enum Durability: String, Sendable {
        /// `synchronous=FULL`: every commit is fsynced before the message is acknowledged;
        /// survives power loss. The default.
        case full = "FULL"
        /// `synchronous=NORMAL` (WAL): survives a process crash, but a power loss may undo the
        /// last commits after their messages were acknowledged.
        case normal = "NORMAL"

        /// What `PRAGMA synchronous` reads back for this setting.
        var pragmaValue: Int {
            switch self {
            case .full: 2
            case .normal: 1
            }
        }
    }

    /// Opens (or creates) the store at `path`.
    public init(path: String, durability: Durability = .full) throws {
        commitsSurvivePowerLoss = durability == .full
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.label = "jobs-store"
        // A worker's own reads (the outbox flush, the file writer, the console's pages where the
        // console uses this store) are few and short; two reader connections serve them (more
        // wait their turn), each with its own page cache of up to 2 MB.
        configuration.maximumReaderCount = 2
        pool = try Self.openPool(path: path, configuration: configuration)
        // Set on the writer after the pool is open: a pool puts its writer into WAL mode with
        // `synchronous = NORMAL` after every `prepareDatabase` hook has run, so setting it there
        // (as this store did before) left every commit without its fsync. Read back, so that a
        // store never claims a durability it does not have.
        let synchronous = try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = \(durability.rawValue)")
            return try Int.fetchOne(db, sql: "PRAGMA synchronous")
        }
        guard synchronous == durability.pragmaValue else {
            throw DatabaseError(
                message:
                    "SQLite did not take synchronous = \(durability.rawValue) (it reports \(synchronous.map(String.init) ?? "nothing"))"
            )
        }
        try pool.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS jobs_inbox (
                        message_id TEXT PRIMARY KEY,
                        processed_at REAL NOT NULL
                    );
                    CREATE TABLE IF NOT EXISTS jobs_outbox (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        exchange TEXT NOT NULL, routing_key TEXT NOT NULL, body BLOB NOT NULL,
                        message_id TEXT NOT NULL, type TEXT NOT NULL, correlation_id TEXT NOT NULL,
                        app_id TEXT NOT NULL, timestamp REAL NOT NULL, contract_version INTEGER NOT NULL,
                        created_at REAL NOT NULL, published_at REAL
                    );
                    CREATE INDEX IF NOT EXISTS jobs_outbox_unpublished ON jobs_outbox (published_at, id);
                    CREATE INDEX IF NOT EXISTS jobs_inbox_processed ON jobs_inbox (processed_at);
                    """)
        }
    }

    /// Opens the pool, again while another connection holds the lock that turning a new file to
    /// WAL needs: SQLite answers that with "database is locked" at once, without waiting out
    /// the busy timeout, so processes of a role started together on a new file would otherwise
    /// fail at start. Up to 30 s (the busy timeout), then the error is thrown.
    private static func openPool(path: String, configuration: Configuration) throws -> DatabasePool {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            do {
                return try DatabasePool(path: path, configuration: configuration)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && ContinuousClock.now < deadline {
                usleep(useconds_t.random(in: 5_000...50_000))
            }
        }
    }

    /// Opens an existing store read-only, for inspection beside running workers (tests, admin
    /// tools): it never takes the write lock, so it neither waits for nor delays them.
    public init(readingAt path: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(30)
        configuration.label = "jobs-store-reader"
        commitsSurvivePowerLoss = true  // it commits nothing
        pool = try DatabasePool(path: path, configuration: configuration)
    }

    public func migrate(_ statements: [String]) async throws {
        try await pool.write { db in
            for statement in statements { try db.execute(sql: statement) }
        }
    }

    public func process(_ batch: [StoreWork]) async throws -> [Result<ProcessOutcome, any Error>] {
        try await process(batch, markingPublished: [])
    }

    public func process(_ batch: [StoreWork], markingPublished published: [Int64]) async throws
        -> [Result<ProcessOutcome, any Error>]
    {
        try await pool.write { db in
            let now = Date().timeIntervalSince1970
            try Self.mark(published, at: now, in: db)
            let recordInbox = try db.cachedStatement(
                sql: "INSERT OR IGNORE INTO jobs_inbox (message_id, processed_at) VALUES (?, ?)")
            let insertOutbox = try db.cachedStatement(
                sql: """
                    INSERT INTO jobs_outbox (exchange, routing_key, body, message_id, type, correlation_id, app_id, timestamp,
                        contract_version, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
            let transaction = GRDBTransaction(db: db)
            // Inbox row, state change and outbox rows of one message (nothing for a duplicate).
            func run(_ item: StoreWork) throws -> ProcessOutcome {
                try recordInbox.execute(arguments: [item.messageID, now])
                guard db.changesCount > 0 else { return .duplicate }  // already processed
                let events = try item.work(transaction)
                var entries: [OutboxEntry] = []
                entries.reserveCapacity(events.count)
                for event in events {
                    try insertOutbox.execute(arguments: [
                        event.exchange, event.routingKey, event.body, event.messageID, event.type, event.correlationID,
                        event.appID, event.timestamp.timeIntervalSince1970, event.contractVersion, now,
                    ])
                    entries.append(OutboxEntry(id: db.lastInsertedRowID, event: event))
                }
                return .processed(entries)
            }
            return try GroupCommit.run(
                batch,
                savepoint: { body in try db.inSavepoint { try body() ? .commit : .rollback } },
                item: run)
        }
    }

    public func unpublished(limit: Int, createdBefore: Date) async throws -> [OutboxEntry] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM jobs_outbox WHERE published_at IS NULL AND created_at < ? ORDER BY id LIMIT ?
                    """,
                arguments: [createdBefore.timeIntervalSince1970, limit]
            ).map { row in
                OutboxEntry(
                    id: row["id"],
                    event: OutgoingEvent(
                        exchange: row["exchange"], routingKey: row["routing_key"], body: row["body"],
                        messageID: row["message_id"],
                        type: row["type"], correlationID: row["correlation_id"], appID: row["app_id"],
                        timestamp: Date(timeIntervalSince1970: row["timestamp"]), contractVersion: row["contract_version"]))
            }
        }
    }

    public func markPublished(_ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        try await pool.write { db in try Self.mark(ids, at: Date().timeIntervalSince1970, in: db) }
    }

    /// Sets `published_at` of the outbox rows `ids`, in the caller's transaction.
    private static func mark(_ ids: [Int64], at now: Double, in db: Database) throws {
        // Bounded statements (SQLite allows 32,766 variables; stay far below).
        for chunk in stride(from: 0, to: ids.count, by: 500).map({ ids[$0..<min($0 + 500, ids.count)] }) {
            let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ",")
            try db.execute(
                sql: "UPDATE jobs_outbox SET published_at = ? WHERE id IN (\(placeholders))",
                arguments: StatementArguments([now.databaseValue] + chunk.map(\.databaseValue)))
        }
    }

    /// Runs `work` in a write transaction outside any message (imports, admin tools).
    public func write<T: Sendable>(_ work: @escaping @Sendable (any StoreTransaction) throws -> T) async throws -> T {
        try await pool.write { db in try work(GRDBTransaction(db: db)) }
    }

    /// This machine's clock: every process of a SQLite store runs on the machine that holds it.
    public func currentTime() async throws -> Date { Date() }

    /// Runs a query outside any message (tests, admin tools).
    public func read(_ sql: String, _ arguments: [SQLValue] = []) async throws -> [[String: SQLValue]] {
        try await pool.read { db in try GRDBTransaction(db: db).query(sql, arguments) }
    }

    public func outboxBacklog() async throws -> (depth: Int, oldest: Date?) {
        try await pool.read { db in
            let row = try Row.fetchOne(
                db, sql: "SELECT COUNT(*) AS depth, MIN(created_at) AS oldest FROM jobs_outbox WHERE published_at IS NULL")
            let oldest: Double? = row?["oldest"]
            return (row?["depth"] ?? 0, oldest.map(Date.init(timeIntervalSince1970:)))
        }
    }
}

/// The handler's view of a GRDB transaction.
private struct GRDBTransaction: StoreTransaction {
    let db: Database

    // Statements are prepared once per SQL text and reused (handlers use constant SQL with
    // placeholders). The arguments are mapped with a closure, not `\.databaseValue`: a key
    // path is instantiated on every call (`swift_getKeyPath`, 3 % of the intake role's CPU).
    func execute(_ sql: String, _ arguments: [SQLValue]) throws {
        try db.cachedStatement(sql: sql).execute(arguments: StatementArguments(arguments.map { $0.databaseValue }))
    }

    func query(_ sql: String, _ arguments: [SQLValue]) throws -> [[String: SQLValue]] {
        try Row.fetchAll(db.cachedStatement(sql: sql), arguments: StatementArguments(arguments.map { $0.databaseValue })).map {
            row in
            var result: [String: SQLValue] = [:]
            result.reserveCapacity(row.count)
            for (column, value) in row {
                switch value.storage {
                case .null: result[column] = .null
                case .int64(let v): result[column] = .integer(v)
                case .double(let v): result[column] = .real(v)
                case .string(let v): result[column] = .text(v)
                case .blob(let v): result[column] = .blob(v)
                }
            }
            return result
        }
    }
}

extension SQLValue {
    fileprivate var databaseValue: DatabaseValue {
        switch self {
        case .null: .null
        case .integer(let v): v.databaseValue
        case .real(let v): v.databaseValue
        case .text(let v): v.databaseValue
        case .blob(let v): v.databaseValue
        }
    }
}
