public import Foundation

/// Whether a message body (a dead letter, whole as it failed) names a person: one of their
/// ids (registration, participant, certificate, assessment), one of their addresses, or a NIK
/// whose blind index is theirs. A JSON body is read value by value (any depth, any key, the
/// envelope's `subject` too); anything else, a body that failed to decode, is searched as text,
/// so a malformed message naming the person is found as well.
public struct MessageMatcher: Sendable {
    let identifiers: SubjectIdentifiers
    let addresses: Set<String>
    let nikKey: NIKKey?

    /// - Parameters:
    ///   - identifiers: what the export found of the person.
    ///   - addresses: their phone numbers and e-mail addresses.
    ///   - nikKey: intake's blind-index key, to recognise their NIK; without it a NIK is not
    ///     recognised (the ids in the same message usually are).
    public init(identifiers: SubjectIdentifiers, addresses: Set<String>, nikKey: NIKKey?) {
        self.identifiers = identifiers
        self.addresses = addresses.filter { !$0.isEmpty }
        self.nikKey = nikKey
    }

    var words: Set<String> {
        identifiers.registrationIDs.union(identifiers.participantIDs).union(identifiers.certificateIDs)
            .union(identifiers.assessmentIDs).union(addresses)
    }

    /// Whether `body` names the person.
    public func names(_ body: Data) -> Bool {
        let words = words
        if let json = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) {
            return contains(json, words)
        }
        // Whole tokens only: `REG-1` is not found in `REG-10`.
        let text = String(decoding: body, as: UTF8.self)
        let tokens = text.split { $0.isWhitespace || "\"'`,;:{}[]()<>=\\/|".contains($0) }
        if tokens.contains(where: { words.contains(String($0)) }) { return true }
        return text.matches(of: /[0-9][0-9 .\-]{14,30}[0-9]/).contains { isTheirNIK(String($0.output)) }
    }

    private func contains(_ value: Any, _ words: Set<String>) -> Bool {
        switch value {
        case let text as String: return words.contains(text) || isTheirNIK(text)
        case let array as [Any]: return array.contains { contains($0, words) }
        case let object as [String: Any]: return object.values.contains { contains($0, words) }
        default: return false
        }
    }

    private func isTheirNIK(_ text: String) -> Bool {
        guard let nikKey, !identifiers.nikIndexes.isEmpty else { return false }
        let digits = text.filter { $0 != " " && $0 != "." && $0 != "-" }
        guard digits.count == 16, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        return identifiers.nikIndexes.contains(nikKey.blindIndex(digits))
    }
}
