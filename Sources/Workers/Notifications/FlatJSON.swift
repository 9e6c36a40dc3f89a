import ContractKit
import Contracts
import Foundation

/// The JSON of a notification row's values and routes, written and read by hand: a flat object
/// of strings with its keys sorted, and a list of routes. `JSONEncoder` for these two small
/// values was 4.4 % of the notification role's CPU, and `JSONDecoder` reading them back for
/// every claimed message most of the claim's 8 %. `JSONDecoder` reads back the same values; the
/// bytes are not always `JSONEncoder`'s (it writes `/` as `\/` and orders keys its own way).
enum FlatJSON {
    /// A row's values: what `JSONDecoder` reads as `[String: String]`, or empty where it reads
    /// nothing. Read by hand; anything the hand reader does not take (a duplicate key, a
    /// number, a nested value, broken JSON) goes to `JSONDecoder`, so the answer is the same.
    static func values(_ json: String) -> [String: String] {
        if let values = readObject(json) { return values }
        return (try? JSONDecoder().decode([String: String].self, from: Data(json.utf8))) ?? [:]
    }

    /// A row's routes, as ``values(_:)`` reads values: empty where `JSONDecoder` reads nothing.
    static func routes(reading json: String) -> [NotificationHandler.Route] {
        if let routes = readRoutes(json) { return routes }
        return (try? JSONDecoder().decode([NotificationHandler.Route].self, from: Data(json.utf8))) ?? []
    }

    static func readObject(_ json: String) -> [String: String]? {
        var json = json
        return json.withUTF8 { bytes -> [String: String]? in
            var reader = Reader(bytes: bytes)
            guard let object = reader.object(), reader.atEnd else { return nil }
            return object
        }
    }

    static func readRoutes(_ json: String) -> [NotificationHandler.Route]? {
        var json = json
        return json.withUTF8 { bytes -> [NotificationHandler.Route]? in
            var reader = Reader(bytes: bytes)
            guard reader.take(UInt8(ascii: "[")) else { return nil }
            var routes: [NotificationHandler.Route] = []
            if reader.take(UInt8(ascii: "]")) { return reader.atEnd ? routes : nil }
            repeat {
                guard let object = reader.object(), object.count == 2, let channel = object["channel"],
                    let recipient = object["recipient"], let known = NotificationChannel(rawValue: channel)
                else { return nil }
                routes.append(NotificationHandler.Route(channel: known, recipient: recipient))
            } while reader.take(UInt8(ascii: ","))
            guard reader.take(UInt8(ascii: "]")), reader.atEnd else { return nil }
            return routes
        }
    }

    /// Reads a JSON object of strings, and JSON strings, from UTF-8 bytes; `nil` for anything
    /// else (the caller then asks `JSONDecoder`).
    struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        var atEnd: Bool {
            mutating get {
                skipSpace()
                return index == bytes.count
            }
        }

        mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        /// Takes `byte` (after any white space) if it comes next.
        mutating func take(_ byte: UInt8) -> Bool {
            skipSpace()
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        /// `{"key":"value",…}`; `nil` for a duplicate key or a value that is not a string.
        mutating func object() -> [String: String]? {
            guard take(UInt8(ascii: "{")) else { return nil }
            var object: [String: String] = [:]
            if take(UInt8(ascii: "}")) { return object }
            repeat {
                guard let key = string(), take(UInt8(ascii: ":")), let value = string(), object[key] == nil else { return nil }
                object[key] = value
            } while take(UInt8(ascii: ","))
            return take(UInt8(ascii: "}")) ? object : nil
        }

        /// A JSON string; `nil` for a control character, a bad escape or a lone surrogate.
        mutating func string() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            var plainFrom = index
            var decoded: [UInt8] = []
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    // The bytes come from a Swift string, so they are valid UTF-8, and so is
                    // every run between two ASCII delimiters.
                    let text: String
                    if decoded.isEmpty {
                        text = String(decoding: UnsafeBufferPointer(rebasing: bytes[plainFrom..<index]), as: UTF8.self)
                    } else {
                        decoded.append(contentsOf: bytes[plainFrom..<index])
                        text = String(decoding: decoded, as: UTF8.self)
                    }
                    index += 1
                    return text
                }
                if byte < 0x20 { return nil }
                guard byte == UInt8(ascii: "\\") else {
                    index += 1
                    continue
                }
                decoded.append(contentsOf: bytes[plainFrom..<index])
                index += 1
                guard index < bytes.count else { return nil }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(escape)
                case UInt8(ascii: "b"): decoded.append(0x08)
                case UInt8(ascii: "f"): decoded.append(0x0C)
                case UInt8(ascii: "n"): decoded.append(0x0A)
                case UInt8(ascii: "r"): decoded.append(0x0D)
                case UInt8(ascii: "t"): decoded.append(0x09)
                case UInt8(ascii: "u"):
                    guard let unit = hex4() else { return nil }
                    var scalarValue = UInt32(unit)
                    if (0xD800...0xDBFF).contains(unit) {
                        // The low half right after, with nothing between (not even white space).
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                            bytes[index + 1] == UInt8(ascii: "u")
                        else { return nil }
                        index += 2
                        guard let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return nil }
                        scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(unit) {
                        return nil
                    }
                    guard let scalar = Unicode.Scalar(scalarValue) else { return nil }
                    decoded.append(contentsOf: String(Character(scalar)).utf8)
                default: return nil
                }
                plainFrom = index
            }
            return nil
        }

        /// Four hexadecimal digits.
        mutating func hex4() -> UInt16? {
            guard index + 4 <= bytes.count else { return nil }
            var value: UInt16 = 0
            for byte in bytes[index..<index + 4] {
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: return nil
                }
                value = value << 4 | UInt16(digit)
            }
            index += 4
            return value
        }
    }

    /// `{"key":"value",…}`, keys in order.
    static func object(_ values: [String: String]) -> String {
        var json: [UInt8] = [UInt8(ascii: "{")]
        json.reserveCapacity(256)
        for (index, key) in values.keys.sorted().enumerated() {
            if index > 0 { json.append(UInt8(ascii: ",")) }
            appendQuoted(key, to: &json)
            json.append(UInt8(ascii: ":"))
            appendQuoted(values[key] ?? "", to: &json)
        }
        json.append(UInt8(ascii: "}"))
        return String(decoding: json, as: UTF8.self)
    }

    /// `[{"channel":"…","recipient":"…"},…]`.
    static func routes(_ routes: [NotificationHandler.Route]) -> String {
        var json: [UInt8] = [UInt8(ascii: "[")]
        json.reserveCapacity(64 * routes.count + 2)
        for (index, route) in routes.enumerated() {
            if index > 0 { json.append(UInt8(ascii: ",")) }
            json.append(contentsOf: #"{"channel":"#.utf8)
            appendQuoted(route.channel.rawValue, to: &json)
            json.append(contentsOf: #","recipient":"#.utf8)
            appendQuoted(route.recipient, to: &json)
            json.append(UInt8(ascii: "}"))
        }
        json.append(UInt8(ascii: "]"))
        return String(decoding: json, as: UTF8.self)
    }

    /// `text` as a JSON string: the quote, the backslash and the control characters escaped
    /// (``ContractKit/JSONText``, on the UTF-8 bytes; by Unicode scalars it was 5.6 % of the
    /// notification role's samples in a perf profile).
    static func appendQuoted(_ text: String, to json: inout [UInt8]) { JSONText.appendQuoted(text, to: &json) }
}
