public import AMQP
public import Contracts
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
    public init<M: ContractMessage>(_ envelope: EventEnvelope<M>, exchange: String = ContractDocuments.exchange) throws {
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

    init(
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

    /// The AMQP message: properties mirror the envelope (see docs/PUBLISHING.md).
    public var amqpMessage: AMQPOutgoingMessage {
        AMQPOutgoingMessage(
            body: body, exchange: exchange, routingKey: routingKey,
            properties: AMQPProperties(
                contentType: "application/json", headers: ["x-contract-version": .int64(Int64(contractVersion))],
                deliveryMode: .persistent, correlationID: correlationID, messageID: messageID, timestamp: timestamp, type: type,
                appID: appID),
            mandatory: true)
    }
}

/// An outbox row waiting to be published.
public struct OutboxEntry: Sendable, Equatable {
    public let id: Int64
    public let event: OutgoingEvent
}

/// What happened to a message in ``MessageStore/process(messageID:_:)``.
public enum ProcessOutcome: Sendable, Equatable {
    /// The handler ran and committed; publish these rows.
    case processed([OutboxEntry])
    /// The message id was already in the inbox: nothing ran.
    case duplicate
}

/// The worker's state: inbox, outbox and the handler's own tables, changed together in one
/// transaction per message. SQLite (one file per role) is the embedded default; the protocol
/// leaves room for PostgreSQL.
public protocol MessageStore: Sendable {
    /// Creates the worker's own tables (statements run in order, each must be idempotent).
    func migrate(_ statements: [String]) async throws
    /// In one transaction: unless `messageID` is already in the inbox, runs `work`, records the
    /// message id, and writes the events `work` returns to the outbox.
    func process(messageID: String, _ work: @escaping @Sendable (any StoreTransaction) throws -> [OutgoingEvent]) async throws
        -> ProcessOutcome
    /// Outbox rows not yet published, oldest first, created before `createdBefore`.
    func unpublished(limit: Int, createdBefore: Date) async throws -> [OutboxEntry]
    /// Marks outbox rows as published.
    func markPublished(_ ids: [Int64]) async throws
    /// Rows still in the outbox (for metrics).
    func outboxDepth() async throws -> Int
}
