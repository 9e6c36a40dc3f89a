/// Masks personal data in text that people who may not see it would read: a message body in a
/// dead-letter view or export, a failure message, a log line.
///
/// Masking is by field first. The text is read as JSON tokens, tolerantly, so a truncated or
/// malformed body is masked as well as a valid one: the value after any key that a contract marks
/// as personal (``ContractMessage/personalFields``) is masked by its kind, whatever it looks like
/// (a string, a number, an array, an object). Keys are compared by their decoded spelling
/// without case or separators, so `"N\u0049K"`, `"full_name"` and `"Phone"` are the marked
/// fields. Everything else is then masked by shape, as a second line: a NIK or KK number written
/// anywhere (16 digits, also with spaces, dots, dashes or slashes between groups, in any
/// Unicode decimal digits, or as `\u` escapes) and an Indonesian mobile number (`08…`,
/// `+628…`, 10 to 14 digits).
public struct PersonalDataMasker: Sendable {
    /// Normalised key (lowercase letters and digits only) → the kind it holds.
    private let kinds: [String: PersonalDataKind]

    /// A masker for the given fields; only the last step of each path is used, since a hostile
    /// body may put a field anywhere.
    public init(fields: [PersonalField]) {
        var kinds: [String: PersonalDataKind] = [:]
        for field in fields {
            if let key = field.path.last { kinds[Self.normalised(key)] = field.kind }
        }
        self.kinds = kinds
    }

    /// Masks `text` (see the type's description). Text without personal data is returned as it
    /// was, byte for byte.
    public func mask(_ text: String) -> String {
        var scanner = Scanner(scalars: Array(text.unicodeScalars), kinds: kinds)
        return scanner.run()
    }

    /// Masks a message body, decoded as UTF-8 (invalid bytes become U+FFFD).
    public func mask(body: some Collection<UInt8>) -> String {
        mask(String(decoding: body, as: UTF8.self))
    }

    /// The kind a JSON key names, if it is a marked field.
    public func kind(ofKey key: String) -> PersonalDataKind? { kinds[Self.normalised(key)] }

    /// Masks one value of a known kind.
    public static func mask(_ value: String, as kind: PersonalDataKind) -> String {
        if value.isEmpty { return value }
        switch kind {
        case .nik, .familyCard:
            let digits = value.unicodeScalars.compactMap(Self.digit)
            return digits.count == 16 ? nikMask(digits) : "****"
        case .name:
            return value.split(whereSeparator: { $0.isWhitespace }).map { "\($0.prefix(1))***" }.joined(separator: " ")
        case .birthPlace, .address, .cardNumber: return "***"
        case .birthDate: return "****-**-**"
        case .phone:
            let digits = value.unicodeScalars.compactMap(Self.digit)
            guard digits.count >= 6 else { return "***" }
            return (value.hasPrefix("+") ? "+" : "") + String(repeating: "*", count: digits.count - 3)
                + String(digits.suffix(3).map { Character(Unicode.Scalar(UInt8(48 + $0))) })
        case .email:
            guard let at = value.lastIndex(of: "@") else { return "***" }
            return "\(value.prefix(1))***\(value[at...])"
        case .contact: return mask(value, as: value.contains("@") ? .email : .phone)
        }
    }

    /// `647401******9901` from sixteen digit values.
    static func nikMask(_ digits: [Int]) -> String {
        let text = String(digits.map { Character(Unicode.Scalar(UInt8(48 + $0))) })
        return text.prefix(6) + "******" + text.suffix(4)
    }

    /// The value 0…9 of a Unicode decimal digit.
    static func digit(_ scalar: Unicode.Scalar) -> Int? {
        guard scalar.properties.numericType == .decimal, let value = scalar.properties.numericValue else { return nil }
        return Int(value)
    }

    static func normalised(_ key: String) -> String {
        String(key.lowercased().unicodeScalars.filter { $0.properties.isAlphabetic || digit($0) != nil })
    }
}

/// One pass over the text: strings, and the raw text between them.
private struct Scanner {
    let scalars: [Unicode.Scalar]
    let kinds: [String: PersonalDataKind]
    var index = 0
    var output = String.UnicodeScalarView()
    /// The kind the next value holds: the last string read was a marked key followed by `:`.
    var pendingKind: PersonalDataKind?
    /// Inside an object or array that is the value of a marked key: its kind, and the depth.
    var enclosingKind: PersonalDataKind?
    var depth = 0

    init(scalars: [Unicode.Scalar], kinds: [String: PersonalDataKind]) {
        self.scalars = scalars
        self.kinds = kinds
    }

    mutating func run() -> String {
        var raw: [Unicode.Scalar] = []
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "\"" {
                flushRaw(&raw)
                readString()
                continue
            }
            if let kind = pendingKind ?? enclosingKind, !isStructural(scalar), !scalar.properties.isWhitespace {
                // A bare value (a number, a word) of a marked field.
                flushRaw(&raw)
                readBareValue(as: kind)
                continue
            }
            switch scalar {
            case "{", "[":
                if let kind = pendingKind {
                    flushRaw(&raw)
                    enclosingKind = kind
                    depth = 0
                    pendingKind = nil
                }
                if enclosingKind != nil { depth += 1 }
            case "}", "]":
                pendingKind = nil
                if enclosingKind != nil {
                    depth -= 1
                    if depth <= 0 { enclosingKind = nil }
                }
            case ",": pendingKind = nil
            default: break
            }
            raw.append(scalar)
            index += 1
        }
        flushRaw(&raw)
        return String(output)
    }

    private func isStructural(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "{" || scalar == "}" || scalar == "[" || scalar == "]" || scalar == "," || scalar == ":"
    }

    /// Raw text: masked by shape, after `\u` escapes are read.
    private mutating func flushRaw(_ raw: inout [Unicode.Scalar]) {
        guard !raw.isEmpty else { return }
        let decoded = Self.decodeEscapes(raw[...])
        let masked = ShapeMasking.mask(decoded)
        output.append(contentsOf: masked == decoded ? raw : masked)
        raw.removeAll(keepingCapacity: true)
    }

    /// A string literal from the opening quote to the closing one (or the end of the text).
    private mutating func readString() {
        let start = index
        index += 1
        while index < scalars.count, scalars[index] != "\"" {
            index += scalars[index] == "\\" ? 2 : 1
        }
        let closed = index < scalars.count
        let contentEnd = min(index, scalars.count)
        if closed { index += 1 }
        let original = scalars[start..<min(index, scalars.count)]
        let content = Self.decodeEscapes(scalars[(start + 1)..<contentEnd])

        if let kind = pendingKind ?? enclosingKind {
            pendingKind = nil
            appendString(PersonalDataMasker.mask(String(String.UnicodeScalarView(content)), as: kind), closed: closed)
            return
        }
        // A key? The next non-space character is a colon.
        var next = index
        while next < scalars.count, scalars[next].properties.isWhitespace { next += 1 }
        if next < scalars.count, scalars[next] == ":" {
            let key = String(String.UnicodeScalarView(content))
            if let kind = kinds[PersonalDataMasker.normalised(key)] {
                output.append(contentsOf: original)
                output.append(contentsOf: scalars[index...next])
                index = next + 1
                pendingKind = kind
                return
            }
        }
        let masked = ShapeMasking.mask(content)
        if masked == content {
            output.append(contentsOf: original)
        } else {
            appendString(String(String.UnicodeScalarView(masked)), closed: closed)
        }
    }

    /// A bare token up to the next structural character, whitespace or quote, masked as `kind`.
    private mutating func readBareValue(as kind: PersonalDataKind) {
        // Up to the next comma, bracket, quote or line end: `"fullName": Budi Santoso` or
        // `"nik": 6474 0112 0398 0002` is one value, spaces and all.
        let start = index
        while index < scalars.count, !isStructural(scalars[index]) || scalars[index] == ":", scalars[index] != "\"",
            scalars[index] != "\n", scalars[index] != "\r"
        {
            index += 1
        }
        var end = index
        while end > start, scalars[end - 1].properties.isWhitespace { end -= 1 }
        index = end
        let token = String(String.UnicodeScalarView(scalars[start..<end]))
        pendingKind = nil
        if token == "null" || token == "true" || token == "false" {
            output.append(contentsOf: token.unicodeScalars)
        } else {
            appendString(PersonalDataMasker.mask(token, as: kind), closed: true)
        }
    }

    private mutating func appendString(_ text: String, closed: Bool) {
        output.append("\"")
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output.append(contentsOf: "\\\"".unicodeScalars)
            case "\\": output.append(contentsOf: "\\\\".unicodeScalars)
            case _ where scalar.value < 0x20:
                output.append(contentsOf: "\\u00".unicodeScalars)
                output.append(contentsOf: String(scalar.value, radix: 16).leftPadded(to: 2).unicodeScalars)
            default: output.append(scalar)
            }
        }
        if closed { output.append("\"") }
    }

    /// JSON escapes decoded; a malformed escape is kept as it was.
    static func decodeEscapes(_ scalars: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
        guard scalars.contains("\\") else { return Array(scalars) }
        var result: [Unicode.Scalar] = []
        var index = scalars.startIndex
        var pendingHigh: UInt32?
        while index < scalars.endIndex {
            let scalar = scalars[index]
            guard scalar == "\\", index + 1 < scalars.endIndex else {
                result.append(scalar)
                index += 1
                continue
            }
            let escape = scalars[index + 1]
            switch escape {
            case "u":
                let hexEnd = index + 6
                if hexEnd <= scalars.endIndex,
                    let value = UInt32(String(String.UnicodeScalarView(scalars[(index + 2)..<hexEnd])), radix: 16)
                {
                    if (0xD800..<0xDC00).contains(value) {
                        pendingHigh = value
                    } else if (0xDC00..<0xE000).contains(value), let high = pendingHigh {
                        let combined = 0x10000 + ((high - 0xD800) << 10) + (value - 0xDC00)
                        if let decoded = Unicode.Scalar(combined) { result.append(decoded) }
                        pendingHigh = nil
                    } else if let decoded = Unicode.Scalar(value) {
                        result.append(decoded)
                    }
                    index = hexEnd
                    continue
                }
                result.append(scalar)
                index += 1
                continue
            case "n": result.append("\n")
            case "t": result.append("\t")
            case "r": result.append("\r")
            case "b": result.append("\u{8}")
            case "f": result.append("\u{C}")
            default: result.append(escape)
            }
            index += 2
        }
        return result
    }
}

/// Masking by shape: NIK-like and phone-like digit runs in free text.
enum ShapeMasking {
    /// Separators a reader sees between groups of digits of one number (up to ``maximumGap``
    /// of them: `6474  0112`, `(0812) 3456`): `. / _ ( )` and their look-alikes (every dash and
    /// hyphen, the minus sign, fullwidth forms), every space, tabs and line breaks.
    private static func isSeparator(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x2E, 0x2F, 0x5F, 0x28, 0x29, 0x2212, 0xFF0D, 0xFF0E, 0xFF0F: return true
        default:
            let category = scalar.properties.generalCategory
            return category == .spaceSeparator || category == .dashPunctuation
        }
    }

    /// Characters a reader does not see, skipped between digit groups however many there are:
    /// control characters other than tabs and line breaks (C0, DEL, C1: a terminal shows them
    /// escaped or not at all), format
    /// characters (soft hyphen, the marks that join, separate or reorder text, tags), combining
    /// marks (the combining grapheme joiner, variation selectors) and blank letters (the Hangul
    /// fillers, the Braille blank). A NIK split by letters or visible symbols is not found.
    private static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D: return false  // tabs and line breaks separate, up to the bound
        case 0x115F, 0x1160, 0x2800, 0x3164, 0xFFA0: return true
        default:
            switch scalar.properties.generalCategory {
            case .control, .format, .nonspacingMark, .enclosingMark, .lineSeparator, .paragraphSeparator: return true
            default: return false
            }
        }
    }
    private static let maximumGap = 3

    /// A group of digits: where it starts and ends in the text, and its digit values.
    private struct Group {
        var start: Int
        var end: Int
        var digits: [Int]
    }

    static func mask(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard scalars.contains(where: { PersonalDataMasker.digit($0) != nil }) else { return scalars }
        var result: [Unicode.Scalar] = []
        var index = 0
        while index < scalars.count {
            guard PersonalDataMasker.digit(scalars[index]) != nil else {
                result.append(scalars[index])
                index += 1
                continue
            }
            // A run of digit groups, each separated by one separator character.
            var groups: [Group] = []
            var cursor = index
            while cursor < scalars.count, PersonalDataMasker.digit(scalars[cursor]) != nil {
                var group = Group(start: cursor, end: cursor, digits: [])
                while cursor < scalars.count, let value = PersonalDataMasker.digit(scalars[cursor]) {
                    group.digits.append(value)
                    cursor += 1
                }
                group.end = cursor
                groups.append(group)
                var gap = cursor
                var seen = 0
                while gap < scalars.count {
                    if isInvisible(scalars[gap]) {
                        gap += 1
                    } else if seen < maximumGap, isSeparator(scalars[gap]) {
                        seen += 1
                        gap += 1
                    } else {
                        break
                    }
                }
                if gap > cursor, gap < scalars.count, PersonalDataMasker.digit(scalars[gap]) != nil {
                    cursor = gap
                } else {
                    break
                }
            }
            let plus = index > 0 && scalars[index - 1] == "+"
            result.append(contentsOf: maskGroups(groups, in: scalars, plusBefore: plus))
            index = groups.last!.end
        }
        return result
    }

    /// The groups' text, with every NIK (consecutive groups adding up to 16 digits, tried from
    /// each group in turn) and every mobile number masked.
    private static func maskGroups(_ groups: [Group], in scalars: [Unicode.Scalar], plusBefore: Bool) -> [Unicode.Scalar] {
        var result: [Unicode.Scalar] = []
        var first = 0
        func original(_ from: Int, through last: Int) -> ArraySlice<Unicode.Scalar> {
            scalars[groups[from].start..<groups[last].end]
        }
        while first < groups.count {
            if first > 0 { result.append(contentsOf: scalars[groups[first - 1].end..<groups[first].start]) }
            var count = 0
            var last = first
            var matched: (last: Int, nik: Bool)?
            while last < groups.count {
                count += groups[last].digits.count
                if count == 16 {
                    matched = (last, true)
                    break
                }
                if count > 16 { break }
                last += 1
            }
            if matched == nil {
                let leading = groups[first].digits
                let mobile =
                    leading.starts(with: [0, 8]) || (leading.starts(with: [6, 2, 8]))
                    || (first == 0 && plusBefore && leading.starts(with: [6, 2]))
                if mobile {
                    count = 0
                    var candidate: Int?
                    for index in first..<groups.count {
                        count += groups[index].digits.count
                        if count > 14 { break }
                        if count >= 10 { candidate = index }
                    }
                    if let candidate { matched = (candidate, false) }
                }
            }
            guard let (end, nik) = matched else {
                result.append(contentsOf: original(first, through: first))
                first += 1
                continue
            }
            let digits = groups[first...end].flatMap(\.digits)
            if nik {
                result.append(contentsOf: PersonalDataMasker.nikMask(digits).unicodeScalars)
            } else {
                result.append(contentsOf: String(repeating: "*", count: digits.count - 3).unicodeScalars)
                result.append(contentsOf: digits.suffix(3).map { Unicode.Scalar(UInt8(48 + $0)) })
            }
            first = end + 1
        }
        return result
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
