// The runtime's store on PostgreSQL (postgres-nio), for a role whose processes run on several
// machines. Handlers and the runtime talk to the store synchronously inside one transaction
// (`StoreTransaction`), so each store owns one connection driven from a serial dispatch queue
// of its own, blocking on postgres-nio's futures there; never on the cooperative pool.
public import Foundation
public import Jobs
public import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// The PostgreSQL store: one schema per role, versioned migrations at start-up.
///
/// The same semantics as ``Jobs/SQLiteStore``: a message's inbox row, state change and outbox
/// rows commit together; a batch shares one transaction with a savepoint per run of messages.
/// Every write transaction of a role first takes the role's transaction-level advisory lock
/// (`pg_advisory_xact_lock`), so the role's processes, on any machine, commit one at a time, as
/// on one SQLite file: a handler that reads then writes (a free seat, the next serial number)
/// needs no locking of its own, and no two processes can give the same seat or serial.
public final class PostgresStore: MessageStore, @unchecked Sendable {
    // @unchecked: `connection` is only touched on `queue`; `commitsSurvivePowerLoss` is set in
    // `init` only.
    private let queue: DispatchQueue
    private var connection: PostgresConnection?
    private let configuration: PostgresConnection.Configuration
    /// The role's schema (a plain lowercase identifier).
    public let schema: String
    private let logger: Logger
    /// Whether a commit returns only once it is flushed to the server's WAL: the store turns
    /// `synchronous_commit` on for its sessions where a role or database set it off, so this is
    /// false only on a server that runs with `fsync` off (read at opening; the worker then
    /// acknowledges a message only after its outputs' publish, as with SQLite's `normal`).
    public private(set) var commitsSurvivePowerLoss = true

    /// The store's own tables, by version; applied once each, in order, and recorded in
    /// `jobs_migrations`.
    static let migrations: [(version: Int, statements: [String])] = [
        (
            1,
            [
                "CREATE TABLE IF NOT EXISTS jobs_inbox (message_id TEXT PRIMARY KEY, processed_at DOUBLE PRECISION NOT NULL)",
                """
                CREATE TABLE IF NOT EXISTS jobs_outbox (
                    id BIGSERIAL PRIMARY KEY,
                    exchange TEXT NOT NULL, routing_key TEXT NOT NULL, body BYTEA NOT NULL,
                    message_id TEXT NOT NULL, type TEXT NOT NULL, correlation_id TEXT NOT NULL,
                    app_id TEXT NOT NULL, timestamp DOUBLE PRECISION NOT NULL, contract_version BIGINT NOT NULL,
                    created_at DOUBLE PRECISION NOT NULL, published_at DOUBLE PRECISION)
                """,
                "CREATE INDEX IF NOT EXISTS jobs_outbox_unpublished ON jobs_outbox (published_at, id)",
            ]
        ),
        // The retention purge finds old inbox rows by their time (`RetentionPolicy`).
        (2, ["CREATE INDEX IF NOT EXISTS jobs_inbox_processed ON jobs_inbox (processed_at)"]),
    ]

    /// Connects to `url` (`postgres://user:password@host:port/database`), creates the schema if
    /// needed and applies the store's migrations; with `create` false, only opens an existing
    /// schema (tools reading beside the workers).
    /// - Throws: ``PostgresStoreError`` for a bad URL or schema name, a database whose collation
    ///   is not C, a missing schema when not creating; or the server's error.
    public init(url: String, schema: String, create: Bool = true, logger: Logger = Logger(label: "postgres-store")) async throws {
        guard schema.wholeMatch(of: /[a-z_][a-z0-9_]{0,62}/) != nil else {
            throw PostgresStoreError(.configuration, "schema '\(schema)' must be a lowercase identifier")
        }
        configuration = try Self.configuration(url)
        self.schema = schema
        self.logger = logger
        queue = DispatchQueue(label: "kaltim.postgres-store.\(schema)")
        commitsSurvivePowerLoss = try await run { session in try session.setting("fsync") != "off" }
        if !commitsSurvivePowerLoss {
            logger.warning(
                """
                the PostgreSQL server runs with fsync off: a commit may not survive a power loss, so messages are \
                acknowledged only after their outputs' publish
                """)
        }
        try await run { session in
            // The workers order by text and must order as on SQLite: by bytes. From PostgreSQL 15
            // a database's default collation may come from ICU (`datlocprovider` 'i'), whatever
            // its LC_COLLATE says; the column is read through to_jsonb so that older servers,
            // which have only libc, answer null.
            // PostgreSQL 17's builtin provider ('b') orders by code point in its C and C.UTF-8
            // locales (`datlocale`), which is byte order for UTF-8.
            let row = try session.query(
                """
                SELECT datcollate, to_jsonb(d) ->> 'datlocprovider' AS provider, to_jsonb(d) ->> 'datlocale' AS locale
                FROM pg_database d WHERE datname = current_database()
                """
            ).first
            let collation = row?["datcollate"]?.text
            let provider = row?["provider"]?.text
            let locale = row?["locale"]?.text
            let bytewise =
                switch provider {
                case nil, "c"?: collation == "C" || collation == "POSIX"
                case "b"?: locale == "C" || locale == "C.UTF-8"
                default: false
                }
            guard bytewise else {
                let described =
                    switch provider {
                    case "i"?: "ICU's (LOCALE_PROVIDER icu)"
                    case "b"?: "the builtin provider's \(locale ?? "unknown")"
                    default: collation ?? "unknown"
                    }
                throw PostgresStoreError(
                    .configuration,
                    "the database's collation is \(described), not C: create it with LC_COLLATE 'C' "
                        + "(CREATE DATABASE … LOCALE_PROVIDER libc LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0, or "
                        + "initdb --locale=C)")
            }
            let exists = try !session.query("SELECT 1 AS present FROM pg_namespace WHERE nspname = $1", [.text(schema)]).isEmpty
            guard create else {
                guard exists else { throw PostgresStoreError(.configuration, "there is no schema \(schema) in this database") }
                return
            }
            // Under the role's lock: `CREATE … IF NOT EXISTS` is not safe against a second
            // process creating the same schema or table at the same moment.
            try session.execute("BEGIN")
            do {
                try session.execute("SELECT pg_advisory_xact_lock(hashtext($1))", [.text(schema)])
                // Only when missing: CREATE SCHEMA needs a privilege that a role working in a
                // schema made for it by a DBA may not have, even with IF NOT EXISTS.
                if try session.query("SELECT 1 AS present FROM pg_namespace WHERE nspname = $1", [.text(schema)]).isEmpty {
                    try session.execute("CREATE SCHEMA \"\(schema)\"")
                }
                try session.execute(
                    "CREATE TABLE IF NOT EXISTS jobs_migrations (version BIGINT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
                )
                let applied = Set(try session.query("SELECT version FROM jobs_migrations").compactMap { $0["version"]?.integer })
                for migration in Self.migrations where !applied.contains(Int64(migration.version)) {
                    for statement in migration.statements { try session.execute(statement) }
                    try session.execute(
                        "INSERT INTO jobs_migrations (version, applied_at) VALUES ($1, $2)",
                        [.integer(Int64(migration.version)), .real(Date().timeIntervalSince1970)])
                }
                try session.commit()
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42501" {
                // Insufficient privilege: no retry can help, so it is not a server error to
                // wait out, but a setup to fix.
                _ = try? session.execute("ROLLBACK")
                throw PostgresStoreError(
                    .permission,
                    "the database user may not create schema \(schema) or its tables "
                        + "(\(error.serverInfo?[.message] ?? "permission denied")): make the schema for the role's own user "
                        + "with deploy/postgres/role-users.sql")
            } catch {
                _ = try? session.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// The connection settings of a `postgres://` URL.
    static func configuration(_ url: String) throws -> PostgresConnection.Configuration {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, !host.isEmpty
        else {
            throw PostgresStoreError(.configuration, "not a postgres:// URL (postgres://user:password@host:port/database)")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        return PostgresConnection.Configuration(
            host: host, port: components.port ?? 5432, username: components.user ?? "postgres",
            password: components.password, database: database.isEmpty ? nil : database, tls: .disable)
    }

    /// Closes the connection on the store's own queue, never blocking the thread that released
    /// the store (it may be one of the cooperative pool's).
    deinit {
        if let connection { queue.async { try? connection.close().wait() } }
    }

    // MARK: MessageStore

    public func migrate(_ statements: [String]) async throws {
        try await transaction { session in
            for statement in statements { try session.execute(PostgresDialect.definition(statement)) }
        }
    }

    public func process(_ batch: [StoreWork]) async throws -> [Result<ProcessOutcome, any Error>] {
        try await process(batch, markingPublished: [])
    }

    public func process(_ batch: [StoreWork], markingPublished published: [Int64]) async throws
        -> [Result<ProcessOutcome, any Error>]
    {
        try await transaction { session in
            let now = Date().timeIntervalSince1970
            try session.markPublished(published, at: now)
            var savepoints = 0
            func item(_ work: StoreWork) throws -> ProcessOutcome {
                let inbox = try session.execute(
                    "INSERT INTO jobs_inbox (message_id, processed_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    [.text(work.messageID), .real(now)])
                guard inbox == 1 else { return .duplicate }  // already processed
                let events = try work.work(HandlerTransaction(session: session))
                var entries: [OutboxEntry] = []
                entries.reserveCapacity(events.count)
                for event in events {
                    let id = try session.query(
                        """
                        INSERT INTO jobs_outbox (exchange, routing_key, body, message_id, type, correlation_id, app_id, timestamp,
                            contract_version, created_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id
                        """,
                        [
                            .text(event.exchange), .text(event.routingKey), .blob(event.body), .text(event.messageID),
                            .text(event.type), .text(event.correlationID), .text(event.appID),
                            .real(event.timestamp.timeIntervalSince1970), .integer(Int64(event.contractVersion)), .real(now),
                        ]
                    ).first?["id"]?.integer
                    guard let id else { throw PostgresStoreError(.unexpectedReply, "the outbox returned no id") }
                    entries.append(OutboxEntry(id: id, event: event))
                }
                return .processed(entries)
            }
            return try GroupCommit.run(
                batch,
                savepoint: { body in
                    savepoints += 1
                    let name = "batch_\(savepoints)"
                    try session.execute("SAVEPOINT \(name)")
                    let keep: Bool
                    do {
                        keep = try body()
                    } catch {
                        try session.execute("ROLLBACK TO SAVEPOINT \(name)")
                        try session.execute("RELEASE SAVEPOINT \(name)")
                        throw error
                    }
                    if !keep { try session.execute("ROLLBACK TO SAVEPOINT \(name)") }
                    try session.execute("RELEASE SAVEPOINT \(name)")
                },
                item: item)
        }
    }

    public func unpublished(limit: Int, createdBefore: Date) async throws -> [OutboxEntry] {
        try await run { session in
            try session.query(
                "SELECT * FROM jobs_outbox WHERE published_at IS NULL AND created_at < $1 ORDER BY id LIMIT $2",
                [.real(createdBefore.timeIntervalSince1970), .integer(Int64(limit))]
            ).map { row in
                guard let id = row["id"]?.integer, let exchange = row["exchange"]?.text,
                    let routingKey = row["routing_key"]?.text,
                    case .blob(let body) = row["body"], let messageID = row["message_id"]?.text, let type = row["type"]?.text,
                    let correlationID = row["correlation_id"]?.text, let appID = row["app_id"]?.text,
                    case .real(let timestamp) = row["timestamp"], let version = row["contract_version"]?.integer
                else { throw PostgresStoreError(.unexpectedReply, "an outbox row is incomplete") }
                return OutboxEntry(
                    id: id,
                    event: OutgoingEvent(
                        exchange: exchange, routingKey: routingKey, body: body, messageID: messageID, type: type,
                        correlationID: correlationID, appID: appID, timestamp: Date(timeIntervalSince1970: timestamp),
                        contractVersion: Int(version)))
            }
        }
    }

    public func markPublished(_ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        try await run { session in try session.markPublished(ids, at: Date().timeIntervalSince1970) }
    }

    public func outboxBacklog() async throws -> (depth: Int, oldest: Date?) {
        try await run { session in
            let row = try session.query(
                "SELECT COUNT(*) AS depth, MIN(created_at) AS oldest FROM jobs_outbox WHERE published_at IS NULL"
            ).first
            var oldest: Date?
            if case .real(let value) = row?["oldest"] { oldest = Date(timeIntervalSince1970: value) }
            return (Int(row?["depth"]?.integer ?? 0), oldest)
        }
    }

    public func write<T: Sendable>(_ work: @escaping @Sendable (any StoreTransaction) throws -> T) async throws -> T {
        try await transaction { session in try work(HandlerTransaction(session: session)) }
    }

    /// The database server's clock (`clock_timestamp()`), the same for every machine.
    public func currentTime() async throws -> Date {
        let rows = try await read("SELECT extract(epoch from clock_timestamp())::float8 AS now")
        guard case .real(let seconds)? = rows.first?["now"] else {
            throw PostgresStoreError(.unexpectedReply, "the server did not tell its time")
        }
        return Date(timeIntervalSince1970: seconds)
    }

    public func read(_ sql: String, _ arguments: [SQLValue] = []) async throws -> [[String: SQLValue]] {
        try await run { session in try session.query(PostgresDialect.placeholders(sql), arguments) }
    }

    // MARK: Sessions

    /// Runs `body` in a write transaction that holds the role's advisory lock.
    private func transaction<T: Sendable>(_ body: @escaping @Sendable (Session) throws -> T) async throws -> T {
        let schema = schema
        return try await run { session in
            try session.execute("BEGIN")
            do {
                try session.execute("SELECT pg_advisory_xact_lock(hashtext($1))", [.text(schema)])
                let result = try body(session)
                try session.commit()
                return result
            } catch {
                _ = try? session.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// Runs `body` on the store's queue with a live connection (connecting again after a loss).
    private func run<T: Sendable>(_ body: @escaping @Sendable (Session) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(
                    with: Result {
                        let session = Session(connection: try self.liveConnection(), logger: self.logger)
                        return try body(session)
                    })
            }
        }
    }

    /// On `queue` only.
    private func liveConnection() throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        let connection = try PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: 1, logger: logger
        ).wait()
        do {
            let session = Session(connection: connection, logger: logger)
            // The role's schema (it may not exist yet; the search path takes it when it does).
            // Bounds: no wait for the role's lock beyond 30 s, no statement beyond 60 s, and the
            // server ends a session left inside a transaction for 60 s (a client that vanished
            // while holding the role's lock), with TCP keepalives to notice a dead peer.
            // READ COMMITTED whatever the role or database defaults to: the role's lock is what
            // makes a handler's read-then-write safe, and under REPEATABLE READ a transaction's
            // snapshot is taken when the lock statement starts, before it waits for the lock, so
            // a handler would read what the last holder had not yet committed.
            for setting in [
                "SET search_path TO \"\(schema)\"", "SET lock_timeout = '30s'", "SET statement_timeout = '60s'",
                "SET idle_in_transaction_session_timeout = '60s'", "SET tcp_keepalives_idle = 30",
                "SET tcp_keepalives_interval = 10", "SET tcp_keepalives_count = 3",
                "SET default_transaction_isolation = 'read committed'",
            ] {
                try session.execute(setting)
            }
            // A message is acknowledged at its commit: the commit must be flushed first. A role
            // or database may set `synchronous_commit` off (for speed); then a commit returns
            // before its WAL is written and a server crash loses it. `local`, `remote_write`,
            // `remote_apply` and `on` all flush locally first, and are left as they are.
            if try session.setting("synchronous_commit") == "off" {
                try session.execute("SET synchronous_commit = on")
                guard try session.setting("synchronous_commit") != "off" else {
                    throw PostgresStoreError(.configuration, "the server did not take synchronous_commit = on")
                }
            }
        } catch {
            try? connection.close().wait()
            throw error
        }
        self.connection = connection
        return connection
    }
}

/// A connection used synchronously from the store's queue.
struct Session: @unchecked Sendable {
    // @unchecked: used only on the store's queue.
    let connection: PostgresConnection
    let logger: Logger

    /// Runs a statement (`$n` placeholders); returns the rows it affected.
    @discardableResult
    func execute(_ sql: String, _ arguments: [SQLValue] = []) throws -> Int {
        try connection.query(PostgresQuery(unsafeSQL: sql, binds: Self.binds(arguments)), logger: logger).wait().metadata
            .rows ?? 0
    }

    /// Sets `published_at` of the outbox rows `ids` (in the caller's transaction, if any).
    func markPublished(_ ids: [Int64], at now: Double) throws {
        for start in stride(from: 0, to: ids.count, by: 500) {
            let chunk = ids[start..<min(start + 500, ids.count)]
            let placeholders = (0..<chunk.count).map { "$\($0 + 2)" }.joined(separator: ",")
            try execute(
                "UPDATE jobs_outbox SET published_at = $1 WHERE id IN (\(placeholders))",
                [.real(now)] + chunk.map { .integer($0) })
        }
    }

    /// A run-time setting's value as `SHOW` gives it.
    func setting(_ name: String) throws -> String? {
        try query("SHOW \(name)").first?[name]?.text
    }

    /// Commits the open transaction; throws when the server rolled it back instead (it answers
    /// a COMMIT of a transaction aborted by an error with ROLLBACK, not with an error).
    func commit() throws {
        let result = try connection.query(PostgresQuery(unsafeSQL: "COMMIT"), logger: logger).wait()
        guard result.metadata.command == "COMMIT" else {
            throw PostgresStoreError(
                .unexpectedReply, "the transaction was rolled back by the server (\(result.metadata.command))")
        }
    }

    /// Runs a query (`$n` placeholders); each row maps column names to values.
    func query(_ sql: String, _ arguments: [SQLValue] = []) throws -> [[String: SQLValue]] {
        let result = try connection.query(PostgresQuery(unsafeSQL: sql, binds: Self.binds(arguments)), logger: logger)
            .wait()
        return try result.rows.map { row in
            var values: [String: SQLValue] = [:]
            for cell in row { values[cell.columnName] = try Self.value(cell) }
            return values
        }
    }

    static func binds(_ arguments: [SQLValue]) -> PostgresBindings {
        var binds = PostgresBindings(capacity: arguments.count)
        for argument in arguments {
            switch argument {
            case .null: binds.appendNull()
            case .integer(let value): binds.append(value)
            case .real(let value): binds.append(value)
            case .text(let value): binds.append(value)
            case .blob(let value): binds.append(ByteBuffer(bytes: value))
            }
        }
        return binds
    }

    static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
        case .float4, .float8: return .real(try cell.decode(Double.self))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .bytea: return .blob(Data(try cell.decode(ByteBuffer.self).readableBytesView))
        case .numeric:
            // SUM over integers: an integer when it is one.
            let value = NSDecimalNumber(decimal: try cell.decode(Decimal.self)).doubleValue
            if value == value.rounded(), abs(value) < 9e15 { return .integer(Int64(value)) }
            return .real(value)
        default: return .text(try cell.decode(String.self))
        }
    }
}

/// What a handler sees: its SQL (`?` placeholders) on the role's schema.
struct HandlerTransaction: StoreTransaction {
    let session: Session

    func execute(_ sql: String, _ arguments: [SQLValue]) throws {
        try session.execute(PostgresDialect.placeholders(sql), arguments)
    }

    func query(_ sql: String, _ arguments: [SQLValue]) throws -> [[String: SQLValue]] {
        try session.query(PostgresDialect.placeholders(sql), arguments)
    }
}

/// A bad store URL or schema, or an unexpected row.
public struct PostgresStoreError: Error, CustomStringConvertible {
    /// What went wrong, for a caller to switch on.
    public enum Code: String, Sendable {
        /// The `--database` URL or schema name cannot be used.
        case configuration
        /// The database user may not do what the store needs (SQLSTATE 42501).
        case permission
        /// The server answered something the store did not expect.
        case unexpectedReply = "unexpected-reply"
    }

    public let code: Code
    public let description: String
    init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }
}
