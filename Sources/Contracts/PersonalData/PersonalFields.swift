/// A kind of personal data (UU 27/2022) that a contract field holds; it decides how the value is
/// masked wherever a person who may not see it would (``PersonalDataMasker``).
public enum PersonalDataKind: String, Sendable, CaseIterable {
    /// Nomor Induk Kependudukan, 16 digits: `647401******9901`.
    case nik
    /// Nomor Kartu Keluarga, 16 digits: masked as a NIK.
    case familyCard = "kk"
    /// A person's name: `S*** R***`.
    case name
    /// Place of birth: `***`.
    case birthPlace = "birth-place"
    /// Date of birth: `****-**-**`.
    case birthDate = "birth-date"
    /// A telephone or WhatsApp number: the last three digits kept, `+62*********901`.
    case phone
    /// An e-mail address: the first character and the domain kept, `s***@example.id`.
    case email
    /// A street address: `***`.
    case address
    /// A phone number or an e-mail address, whichever the value is.
    case contact
    /// A card number that identifies a person (Kartu AK/I): `***`.
    case cardNumber = "card-number"
}

/// A field of a contract that holds personal data: its JSON path inside the envelope's `data`
/// (`["domicile", "address"]`; a map's key names the entry, `["parameters", "nama"]`), and its
/// kind.
public struct PersonalField: Sendable, Hashable, CustomStringConvertible {
    /// The path from `data` to the field, one JSON key per step.
    public let path: [String]
    /// What the field holds.
    public let kind: PersonalDataKind

    /// A field at a dotted path inside `data`: `PersonalField("domicile.address", .address)`.
    public init(_ dottedPath: String, _ kind: PersonalDataKind) {
        self.path = dottedPath.split(separator: ".").map(String.init)
        self.kind = kind
    }

    /// `domicile.address (address)`.
    public var description: String { "\(path.joined(separator: ".")) (\(kind.rawValue))" }
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

extension NotificationRequestedV1 {
    /// The recipient's address, the name the template greets and the (already masked) NIK it
    /// may quote.
    public static let personalFields: [PersonalField] = [
        PersonalField("recipient", .contact), PersonalField("parameters.nama", .name),
        PersonalField("parameters.nik_tersamar", .nik),
    ]
}
