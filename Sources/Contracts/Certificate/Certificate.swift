public import ContractKit

/// A certificate was issued: the BLK/Kemnaker training certificate or the BNSP competency
/// certificate (through a licensed LSP).
public struct CertificateIssuedV1: ContractMessage {
    public static let eventType = "certificate.issued"
    public static let version = 1

    public enum Kind: String, SchemaEnumeration {
        /// Sertifikat pelatihan (BLK / Kemnaker).
        case training = "PELATIHAN"
        /// Sertifikat kompetensi (BNSP via LSP).
        case competency = "KOMPETENSI"
    }

    public var certificateID: String
    public var participantID: String
    public var kind: Kind
    /// `BLKI_BALIKPAPAN`, `BLKI_BONTANG`, `KEMNAKER` or `BNSP`.
    public var issuer: String
    public var certificateNumber: String
    /// BNSP registration number, for competency certificates.
    public var registrationNumber: String?
    public var scheme: String?
    /// `YYYY-MM-DD`.
    public var issuedOn: String
    /// `YYYY-MM-DD`; `nil` for certificates that do not expire.
    public var validUntil: String?
    /// The code printed on the certificate for public verification.
    public var verificationCode: String

    public init(
        certificateID: String, participantID: String, kind: Kind, issuer: String, certificateNumber: String,
        registrationNumber: String?, scheme: String?, issuedOn: String, validUntil: String?, verificationCode: String
    ) {
        self.certificateID = certificateID
        self.participantID = participantID
        self.kind = kind
        self.issuer = issuer
        self.certificateNumber = certificateNumber
        self.registrationNumber = registrationNumber
        self.scheme = scheme
        self.issuedOn = issuedOn
        self.validUntil = validUntil
        self.verificationCode = verificationCode
    }
}

/// A certificate was revoked.
public struct CertificateRevokedV1: ContractMessage {
    public static let eventType = "certificate.revoked"
    public static let version = 1

    public var certificateID: String
    public var participantID: String
    /// e.g. `ISSUED_IN_ERROR`, `FRAUD`, `APPEAL_UPHELD`.
    public var reasonCode: String

    public init(certificateID: String, participantID: String, reasonCode: String) {
        self.certificateID = certificateID
        self.participantID = participantID
        self.reasonCode = reasonCode
    }
}
