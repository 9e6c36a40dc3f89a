import Contracts

/// The JSON of a notification row's values and routes, written by hand: a flat object of
/// strings with its keys sorted, and a list of routes. `JSONEncoder` for these two small values
/// was 4.4 % of the notification role's CPU. `JSONDecoder` reads back the same values; the
/// bytes are not always `JSONEncoder`'s (it writes `/` as `\/` and orders keys its own way).
enum FlatJSON {
    /// `{"key":"value",…}`, keys in order.
    static func object(_ values: [String: String]) -> String {
        var json = "{"
        for (index, key) in values.keys.sorted().enumerated() {
            if index > 0 { json += "," }
            appendQuoted(key, to: &json)
            json += ":"
            appendQuoted(values[key] ?? "", to: &json)
        }
        return json + "}"
    }

    /// `[{"channel":"…","recipient":"…"},…]`.
    static func routes(_ routes: [NotificationHandler.Route]) -> String {
        var json = "["
        for (index, route) in routes.enumerated() {
            if index > 0 { json += "," }
            json += #"{"channel":"#
            appendQuoted(route.channel.rawValue, to: &json)
            json += #","recipient":"#
            appendQuoted(route.recipient, to: &json)
            json += "}"
        }
        return json + "]"
    }

    /// `text` as a JSON string: the quote, the backslash and the control characters escaped.
    static func appendQuoted(_ text: String, to json: inout String) {
        json += "\""
        var plainFrom = text.unicodeScalars.startIndex
        for index in text.unicodeScalars.indices {
            let scalar = text.unicodeScalars[index]
            let escaped: String
            switch scalar {
            case "\"": escaped = "\\\""
            case "\\": escaped = "\\\\"
            case "\n": escaped = "\\n"
            case "\r": escaped = "\\r"
            case "\t": escaped = "\\t"
            case "\u{08}": escaped = "\\b"
            case "\u{0C}": escaped = "\\f"
            case "\u{00}"..."\u{1F}":
                let digits = Array("0123456789abcdef")
                escaped = "\\u00" + String(digits[Int(scalar.value >> 4)]) + String(digits[Int(scalar.value & 0xF)])
            default: continue
            }
            json.unicodeScalars.append(contentsOf: text.unicodeScalars[plainFrom..<index])
            json += escaped
            plainFrom = text.unicodeScalars.index(after: index)
        }
        json.unicodeScalars.append(contentsOf: text.unicodeScalars[plainFrom...])
        json += "\""
    }
}
