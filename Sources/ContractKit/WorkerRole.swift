/// A consumer of contracts: a role's name, the queue it consumes, the exchanges its events
/// arrive and fail through, and the event types it takes and publishes. The runtime (`Jobs`)
/// declares its topology from it; the application defines its roles (the pipeline's are in
/// `Topology`).
public struct WorkerRole: Sendable, Hashable {
    /// The role's name, used for the process's subcommand, its queue and its database file.
    public let name: String
    /// The role's queue.
    public let queue: String
    /// The topic exchange the role's events arrive through.
    public let exchange: String
    /// The exchange its retries and dead letters go through.
    public let failureExchange: String
    /// Event types bound from ``exchange`` to the queue.
    public let consumes: [String]
    /// Event types the role publishes (its broker user may publish only these).
    public let publishes: [String]
    /// One sentence on what the role does, for documents.
    public let summary: String

    /// A role that consumes the given event types.
    public init(
        name: String, queue: String, exchange: String, failureExchange: String, consumes: [String], publishes: [String],
        summary: String
    ) {
        self.name = name
        self.queue = queue
        self.exchange = exchange
        self.failureExchange = failureExchange
        self.consumes = consumes
        self.publishes = publishes
        self.summary = summary
    }

    /// A role whose consumed event types are those its handler's input declares
    /// (``RoleInput/routes``), so the queue's bindings and the handler cannot drift apart.
    public init<Input: RoleInput>(
        name: String, queue: String, exchange: String, failureExchange: String, input: Input.Type,
        publishes: [String], summary: String
    ) {
        self.init(
            name: name, queue: queue, exchange: exchange, failureExchange: failureExchange,
            consumes: Input.routes.eventTypes, publishes: publishes, summary: summary)
    }
}
