public import Foundation

/// Tunables of a ``Worker``; the defaults suit most roles.
public struct WorkerOptions: Sendable {
    /// Messages this process holds at once: the consumer prefetch, and the most messages one
    /// group commit takes.
    public var concurrency: UInt16 = 64
    /// Outputs of acknowledged messages still being published at which the next commit waits:
    /// four times the concurrency. Counted in outputs, not messages, so a role whose messages
    /// carry hundreds of events each (scheduling's) holds no more of them in memory than when
    /// it acknowledged after the confirms; the batch in progress and redelivered messages,
    /// handled one by one, may take it a batch beyond.
    public var unconfirmedLimit: Int { Int(concurrency) * 4 }
    /// How often leftover outbox rows are published again (and the gauges refreshed).
    public var outboxFlushInterval: Duration = .seconds(2)
    /// How old an outbox row must be before the flusher takes it (younger ones are still being
    /// published by the message that wrote them).
    public var outboxGrace: Duration = .seconds(10)
    /// Runs after each group commit with the ids of the messages it committed (processed, or
    /// found to be duplicates; empty when every message of the batch failed), before their
    /// outbox is published and they are acknowledged: rings the ``Doorbell`` of the services
    /// beside the worker; fault injection and tracing in tests. Must not block.
    public var afterCommit: (@Sendable ([String]) -> Void)?
    /// Who may publish each event type the role consumes, checked against the validated
    /// `user_id` (``PublisherPolicy``). The default lets anyone publish anything, for tests and
    /// local runs; the worker then says so in a warning at start. Deployments enforce
    /// `ContractPublishers.allowedUsers()` and `ContractPublishers.partyRules()`.
    public var publishers: PublisherPolicy = .anyPublisher
    /// The routing keys an event this worker publishes is also routed to (its `CC` header),
    /// from its type and body: the inbox of the one outside party it is for, such as an LSP's
    /// (`ContractPublishers.carbonCopies(type:body:)`). nil: none. Must not block.
    public var carbonCopies: (@Sendable (_ type: String, _ body: Data) -> [String])?
    /// Handlings of one redelivered message that may end without an outcome (the process died:
    /// a trap, an abort, out of memory, SIGKILL) before the message is dead-lettered as
    /// `crashed-worker` instead of being handled again. A redelivered message is handled alone,
    /// after its attempt is committed, so the count names the message that killed the process
    /// and no other.
    public var crashLimit = 3
    /// Whether the worker declares its topology at start (and again when its queue was
    /// deleted). Off where the role's broker user has no configure permission (`deploy/`): the
    /// topology comes from the definitions or the admin tool, and the worker only
    /// checks that its queue exists.
    public var declaresTopology = true
    /// Where the topology comes from when the worker does not declare it: the fix a
    /// ``TopologyError`` gives when the role queue is missing.
    public var topologyHint = "declare it before the worker starts"
    /// How long published outbox rows and inbox rows are kept (``RetentionPolicy``); purged
    /// every 10 minutes, with `jobs_retention_purged_rows_total`.
    public var retention: RetentionPolicy = .standard
    /// How long a failed message is held, trying again, when routing it to a retry tier or the
    /// dead letters fails because the publishing connection is down or blocked (reconnecting,
    /// the broker restarting): the waits between attempts, 15.8 s in all (within the default
    /// 30 s `--shutdown-timeout`). Then it is handed back to the broker, which redelivers it.
    /// Any other refusal hands it back at once.
    public var routeRetryDelays: [Duration] = [
        .milliseconds(100), .milliseconds(200), .milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8),
    ]

    public init() {}
}

/// Counts of what a worker did, for tests and the console (metrics carry the same).
public struct WorkerStatistics: Sendable, Equatable {
    public var received = 0
    public var succeeded = 0
    public var duplicates = 0
    public var retried = 0
    public var deadLettered = 0
    public var published = 0
}
