import Contracts
import Foundation

/// Text from a dead letter as the admin's terminal shows it. Its headers and body are a
/// publisher's: an escape sequence in a message id or a failure code would reach the terminal
/// (moving the cursor, rewriting earlier lines, setting its title), and a NIK put in a header
/// would be shown in clear where the body is masked.
enum TerminalText {
    /// `text` with NIK- and phone-shaped numbers masked (unless `reveal`) and every character
    /// ``isHidden(_:)`` names written as `\u{…}` (a backslash as `\\`, so that no text can pose
    /// as an escape); newlines and tabs only where `keepLines` allows them (a body).
    static func shown(_ text: String?, reveal: Bool = false, keepLines: Bool = false) -> String {
        guard let text else { return "-" }
        let masked = reveal ? text : PersonalData.mask(text)
        var out = String.UnicodeScalarView()
        for scalar in masked.unicodeScalars {
            if scalar == "\\" {
                out.append(contentsOf: #"\\"#.unicodeScalars)
            } else if isHidden(scalar) && !(keepLines && (scalar == "\n" || scalar == "\t")) {
                out.append(contentsOf: #"\u{"#.unicodeScalars)
                out.append(contentsOf: String(scalar.value, radix: 16).unicodeScalars)
                out.append("}")
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// A control character (C0, DEL, C1: a terminal acts on them) or a mark that reorders or
    /// separates text unseen (U+061C, U+200E, U+200F, U+2028–U+202E, U+2066–U+2069).
    static func isHidden(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        return value < 0x20 || (0x7F...0x9F).contains(value) || value == 0x061C || value == 0x200E || value == 0x200F
            || (0x2028...0x202E).contains(value) || (0x2066...0x2069).contains(value)
    }

    /// JSON text with every ``isHidden(_:)`` character written as a `\uXXXX` escape, which JSON
    /// reads back as the same character: an export printed to a terminal acts on none of them
    /// (JSON itself escapes only those below U+0020, and outside strings there are none).
    static func jsonShown(_ json: Data) -> Data {
        var out = String.UnicodeScalarView()
        for scalar in String(decoding: json, as: UTF8.self).unicodeScalars {
            if isHidden(scalar) && scalar != "\n" {
                let hex = String(scalar.value, radix: 16)
                out.append(contentsOf: (#"\u"# + String(repeating: "0", count: 4 - hex.count) + hex).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return Data(String(out).utf8)
    }
}
