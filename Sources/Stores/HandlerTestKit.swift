public import ContractKit
public import Foundation
public import Jobs

/// Runs a ``MessageHandler`` without a broker, for a worker's own unit tests: messages go
/// through the same registry (strict decoding, upcasting) and the same store transaction
/// (inbox, state, outbox) as in production; what would be published is returned instead.
///
/// ```swift
/// let kit = try await HandlerTestKit(handler: IntakeHandler())
/// let result = try await kit.deliver(EventEnvelope(source: "/test", data: registration))
/// #expect(result.events.first?.type == "registration.accepted")
/// ```
public final class HandlerTestKit: Sendable {
    /// What one delivery did.
    public struct Result: Sendable {
        /// The events the handler wrote to the outbox (empty for a duplicate).
        public let events: [OutgoingEvent]
        /// Whether the message id was already in the inbox.
        public let duplicate: Bool
    }

    public let handler: any MessageHandler
    public let store: SQLiteStore
    private let registry: ContractRegistry
    /// The SQLite file of the store (for a process that reads it).
    public let path: String
    /// Whether this kit made the file (and removes it when it goes).
    private let ownsFile: Bool

    /// A kit with a fresh SQLite store in a temporary file; the handler's migrations are run.
    public init(handler: any MessageHandler, registry: ContractRegistry) async throws {
        self.handler = handler
        self.registry = registry
        path = FileManager.default.temporaryDirectory.appendingPathComponent("handler-kit-\(UUID().uuidString).sqlite").path
        store = try SQLiteStore(path: path, durability: .normal)
        ownsFile = true
        try await store.migrate(handler.migrations)
    }

    /// A kit with another handler over the store of `kit` (the same worker restarted with
    /// other settings, e.g. a new signing key); the handler's migrations are run.
    public init(handler: any MessageHandler, registry: ContractRegistry, sharingStoreOf kit: HandlerTestKit) async throws {
        self.handler = handler
        self.registry = registry
        path = kit.path
        store = kit.store
        ownsFile = false
        try await store.migrate(handler.migrations)
    }

    deinit {
        guard ownsFile else { return }
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    /// Delivers an envelope as the worker would.
    /// - Throws: a ``ContractError`` for a message the registry refuses, or what the handler
    ///   throws (a ``Failure`` is what the worker would route to a retry or the dead letters).
    public func deliver<M: ContractMessage>(_ envelope: EventEnvelope<M>) async throws -> Result {
        try await deliver(body: ContractJSON.encode(envelope))
    }

    /// Delivers a raw body (to test bad input).
    public func deliver(body: Data) async throws -> Result {
        let event = try registry.decode(body)
        let handler = handler
        switch try await store.process(messageID: event.header.id, { transaction in try handler.handle(event, in: transaction) })
        {
        case .duplicate: return Result(events: [], duplicate: true)
        case .processed(let entries): return Result(events: entries.map(\.event), duplicate: false)
        }
    }

    /// Runs a read-only query on the handler's tables (in a transaction that is rolled back).
    public func query(_ sql: String, _ arguments: [SQLValue] = []) async throws -> [[String: SQLValue]] {
        try await store.read(sql, arguments)
    }
}
