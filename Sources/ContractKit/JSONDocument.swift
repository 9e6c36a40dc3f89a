// The strict JSON parser behind ContractJSONDecoder. One pass over the bytes checks what the
// registry requires (RFC 8259 syntax everywhere, UTF-8, no duplicate keys, a nesting limit) and
// records every value in a flat table, which the decoder then reads without parsing again.
import Foundation

/// A JSON text parsed strictly (RFC 8259) into a flat, pre-order table of values.
///
/// Stricter than Foundation's `JSONDecoder`, which checks only the values a type reads: here a
/// malformed value anywhere (a number like `01`, a control character or an unknown escape in a
/// string, a lone surrogate, invalid UTF-8, a trailing comma) makes the whole body malformed.
///
/// The bytes and the table live in memory the document owns and frees; it never changes after
/// parsing, so it is safe to share.
final class JSONDocument: @unchecked Sendable {
    enum Kind: UInt8, Sendable {
        case object, array, string, number, `true`, `false`, null
    }

    /// One value. Strings and numbers point into ``bytes`` (strings without their quotes);
    /// an object's members follow it in the table as key, value, key, value…
    struct Node: Sendable {
        var kind: Kind
        /// A string with at least one escape (read through ``string(at:)``).
        var escaped: Bool
        var start: Int32
        var end: Int32
        /// Members of an object or elements of an array.
        var count: Int32
        /// The index after this value and everything inside it.
        var next: Int32
    }

    /// The text (raw pointers, not arrays: the decoder reads them for every key and value, and
    /// an array's retain and bounds check showed in a worker's profile).
    let bytes: UnsafeBufferPointer<UInt8>
    let nodes: UnsafeBufferPointer<Node>

    private init(bytes: UnsafeBufferPointer<UInt8>, nodes: UnsafeBufferPointer<Node>) {
        self.bytes = bytes
        self.nodes = nodes
    }

    deinit {
        bytes.deallocate()
        nodes.deallocate()
    }

    /// Parses `data`; the root value is node 0.
    /// - Throws: ``ContractError`` (`malformed-json`, `duplicate-json-key`).
    static func parse(_ data: some Collection<UInt8>) throws(ContractError) -> JSONDocument {
        guard data.count < Int(Int32.max) else { throw .tooLarge(data.count, limit: Int(Int32.max) - 1) }
        guard !data.starts(with: [0xEF, 0xBB, 0xBF]) else { throw .malformed("a byte order mark precedes the JSON text") }
        let bytes = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: data.count)
        _ = bytes.initialize(from: data)
        var parser = Parser(bytes: UnsafeBufferPointer(bytes))
        do throws(ContractError) {
            parser.nodes.reserveCapacity(data.count / 8)
            parser.skipWhitespace()
            try parser.value(depth: 0)
            parser.skipWhitespace()
            guard parser.index == data.count else { throw .malformed("text follows the JSON value") }
        } catch {
            bytes.deallocate()
            throw error
        }
        let nodes = UnsafeMutableBufferPointer<Node>.allocate(capacity: parser.nodes.count)
        _ = nodes.initialize(from: parser.nodes)
        return JSONDocument(bytes: UnsafeBufferPointer(bytes), nodes: UnsafeBufferPointer(nodes))
    }

    // MARK: Reading

    /// The value of a string node, unescaped.
    func string(at index: Int) -> String {
        let node = nodes[index]
        if !node.escaped { return String(decoding: raw(node), as: UTF8.self) }
        return String(decoding: unescapedBytes(node), as: UTF8.self)
    }

    /// The bytes of a string (without quotes, as written) or a number.
    func raw(_ node: Node) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: bytes[Int(node.start)..<Int(node.end)])
    }

    /// The value node of the member named `key` in the object at `object`, if there is one.
    func member(_ key: String, of object: Int) -> Int? {
        var key = key
        return key.withUTF8 { wanted in
            var index = object + 1
            for _ in 0..<nodes[object].count {
                let node = nodes[index]
                if node.escaped {
                    if unescapedBytes(node).elementsEqual(wanted) { return index + 1 }
                } else if Int(node.end - node.start) == wanted.count,
                    wanted.isEmpty || memcmp(bytes.baseAddress! + Int(node.start), wanted.baseAddress!, wanted.count) == 0
                {
                    return index + 1
                }
                index = Int(nodes[index + 1].next)
            }
            return nil
        }
    }

    /// The text of a number node.
    func numberText(at index: Int) -> Substring {
        Substring(String(decoding: raw(nodes[index]), as: UTF8.self))
    }

    /// The path of the value at `target` from the root (`data.declaredTrainings[1].year`), as
    /// coding keys: found by walking down from the root, so that nodes need not store it.
    func codingPath(to target: Int) -> [any CodingKey] {
        var path: [any CodingKey] = []
        var current = 0
        while current != target {
            let node = nodes[current]
            var child = current + 1
            var found = false
            for position in 0..<Int(node.count) {
                let valueIndex = node.kind == .object ? child + 1 : child
                if target >= valueIndex && target < Int(nodes[valueIndex].next) {
                    path.append(
                        node.kind == .object ? DocumentKey(stringValue: string(at: child)) : DocumentKey(intValue: position))
                    current = valueIndex
                    found = true
                    break
                }
                child = Int(nodes[valueIndex].next)
            }
            if !found { break }
        }
        return path
    }

    private func unescapedBytes(_ node: Node) -> [UInt8] { Self.unescape(raw(node)) }

    /// Unescapes the inside of a string the parser has already checked.
    static func unescape(_ raw: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var index = 0
        func hex(_ at: Int) -> UInt32 {
            var value: UInt32 = 0
            for byte in raw[at..<at + 4] { value = value << 4 | UInt32(hexValue(byte)) }
            return value
        }
        while index < raw.count {
            let byte = raw[index]
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                index += 1
                continue
            }
            let escaped = raw[index + 1]
            index += 2
            switch escaped {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex(index)
                index += 4
                if (0xD800...0xDBFF).contains(scalar) {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (hex(index + 2) - 0xDC00)
                    index += 6
                }
                out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
            default: out.append(escaped)  // " \ /
            }
        }
        return out
    }

    static func hexValue(_ byte: UInt8) -> UInt8 {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: 0xFF
        }
    }

    // MARK: Parsing

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0
        var nodes: [Node] = []
        /// Where the parser is, for a duplicate key's path: the key node of each open object
        /// member (or -1) and the element number of each open array.
        var path: [(key: Int, element: Int)] = []
        /// The `key` of an array's frame in ``path``.
        static let arrayFrame = -2

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x0A, 0x0D, 0x09: index += 1
                default: return
                }
            }
        }

        mutating func value(depth: Int) throws(ContractError) {
            guard index < bytes.count else { throw .malformed("the text ends where a value belongs") }
            switch bytes[index] {
            case UInt8(ascii: "{"): try object(depth: depth + 1)
            case UInt8(ascii: "["): try array(depth: depth + 1)
            case UInt8(ascii: "\""): try string()
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            case UInt8(ascii: "t"): try literal("true", .true)
            case UInt8(ascii: "f"): try literal("false", .false)
            case UInt8(ascii: "n"): try literal("null", .null)
            default: throw .malformed("an unexpected character where a value belongs")
            }
        }

        private mutating func literal(_ word: StaticString, _ kind: Kind) throws(ContractError) {
            let length = word.utf8CodeUnitCount
            guard index + length <= bytes.count,
                word.withUTF8Buffer({ $0.elementsEqual(UnsafeBufferPointer(rebasing: bytes[index..<index + length])) })
            else { throw .malformed("an unknown literal") }
            append(kind, start: index, end: index + length)
            index += length
        }

        private mutating func append(_ kind: Kind, start: Int, end: Int, escaped: Bool = false) {
            nodes.append(
                Node(
                    kind: kind, escaped: escaped, start: Int32(start), end: Int32(end), count: 0,
                    next: Int32(nodes.count + 1)))
        }

        private mutating func object(depth: Int) throws(ContractError) {
            guard depth <= StrictJSON.maximumDepth else { throw .tooDeep(StrictJSON.maximumDepth) }
            let me = nodes.count
            append(.object, start: index, end: index)
            index += 1
            var keys: [Int] = []
            var keySet: Set<[UInt8]>?
            path.append((key: -1, element: 0))
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
            } else {
                while true {
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                        throw .malformed("an object member does not start with a key")
                    }
                    let key = nodes.count
                    try string()
                    try checkUnique(key, among: &keys, set: &keySet)
                    path[path.count - 1].key = key
                    skipWhitespace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                        throw .malformed("a key is not followed by ':'")
                    }
                    index += 1
                    skipWhitespace()
                    try value(depth: depth)
                    skipWhitespace()
                    guard index < bytes.count else { throw .malformed("unterminated object") }
                    if bytes[index] == UInt8(ascii: ",") {
                        index += 1
                        skipWhitespace()
                        continue
                    }
                    guard bytes[index] == UInt8(ascii: "}") else { throw .malformed("object members are not separated by ','") }
                    index += 1
                    break
                }
            }
            path.removeLast()
            nodes[me].count = Int32(keys.count)
            nodes[me].end = Int32(index)
            nodes[me].next = Int32(nodes.count)
        }

        private mutating func array(depth: Int) throws(ContractError) {
            guard depth <= StrictJSON.maximumDepth else { throw .tooDeep(StrictJSON.maximumDepth) }
            let me = nodes.count
            append(.array, start: index, end: index)
            index += 1
            var count = 0
            path.append((key: Parser.arrayFrame, element: 0))
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
            } else {
                while true {
                    path[path.count - 1].element = count
                    try value(depth: depth)
                    count += 1
                    skipWhitespace()
                    guard index < bytes.count else { throw .malformed("unterminated array") }
                    if bytes[index] == UInt8(ascii: ",") {
                        index += 1
                        skipWhitespace()
                        continue
                    }
                    guard bytes[index] == UInt8(ascii: "]") else { throw .malformed("array elements are not separated by ','") }
                    index += 1
                    break
                }
            }
            path.removeLast()
            nodes[me].count = Int32(count)
            nodes[me].end = Int32(index)
            nodes[me].next = Int32(nodes.count)
        }

        /// Refuses a key already used in the same object (compared after unescaping).
        private func checkUnique(_ key: Int, among keys: inout [Int], set: inout Set<[UInt8]>?) throws(ContractError) {
            if set == nil, keys.count < 32 {
                for other in keys where keysEqual(other, key) {
                    throw .duplicateKey(duplicatePath(keyBytes(key)))
                }
            } else {
                if set == nil { set = Set(keys.map(keyBytes)) }
                let bytesOfKey = keyBytes(key)
                guard set!.insert(bytesOfKey).inserted else { throw .duplicateKey(duplicatePath(bytesOfKey)) }
            }
            keys.append(key)
        }

        private func raw(_ node: Node) -> UnsafeBufferPointer<UInt8> {
            UnsafeBufferPointer(rebasing: bytes[Int(node.start)..<Int(node.end)])
        }

        private func keysEqual(_ a: Int, _ b: Int) -> Bool {
            let (first, second) = (nodes[a], nodes[b])
            if !first.escaped && !second.escaped {
                return first.end - first.start == second.end - second.start && raw(first).elementsEqual(raw(second))
            }
            return keyBytes(a) == keyBytes(b)
        }

        private func keyBytes(_ key: Int) -> [UInt8] {
            let node = nodes[key]
            return node.escaped ? JSONDocument.unescape(raw(node)) : Array(raw(node))
        }

        /// `data.declaredTrainings[1].year`: the open containers' keys and element numbers, then
        /// the duplicate key.
        private func duplicatePath(_ key: [UInt8]) -> String {
            var text = ""
            for frame in path.dropLast() {
                if frame.key == Parser.arrayFrame {
                    text += "[\(frame.element)]"
                } else if frame.key >= 0 {
                    text += (text.isEmpty ? "" : ".") + String(decoding: keyBytes(frame.key), as: UTF8.self)
                }
            }
            return text + (text.isEmpty ? "" : ".") + String(decoding: key, as: UTF8.self)
        }

        private mutating func string() throws(ContractError) {
            index += 1  // the opening quote
            let start = index
            var escaped = false
            while true {
                guard index < bytes.count else { throw .malformed("unterminated string") }
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") { break }
                if byte == UInt8(ascii: "\\") {
                    escaped = true
                    try escape()
                } else if byte < 0x20 {
                    throw .malformed("a control character inside a string")
                } else if byte < 0x80 {
                    index += 1
                } else {
                    try utf8Sequence()
                }
            }
            append(.string, start: start, end: index, escaped: escaped)
            index += 1  // the closing quote
        }

        private mutating func escape() throws(ContractError) {
            guard index + 1 < bytes.count else { throw .malformed("unterminated string") }
            switch bytes[index + 1] {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                index += 2
            case UInt8(ascii: "u"):
                let high = try hexQuad(at: index + 2)
                index += 6
                if (0xDC00...0xDFFF).contains(high) { throw .malformed("a lone low surrogate escape") }
                if (0xD800...0xDBFF).contains(high) {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u"),
                        (0xDC00...0xDFFF).contains(try hexQuad(at: index + 2))
                    else { throw .malformed("a lone high surrogate escape") }
                    index += 6
                }
            default: throw .malformed("an unknown escape in a string")
            }
        }

        private func hexQuad(at start: Int) throws(ContractError) -> UInt32 {
            guard start + 4 <= bytes.count else { throw .malformed("a short \\u escape") }
            var value: UInt32 = 0
            for byte in bytes[start..<start + 4] {
                let digit = JSONDocument.hexValue(byte)
                guard digit != 0xFF else { throw .malformed("a bad \\u escape") }
                value = value << 4 | UInt32(digit)
            }
            return value
        }

        /// One multi-byte UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, at most
        /// U+10FFFF).
        private mutating func utf8Sequence() throws(ContractError) {
            let lead = bytes[index]
            let length: Int
            var lower: UInt8 = 0x80
            var upper: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                lower = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                upper = 0x9F
            case 0xF0:
                length = 4
                lower = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                upper = 0x8F
            default: throw .malformed("the text is not UTF-8")
            }
            guard index + length <= bytes.count, (lower...upper).contains(bytes[index + 1]) else {
                throw .malformed("the text is not UTF-8")
            }
            for offset in 2..<length where !(0x80...0xBF).contains(bytes[index + offset]) {
                throw .malformed("the text is not UTF-8")
            }
            index += length
        }

        private mutating func number() throws(ContractError) {
            let start = index
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw .malformed("a number without digits") }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
                if index < bytes.count, isDigit(bytes[index]) { throw .malformed("a number with a leading zero") }
            } else {
                skipDigits()
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard index < bytes.count, isDigit(bytes[index]) else { throw .malformed("a fraction without digits") }
                skipDigits()
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                guard index < bytes.count, isDigit(bytes[index]) else { throw .malformed("an exponent without digits") }
                skipDigits()
            }
            append(.number, start: start, end: index)
        }

        private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

        private mutating func skipDigits() {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
    }
}

/// A coding key rebuilt from a document (for coding paths in errors).
struct DocumentKey: CodingKey {
    let stringValue: String
    let intValue: Int?

    init(stringValue: String) {
        self.stringValue = stringValue
        self.intValue = nil
    }

    init(intValue: Int) {
        self.stringValue = "\(intValue)"
        self.intValue = intValue
    }
}
