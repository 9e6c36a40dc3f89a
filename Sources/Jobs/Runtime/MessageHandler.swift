public import Contracts

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
