import Foundation

/// A JSON Schema (draft 2020-12) node, as produced by ``JSONSchema/describe(_:)``.
public indirect enum JSONSchema: Sendable, Equatable {
    case string(format: String?)
    case integer
    case number
    case boolean
    case enumeration([String])
    case integerEnumeration([Int])
    case array(JSONSchema)
    case object(properties: [(String, JSONSchema)], required: [String])
    case map(JSONSchema)
    case nullable(JSONSchema)
    case constant(String)
    case integerConstant(Int)

    public static func == (lhs: JSONSchema, rhs: JSONSchema) -> Bool {
        lhs.jsonObject as NSDictionary == rhs.jsonObject as NSDictionary
    }

    /// The schema as a JSON-compatible dictionary.
    public var jsonObject: [String: Any] {
        switch self {
        case .string(let format):
            var object: [String: Any] = ["type": "string"]
            if let format { object["format"] = format }
            return object
        case .integer: return ["type": "integer"]
        case .number: return ["type": "number"]
        case .boolean: return ["type": "boolean"]
        case .enumeration(let values): return ["type": "string", "enum": values]
        case .integerEnumeration(let values): return ["type": "integer", "enum": values]
        case .array(let items): return ["type": "array", "items": items.jsonObject]
        case .object(let properties, let required):
            var props: [String: Any] = [:]
            for (name, schema) in properties { props[name] = schema.jsonObject }
            // Tolerant reader: unknown extra fields are allowed.
            return ["type": "object", "properties": props, "required": required, "additionalProperties": true]
        case .map(let values): return ["type": "object", "additionalProperties": values.jsonObject]
        case .nullable(let inner):
            var object = inner.jsonObject
            if let type = object["type"] as? String { object["type"] = [type, "null"] }
            if var values = object["enum"] as? [Any] {
                values.append(NSNull())
                object["enum"] = values
            }
            return object
        case .constant(let value): return ["type": "string", "const": value]
        case .integerConstant(let value): return ["type": "integer", "const": value]
        }
    }
}

/// An enum whose JSON form is a fixed set of raw values, so its schema can list them.
public protocol SchemaEnumeration: CaseIterable, RawRepresentable, Codable, Sendable {}

extension JSONSchema {
    /// Describes a `Decodable` type by running its `init(from:)` against a recording decoder:
    /// the schema follows the Swift type, never a hand-written copy.
    public static func describe<T: Decodable>(_ type: T.Type) throws -> JSONSchema {
        let recorder = SchemaRecorder()
        _ = try recorder.value(of: type, codingPath: [])
        return recorder.lastSchema
    }

    /// The schema of a whole message: the CloudEvents envelope with this contract's payload.
    public static func envelope<M: ContractMessage>(of type: M.Type) throws -> JSONSchema {
        let datetime = JSONSchema.string(format: "date-time")
        return .object(
            properties: [
                ("specversion", .constant("1.0")), ("id", .string(format: nil)), ("source", .string(format: nil)),
                ("type", .constant(M.eventType)), ("dataversion", .integerConstant(M.version)), ("time", datetime),
                ("subject", .nullable(.string(format: nil))), ("datacontenttype", .constant("application/json")),
                ("correlationid", .string(format: nil)), ("causationid", .nullable(.string(format: nil))),
                ("data", try describe(type)),
            ],
            required: ["specversion", "id", "source", "type", "dataversion", "time", "datacontenttype", "correlationid", "data"])
    }
}

// MARK: - The recording decoder

/// Runs `init(from:)` with placeholder values and records what each container asked for.
final class SchemaRecorder {
    var lastSchema: JSONSchema = .boolean

    func value<T: Decodable>(of type: T.Type, codingPath: [any CodingKey]) throws -> T {
        if type == String.self {
            lastSchema = .string(format: nil)
            return "" as! T
        }
        if type == Int.self {
            lastSchema = .integer
            return 0 as! T
        }
        if type == Double.self {
            lastSchema = .number
            return 0.0 as! T
        }
        if type == Bool.self {
            lastSchema = .boolean
            return false as! T
        }
        if type == Date.self {
            lastSchema = .string(format: "date-time")
            return Date(timeIntervalSince1970: 0) as! T
        }
        if type == [String: String].self {
            lastSchema = .map(.string(format: nil))
            return [String: String]() as! T
        }
        if let enumeration = type as? any SchemaEnumeration.Type {
            return try enumValue(enumeration) as! T
        }
        let decoder = RecordingDecoder(recorder: self, codingPath: codingPath)
        let value = try T(from: decoder)
        lastSchema = decoder.schema()
        return value
    }

    private func enumValue<E: SchemaEnumeration>(_ type: E.Type) throws -> E {
        let cases = Array(E.allCases)
        guard let first = cases.first else { throw SchemaError("\(E.self) has no cases") }
        if let strings = cases.map({ $0.rawValue }) as? [String] {
            lastSchema = .enumeration(strings)
        } else if let ints = cases.map({ $0.rawValue }) as? [Int] {
            lastSchema = .integerEnumeration(ints)
        } else {
            throw SchemaError("\(E.self) has raw values that are neither strings nor integers")
        }
        return first
    }
}

struct SchemaError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

private final class RecordingDecoder: Decoder {
    let recorder: SchemaRecorder
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var properties: [(String, JSONSchema)] = []
    var required: [String] = []
    var arrayItems: JSONSchema?
    var single: JSONSchema?

    init(recorder: SchemaRecorder, codingPath: [any CodingKey]) {
        self.recorder = recorder
        self.codingPath = codingPath
    }

    func schema() -> JSONSchema {
        if let arrayItems { return .array(arrayItems) }
        if let single { return single }
        return .object(properties: properties, required: required)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(KeyedRecorder<Key>(decoder: self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer { UnkeyedRecorder(decoder: self) }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleRecorder(decoder: self) }
}

private struct KeyedRecorder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: RecordingDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }
    var allKeys: [Key] { [] }

    func contains(_ key: Key) -> Bool { true }

    func decodeNil(forKey key: Key) throws -> Bool { false }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let value = try decoder.recorder.value(of: type, codingPath: codingPath + [key])
        decoder.properties.append((key.stringValue, decoder.recorder.lastSchema))
        decoder.required.append(key.stringValue)
        return value
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? { try optional(type, forKey: key) }

    // The standard library's defaults for these would call `decode` and record the field as
    // required: an optional field must be recorded as optional and nullable.
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try optional(type, forKey: key) }
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try optional(type, forKey: key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try optional(type, forKey: key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try optional(type, forKey: key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try optional(type, forKey: key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try optional(type, forKey: key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try optional(type, forKey: key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try optional(type, forKey: key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try optional(type, forKey: key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try optional(type, forKey: key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try optional(type, forKey: key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try optional(type, forKey: key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try optional(type, forKey: key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try optional(type, forKey: key) }

    private func optional<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        let value = try decoder.recorder.value(of: type, codingPath: codingPath + [key])
        decoder.properties.append((key.stringValue, .nullable(decoder.recorder.lastSchema)))
        return value
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<
        NestedKey
    > {
        throw SchemaError("nested containers are not supported (\(key.stringValue))")
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        throw SchemaError("nested containers are not supported (\(key.stringValue))")
    }

    func superDecoder() throws -> any Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> any Decoder { decoder }
}

private struct UnkeyedRecorder: UnkeyedDecodingContainer {
    let decoder: RecordingDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { 1 }
    var currentIndex = 0
    var isAtEnd: Bool { currentIndex >= 1 }

    mutating func decodeNil() throws -> Bool { false }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let value = try decoder.recorder.value(of: type, codingPath: codingPath)
        decoder.arrayItems = decoder.recorder.lastSchema
        currentIndex += 1
        return value
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey>
    {
        throw SchemaError("nested containers are not supported")
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw SchemaError("nested containers are not supported")
    }

    mutating func superDecoder() throws -> any Decoder { decoder }
}

private struct SingleRecorder: SingleValueDecodingContainer {
    let decoder: RecordingDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { false }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let value = try decoder.recorder.value(of: type, codingPath: codingPath)
        decoder.single = decoder.recorder.lastSchema
        return value
    }
}
