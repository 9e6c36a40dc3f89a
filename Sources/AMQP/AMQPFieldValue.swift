public import Foundation

/// An AMQP field table (message headers, queue and exchange arguments).
public typealias AMQPTable = [String: AMQPFieldValue]

/// A value in an AMQP field table or array, with the wire types RabbitMQ understands.
public enum AMQPFieldValue: Sendable, Hashable {
    case bool(Bool)
    case int8(Int8)
    case uint8(UInt8)
    case int16(Int16)
    case uint16(UInt16)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case float(Float)
    case double(Double)
    /// A decimal: `value` × 10^-`scale`.
    case decimal(scale: UInt8, value: UInt32)
    /// A long string holding UTF-8 text (wire type `S`).
    case string(String)
    /// A byte array (wire type `x`).
    case bytes([UInt8])
    /// A timestamp with one-second resolution (wire type `T`).
    case timestamp(Date)
    case table(AMQPTable)
    case array([AMQPFieldValue])
    case void

    /// Tables and arrays nested in a delivery's headers are read this many levels deep (the
    /// headers table itself is the first); one deeper is read as `.void`. RabbitMQ's own
    /// headers (`x-death`: an array of tables in the headers, each with an array of routing keys)
    /// use four.
    public static let maximumNesting = 32

    /// The value as a string, when it is one (`S` text).
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The value as an integer, when it is any of the integer kinds.
    public var intValue: Int64? {
        switch self {
        case .int8(let v): Int64(v)
        case .uint8(let v): Int64(v)
        case .int16(let v): Int64(v)
        case .uint16(let v): Int64(v)
        case .int32(let v): Int64(v)
        case .uint32(let v): Int64(v)
        case .int64(let v): v
        default: nil
        }
    }
}

extension AMQPFieldValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    /// Integer literals become `long` (`l`, 64-bit signed), as other AMQP clients do.
    public init(integerLiteral value: Int64) { self = .int64(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}
