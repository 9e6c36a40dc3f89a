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
