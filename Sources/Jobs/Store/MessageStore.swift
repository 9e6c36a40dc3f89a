public import AMQP
public import ContractKit
public import Foundation

/// A value in a worker's own tables.
public enum SQLValue: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByNilLiteral {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)

    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(nilLiteral: ()) { self = .null }

    public var text: String? { if case .text(let value) = self { value } else { nil } }
    public var integer: Int64? { if case .integer(let value) = self { value } else { nil } }
    /// A number as a `Double`: a real, or an integer (a whole number may come back as one).
    public var real: Double? {
        switch self {
        case .real(let value): value
        case .integer(let value): Double(value)
        default: nil
        }
    }
}

/// What a handler sees of the store: SQL on the worker's own tables, inside the transaction
/// that also records the message in the inbox and its output in the outbox.
public protocol StoreTransaction {
    /// Runs a statement (`?` placeholders).
    func execute(_ sql: String, _ arguments: [SQLValue]) throws
    /// Runs a query; each row maps column names to values.
    func query(_ sql: String, _ arguments: [SQLValue]) throws -> [[String: SQLValue]]
}

extension StoreTransaction {
    public func execute(_ sql: String) throws { try execute(sql, []) }
    public func query(_ sql: String) throws -> [[String: SQLValue]] { try query(sql, []) }
}

/// A message a handler wants published, written to the outbox in the handler's transaction.
public struct OutgoingEvent: Sendable, Equatable {
    public var exchange: String
    public var routingKey: String
    public var body: Data
    public var messageID: String
    public var type: String
    public var correlationID: String
    public var appID: String
    public var timestamp: Date
    public var contractVersion: Int

    /// The event for an envelope, published on `exchange` with the type as routing key.
    public init<M: ContractMessage>(_ envelope: EventEnvelope<M>, exchange: String) throws {
        self.exchange = exchange
        self.routingKey = envelope.type
        self.body = try ContractJSON.encode(envelope)
        self.messageID = envelope.id
        self.type = envelope.type
        self.correlationID = envelope.correlationID
        self.appID = envelope.source
        self.timestamp = envelope.time
        self.contractVersion = envelope.dataVersion
    }

    /// An event as the outbox stored it (stores reading their outbox back).
    public init(
        exchange: String, routingKey: String, body: Data, messageID: String, type: String, correlationID: String, appID: String,
        timestamp: Date, contractVersion: Int
    ) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.messageID = messageID
        self.type = type
        self.correlationID = correlationID
        self.appID = appID
        self.timestamp = timestamp
        self.contractVersion = contractVersion
    }

    /// The AMQP message: properties mirror the envelope (see docs/PUBLISHING.md), each cut to
    /// what AMQP carries (``shortString(_:)``).
    public var amqpMessage: AMQPOutgoingMessage {
        AMQPOutgoingMessage(
            body: body, exchange: exchange, routingKey: routingKey,
            properties: AMQPProperties(
                contentType: "application/json", headers: ["x-contract-version": .int64(Int64(contractVersion))],
                deliveryMode: .persistent, correlationID: Self.shortString(correlationID),
                messageID: Self.shortString(messageID), timestamp: timestamp, type: Self.shortString(type),
                appID: Self.shortString(appID)),
            mandatory: true)
    }

    /// `text` as an AMQP short string can carry it: itself when it has at most 255 bytes;
    /// otherwise its first 200 bytes (whole Unicode scalars), `~` and a 64-bit FNV-1a digest of the
    /// whole, the same for the same text. An id or correlation id comes from a publisher's
    /// envelope, of any length, and AMQP refuses a longer property: librabbitmq fails the
    /// publish, which took the connection down, and the outbox row waited for ever. The body,
    /// which consumers read, keeps the whole text.
    public static func shortString(_ text: String) -> String {
        guard text.utf8.count > 255 else { return text }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        var prefix = String.UnicodeScalarView()
        var bytes = 0
        for scalar in text.unicodeScalars {
            bytes += String(scalar).utf8.count
            guard bytes <= 200 else { break }
            prefix.append(scalar)
        }
        return String(prefix) + "~" + String(hash, radix: 16)
    }
}

/// An outbox row waiting to be published.
public struct OutboxEntry: Sendable, Equatable {
    public let id: Int64
    public let event: OutgoingEvent

    /// A row of the outbox: its id in the store and its event.
    public init(id: Int64, event: OutgoingEvent) {
        self.id = id
        self.event = event
    }
}

/// What happened to a message in ``MessageStore/process(messageID:_:)``.
public enum ProcessOutcome: Sendable, Equatable {
    /// The handler ran and committed; publish these rows.
    case processed([OutboxEntry])
    /// The message id was already in the inbox: nothing ran.
    case duplicate
}

/// One message's share of a batch: its id and the work to run for it.
public struct StoreWork: Sendable {
    public let messageID: String
    public let work: @Sendable (any StoreTransaction) throws -> [OutgoingEvent]

    public init(messageID: String, work: @escaping @Sendable (any StoreTransaction) throws -> [OutgoingEvent]) {
        self.messageID = messageID
        self.work = work
    }
}

/// The worker's state: inbox, outbox and the handler's own tables. Each message's inbox row,
/// state change and outbox rows are committed together, atomically; several messages may share
/// one commit (group commit), each isolated from the others' failures. SQLite (one file per
/// role, ``SQLiteStore``) is the embedded default; `PostgresStore` (one schema per role) lets a
/// role's processes run on several machines. Handlers write SQL both run: `?` placeholders,
/// `INSERT … ON CONFLICT`, no engine-specific functions.
public protocol MessageStore: Sendable {
    /// Creates the worker's own tables (statements run in order, each must be idempotent).
    func migrate(_ statements: [String]) async throws
    /// Runs a batch in one transaction. For each item, unless its message id is already in the
    /// inbox (or earlier in the batch): records the id, runs the work and writes the events it
    /// returns to the outbox. An item whose work throws leaves no trace (its own savepoint is
    /// rolled back) and gets `.failure`; the others still commit.
    /// - Returns: one result per item, in order.
    /// - Throws: when the transaction as a whole fails (nothing of the batch committed).
    func process(_ batch: [StoreWork]) async throws -> [Result<ProcessOutcome, any Error>]
    /// ``process(_:)``, and in the same transaction marks the outbox rows `published` as
    /// published (as ``markPublished(_:)`` does): a worker's confirmed outputs ride along with
    /// its next commit, one transaction and one flush to disk instead of two. When it throws,
    /// nothing is marked either.
    func process(_ batch: [StoreWork], markingPublished published: [Int64]) async throws
        -> [Result<ProcessOutcome, any Error>]
    /// Outbox rows not yet published, oldest first, created before `createdBefore`.
    func unpublished(limit: Int, createdBefore: Date) async throws -> [OutboxEntry]
    /// Marks outbox rows as published.
    func markPublished(_ ids: [Int64]) async throws
    /// Rows still in the outbox and the creation time of the oldest (for metrics).
    func outboxBacklog() async throws -> (depth: Int, oldest: Date?)
    /// Runs `work` in a write transaction outside any message (imports, admin tools).
    func write<T: Sendable>(_ work: @escaping @Sendable (any StoreTransaction) throws -> T) async throws -> T
    /// Runs a query outside any message (tests, admin tools).
    func read(_ sql: String, _ arguments: [SQLValue]) async throws -> [[String: SQLValue]]
    /// The store's own clock, which every process sharing the store agrees on: the database
    /// server's for PostgreSQL (processes on several machines), this machine's for SQLite (whose
    /// processes share one machine). For leases such as a claim that one process holds while
    /// others wait, which a process with a clock ahead would otherwise take over early.
    func currentTime() async throws -> Date
    /// Whether a commit survives a power loss once `process(_:)` returns (SQLite with
    /// `synchronous=FULL`, PostgreSQL with `synchronous_commit` on, which its store sees to, on
    /// a server with `fsync` on). The worker acknowledges a
    /// batch at commit only then; otherwise only after its outputs' publish, so that a commit
    /// a power loss undoes has its outputs out in the common case (not when the publish failed:
    /// the broker down or blocked). No default: a store, or a wrapper of one, must say.
    var commitsSurvivePowerLoss: Bool { get }
}

/// Publishes outbox rows that a service beside a ``Worker`` wrote in the worker's store, at
/// once, instead of leaving them to the flusher (which takes rows older than
/// ``WorkerOptions/outboxGrace``, 10 s, every 2 s). The ``Worker`` is one.
public protocol OutboxPublishing: Sendable {
    /// Starts publishing `entries`; returns at once. What is not published stays for the flusher.
    func publishSoon(_ entries: [OutboxEntry])
}

extension MessageStore {
    /// Processes one message in a transaction of its own (see ``process(_:)``).
    /// - Throws: what `work` throws, or a store error.
    public func process(messageID: String, _ work: @escaping @Sendable (any StoreTransaction) throws -> [OutgoingEvent])
        async throws -> ProcessOutcome
    {
        guard let result = try await process([StoreWork(messageID: messageID, work: work)]).first else {
            preconditionFailure("a store returned no result for a batch of one")
        }
        return try result.get()
    }

    /// Rows still in the outbox.
    public func outboxDepth() async throws -> Int { try await outboxBacklog().depth }

    /// Runs a query without arguments outside any message.
    public func read(_ sql: String) async throws -> [[String: SQLValue]] { try await read(sql, []) }
}
