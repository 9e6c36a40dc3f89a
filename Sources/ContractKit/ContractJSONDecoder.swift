import Foundation

/// A `Decoder` over a ``JSONDocument``: what `JSONDecoder` with `.iso8601` dates gives for the
/// contracts, several times faster (no second parse, no dictionary per object, coding paths
/// built only for an error).
///
/// Errors are `DecodingError`s with the same cases and coding paths as `JSONDecoder`'s, so that
/// ``ContractRegistry`` names fields the same way; a number that does not fit its field is a
/// ``ContractError`` (`malformed-json`), as `JSONDecoder` reports it. A type it does not handle
/// (`Data`, `URL`, `Decimal`, `Float`, a `superDecoder`) throws ``Unsupported``, and the caller
/// decodes with `JSONDecoder` instead.
struct ContractJSONDecoder: Decoder {
    /// Thrown for a type or a request this decoder leaves to `JSONDecoder`.
    struct Unsupported: Error {}

    let document: JSONDocument
    let node: Int

    init(document: JSONDocument, node: Int = 0) {
        self.document = document
        self.node = node
    }

    var codingPath: [any CodingKey] { document.codingPath(to: node) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard document.nodes[node].kind == .object else {
            throw mismatch([String: Any].self, at: node)
        }
        return KeyedDecodingContainer(KeyedContainer<Key>(document: document, object: node))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard document.nodes[node].kind == .array else { throw mismatch([Any].self, at: node) }
        return UnkeyedContainer(document: document, array: node)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleValue(document: document, node: node) }

    // MARK: Values

    func mismatch(_ type: Any.Type, at index: Int) -> DecodingError {
        let found: String
        switch document.nodes[index].kind {
        case .object: found = "a dictionary"
        case .array: found = "an array"
        case .string: found = "a string"
        case .number: found = "a number"
        case .true, .false: found = "bool"
        case .null: found = "null"
        }
        let context = DecodingError.Context(
            codingPath: document.codingPath(to: index), debugDescription: "Expected to decode \(type) but found \(found) instead."
        )
        return document.nodes[index].kind == .null ? .valueNotFound(type, context) : .typeMismatch(type, context)
    }

    func decodeString(at index: Int) throws -> String {
        guard document.nodes[index].kind == .string else { throw mismatch(String.self, at: index) }
        return document.string(at: index)
    }

    func decodeBool(at index: Int) throws -> Bool {
        switch document.nodes[index].kind {
        case .true: return true
        case .false: return false
        default: throw mismatch(Bool.self, at: index)
        }
    }

    /// Digits only: read exactly. A fraction or an exponent (`2.0`, `1e2`): accepted when the
    /// value is a whole number below 2^53, as `JSONDecoder` accepts it.
    func decodeInteger<T: FixedWidthInteger>(_ type: T.Type, at index: Int) throws -> T {
        let node = document.nodes[index]
        guard node.kind == .number else { throw mismatch(T.self, at: index) }
        let fits: T? = {
            let digits = document.raw(node)
            let negative = digits[0] == UInt8(ascii: "-")
            var value: T = 0
            for byte in digits.dropFirst(negative ? 1 : 0) {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                let digit = T(truncatingIfNeeded: byte - UInt8(ascii: "0"))
                let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (next, overflow2) =
                    negative ? times10.subtractingReportingOverflow(digit) : times10.addingReportingOverflow(digit)
                guard !overflow1, !overflow2 else { return nil }
                value = next
            }
            return value
        }()
        if let fits { return fits }
        let text = document.numberText(at: index)
        if text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let double = Double(text), double.isFinite,
            double == double.rounded(.towardZero), abs(double) < 9_007_199_254_740_992,
            double != 0 || !text.contains(where: { $0 == "e" || $0 == "E" }),
            let value = T(exactly: double)
        {
            return value
        }
        throw ContractError.malformed("the number at \(Self.pathText(document.codingPath(to: index))) does not fit its field")
    }

    func decodeDouble(at index: Int) throws -> Double {
        guard document.nodes[index].kind == .number else { throw mismatch(Double.self, at: index) }
        let text = document.numberText(at: index)
        // Out of range (1e400), or rounded to zero (1e-400, and 0e5, which JSONDecoder refuses).
        guard let value = Double(text), value.isFinite, value != 0 || !text.contains(where: { $0 == "e" || $0 == "E" })
        else {
            throw ContractError.malformed("the number at \(Self.pathText(document.codingPath(to: index))) does not fit its field")
        }
        return value
    }

    /// `JSONDecoder`'s `.iso8601`: the common `2025-03-01T08:00:00Z` is read here; any other
    /// form goes to the same `Date.ISO8601FormatStyle` that `JSONDecoder` uses.
    func decodeDate(at index: Int) throws -> Date {
        let text = try decodeString(at: index)
        if let date = Self.canonicalTimestamp(text) ?? (try? Date.ISO8601FormatStyle().parse(text)) { return date }
        throw DecodingError.dataCorrupted(
            DecodingError.Context(
                codingPath: document.codingPath(to: index), debugDescription: "Expected date string to be ISO8601-formatted."))
    }

    func decodeValue<T: Decodable>(_ type: T.Type, at index: Int) throws -> T {
        if T.self == Date.self { return try decodeDate(at: index) as! T }
        if T.self == String.self { return try decodeString(at: index) as! T }
        if T.self == Data.self || T.self == URL.self || T.self == Decimal.self || T.self == Float.self {
            throw Unsupported()
        }
        return try T(from: ContractJSONDecoder(document: document, node: index))
    }

    /// `yyyy-MM-ddTHH:mm:ssZ` with every field in range, years 1970–9999; nil otherwise.
    static func canonicalTimestamp(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { bytes -> Date? in
            guard bytes.count == 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
                bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
                bytes[19] == UInt8(ascii: "Z")
            else { return nil }
            func number(_ range: Range<Int>) -> Int? {
                var value = 0
                for byte in bytes[range] {
                    guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                    value = value * 10 + Int(byte - UInt8(ascii: "0"))
                }
                return value
            }
            guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
                let minute = number(14..<16), let second = number(17..<19), (1970...9999).contains(year),
                (1...12).contains(month), hour < 24, minute < 60, second < 60
            else { return nil }
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
            let monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
            guard day >= 1, day <= monthDays[month - 1] else { return nil }
            // Days since 1970-01-01 (H. Hinnant's days_from_civil).
            let y = month <= 2 ? year - 1 : year
            let era = y / 400
            let yearOfEra = y - era * 400
            let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
            let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
            let days = era * 146_097 + dayOfEra - 719_468
            return Date(timeIntervalSince1970: Double(days * 86_400 + hour * 3_600 + minute * 60 + second))
        }
    }

    static func pathText(_ path: [any CodingKey]) -> String {
        var text = ""
        for key in path {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return text.isEmpty ? "(root)" : text
    }
}

extension ContractJSONDecoder {
    struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let document: JSONDocument
        let object: Int

        var decoder: ContractJSONDecoder { ContractJSONDecoder(document: document, node: object) }
        var codingPath: [any CodingKey] { document.codingPath(to: object) }

        var allKeys: [Key] {
            var keys: [Key] = []
            var index = object + 1
            for _ in 0..<document.nodes[object].count {
                if let key = Key(stringValue: document.string(at: index)) { keys.append(key) }
                index = Int(document.nodes[index + 1].next)
            }
            return keys
        }

        func contains(_ key: Key) -> Bool { document.member(key.stringValue, of: object) != nil }

        private func value(_ key: Key) throws -> Int {
            guard let index = document.member(key.stringValue, of: object) else {
                throw DecodingError.keyNotFound(
                    key,
                    DecodingError.Context(
                        codingPath: codingPath, debugDescription: "No value associated with key \(key.stringValue)."))
            }
            return index
        }

        func decodeNil(forKey key: Key) throws -> Bool { document.nodes[try value(key)].kind == .null }
        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decoder.decodeBool(at: value(key)) }
        func decode(_ type: String.Type, forKey key: Key) throws -> String { try decoder.decodeString(at: value(key)) }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decoder.decodeDouble(at: value(key)) }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float { throw Unsupported() }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decoder.decodeInteger(type, at: value(key)) }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decoder.decodeInteger(type, at: value(key)) }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decoder.decodeInteger(type, at: value(key)) }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decoder.decodeInteger(type, at: value(key)) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decoder.decodeInteger(type, at: value(key)) }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decoder.decodeInteger(type, at: value(key)) }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decoder.decodeInteger(type, at: value(key)) }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decoder.decodeInteger(type, at: value(key)) }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decoder.decodeInteger(type, at: value(key)) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decoder.decodeInteger(type, at: value(key)) }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decoder.decodeValue(type, at: value(key)) }

        // Optional fields: one lookup instead of the default's three.
        private func present(_ key: Key) -> Int? {
            guard let index = document.member(key.stringValue, of: object), document.nodes[index].kind != .null else {
                return nil
            }
            return index
        }
        func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? {
            try present(key).map { try decoder.decodeString(at: $0) }
        }
        func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? {
            try present(key).map { try decoder.decodeBool(at: $0) }
        }
        func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? {
            try present(key).map { try decoder.decodeInteger(type, at: $0) }
        }
        func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? {
            try present(key).map { try decoder.decodeDouble(at: $0) }
        }
        func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
            try present(key).map { try decoder.decodeValue(type, at: $0) }
        }

        func nestedContainer<NestedKey: CodingKey>(
            keyedBy type: NestedKey.Type, forKey key: Key
        ) throws -> KeyedDecodingContainer<NestedKey> {
            try ContractJSONDecoder(document: document, node: value(key)).container(keyedBy: type)
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try ContractJSONDecoder(document: document, node: value(key)).unkeyedContainer()
        }

        func superDecoder() throws -> any Decoder { throw Unsupported() }
        func superDecoder(forKey key: Key) throws -> any Decoder { throw Unsupported() }
    }

    struct UnkeyedContainer: UnkeyedDecodingContainer {
        let document: JSONDocument
        let array: Int
        private(set) var currentIndex = 0
        /// The node of the element at ``currentIndex``.
        private var position: Int

        init(document: JSONDocument, array: Int) {
            self.document = document
            self.array = array
            self.position = array + 1
        }

        var codingPath: [any CodingKey] { document.codingPath(to: array) }
        var count: Int? { Int(document.nodes[array].count) }
        var isAtEnd: Bool { currentIndex >= count! }

        private mutating func next(_ type: Any.Type) throws -> Int {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(
                    type,
                    DecodingError.Context(
                        codingPath: codingPath + [DocumentKey(intValue: currentIndex)],
                        debugDescription: "Unkeyed container is at end."))
            }
            let index = position
            position = Int(document.nodes[index].next)
            currentIndex += 1
            return index
        }

        private var decoder: ContractJSONDecoder { ContractJSONDecoder(document: document, node: array) }

        mutating func decodeNil() throws -> Bool {
            if !isAtEnd, document.nodes[position].kind != .null { return false }
            _ = try next(Never.self)  // at the end: valueNotFound, as JSONDecoder
            return true
        }
        mutating func decode(_ type: Bool.Type) throws -> Bool { try decoder.decodeBool(at: next(type)) }
        mutating func decode(_ type: String.Type) throws -> String { try decoder.decodeString(at: next(type)) }
        mutating func decode(_ type: Double.Type) throws -> Double { try decoder.decodeDouble(at: next(type)) }
        mutating func decode(_ type: Float.Type) throws -> Float { throw Unsupported() }
        mutating func decode(_ type: Int.Type) throws -> Int { try decoder.decodeInteger(type, at: next(type)) }
        mutating func decode(_ type: Int8.Type) throws -> Int8 { try decoder.decodeInteger(type, at: next(type)) }
        mutating func decode(_ type: Int16.Type) throws -> Int16 { try decoder.decodeInteger(type, at: next(type)) }
        mutating func decode(_ type: Int32.Type) throws -> Int32 { try decoder.decodeInteger(type, at: next(type)) }
        mutating func decode(_ type: Int64.Type) throws -> Int64 { try decoder.decodeInteger(type, at: next(type)) }
        mutating func decode(_ type: UInt.Type) throws -> UInt { try decoder.decodeInteger(type, at: next(type)) }
        mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.decodeInteger(type, at: next(type)) }
        mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.decodeInteger(type, at: next(type)) }
        mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.decodeInteger(type, at: next(type)) }
        mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.decodeInteger(type, at: next(type)) }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decodeValue(type, at: next(type)) }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<
            NestedKey
        > {
            try ContractJSONDecoder(document: document, node: next(type)).container(keyedBy: type)
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            try ContractJSONDecoder(document: document, node: next([Any].self)).unkeyedContainer()
        }

        mutating func superDecoder() throws -> any Decoder { throw Unsupported() }
    }

    struct SingleValue: SingleValueDecodingContainer {
        let document: JSONDocument
        let node: Int

        var codingPath: [any CodingKey] { document.codingPath(to: node) }
        private var decoder: ContractJSONDecoder { ContractJSONDecoder(document: document, node: node) }

        func decodeNil() -> Bool { document.nodes[node].kind == .null }
        func decode(_ type: Bool.Type) throws -> Bool { try decoder.decodeBool(at: node) }
        func decode(_ type: String.Type) throws -> String { try decoder.decodeString(at: node) }
        func decode(_ type: Double.Type) throws -> Double { try decoder.decodeDouble(at: node) }
        func decode(_ type: Float.Type) throws -> Float { throw Unsupported() }
        func decode(_ type: Int.Type) throws -> Int { try decoder.decodeInteger(type, at: node) }
        func decode(_ type: Int8.Type) throws -> Int8 { try decoder.decodeInteger(type, at: node) }
        func decode(_ type: Int16.Type) throws -> Int16 { try decoder.decodeInteger(type, at: node) }
        func decode(_ type: Int32.Type) throws -> Int32 { try decoder.decodeInteger(type, at: node) }
        func decode(_ type: Int64.Type) throws -> Int64 { try decoder.decodeInteger(type, at: node) }
        func decode(_ type: UInt.Type) throws -> UInt { try decoder.decodeInteger(type, at: node) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.decodeInteger(type, at: node) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.decodeInteger(type, at: node) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.decodeInteger(type, at: node) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.decodeInteger(type, at: node) }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decodeValue(type, at: node) }
    }
}
