import Contracts

/// Text from a dead letter as the admin's terminal shows it. Its headers and body are a
/// publisher's: an escape sequence in a message id or a failure code would reach the terminal
/// (moving the cursor, rewriting earlier lines, setting its title), and a NIK put in a header
/// would be shown in clear where the body is masked.
enum TerminalText {
    /// `text` with NIK- and phone-shaped numbers masked (unless `reveal`) and every control
    /// character, and the marks that reorder text (U+200E, U+200F, U+202A–U+202E,
    /// U+2066–U+2069), written as `\u{…}`; newlines and tabs only where `keepLines` allows them
    /// (a body).
    static func shown(_ text: String?, reveal: Bool = false, keepLines: Bool = false) -> String {
        guard let text else { return "-" }
        let masked = reveal ? text : PersonalData.mask(text)
        var out = String.UnicodeScalarView()
        for scalar in masked.unicodeScalars {
            let value = scalar.value
            let kept = keepLines && (scalar == "\n" || scalar == "\t")
            let control = value < 0x20 || (0x7F...0x9F).contains(value)
            let reordering =
                value == 0x200E || value == 0x200F || (0x202A...0x202E).contains(value)
                || (0x2066...0x2069).contains(value)
            if (control || reordering) && !kept {
                out.append(contentsOf: "\\u{\(String(value, radix: 16))}".unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }
}
