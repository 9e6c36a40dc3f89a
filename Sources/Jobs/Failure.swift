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

    public let kind: Kind
    /// A stable, machine-readable code, e.g. `unsupported-contract-version`, `store-busy`.
    public let code: String
    /// A human-readable explanation. The process's ``Redaction`` hook masks it before it is
    /// logged or stored in a dead letter's headers.
    public let message: String

    public init(_ kind: Kind, code: String, message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    public static func permanent(_ code: String, _ message: String) -> Failure {
        Failure(.permanent, code: code, message: message)
    }
    public static func transient(_ code: String, _ message: String) -> Failure {
        Failure(.transient, code: code, message: message)
    }

    /// The kind, code and message, the message through the process's ``Redaction`` hook.
    public var description: String { "\(kind) failure \(code): \(Redaction.apply(message))" }
}
