public import Contracts
public import Foundation

/// The rules of consent that the intake worker, the notification worker and `kaltim-admin` share,
/// so that one withdrawal is never taken by one of them and refused by another.
public enum ConsentRules {
    /// Below this age on the programme's reference date an applicant is a child (UU 35/2014
    /// Art. 1), whose data is processed with a parent's or guardian's consent (UU 27/2022 Art. 25).
    public static let adultAge = 18

    /// An ISO 8601 time with a time zone, with or without fractional seconds
    /// (`2025-07-10T01:30:00Z`, `2025-07-10T09:30:00.123+08:00`); `nil` for anything else.
    public static func time(_ text: String) -> Date? {
        if let plain = try? Date(text, strategy: .iso8601) { return plain }
        return try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// One line of 1–200 characters (at most 800 bytes) once trimmed, not blank, with no control
    /// or format characters (a right-to-left override could make a record read otherwise than it
    /// is).
    public static func isShortText(_ text: String) -> Bool {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return !trimmed.isEmpty && trimmed.count <= 200 && trimmed.utf8.count <= 800
            && !trimmed.unicodeScalars.contains {
                $0.properties.generalCategory == .control || $0.properties.generalCategory == .format
                    || $0 == "\u{2028}" || $0 == "\u{2029}"
            }
    }

    /// A parent's or guardian's consent that can be relied on: a name, a time, the text's version.
    public static func isComplete(_ consent: GuardianConsent) -> Bool {
        PersonName.isAcceptable(consent.guardianName) && time(consent.givenAt) != nil && isShortText(consent.textVersion)
    }

    /// A registration number as the portal gives them (`REG-2025-000202`): 1–64 ASCII letters,
    /// digits, `-` or `_`.
    public static func isRegistrationNumber(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 64
            && id.utf8.allSatisfy {
                ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z"))
                    || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
            }
    }

    /// Whether a withdrawal recorded at `withdrawnAt` concerns a registration submitted at
    /// `submittedAt`: only one submitted before it (a withdrawal for a number not given out yet,
    /// a typo, must not stop a stranger's later registration under that number).
    public static func withdrawal(at withdrawnAt: Date, concernsSubmissionAt submittedAt: Date) -> Bool {
        submittedAt <= withdrawnAt
    }

    /// What makes a withdrawal of consent impossible to record, or `nil`: its time, who recorded
    /// it and the request's reference.
    public static func problem(with withdrawal: ConsentWithdrawnV1) -> String? {
        if !isRegistrationNumber(withdrawal.registrationID) {
            return "registrationID must be 1 to 64 ASCII letters, digits, '-' or '_'"
        }
        if time(withdrawal.withdrawnAt) == nil { return "withdrawnAt is not an ISO 8601 time" }
        if !isShortText(withdrawal.recordedBy) {
            return "recordedBy must be one line of 1 to 200 characters without control characters"
        }
        if !isShortText(withdrawal.reference) {
            return "reference must be one line of 1 to 200 characters without control characters"
        }
        return nil
    }
}
