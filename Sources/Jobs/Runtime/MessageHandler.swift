public import ContractKit
public import Foundation

/// The code of one worker role: decides what a message means for the role's state.
public protocol MessageHandler: Sendable {
    /// Table definitions of the role's own state (idempotent statements, run at start-up).
    var migrations: [String] { get }

    /// Handles one message, already upcast to the newest version of its contract, inside the
    /// store transaction that also records it in the inbox and writes the returned events to
    /// the outbox. Throw a ``Failure`` to classify a failure; any other error counts as
    /// transient. A business outcome (a rejection) is an event, not a failure.
    ///
    /// A handler may run more than once for one message: after a redelivery, and within one
    /// group commit when another message of the batch fails (its writes are rolled back and it
    /// runs again). Only its store writes are exactly once; anything else it does (a lookup in
    /// an outside service, a file it writes) must tolerate running again.
    func handle(_ event: DecodedEvent, in transaction: any StoreTransaction) throws -> [OutgoingEvent]

    /// The handler's own retention rules: what of its tables the runtime clears or deletes once
    /// past its time, beside the inbox and outbox (every 10 minutes, counted in
    /// `jobs_retention_purged_rows_total` by table). None by default.
    var retention: [TableRetention] { get }
}

extension MessageHandler {
    public var retention: [TableRetention] { [] }
}

/// One retention rule of a handler's table: the rows matching `condition` (with the cutoff,
/// now minus `keep`, as its one argument) are updated with `assignments`, or deleted when there
/// are none.
public struct TableRetention: Sendable, Equatable {
    /// How a table writes its times, so that the cutoff compares with them.
    public enum TimeFormat: Sendable, Equatable {
        /// ISO 8601 text in UTC (`2025-07-01T02:00:00Z`, with or without milliseconds): compared
        /// as text.
        case isoText
        /// Seconds since 1970.
        case epochSeconds
    }

    public var table: String
    /// The table's key column (one value per row): rows are changed by batches of keys.
    public var key: String
    /// A condition with one `?`, the cutoff: e.g. `decided_at < ? AND nik_index IS NOT NULL`
    /// (make it false for rows already done, so that they are not counted again).
    public var condition: String
    /// `SET` assignments (`masked_nik = '****', nik_index = NULL`), or `nil` to delete the rows.
    public var assignments: String?
    public var keep: Duration
    public var timeFormat: TimeFormat

    public init(
        table: String, key: String, condition: String, assignments: String?, keep: Duration, timeFormat: TimeFormat
    ) {
        self.table = table
        self.key = key
        self.condition = condition
        self.assignments = assignments
        self.keep = keep
        self.timeFormat = timeFormat
    }

    /// The cutoff argument for `now`.
    public func cutoff(now: Date) -> SQLValue {
        let cutoff = now.addingTimeInterval(-Double(keep.components.seconds))
        switch timeFormat {
        case .isoText: return .text(cutoff.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        case .epochSeconds: return .real(cutoff.timeIntervalSince1970)
        }
    }

    /// Applies the rule to at most `limit` rows in `transaction` (one short transaction per
    /// batch: the caller repeats while a batch is full); returns how many rows it changed.
    public func applyBatch(now: Date, limit: Int = 1_000, in transaction: any StoreTransaction) throws -> Int {
        let cutoff = cutoff(now: now)
        let keys = try transaction.query("SELECT \(key) AS k FROM \(table) WHERE \(condition) LIMIT \(limit)", [cutoff])
            .compactMap { $0["k"] }
        guard !keys.isEmpty else { return 0 }
        let placeholders = Array(repeating: "?", count: keys.count).joined(separator: ", ")
        if let assignments {
            try transaction.execute("UPDATE \(table) SET \(assignments) WHERE \(key) IN (\(placeholders))", keys)
        } else {
            try transaction.execute("DELETE FROM \(table) WHERE \(key) IN (\(placeholders))", keys)
        }
        return keys.count
    }

    /// Applies the rule to every row past its time, a batch per transaction of `store`.
    public func apply(now: Date, to store: any MessageStore, batch: Int = 1_000) async throws -> Int {
        var total = 0
        while true {
            let changed = try await store.write { transaction in try applyBatch(now: now, limit: batch, in: transaction) }
            total += changed
            if changed < batch { return total }
        }
    }
}

/// A handler whose events are declared by its role's input (``RoleInput``): it switches over
/// the input, so the compiler checks that every event the role's queue is bound to is handled,
/// and the role's bindings come from the same declaration
/// (``WorkerRole/init(name:queue:exchange:failureExchange:input:publishes:summary:)``).
public protocol TypedMessageHandler: MessageHandler {
    /// The events the handler takes.
    associatedtype Input: RoleInput

    /// Handles one event, already turned into the role's input (see
    /// ``MessageHandler/handle(_:in:)`` for the transaction and the rules on failures).
    func handle(_ input: Input, event: DecodedEvent, in transaction: any StoreTransaction) throws -> [OutgoingEvent]
}

extension TypedMessageHandler {
    /// Turns `event` into the role's input and handles it. An event the input does not route
    /// (a binding added by hand on the broker, or left from an older version of the role) is a
    /// permanent `unexpected-type` failure: dead-lettered, never dropped.
    public func handle(_ event: DecodedEvent, in transaction: any StoreTransaction) throws -> [OutgoingEvent] {
        guard let input = Input.routes.input(from: event) else {
            throw Failure.permanent(.unexpectedType, "this role does not handle \(event.header.type)")
        }
        return try handle(input, event: event, in: transaction)
    }
}

extension TypedMessageHandler {
    /// The event types the handler's input routes (what its role's queue must be bound to).
    public var inputEventTypes: [String] { Input.routes.eventTypes }
}
