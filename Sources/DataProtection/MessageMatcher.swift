public import Foundation

/// Whether a message body (a dead letter, whole as it failed) names a person, and by what.
///
/// - By one of their ids (registration, participant, certificate, assessment; 5 characters at
///   least, so that a short code is never taken for one) or their NIK (when intake's key is
///   given, written with or without spaces, dots or dashes): the message is theirs.
/// - Only by one of their addresses (a phone number in any of its forms, an e-mail address in
///   any case): possibly someone sharing it (a parent's phone for two children), so it is
///   reported, never removed by itself.
///
/// A JSON body is read value by value (any key, any depth; numbers too), each string value
/// also word by word; a body that is not JSON is read word by word.
public struct MessageMatcher: Sendable {
    /// What a body was found to name.
    public enum Match: String, Sendable, Encodable {
        case none
        /// An id or the NIK of the person.
        case person
        /// Only an address of theirs.
        case addressOnly = "address-only"
    }

    let ids: Set<String>
    let addresses: Set<String>
    let nikIndexes: Set<String>
    let nikKey: NIKKey?

    /// - Parameters:
    ///   - identifiers: what the export found of the person.
    ///   - addresses: their phone numbers and e-mail addresses.
    ///   - nikKey: intake's blind-index key, to recognise their NIK; without it a NIK is not
    ///     recognised (the ids in the same message usually are).
    public init(identifiers: SubjectIdentifiers, addresses: Set<String>, nikKey: NIKKey?) {
        ids = Set(
            identifiers.registrationIDs.union(identifiers.participantIDs).union(identifiers.certificateIDs)
                .union(identifiers.assessmentIDs).filter { $0.count >= 5 }.map { $0.lowercased() })
        var forms: Set<String> = []
        for address in addresses where !address.isEmpty {
            let lowered = address.lowercased()
            forms.insert(lowered)
            // +6281…, 6281…, 081…: the forms a phone number is written in.
            if lowered.hasPrefix("+62") {
                forms.insert(String(lowered.dropFirst()))
                forms.insert("0" + lowered.dropFirst(3))
            }
        }
        self.addresses = forms
        nikIndexes = identifiers.nikIndexes
        self.nikKey = nikKey
    }

    /// What `body` names of the person.
    public func match(_ body: Data) -> Match {
        var words: [String] = []
        if let json = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) {
            collect(json, into: &words)
        } else {
            words = Self.words(String(decoding: body, as: UTF8.self))
        }
        if words.contains(where: { ids.contains($0) }) || containsTheirNIK(words) { return .person }
        return words.contains(where: { addresses.contains($0) }) ? .addressOnly : .none
    }

    /// Whether `body` names the person by an id or their NIK.
    public func names(_ body: Data) -> Bool { match(body) == .person }

    private func collect(_ value: Any, into words: inout [String]) {
        switch value {
        case let text as String:
            words.append(text.lowercased())
            words += Self.words(text)
        case let number as NSNumber: words.append(number.stringValue)
        case let array as [Any]: for element in array { collect(element, into: &words) }
        case let object as [String: Any]:
            for (key, element) in object {
                words.append(key.lowercased())
                collect(element, into: &words)
            }
        default: break
        }
    }

    /// The words of a text, lower-cased: runs of the characters ids, numbers and addresses are
    /// made of, without a sentence's closing dot.
    static func words(_ text: String) -> [String] {
        text.split { !($0.isLetter || $0.isNumber || "-_+@.".contains($0)) }
            .map { word in
                var word = Substring(word)
                while word.last == "." { word = word.dropLast() }
                return word.lowercased()
            }
            .filter { !$0.isEmpty }
    }

    /// A NIK among the words, alone or written in groups (`6474 0157 0899 9901`): up to four
    /// neighbouring words whose digits make exactly 16.
    private func containsTheirNIK(_ words: [String]) -> Bool {
        guard let nikKey, !nikIndexes.isEmpty else { return false }
        for start in words.indices {
            var digits = ""
            for word in words[start..<min(start + 4, words.count)] {
                let stripped = word.filter { $0 != "." && $0 != "-" }
                guard !stripped.isEmpty, stripped.allSatisfy({ $0.isASCII && $0.isNumber }) else { break }
                digits += stripped
                if digits.count == 16, nikIndexes.contains(nikKey.blindIndex(digits)) { return true }
                if digits.count >= 16 { break }
            }
        }
        return false
    }
}
