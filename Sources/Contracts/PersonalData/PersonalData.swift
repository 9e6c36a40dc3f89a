public import ContractKit
import Foundation

extension PersonalDataMasker {
    /// The masker for every field the pipeline's contracts mark.
    public static let contracts = PersonalDataMasker(fields: ContractCatalogue.all.flatMap { $0.personalFields })
}

/// Masking of personal data in text that may reach a log, a metric or a header.
public enum PersonalData {
    /// Files this process creates from now on are readable by their owner and group at most
    /// (umask 027: 0640, or 0600 where the creator asks for it): stores, logs, certificates,
    /// notification logs and exports hold personal data. Every command of `kaltim-worker`,
    /// `kaltim-admin`, `kaltim-console` and `kaltim-demo` calls it first, and so does the worker
    /// host.
    public static func restrictNewFiles() {
        umask(0o027)
    }

    /// Masks the personal data in `text`: the values of every field a contract marks as
    /// personal, and NIK- or phone-shaped numbers anywhere (see `PersonalDataMasker`).
    public static func mask(_ text: String) -> String {
        PersonalDataMasker.contracts.mask(text)
    }

    /// Masks the value of a named field (a log line's metadata, a record's column): by the
    /// field's kind when a contract marks a field of that name as personal, otherwise as text.
    public static func mask(_ value: String, field: String) -> String {
        if let kind = PersonalDataMasker.contracts.kind(ofKey: field) { return PersonalDataMasker.mask(value, as: kind) }
        return mask(value)
    }

    /// Masks a NIK for a log line: `647401******9901` from its 16 digits (separators dropped);
    /// anything without exactly 16 digits, the empty string too, is `****`.
    public static func maskNIK(_ nik: String) -> String { nik.isEmpty ? "****" : PersonalDataMasker.mask(nik, as: .nik) }

    /// Masks a NIK for a message to its holder: `************9901`, only the last four digits
    /// (the region and birth date the log mask keeps are no business of a message that may be
    /// read over a shoulder or forwarded); anything without exactly 16 digits is `****`.
    public static func maskNIKForCitizen(_ nik: String) -> String {
        let digits = nik.filter { $0.isASCII && $0.isNumber }
        guard digits.count == 16, nik.allSatisfy({ ($0.isASCII && $0.isNumber) || " .-".contains($0) }) else { return "****" }
        return String(repeating: "*", count: 12) + digits.suffix(4)
    }
}

extension RegistrationSubmittedV1 {
    /// The applicant's identity and contacts; nothing else in the pipeline carries them.
    public static let personalFields: [PersonalField] = [
        PersonalField("nik", .nik), PersonalField("fullName", .name), PersonalField("birthPlace", .birthPlace),
        PersonalField("birthDate", .birthDate), PersonalField("phone", .phone), PersonalField("email", .email),
        PersonalField("domicile.address", .address), PersonalField("jobSeekerCardNumber", .cardNumber),
    ]
}

extension RegistrationSubmittedV2 {
    /// Version 1's fields, with the family card number and the WhatsApp number.
    public static let personalFields: [PersonalField] =
        RegistrationSubmittedV1.personalFields + [
            PersonalField("familyCardNumber", .familyCard), PersonalField("whatsApp", .phone),
        ]
}

extension RegistrationSubmittedV3 {
    /// Version 1's fields, the WhatsApp number and the parent's or guardian's name (no family
    /// card number any more).
    public static let personalFields: [PersonalField] =
        RegistrationSubmittedV1.personalFields + [
            PersonalField("whatsApp", .phone), PersonalField("guardianConsent.guardianName", .name),
        ]
}

extension NotificationRequestedV1 {
    /// The recipient's address, the name the template greets and the (already masked) NIK it
    /// may quote.
    public static let personalFields: [PersonalField] = [
        PersonalField("recipient", .contact), PersonalField("parameters.nama", .name),
        PersonalField("parameters.nik_tersamar", .nik),
    ]
}
