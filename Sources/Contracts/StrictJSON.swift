import Foundation

/// Checks what Foundation's `JSONDecoder` does not: a size limit, and duplicate object keys
/// (which `JSONDecoder` resolves silently, keeping one of them). Runs over the raw bytes in one
/// pass before decoding.
enum StrictJSON {
    /// Throws ``ContractError`` for a body over `limit` bytes, for malformed JSON structure,
    /// and for any object with the same key twice (after unescaping), naming its path.
    static func check(_ data: Data, limit: Int) throws(ContractError) {
        guard data.count <= limit else { throw .tooLarge(data.count, limit: limit) }
        var scanner = Scanner(bytes: [UInt8](data))
        try scanner.run()
    }

    private enum Frame {
        case object(keys: Set<String>, current: String?)
        case array(index: Int)
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0
        var stack: [Frame] = []
        /// In an object, whether the next string is a key.
        var expectKey = false

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func run() throws(ContractError) {
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "{"):
                    stack.append(.object(keys: [], current: nil))
                    expectKey = true
                    index += 1
                case UInt8(ascii: "}"):
                    guard case .object = stack.popLast() else { throw .malformed("unbalanced '}'") }
                    expectKey = false
                    index += 1
                case UInt8(ascii: "["):
                    stack.append(.array(index: 0))
                    expectKey = false
                    index += 1
                case UInt8(ascii: "]"):
                    guard case .array = stack.popLast() else { throw .malformed("unbalanced ']'") }
                    index += 1
                case UInt8(ascii: ","):
                    switch stack.last {
                    case .object(let keys, _):
                        stack[stack.count - 1] = .object(keys: keys, current: nil)
                        expectKey = true
                    case .array(let i): stack[stack.count - 1] = .array(index: i + 1)
                    case nil: throw .malformed("',' outside a container")
                    }
                    index += 1
                case UInt8(ascii: ":"):
                    expectKey = false
                    index += 1
                case UInt8(ascii: "\""):
                    if expectKey, case .object(var keys, _) = stack.last {
                        let key = try readString()
                        guard keys.insert(key).inserted else { throw .duplicateKey(path(appending: key)) }
                        stack[stack.count - 1] = .object(keys: keys, current: key)
                        expectKey = false
                    } else {
                        try skipString()
                    }
                default:
                    index += 1
                }
            }
            guard stack.isEmpty else { throw .malformed("unterminated object or array") }
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
                case .object(_, let current): if let current { parts.append(current) }
                case .array(let i): parts.append("[\(i)]")
                }
            }
            parts.append(key)
            return parts.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
    }
}
