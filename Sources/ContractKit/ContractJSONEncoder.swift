import Foundation

/// An `Encoder` that writes what `ContractJSON.encoder()` (`JSONEncoder` with `.sortedKeys`,
/// `.withoutEscapingSlashes` and `.iso8601` dates) writes, byte for byte, straight into one
/// buffer: each object's members are written as they come and put in key order when the object
/// is complete, with no tree of values in between.
///
/// What it does not handle (`Data`, `URL`, `Decimal`, `Float`, a non-finite number, a date
/// outside the years 1970–9999, a value that encodes nothing, containers used out of order,
/// `superEncoder`) makes ``encode(_:)`` throw ``Unsupported``; the caller then uses
/// `JSONEncoder`.
struct ContractJSONEncoder {
    struct Unsupported: Error {}

    /// The JSON text of `value`.
    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let state = State()
        try state.encodeValue(value)
        guard !state.unsupported, state.frames.isEmpty else { throw Unsupported() }
        return state.out
    }

    fileprivate final class State {
        var out: [UInt8] = []
        /// Open containers, innermost last.
        var frames: [Frame] = []
        /// Members of the open objects (each object's from its `firstMember` on).
        var members: [Member] = []
        /// Set by a request that cannot throw (a container asked for twice, or out of order).
        var unsupported = false

        enum Frame {
            case object(start: Int, firstMember: Int)
            case array(count: Int)
            case single(written: Bool)
        }

        struct Member {
            let key: String
            let start: Int
            let end: Int
        }

        init() { out.reserveCapacity(1_024) }

        /// Writes any value: a primitive directly, anything else through its `encode(to:)`.
        func encodeValue<T: Encodable>(_ value: T) throws {
            // Metatype comparisons, not casts: cheaper, and an Optional goes through its own
            // `encode(to:)` (a single value) to the same bytes.
            if T.self == String.self {
                EnvelopeWriter.appendString(value as! String, to: &out)
            } else if T.self == Date.self {
                guard let text = EnvelopeWriter.timestamp(value as! Date) else { throw Unsupported() }
                EnvelopeWriter.appendString(text, to: &out)
            } else if T.self == Data.self || T.self == URL.self || T.self == Decimal.self || T.self == Float.self {
                throw Unsupported()
            } else {
                let level = frames.count
                try value.encode(to: ValueEncoder(state: self, level: level))
                guard !unsupported, frames.count == level + 1 else { throw Unsupported() }  // encoded nothing
                try close()
            }
        }

        /// Ends the innermost container.
        func close() throws {
            switch frames.removeLast() {
            case .object(let start, let firstMember):
                var object: [UInt8] = [UInt8(ascii: "{")]
                object.reserveCapacity(out.count - start + (members.count - firstMember) * 24 + 2)
                var own = Array(members[firstMember...])
                if !zip(own, own.dropFirst()).allSatisfy({ Self.keyOrder($0, $1) }) {
                    own.sort(by: Self.keyOrder)
                    // A key written twice (JSONEncoder keeps the last value).
                    guard zip(own, own.dropFirst()).allSatisfy({ $0.key != $1.key }) else { throw Unsupported() }
                }
                for member in own {
                    if object.count > 1 { object.append(UInt8(ascii: ",")) }
                    EnvelopeWriter.appendString(member.key, to: &object)
                    object.append(UInt8(ascii: ":"))
                    object.append(contentsOf: out[member.start..<member.end])
                }
                object.append(UInt8(ascii: "}"))
                out.replaceSubrange(start..<out.count, with: object)
                members.removeSubrange(firstMember...)
            case .array:
                out.append(UInt8(ascii: "]"))
            case .single(let written):
                guard written else { throw Unsupported() }
            }
        }

        /// `JSONEncoder`'s `.sortedKeys`: by UTF-8 bytes.
        static func keyOrder(_ a: Member, _ b: Member) -> Bool { a.key.utf8.lexicographicallyPrecedes(b.key.utf8) }

        func writeInteger<T: FixedWidthInteger>(_ value: T) { out.append(contentsOf: String(value).utf8) }

        /// `JSONEncoder`'s form: the number's `description`, without a trailing `.0`.
        func writeDouble(_ value: Double) throws {
            guard value.isFinite else { throw Unsupported() }
            var text = value.description
            if text.hasSuffix(".0") { text.removeLast(2) }
            out.append(contentsOf: text.utf8)
        }

        func writeBool(_ value: Bool) { out.append(contentsOf: value ? "true".utf8 : "false".utf8) }
        func writeNull() { out.append(contentsOf: "null".utf8) }
    }

    /// The encoder one value sees; `level` is the number of containers open around it.
    private struct ValueEncoder: Encoder {
        let state: State
        let level: Int

        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        /// Opens `frame` for this value, or reuses the one it opened already (a second request
        /// for the same kind, as `JSONEncoder` allows); anything else is unsupported.
        private func open(_ frame: State.Frame) -> Bool {
            if state.frames.count == level {
                switch frame {
                case .object: state.frames.append(.object(start: state.out.count, firstMember: state.members.count))
                case .array:
                    state.frames.append(.array(count: 0))
                    state.out.append(UInt8(ascii: "["))
                case .single: state.frames.append(.single(written: false))
                }
                return true
            }
            guard state.frames.count == level + 1 else { return false }
            switch (state.frames[level], frame) {
            case (.object, .object), (.array, .array): return true
            default: return false
            }
        }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            if !open(.object(start: 0, firstMember: 0)) { state.unsupported = true }
            return KeyedEncodingContainer(KeyedContainer<Key>(state: state, frame: level))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            if !open(.array(count: 0)) { state.unsupported = true }
            return UnkeyedContainer(state: state, frame: level)
        }

        func singleValueContainer() -> any SingleValueEncodingContainer {
            if !open(.single(written: false)) { state.unsupported = true }
            return SingleValue(state: state, frame: level)
        }
    }

    private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let state: State
        let frame: Int
        var codingPath: [any CodingKey] { [] }

        /// Writes one member's value (only while this object is the innermost open container).
        private func member(_ key: Key, _ write: () throws -> Void) throws {
            guard !state.unsupported, state.frames.count == frame + 1, case .object = state.frames[frame] else {
                throw Unsupported()
            }
            let start = state.out.count
            try write()
            state.members.append(State.Member(key: key.stringValue, start: start, end: state.out.count))
        }

        mutating func encodeNil(forKey key: Key) throws { try member(key) { state.writeNull() } }
        mutating func encode(_ value: Bool, forKey key: Key) throws { try member(key) { state.writeBool(value) } }
        mutating func encode(_ value: String, forKey key: Key) throws {
            try member(key) { EnvelopeWriter.appendString(value, to: &state.out) }
        }
        mutating func encode(_ value: Double, forKey key: Key) throws { try member(key) { try state.writeDouble(value) } }
        mutating func encode(_ value: Float, forKey key: Key) throws { throw Unsupported() }
        mutating func encode(_ value: Int, forKey key: Key) throws { try member(key) { state.writeInteger(value) } }
        mutating func encode(_ value: Int8, forKey key: Key) throws { try member(key) { state.writeInteger(value) } }
        mutating func encode(_ value: Int16, forKey key: Key) throws { try member(key) { state.writeInteger(value) } }
        mutating func encode(_ value: Int32, forKey key: Key) throws { try member(key) { state.writeInteger(value) } }
        mutating func encode(_ value: Int64, forKey key: Key) throws { try member(key) { state.writeInteger(value) } }
        mutating func encode(_ value: UInt, forKey key: Key) throws { try member(key) { state.writeInteger(value) } }
        mutating func encode(_ value: UInt8, forKey key: Key) throws { try member(key) { state.writeInteger(value) } }
        mutating func encode(_ value: UInt16, forKey key: Key) throws { try member(key) { state.writeInteger(value) } }
        mutating func encode(_ value: UInt32, forKey key: Key) throws { try member(key) { state.writeInteger(value) } }
        mutating func encode(_ value: UInt64, forKey key: Key) throws { try member(key) { state.writeInteger(value) } }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            try member(key) { try state.encodeValue(value) }
        }

        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy keyType: NestedKey.Type, forKey key: Key
        ) -> KeyedEncodingContainer<NestedKey> {
            state.unsupported = true
            return KeyedEncodingContainer(KeyedContainer<NestedKey>(state: state, frame: frame))
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            state.unsupported = true
            return UnkeyedContainer(state: state, frame: frame)
        }

        mutating func superEncoder() -> any Encoder {
            state.unsupported = true
            return ValueEncoder(state: state, level: frame)
        }

        mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder() }
    }

    private struct UnkeyedContainer: UnkeyedEncodingContainer {
        let state: State
        let frame: Int
        var codingPath: [any CodingKey] { [] }
        var count: Int {
            if state.frames.count > frame, case .array(let count) = state.frames[frame] { return count }
            return 0
        }

        /// Writes one element (only while this array is the innermost open container).
        private func element(_ write: () throws -> Void) throws {
            guard !state.unsupported, state.frames.count == frame + 1, case .array(let count) = state.frames[frame] else {
                throw Unsupported()
            }
            if count > 0 { state.out.append(UInt8(ascii: ",")) }
            try write()
            // The frame is this array's again: anything the element opened has been closed.
            state.frames[frame] = .array(count: count + 1)
        }

        mutating func encodeNil() throws { try element { state.writeNull() } }
        mutating func encode(_ value: Bool) throws { try element { state.writeBool(value) } }
        mutating func encode(_ value: String) throws { try element { EnvelopeWriter.appendString(value, to: &state.out) } }
        mutating func encode(_ value: Double) throws { try element { try state.writeDouble(value) } }
        mutating func encode(_ value: Float) throws { throw Unsupported() }
        mutating func encode(_ value: Int) throws { try element { state.writeInteger(value) } }
        mutating func encode(_ value: Int8) throws { try element { state.writeInteger(value) } }
        mutating func encode(_ value: Int16) throws { try element { state.writeInteger(value) } }
        mutating func encode(_ value: Int32) throws { try element { state.writeInteger(value) } }
        mutating func encode(_ value: Int64) throws { try element { state.writeInteger(value) } }
        mutating func encode(_ value: UInt) throws { try element { state.writeInteger(value) } }
        mutating func encode(_ value: UInt8) throws { try element { state.writeInteger(value) } }
        mutating func encode(_ value: UInt16) throws { try element { state.writeInteger(value) } }
        mutating func encode(_ value: UInt32) throws { try element { state.writeInteger(value) } }
        mutating func encode(_ value: UInt64) throws { try element { state.writeInteger(value) } }
        mutating func encode<T: Encodable>(_ value: T) throws { try element { try state.encodeValue(value) } }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey>
        {
            state.unsupported = true
            return KeyedEncodingContainer(KeyedContainer<NestedKey>(state: state, frame: frame))
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            state.unsupported = true
            return self
        }

        mutating func superEncoder() -> any Encoder {
            state.unsupported = true
            return ValueEncoder(state: state, level: frame)
        }
    }

    private struct SingleValue: SingleValueEncodingContainer {
        let state: State
        let frame: Int
        var codingPath: [any CodingKey] { [] }

        /// Writes the value (once).
        private func value(_ write: () throws -> Void) throws {
            guard !state.unsupported, state.frames.count == frame + 1, case .single(false) = state.frames[frame] else {
                throw Unsupported()
            }
            try write()
            state.frames[frame] = .single(written: true)
        }

        mutating func encodeNil() throws { try value { state.writeNull() } }
        mutating func encode(_ value: Bool) throws { try self.value { state.writeBool(value) } }
        mutating func encode(_ value: String) throws { try self.value { EnvelopeWriter.appendString(value, to: &state.out) } }
        mutating func encode(_ value: Double) throws { try self.value { try state.writeDouble(value) } }
        mutating func encode(_ value: Float) throws { throw Unsupported() }
        mutating func encode(_ value: Int) throws { try self.value { state.writeInteger(value) } }
        mutating func encode(_ value: Int8) throws { try self.value { state.writeInteger(value) } }
        mutating func encode(_ value: Int16) throws { try self.value { state.writeInteger(value) } }
        mutating func encode(_ value: Int32) throws { try self.value { state.writeInteger(value) } }
        mutating func encode(_ value: Int64) throws { try self.value { state.writeInteger(value) } }
        mutating func encode(_ value: UInt) throws { try self.value { state.writeInteger(value) } }
        mutating func encode(_ value: UInt8) throws { try self.value { state.writeInteger(value) } }
        mutating func encode(_ value: UInt16) throws { try self.value { state.writeInteger(value) } }
        mutating func encode(_ value: UInt32) throws { try self.value { state.writeInteger(value) } }
        mutating func encode(_ value: UInt64) throws { try self.value { state.writeInteger(value) } }
        mutating func encode<T: Encodable>(_ value: T) throws { try self.value { try state.encodeValue(value) } }
    }
}
