import Foundation

/// Comparison of Indonesian personal names as typed by applicants and as on the KTP / Dukcapil record.
public enum PersonName {
    /// Uppercase, diacritics folded, punctuation removed, whitespace collapsed, common Indonesian spelling
    /// variants unified.
    ///
    /// - Apostrophes vanish (`MA'RUF` → `MARUF`); dots, commas, hyphens and other punctuation separate words
    ///   (`M.YUSUF` → `MUHAMMAD YUSUF`).
    /// - Old spelling, in this order inside each word: `OE` → `U` (SOEKARNO → SUKARNO), `DJ` → `J`,
    ///   `TJ` → `C`, `CH` → `KH` (CHAIRUL → KHAIRUL). `J` stays `J`.
    /// - Forms and abbreviations of Muhammad (MOHAMMAD, MUHAMAD, MOHAMAD, MOCHAMMAD, MOCH, MOH, MUH, M, …)
    ///   become `MUHAMMAD`.
    public static func normalise(_ name: String) -> String {
        var cleaned = ""
        for scalar in name.decomposedStringWithCanonicalMapping.unicodeScalars {
            let properties = scalar.properties
            if properties.generalCategory == .nonspacingMark || apostrophes.contains(scalar) { continue }
            if let folded = foldedLetters[scalar] {
                cleaned += folded
            } else if properties.isAlphabetic || properties.numericType != nil {
                cleaned.unicodeScalars.append(scalar)
            } else {
                cleaned += " "
            }
        }
        return cleaned.uppercased()
            .split(separator: " ")
            .map { canonicalWord(String($0)) }
            .joined(separator: " ")
    }

    /// Whether `name` may be stored as a person's name: letters, one line, at most 200
    /// characters and 800 bytes, no control or formatting characters (bidi overrides).
    public static func isAcceptable(_ name: String) -> Bool {
        !normalise(name).isEmpty && name.count <= 200 && name.utf8.count <= 800
            && !name.unicodeScalars.contains {
                $0.properties.generalCategory == .control || $0.properties.generalCategory == .format
                    || $0 == "\u{2028}" || $0 == "\u{2029}"
            }
    }

    /// Whether two names are the same person's name, tolerant of spelling variants and small typos.
    ///
    /// True when, after `normalise`: the names are equal; or they have the same words in another order; or
    /// their Levenshtein distance is at most max(1, length / 10), length being that of the longer name; or
    /// every word of a name of at least two words is in the other name (a missing middle name).
    /// Empty names never match. Distinct names such as "SITI RAHMAWATI" and "SITI RAHAYU" do not match, but
    /// short names one letter apart (RINA / RINI) do: the distance rule allows one edit at any length.
    public static func matches(_ a: String, _ b: String) -> Bool {
        let first = normalise(a)
        let second = normalise(b)
        guard !first.isEmpty, !second.isEmpty else { return false }
        if first == second { return true }
        let firstWords = first.split(separator: " ").map(String.init)
        let secondWords = second.split(separator: " ").map(String.init)
        if firstWords.sorted() == secondWords.sorted() { return true }
        let allowed = max(1, max(first.count, second.count) / 10)
        if levenshtein(Array(first), Array(second)) <= allowed { return true }
        let (shorter, longer) = firstWords.count <= secondWords.count ? (firstWords, secondWords) : (secondWords, firstWords)
        return shorter.count >= 2 && isSubmultiset(shorter, of: longer)
    }

    /// Removed without leaving a space: ' ’ ‘ ` ´ ʼ ʻ.
    private static let apostrophes: Set<Unicode.Scalar> = [
        "\u{27}", "\u{2019}", "\u{2018}", "\u{60}", "\u{B4}", "\u{2BC}", "\u{2BB}",
    ]

    /// Latin letters that canonical decomposition leaves alone.
    private static let foldedLetters: [Unicode.Scalar: String] = [
        "\u{D8}": "O", "\u{F8}": "o", "\u{141}": "L", "\u{142}": "l", "\u{110}": "D", "\u{111}": "d",
        "\u{D0}": "D", "\u{F0}": "d", "\u{C6}": "AE", "\u{E6}": "ae", "\u{131}": "i",
    ]

    /// Muhammad and its abbreviations, as they look after the old-spelling rules (MOCH → MOKH).
    private static let muhammadForms: Set<String> = [
        "MUHAMMAD", "MUHAMAD", "MOHAMMAD", "MOHAMAD", "MUKHAMMAD", "MUKHAMAD", "MOKHAMMAD", "MOKHAMAD",
        "MUHAMMED", "MUHAMED", "MOHAMMED", "MOHAMED", "MUHAMMAT", "MUHAMAT", "MOHAMMAT", "MOHAMAT",
        "M", "MOH", "MUH", "MOKH", "MUKH", "MOHD", "MUHD", "MHD",
    ]

    /// Old (pre-1972) spellings and their modern forms, applied in this order.
    private static let oldSpellings: [(old: String, modern: String)] = [
        ("OE", "U"), ("DJ", "J"), ("TJ", "C"), ("CH", "KH"),
    ]

    /// The same rules on bytes, for a word of ASCII letters (almost every word, once the
    /// diacritics are gone): `replacingOccurrences` per rule and word was much of the cost of
    /// ``normalise(_:)``, itself about 9 % of the intake role's CPU.
    private static let oldSpellingBytes: [(old: (UInt8, UInt8), modern: [UInt8])] = oldSpellings.map { spelling in
        let old = Array(spelling.old.utf8)
        return ((old[0], old[1]), Array(spelling.modern.utf8))
    }

    /// One uppercase word: old spelling first, then the Muhammad forms.
    private static func canonicalWord(_ word: String) -> String {
        var modern = word
        if word.utf8.allSatisfy({ $0 < 0x80 }) {
            var bytes = Array(word.utf8)
            for spelling in oldSpellingBytes { replace(spelling.old, with: spelling.modern, in: &bytes) }
            modern = String(decoding: bytes, as: UTF8.self)
        } else {
            for spelling in oldSpellings {
                modern = modern.replacingOccurrences(of: spelling.old, with: spelling.modern)
            }
        }
        return muhammadForms.contains(modern) ? "MUHAMMAD" : modern
    }

    /// Replaces each occurrence of the two bytes `old`, left to right and not overlapping, as
    /// `replacingOccurrences` does.
    private static func replace(_ old: (UInt8, UInt8), with modern: [UInt8], in bytes: inout [UInt8]) {
        guard bytes.count >= 2, zip(bytes, bytes.dropFirst()).contains(where: { $0 == old.0 && $1 == old.1 }) else { return }
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count + modern.count)
        var index = 0
        while index < bytes.count {
            if index + 1 < bytes.count, bytes[index] == old.0, bytes[index + 1] == old.1 {
                result.append(contentsOf: modern)
                index += 2
            } else {
                result.append(bytes[index])
                index += 1
            }
        }
        bytes = result
    }

    private static func levenshtein(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// Whether every word of `part` occurs in `whole`, as often as in `part`.
    private static func isSubmultiset(_ part: [String], of whole: [String]) -> Bool {
        var available: [String: Int] = [:]
        for word in whole { available[word, default: 0] += 1 }
        for word in part {
            guard let count = available[word], count > 0 else { return false }
            available[word] = count - 1
        }
        return true
    }
}

/// Indonesian mobile numbers (DOMAIN.md §2.6), stored in E.164.
public enum PhoneNumber {
    /// Indonesian mobile number in +62 form ("+628123456789"), from "08…", "628…", "+628…", with spaces,
    /// dashes, dots or parentheses removed. Valid: after "+62", an "8" followed by 8–11 more digits. nil
    /// otherwise (landlines, foreign numbers, too short/long, letters or other characters).
    public static func normalise(_ raw: String) -> String? {
        let compact = raw.filter { !($0.isWhitespace || "-.()".contains($0)) }
        let national: Substring
        if compact.hasPrefix("+62") {
            national = compact.dropFirst(3)
        } else if compact.hasPrefix("62") {
            national = compact.dropFirst(2)
        } else if compact.hasPrefix("0") {
            national = compact.dropFirst(1)
        } else {
            return nil
        }
        guard national.first == "8", (9...12).contains(national.count),
            national.allSatisfy({ $0.isASCII && $0.isWholeNumber })
        else { return nil }
        return "+62" + national
    }
}

/// E-mail addresses given for notifications.
public enum EmailAddress {
    /// Pragmatic syntax check: one "@", non-empty local part ≤ 64 chars without spaces, domain with at least
    /// one dot, labels of letters/digits/hyphens not starting or ending with a hyphen, TLD ≥ 2 letters,
    /// total ≤ 254.
    ///
    /// Lengths are counted in UTF-8 bytes, as in SMTP. Domain labels are ASCII (1–63 characters); the local
    /// part may hold any character except whitespace, control characters and `<>()[],;:"\` (which would
    /// end the address in an SMTP command or a header: a notification goes to it as it is). Surrounding
    /// spaces are not trimmed: they make the address invalid.
    public static func isValid(_ address: String) -> Bool {
        guard address.utf8.count <= 254 else { return false }
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        let local = parts[0]
        let domain = parts[1]
        guard !local.isEmpty, local.utf8.count <= 64,
            !local.unicodeScalars.contains(where: {
                $0.properties.isWhitespace || $0.properties.generalCategory == .control
                    || "<>()[],;:\"\\".unicodeScalars.contains($0)
            })
        else { return false }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, labels.allSatisfy(isValidLabel), let tld = labels.last else { return false }
        return tld.count >= 2 && tld.allSatisfy { $0.isASCII && $0.isLetter }
    }

    private static func isValidLabel(_ label: Substring) -> Bool {
        guard (1...63).contains(label.count), label.first != "-", label.last != "-" else { return false }
        return label.allSatisfy { $0 == "-" || ($0.isASCII && ($0.isLetter || $0.isWholeNumber)) }
    }
}
