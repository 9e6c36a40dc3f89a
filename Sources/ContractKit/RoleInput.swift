/// The events one role handles, declared in one place: usually an enum with one case per event
/// type, whose ``routes`` say which contract each case is made from. The role's queue bindings
/// come from it (``WorkerRole/init(name:queue:exchange:failureExchange:input:publishes:summary:)``)
/// and its handler switches over it, so adding an event to a role is one new case that the
/// compiler then asks the handler to handle.
///
/// ```swift
/// enum SchedulingInput: RoleInput {
///     case accepted(RegistrationAcceptedV2)
///     case classOpened(ClassOpenedV1)
///     static let routes = InputRoutes<Self>()
///         .on(RegistrationAcceptedV2.self, Self.accepted)
///         .on(ClassOpenedV1.self, Self.classOpened)
/// }
/// ```
public protocol RoleInput: Sendable {
    /// How each consumed event type becomes a value of the input.
    static var routes: InputRoutes<Self> { get }
}

/// The event types a ``RoleInput`` is made from, in declaration order, and how a decoded event of
/// each becomes an input value.
public struct InputRoutes<Input: Sendable>: Sendable {
    /// The consumed event types, each once, in the order they were declared.
    public private(set) var eventTypes: [String] = []
    /// Event type → the contract version each is routed as (the handler sees the newest
    /// version the registry upcasts to; a route to an older one would never match).
    public private(set) var versions: [String: Int] = [:]
    /// Event types declared more than once (only the first declaration routes; a test of the
    /// application should expect none).
    public private(set) var duplicates: [String] = []
    /// Event types the role no longer binds but still takes (``retired(_:_:)``): what a
    /// binding left by an earlier version brings is handled (typically dropped), not
    /// dead-lettered. Not in ``eventTypes``.
    public private(set) var retiredEventTypes: [String] = []
    private var makers: [String: @Sendable (any ContractMessage) -> Input?] = [:]

    /// No routes yet.
    public init() {}

    /// These routes and one more: an event of `type`'s event type, decoded (and upcast) to
    /// `type`, becomes `make(payload)`. Declaring one event type twice keeps the first and
    /// records the second in ``duplicates``.
    public func on<Message: ContractMessage>(
        _ type: Message.Type, _ make: @escaping @Sendable (Message) -> Input
    ) -> Self {
        var routes = self
        guard makers[Message.eventType] == nil else {
            routes.duplicates.append(Message.eventType)
            return routes
        }
        routes.eventTypes.append(Message.eventType)
        routes.versions[Message.eventType] = Message.version
        routes.makers[Message.eventType] = { payload in (payload as? Message).map(make) }
        return routes
    }

    /// These routes and a retired one: an event type the role's queue is no longer bound to
    /// (so it is not in ``eventTypes``), still turned into `make(payload)` when a binding left
    /// by an earlier version brings one.
    public func retired<Message: ContractMessage>(
        _ type: Message.Type, _ make: @escaping @Sendable (Message) -> Input
    ) -> Self {
        var routes = on(type, make)
        guard routes.eventTypes.last == Message.eventType else { return routes }
        routes.eventTypes.removeLast()
        routes.retiredEventTypes.append(Message.eventType)
        return routes
    }

    /// The input `event` makes, or `nil` when its type is not routed or its payload is not the
    /// declared contract type (a registry that upcasts to another version).
    public func input(from event: DecodedEvent) -> Input? {
        makers[event.header.type]?(event.payload)
    }
}
