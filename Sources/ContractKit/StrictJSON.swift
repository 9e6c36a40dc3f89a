import Foundation

/// Checks what Foundation's `JSONDecoder` does not: a size limit, and duplicate object keys
/// (which `JSONDecoder` resolves silently, keeping one of them). Runs over the raw bytes in one
/// pass before decoding.
enum StrictJSON {
    /// Objects and arrays nest at most this deep; contracts nest four levels at most, and a
    /// deeper document is an attack on the decoder's stack, not a message.
    static let maximumDepth = 32

    /// What the scan learnt of the top-level object on the way: the envelope's `type` and
    /// `dataversion`, when they are a string and an integer (so that the body is parsed by
    /// `JSONDecoder` once, into the right type).
    struct Summary {
        var type: String?
        var dataVersion: Int?
    }

    /// Throws ``ContractError`` for a body over `limit` bytes, for malformed JSON structure,
    /// and for any object with the same key twice (after unescaping), naming its path.
    @discardableResult
    static func check(_ data: Data, limit: Int) throws(ContractError) -> Summary {
        guard data.count <= limit else { throw .tooLarge(data.count, limit: limit) }
        // RFC 8259 §8.1: a sender must not add a byte order mark. Refused rather than skipped,
        // so that a broken sender is noticed.
        guard !data.starts(with: [0xEF, 0xBB, 0xBF]) else { throw .malformed("a byte order mark precedes the JSON text") }
        var scanner = Scanner(bytes: [UInt8](data))
        try scanner.run()
        return scanner.summary
    }

    private enum Frame {
        case object(current: String?)
        case array(index: Int)
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0
        var stack: [Frame] = []
        /// The keys seen so far in each open object, innermost last (mutated in place).
        var keySets: [Set<String>] = []
        /// In an object, whether the next string is a key.
        var expectKey = false
        var summary = Summary()

        init(bytes: [UInt8]) { self.bytes = bytes }

        /// The key whose value comes next, when it is a key of the top-level object.
        var topLevelKey: String? {
            guard stack.count == 1, !expectKey, case .object(let current) = stack[0] else { return nil }
            return current
        }

        mutating func run() throws(ContractError) {
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "{"):
                    guard stack.count < StrictJSON.maximumDepth else { throw .tooDeep(StrictJSON.maximumDepth) }
                    stack.append(.object(current: nil))
                    keySets.append([])
                    expectKey = true
                    index += 1
                case UInt8(ascii: "}"):
                    guard case .object = stack.popLast() else { throw .malformed("unbalanced '}'") }
                    keySets.removeLast()
                    expectKey = false
                    index += 1
                case UInt8(ascii: "["):
                    guard stack.count < StrictJSON.maximumDepth else { throw .tooDeep(StrictJSON.maximumDepth) }
                    stack.append(.array(index: 0))
                    expectKey = false
                    index += 1
                case UInt8(ascii: "]"):
                    guard case .array = stack.popLast() else { throw .malformed("unbalanced ']'") }
                    index += 1
                case UInt8(ascii: ","):
                    switch stack.last {
                    case .object:
                        stack[stack.count - 1] = .object(current: nil)
                        expectKey = true
                    case .array(let i): stack[stack.count - 1] = .array(index: i + 1)
                    case nil: throw .malformed("',' outside a container")
                    }
                    index += 1
                case UInt8(ascii: ":"):
                    expectKey = false
                    index += 1
                case UInt8(ascii: "\""):
                    if expectKey, case .object = stack.last {
                        let key = try readString()
                        guard keySets[keySets.count - 1].insert(key).inserted else { throw .duplicateKey(path(appending: key)) }
                        stack[stack.count - 1] = .object(current: key)
                        expectKey = false
                    } else if topLevelKey == "type" {
                        summary.type = try readString()
                    } else {
                        try skipString()
                    }
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    if topLevelKey == "dataversion" {
                        summary.dataVersion = readInteger()
                    } else {
                        index += 1
                    }
                default:
                    index += 1
                }
            }
            guard stack.isEmpty else { throw .malformed("unterminated object or array") }
        }

        /// Reads a number made only of digits (and a sign); `nil` for anything else (a
        /// fraction or exponent), which the decoder then reports.
        mutating func readInteger() -> Int? {
            let start = index
            index += 1
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) {
                // Skip the rest of the number: its fraction or exponent digits are not a second
                // number (`0.2e1` once read as version 1).
                while index < bytes.count, Array("0123456789.eE+-".utf8).contains(bytes[index]) { index += 1 }
                return nil
            }
            return Int(String(decoding: bytes[start..<index], as: UTF8.self))
        }

        /// Moves past a string value starting at its opening quote (values need no unescaping).
        mutating func skipString() throws(ContractError) {
            index += 1
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    index += 1
                    return
                case UInt8(ascii: "\\"): index += 2
                default: index += 1
                }
            }
            throw .malformed("unterminated string")
        }

        /// Reads a string starting at the opening quote; returns it unescaped.
        mutating func readString() throws(ContractError) -> String {
            index += 1
            // Fast path: no escape before the closing quote.
            var end = index
            while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\") { end += 1 }
            if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
                defer { index = end + 1 }
                return String(decoding: bytes[index..<end], as: UTF8.self)
            }
            var scalars = String.UnicodeScalarView()
            var raw: [UInt8] = []
            func flush() {
                if !raw.isEmpty {
                    scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars)
                    raw.removeAll()
                }
            }
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    flush()
                    return String(scalars)
                }
                if byte == UInt8(ascii: "\\") {
                    flush()
                    guard index + 1 < bytes.count else { break }
                    let escaped = bytes[index + 1]
                    index += 2
                    switch escaped {
                    case UInt8(ascii: "u"):
                        guard index + 4 <= bytes.count,
                            let code = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16)
                        else { throw .malformed("bad \\u escape") }
                        index += 4
                        var value = code
                        // A surrogate pair: \uD83D\uDE00.
                        if (0xD800...0xDBFF).contains(code), index + 6 <= bytes.count, bytes[index] == UInt8(ascii: "\\"),
                            bytes[index + 1] == UInt8(ascii: "u"),
                            let low = UInt32(String(decoding: bytes[index + 2..<index + 6], as: UTF8.self), radix: 16),
                            (0xDC00...0xDFFF).contains(low)
                        {
                            value = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                            index += 6
                        }
                        scalars.append(Unicode.Scalar(value) ?? "\u{FFFD}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "b"): scalars.append("\u{08}")
                    case UInt8(ascii: "f"): scalars.append("\u{0C}")
                    default: scalars.append(Unicode.Scalar(escaped))
                    }
                    continue
                }
                raw.append(byte)
                index += 1
            }
            throw .malformed("unterminated string")
        }

        func path(appending key: String) -> String {
            var parts: [String] = []
            for frame in stack.dropLast() {
                switch frame {
                case .object(let current): if let current { parts.append(current) }
                case .array(let i): parts.append("[\(i)]")
                }
            }
            parts.append(key)
            return parts.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
    }
}
