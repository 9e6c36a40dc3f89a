/// Text made safe to place in HTML, between tags or inside a quoted attribute: `&`, `<`, `>`,
/// `"` and `'` become entities. The one escaper of every page the system serves (the staff
/// console and the public verification service).
///
/// Works on Unicode scalars, not characters: a `"` followed by a combining mark (U+0301), or a
/// `<` after a prepended sign (U+0600), is one Swift `Character` that equals neither `"` nor
/// `<`, yet the browser still reads the quote or the bracket. An escaper that compared
/// characters let such text close an attribute and open a tag.
public func htmlEscaped(_ text: String) -> String {
    var out = String.UnicodeScalarView()
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out.append(contentsOf: "&amp;".unicodeScalars)
        case "<": out.append(contentsOf: "&lt;".unicodeScalars)
        case ">": out.append(contentsOf: "&gt;".unicodeScalars)
        case "\"": out.append(contentsOf: "&quot;".unicodeScalars)
        case "'": out.append(contentsOf: "&#39;".unicodeScalars)
        default: out.append(scalar)
        }
    }
    return String(out)
}
