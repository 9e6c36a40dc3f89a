/// Why a message could not be turned into a contract. Every case is a permanent failure: the
/// message goes to its dead-letter queue with ``reason`` and ``message``, never retried.
///
/// Messages name fields by path (`data.domicile.regionCode`) and never quote field values, so
/// a NIK or a name cannot leak into a log or a dead-letter header through an error.
public struct ContractError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable, machine-readable reason (kebab-case), used in dead-letter records.
    public let reason: String
    /// A human-readable explanation without personal data.
    public let message: String
    /// The JSON path of the offending field, when there is one.
    public let path: String?

    init(_ reason: String, _ message: String, path: String? = nil) {
        self.reason = reason
        self.message = message
        self.path = path
    }

    public var description: String { "\(reason): \(message)" }

    static func tooLarge(_ size: Int, limit: Int) -> ContractError {
        ContractError("message-too-large", "the body has \(size) bytes; the limit is \(limit)")
    }
    static func tooDeep(_ limit: Int) -> ContractError {
        ContractError("malformed-json", "the body nests objects or arrays deeper than \(limit) levels")
    }
    // The two below do not quote the property: it is the sender's free text (the dead letter
    // keeps it in its properties).
    static var unsupportedContentType: ContractError {
        ContractError("unsupported-content-type", "the content type is not application/json in UTF-8")
    }
    static var unsupportedContentEncoding: ContractError {
        ContractError("unsupported-content-encoding", "the content encoding is not identity; contracts are not compressed")
    }
    static func malformed(_ detail: String) -> ContractError {
        ContractError("malformed-json", "the body is not valid JSON: \(detail)")
    }
    static func duplicateKey(_ path: String) -> ContractError {
        ContractError("duplicate-json-key", "the key \(path) appears more than once", path: path)
    }
    static func unknownType(_ type: String) -> ContractError {
        ContractError("unknown-contract-type", "no contract is registered for type '\(type)'")
    }
    static func unsupportedVersion(_ type: String, _ version: Int, known: [Int]) -> ContractError {
        ContractError(
            "unsupported-contract-version",
            "'\(type)' version \(version) is not supported; known versions: \(known.map(String.init).joined(separator: ", "))")
    }
    static func missingField(_ path: String) -> ContractError {
        ContractError("missing-field", "the required field \(path) is missing", path: path)
    }
    static func wrongType(_ path: String, expected: String) -> ContractError {
        ContractError("wrong-type", "the field \(path) must be \(expected)", path: path)
    }
    static func invalidValue(_ path: String, _ rule: String) -> ContractError {
        ContractError("invalid-value", "the field \(path) is invalid: \(rule)", path: path)
    }
    static func envelope(_ detail: String) -> ContractError {
        ContractError("invalid-envelope", detail)
    }
}
