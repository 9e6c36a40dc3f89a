public import Foundation

/// A JSON value as a credential holds it: objects, arrays, strings, integers, booleans and null.
///
/// No fractional numbers: a credential of this programme never carries one, and RFC 8785's
/// canonical form of a fraction depends on ECMAScript's number printing; refusing them keeps
/// the canonical form exact. Integers are limited to ±2^53 for the same reason.
public enum JSONValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case integer(Int64)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The largest integer that every JSON reader holds exactly (2^53).
    public static let largestExactInteger: Int64 = 1 << 53

    /// Parses a JSON text.
    /// - Throws: ``CredentialError`` for text that is not JSON or holds a fraction or a larger integer.
    public init(json data: Data) throws {
        do {
            self = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch let error as CredentialError {
            throw error
        } catch {
            throw CredentialError(.malformed, "not a JSON document")
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            guard value >= -Self.largestExactInteger, value <= Self.largestExactInteger else {
                throw CredentialError(.malformed, "an integer beyond 2^53 has no exact canonical form")
            }
            self = .integer(value)
        } else if (try? container.decode(Double.self)) != nil {
            throw CredentialError(.malformed, "a fractional number has no place in a credential")
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The members of an object, nil for any other value.
    public var object: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The text of a string, nil for any other value.
    public var string: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The value as pretty-printed JSON with sorted keys (for a file a person reads).
    public func prettyJSON() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

/// A credential or a canonical form that cannot be made or checked.
public struct CredentialError: Error, CustomStringConvertible {
    /// What went wrong, for a caller to switch on.
    public enum Code: String, Sendable {
        /// Not JSON, or JSON a credential may not hold.
        case malformed
        /// A proof that is missing, of another kind, or whose parts cannot be read.
        case proof
        /// A key or key identifier (did:key, multibase) that cannot be read.
        case key
    }

    public let code: Code
    public let description: String

    init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }
}
