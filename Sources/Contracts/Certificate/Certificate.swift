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

extension CertificateIssuedV1 {
    /// The same certificate as version 2: a training or competency certificate, with no
    /// qualification.
    public func upcast() -> CertificateIssuedV2 {
        CertificateIssuedV2(
            certificateID: certificateID, participantID: participantID,
            kind: kind == .training ? .training : .competency, issuer: issuer, certificateNumber: certificateNumber,
            registrationNumber: registrationNumber, scheme: scheme, qualification: nil, issuedOn: issuedOn,
            validUntil: validUntil, verificationCode: verificationCode)
    }
}

/// A certificate was issued or recorded. Version 2 adds the records of two licences issued
/// outside the programme, from the numbers their issuers gave (``LicenceRecordedV1``): SKK
/// Konstruksi (LPJK) and Kemnaker's Lisensi K3 (the operator's SIO), and the qualification a
/// licence names. A consumer must know version 2 before the certificates role publishes it (an
/// older consumer dead-letters it as an unsupported version); version 1 upcasts to it.
public struct CertificateIssuedV2: ContractMessage {
    public static let eventType = "certificate.issued"
    public static let version = 2

    public enum Kind: String, SchemaEnumeration {
        /// Sertifikat pelatihan (BLK / Kemnaker).
        case training = "PELATIHAN"
        /// The record of a competency certificate BNSP issued through a licensed LSP.
        case competency = "KOMPETENSI"
        /// The record of an SKK Konstruksi (sertifikat kompetensi kerja konstruksi) registered
        /// with LPJK.
        case constructionCompetency = "SKK_KONSTRUKSI"
        /// The record of a Kemnaker Lisensi K3 for an equipment operator (the SIO).
        case safetyLicence = "LISENSI_K3"
    }

    public var certificateID: String
    public var participantID: String
    public var kind: Kind
    /// `BLKI Balikpapan`, `BLKI Bontang`, `LSP <licence>`, `LPJK` or `Kemnaker`.
    public var issuer: String
    /// The number the certificate carries: the BLKI's own for a training certificate, the
    /// issuer's (BNSP, LPJK, Kemnaker) for a record.
    public var certificateNumber: String
    /// The registration number the issuer gave, when there is one.
    public var registrationNumber: String?
    public var scheme: String?
    /// What a licence qualifies for, as its issuer wrote it (e.g. `Operator Forklift Kelas II`);
    /// `nil` for training and competency certificates.
    public var qualification: String?
    /// `YYYY-MM-DD`.
    public var issuedOn: String
    /// `YYYY-MM-DD`; `nil` for certificates that do not expire.
    public var validUntil: String?
    /// The code printed on the certificate for public verification.
    public var verificationCode: String

    public init(
        certificateID: String, participantID: String, kind: Kind, issuer: String, certificateNumber: String,
        registrationNumber: String?, scheme: String?, qualification: String?, issuedOn: String, validUntil: String?,
        verificationCode: String
    ) {
        self.certificateID = certificateID
        self.participantID = participantID
        self.kind = kind
        self.issuer = issuer
        self.certificateNumber = certificateNumber
        self.registrationNumber = registrationNumber
        self.scheme = scheme
        self.qualification = qualification
        self.issuedOn = issuedOn
        self.validUntil = validUntil
        self.verificationCode = verificationCode
    }
}

/// The programme office records a licence its holder got from an issuer outside the programme,
/// with the numbers that issuer gave: an SKK Konstruksi registered with LPJK (construction
/// schemes) or a Kemnaker Lisensi K3 (the SIO of equipment operators). The pipeline never
/// generates these numbers; the certificates role records the licence for a participant of a
/// programme the plan says leads to it, whose name is the one on the licence, and publishes
/// `certificate.issued` v2.
public struct LicenceRecordedV1: ContractMessage {
    public static let eventType = "licence.recorded"
    public static let version = 1
    public static let personalFields: [PersonalField] = [PersonalField("holderName", .name)]

    public enum Kind: String, SchemaEnumeration {
        /// SKK Konstruksi, registered with LPJK.
        case constructionCompetency = "SKK_KONSTRUKSI"
        /// Kemnaker's Lisensi K3 (SIO) for an equipment operator.
        case safetyLicence = "LISENSI_K3"
    }

    public var participantID: String
    /// The holder's name as printed on the licence: it must be the participant's (a mistyped
    /// participant id is refused, not recorded for someone else).
    public var holderName: String
    public var kind: Kind
    /// The licence's number exactly as its issuer printed it.
    public var certificateNumber: String
    /// The issuer's registration number, when the licence carries one.
    public var registrationNumber: String?
    /// What the licence qualifies for, as the issuer wrote it (e.g. `Operator Forklift Kelas II`,
    /// an SKK's jabatan kerja and jenjang); at most 100 characters.
    public var qualification: String
    /// `YYYY-MM-DD`: the issuer's date.
    public var issuedOn: String
    /// `YYYY-MM-DD`: the last day the issuer says it is valid (at most 10 years after `issuedOn`).
    public var validUntil: String
    /// The office's staff member who recorded it.
    public var recordedBy: String

    public init(
        participantID: String, holderName: String, kind: Kind, certificateNumber: String, registrationNumber: String?,
        qualification: String, issuedOn: String, validUntil: String, recordedBy: String
    ) {
        self.participantID = participantID
        self.holderName = holderName
        self.kind = kind
        self.certificateNumber = certificateNumber
        self.registrationNumber = registrationNumber
        self.qualification = qualification
        self.issuedOn = issuedOn
        self.validUntil = validUntil
        self.recordedBy = recordedBy
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
