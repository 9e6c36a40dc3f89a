public import CertificateTrust
import ContractKit
public import Credentials
import Crypto
public import Foundation
public import Programme

/// A certificate as a W3C Verifiable Credential 2.0 in the Open Badges 3.0 shape
/// (`OpenBadgeCredential`), secured with an `eddsa-jcs-2022` Data Integrity proof by the
/// certificates worker's key (its did:key), for wallets and employers' systems.
///
/// - A training certificate: an achievement of type `Certificate` issued by the BLKI.
/// - A competency record: an achievement of type `Certification` recorded by Disnakertrans.
///   The credential says what it is: a record of the certificate BNSP issued through the LSP,
///   with the numbers the LSP gave; it is not BNSP's certificate.
/// - A licence record (SKK Konstruksi from LPJK, Lisensi K3 from Kemnaker): an achievement of
///   type `License` recorded by Disnakertrans, with the issuer's numbers and qualification; it is
///   not the licence.
///
/// Like the signed document it comes from, it names the holder by name (as on the KTP) and
/// participant id, never by NIK.
public enum CertificateCredential {
    /// The JSON-LD contexts: VC 2.0 and Open Badges 3.0.
    public static let contexts = [
        "https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    ]

    /// The provincial office that records the competency certificates.
    static let office = "Dinas Tenaga Kerja dan Transmigrasi Provinsi Kalimantan Timur"

    /// The credential of a certificate, without its proof.
    /// - Parameters:
    ///   - document: a certificate document that verified.
    ///   - issuerID: the did:key of the key that signs the credential.
    public static func unsigned(_ document: CertificateDocument, catalogue: ProgrammeCatalogue, issuerID: String)
        -> JSONValue
    {
        let payload = document.payload
        let competency = payload.kind == CertificateKind.competency
        let programme = catalogue.centres.lazy.flatMap(\.programmes).first { $0.code == payload.programme }
        let programmeName = programme?.name ?? payload.programme
        let year = String(payload.issuedOn.prefix(4))
        let issuer: JSONValue
        let achievement: JSONValue
        let name: String
        let description: String
        if let licenceName = CertificateKind.licenceName(payload.kind) {
            let scheme = payload.scheme ?? payload.programme
            let qualification = payload.qualification ?? licenceName
            let noun = CertificateKind.licenceNoun(payload.kind)
            name = "Catatan \(licenceName) — \(qualification)"
            description =
                "Catatan atas \(licenceName) yang \(CertificateKind.issuedBy(payload.kind)) dengan nomor \(payload.certificateNumber)"
                + (payload.registrationNumber.map { " dan nomor registrasi \($0)" } ?? "")
                + ", \(CertificateKind.qualificationLabel(payload.kind)) \(qualification), setelah program \(programmeName)."
                + " Kredensial ini bukan \(noun) itu sendiri; \(noun)nya dipegang pemiliknya dan keabsahannya diperiksa pada penerbitnya."
                + " Kode verifikasi: \(document.verificationCode)."
            issuer = .object([
                "id": .string(issuerID), "type": .array([.string("Profile")]), "name": .string(office),
                "description": .string("Pencatat lisensi lulusan Program Sertifikasi Pencari Kerja \(year)."),
            ])
            achievement = .object([
                "id": .string(
                    "urn:kaltim:lisensi:\(payload.kind):\(scheme):"
                        + (qualification.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")),
                "type": .array([.string("Achievement")]),
                "achievementType": .string("License"), "name": .string("\(licenceName) \(qualification)"),
                "description": .string(
                    "\(licenceName), \(CertificateKind.qualificationLabel(payload.kind)) \(qualification), \(CertificateKind.issuedBy(payload.kind))."
                ),
                "criteria": .object([
                    "narrative": .string(
                        "\(licenceName) \(CertificateKind.issuedBy(payload.kind)); dicatat Disnakertrans dari nomor yang diberikan penerbitnya."
                    )
                ]),
            ])
        } else if competency {
            let licence = payload.issuer.hasPrefix("LSP ") ? String(payload.issuer.dropFirst(4)) : payload.issuer
            let lsp = catalogue.lspName(licence: licence).map { "\($0) (lisensi BNSP \(licence))" } ?? "LSP \(licence)"
            let scheme = payload.scheme ?? payload.programme
            name = "Catatan Sertifikat Kompetensi BNSP — \(programmeName)"
            description =
                "Catatan atas sertifikat kompetensi yang diterbitkan BNSP melalui \(lsp) dengan nomor \(payload.certificateNumber)"
                + (payload.registrationNumber.map { " dan nomor registrasi \($0)" } ?? "")
                + ", skema \(scheme). Kredensial ini bukan sertifikat BNSP; sertifikatnya dipegang peserta."
                + " Kode verifikasi: \(document.verificationCode)."
            issuer = .object([
                "id": .string(issuerID), "type": .array([.string("Profile")]), "name": .string(office),
                "description": .string("Pencatat sertifikat kompetensi Program Sertifikasi Pencari Kerja \(year)."),
            ])
            achievement = .object([
                "id": .string("urn:kaltim:skema:\(scheme)"), "type": .array([.string("Achievement")]),
                "achievementType": .string("Certification"), "name": .string("Sertifikat Kompetensi BNSP skema \(scheme)"),
                "description": .string("Kompetensi pada skema \(scheme) (\(programmeName)), diuji oleh \(lsp)."),
                "criteria": .object([
                    "narrative": .string("Dinyatakan KOMPETEN pada uji kompetensi oleh LSP berlisensi BNSP.")
                ]),
            ])
        } else {
            name = "Sertifikat Pelatihan — \(programmeName)"
            description =
                "Sertifikat pelatihan berbasis kompetensi nomor \(payload.certificateNumber), diterbitkan oleh"
                + " \(payload.issuer) dalam Program Sertifikasi Pencari Kerja Provinsi Kalimantan Timur \(year)."
                + " Kode verifikasi: \(document.verificationCode)."
            issuer = .object([
                "id": .string(issuerID), "type": .array([.string("Profile")]), "name": .string(payload.issuer),
                "description": .string("Balai Latihan Kerja Industri, \(office)."),
            ])
            achievement = .object([
                "id": .string("urn:kaltim:program:\(year):\(payload.programme)"), "type": .array([.string("Achievement")]),
                "achievementType": .string("Certificate"), "name": .string("Pelatihan Berbasis Kompetensi \(programmeName)"),
                "description": .string(
                    "Pelatihan \(programmeName)"
                        + (programme.map { ", \($0.trainingHours) jam pelajaran dalam \($0.weeks) minggu" } ?? "")
                        + ", di \(payload.issuer)."),
                "criteria": .object([
                    "narrative": .string("Dinyatakan LULUS oleh BLKI dengan kehadiran sekurang-kurangnya 80 %.")
                ]),
            ])
        }
        var members: [String: JSONValue] = [
            "@context": .array(contexts.map(JSONValue.string)),
            "id": .string("urn:kaltim:sertifikat:\(payload.certificateID)"),
            "type": .array([.string("VerifiableCredential"), .string("OpenBadgeCredential")]),
            "name": .string(name), "description": .string(description), "issuer": issuer,
            "validFrom": .string(payload.issuedOn + "T00:00:00+08:00"),
            "credentialSubject": .object([
                "type": .array([.string("AchievementSubject")]),
                "identifier": .array(
                    [
                        .object([
                            "type": .string("IdentityObject"), "identityType": .string("identifier"), "hashed": .bool(false),
                            "identityHash": .string(payload.participantID),
                        ])
                    ]
                        + (payload.holderName.map {
                            [
                                .object([
                                    "type": .string("IdentityObject"), "identityType": .string("name"),
                                    "hashed": .bool(false), "identityHash": .string($0),
                                ])
                            ]
                        } ?? [])),
                "achievement": achievement,
            ]),
        ]
        if let until = payload.validUntil { members["validUntil"] = .string(until + "T23:59:59+08:00") }
        return .object(members)
    }

    /// `created` of a proof: the UTC time to the second (`2025-09-01T04:00:00Z`), written by
    /// hand (``UTCTimestamp``); a date before 1970 or after 9999 goes to `ISO8601DateFormatter`.
    public static func timestamp(_ date: Date) -> String {
        if let text = UTCTimestamp.iso8601(date) { return text }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}

/// The kind codes of ``CertificateDocument/Payload/kind``.
enum CertificateKind {
    static let training = "PELATIHAN"
    static let competency = "KOMPETENSI"
    static let constructionCompetency = "SKK_KONSTRUKSI"
    static let safetyLicence = "LISENSI_K3"

    /// The name of a licence kind as Indonesians know it, `nil` for a certificate of the programme.
    static func licenceName(_ kind: String) -> String? {
        switch kind {
        case constructionCompetency: "SKK Konstruksi"
        case safetyLicence: "Lisensi K3 (SIO)"
        default: nil
        }
    }

    /// What the holder's document is: an SKK is a certificate, a K3 licence a licence.
    static func licenceNoun(_ kind: String) -> String { kind == constructionCompetency ? "sertifikat" : "lisensi" }

    /// How a record names what the licence is for: an SKK's jabatan kerja and jenjang, a K3
    /// licence's qualification.
    static func qualificationLabel(_ kind: String) -> String {
        kind == constructionCompetency ? "jabatan kerja" : "kualifikasi"
    }

    /// Who issued it, as the record says: an SKK is registered with LPJK (issued through an LSP
    /// of the construction sector), a K3 licence is issued by Kemnaker.
    static func issuedBy(_ kind: String) -> String {
        kind == constructionCompetency ? "teregistrasi di LPJK" : "diterbitkan Kemnaker"
    }
}

extension CertificateSigner {
    /// The did:key of this key: the credential's issuer and verification method.
    public var didKey: String { Multibase.didKey(ed25519PublicKey: privateKey.publicKey.rawRepresentation) }

    /// The certificate as a Verifiable Credential with this key's `eddsa-jcs-2022` proof,
    /// created at `date`.
    public func credential(for document: CertificateDocument, catalogue: ProgrammeCatalogue, at date: Date) throws
        -> JSONValue
    {
        try EddsaJcs2022.sign(
            CertificateCredential.unsigned(document, catalogue: catalogue, issuerID: didKey), with: privateKey,
            created: CertificateCredential.timestamp(date))
    }
}
