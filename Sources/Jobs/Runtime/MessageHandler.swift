public import ContractKit

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
