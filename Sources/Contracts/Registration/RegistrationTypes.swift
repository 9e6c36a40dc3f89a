public import ContractKit

/// The two provincial training centres of the programme.
public enum TrainingCentre: String, SchemaEnumeration {
    case balikpapan = "BLKI_BALIKPAPAN"
    case bontang = "BLKI_BONTANG"
}

/// Sex as on the KTP (`L` laki-laki, `P` perempuan).
public enum Sex: String, SchemaEnumeration {
    case male = "L"
    case female = "P"
}

/// Highest completed education.
public enum EducationLevel: String, SchemaEnumeration {
    case none = "TIDAK_SEKOLAH"
    case sd = "SD"
    case smp = "SMP"
    case sma = "SMA"
    case smk = "SMK"
    case d1 = "D1"
    case d2 = "D2"
    case d3 = "D3"
    case d4 = "D4"
    case s1 = "S1"
    case s2 = "S2"
    case s3 = "S3"
}

/// Where the applicant lives.
public struct Domicile: Codable, Sendable, Equatable {
    /// Kemendagri region code of the village (10 digits, `64.71.01.1001` without dots) or
    /// district (6 digits).
    public var regionCode: String
    public var address: String

    public init(regionCode: String, address: String) {
        self.regionCode = regionCode
        self.address = address
    }
}

/// A competency training the applicant declares having taken before.
public struct DeclaredTraining: Codable, Sendable, Equatable {
    /// How it ended; priority goes to those never trained, then those who failed.
    public enum Outcome: String, SchemaEnumeration {
        case passed = "LULUS"
        case failed = "TIDAK_LULUS"
        case notCompleted = "TIDAK_SELESAI"
    }

    public var programme: String
    public var year: Int
    public var outcome: Outcome

    public init(programme: String, year: Int, outcome: Outcome) {
        self.programme = programme
        self.year = year
        self.outcome = outcome
    }
}

/// The applicant's consent to processing under UU 27/2022 (PDP).
public struct Consent: Codable, Sendable, Equatable {
    public var given: Bool
    /// ISO 8601 time of consent.
    public var givenAt: String
    /// Version of the consent text shown.
    public var textVersion: String

    public init(given: Bool, givenAt: String, textVersion: String) {
        self.given = given
        self.givenAt = givenAt
        self.textVersion = textVersion
    }
}

/// The consent of an applicant's parent or guardian, as the portal (or the officer at an
/// assisted walk-in) recorded it.
public struct GuardianConsent: Codable, Sendable, Equatable {
    /// Who gave it.
    public enum Relation: String, SchemaEnumeration {
        case parent = "ORANG_TUA"
        case guardian = "WALI"
    }

    /// The parent's or guardian's name, as on their KTP.
    public var guardianName: String
    public var relation: Relation
    /// ISO 8601 time of consent.
    public var givenAt: String
    /// Version of the consent text shown to the parent or guardian.
    public var textVersion: String

    public init(guardianName: String, relation: Relation, givenAt: String, textVersion: String) {
        self.guardianName = guardianName
        self.relation = relation
        self.givenAt = givenAt
        self.textVersion = textVersion
    }
}
