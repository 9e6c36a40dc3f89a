public import ContractKit

/// Why handling a message failed, and whether trying again can help.
///
/// A business outcome (a rejected registration) is not a failure: it is an output event.
public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// Retrying cannot help: a bad message, an unsupported contract version, a broken
        /// invariant. Dead-lettered on the first delivery.
        case permanent
        /// May succeed later: the store is busy, a gateway is down. Retried with backoff, then
        /// dead-lettered.
        case transient
    }

    /// A stable, machine-readable code: the `x-failure-code` of a dead letter, a label of the
    /// failure metrics, what an operator filters replays by. Codes are named constants (the
    /// runtime's below, a contract error's ``init(_:)``, each application's in an extension of
    /// its own), so a misspelt name does not compile and the codes are listed in one place per
    /// module. ``init(rawValue:)`` exists for those declarations and for tests.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The code as it travels, e.g. `store-unavailable`.
        public let rawValue: String
        /// A code. Declare it once as a static constant in an extension of `Failure.Code`.
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }
    }

    public let kind: Kind
    /// A stable, machine-readable code, e.g. `unsupported-contract-version`, `store-unavailable`.
    public let code: Code
    /// A human-readable explanation. The process's ``Redaction`` hook masks it before it is
    /// logged or stored in a dead letter's headers.
    public let message: String

    public init(_ kind: Kind, code: Code, message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    public static func permanent(_ code: Code, _ message: String) -> Failure {
        Failure(.permanent, code: code, message: message)
    }
    public static func transient(_ code: Code, _ message: String) -> Failure {
        Failure(.transient, code: code, message: message)
    }

    /// The kind, code and message, the message through the process's ``Redaction`` hook.
    public var description: String { "\(kind) failure \(code): \(Redaction.apply(message))" }
}

extension Failure.Code {
    /// The store could not be reached or refused the transaction (transient).
    public static let storeUnavailable = Self(rawValue: "store-unavailable")
    /// The handler threw an error that is not a ``Failure`` (transient).
    public static let handlerError = Self(rawValue: "handler-error")
    /// Handling the message began `crashLimit` times and the process ended each time
    /// (permanent).
    public static let crashedWorker = Self(rawValue: "crashed-worker")
    /// The role's input does not route the event's type (permanent; see
    /// ``TypedMessageHandler``).
    public static let unexpectedType = Self(rawValue: "unexpected-type")
    /// The envelope's type is not the routing key it arrived under, or not the AMQP `type`
    /// property (permanent; ``DeliveryProvenance``).
    public static let typeMismatch = Self(rawValue: "type-mismatch")
    /// The broker user that published the event may not publish its type (permanent).
    public static let publisherNotAllowed = Self(rawValue: "publisher-not-allowed")

    /// The code of a message that is not a contract: the ``ContractError``'s reason
    /// (`malformed-json`, `unsupported-contract-version`, …).
    public init(_ error: ContractError) { self.init(rawValue: error.reason) }
}
