import ContractKit
package import Crypto
public import Foundation

/// The public, verifiable part of a certificate and its Ed25519 signature. It names the holder
/// by name and participant id: no NIK, no birth date. The signature covers the
/// canonical JSON form of ``Payload`` (keys sorted, no whitespace, no escaped slashes).
public struct CertificateDocument: Codable, Sendable, Equatable {
    /// The official who signed, as the programme plan names them.
    public struct Signatory: Codable, Sendable, Equatable {
        public var name: String
        public var title: String
        public var place: String

        public init(name: String, title: String, place: String) {
            self.name = name
            self.title = title
            self.place = place
        }
    }

    public struct Payload: Codable, Sendable, Equatable {
        public var certificateID: String
        /// PELATIHAN, KOMPETENSI, SKK_KONSTRUKSI or LISENSI_K3.
        public var kind: String
        public var issuer: String
        public var certificateNumber: String
        public var registrationNumber: String?
        public var participantID: String
        public var programme: String
        public var scheme: String?
        /// `YYYY-MM-DD`.
        public var issuedOn: String
        /// `YYYY-MM-DD`, nil when the certificate does not expire (training).
        public var validUntil: String?
        /// The signing key's fingerprint (``CertificateSigner/keyID``).
        public var keyID: String
        /// `YYYY-MM-DD` (WITA): the day the worker signed it, which the verifier checks against
        /// the key's validity window. A training certificate is dated the class's last day but
        /// may be signed later, under a newer key. Absent in documents signed before key
        /// rotation existed (their window is checked on ``issuedOn``); an absent value is not
        /// encoded, so those documents' signed bytes are unchanged.
        public var signedOn: String?
        /// The holder's name as on the KTP (absent in documents signed before names reached the
        /// certificates role; not encoded then).
        public var holderName: String?
        /// The issuing official (absent when the plan names none, and in older documents).
        public var signatory: Signatory?
        /// What a licence qualifies for, as its issuer wrote it (SKK Konstruksi and Lisensi K3
        /// records only; not encoded when absent).
        public var qualification: String?

        /// A payload to sign (``CertificateSigner/sign(_:at:)`` sets `keyID` and `signedOn`).
        public init(
            certificateID: String, kind: String, issuer: String, certificateNumber: String, registrationNumber: String?,
            participantID: String, programme: String, scheme: String?, issuedOn: String, validUntil: String?,
            keyID: String = "", signedOn: String? = nil, holderName: String? = nil, signatory: Signatory? = nil,
            qualification: String? = nil
        ) {
            self.certificateID = certificateID
            self.kind = kind
            self.issuer = issuer
            self.certificateNumber = certificateNumber
            self.registrationNumber = registrationNumber
            self.participantID = participantID
            self.programme = programme
            self.scheme = scheme
            self.issuedOn = issuedOn
            self.validUntil = validUntil
            self.keyID = keyID
            self.signedOn = signedOn
            self.holderName = holderName
            self.signatory = signatory
            self.qualification = qualification
        }
    }

    public var payload: Payload
    /// base64url (no padding) Ed25519 signature over ``canonical(_:)`` of the payload.
    public var signature: String

    /// A document as read back or received (``CertificateSigner/sign(_:at:)`` makes new ones).
    public init(payload: Payload, signature: String) {
        self.payload = payload
        self.signature = signature
    }

    /// The bytes the signature covers.
    public static func canonical(_ payload: Payload) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(payload)
    }

    /// The short code printed and put in the QR code: the certificate id and the first 16
    /// characters of the signature's SHA-256 (base64url), e.g. `BPN-2025-PBK-00001.k3J9…`.
    public var verificationCode: String {
        let digest = SHA256.hash(data: Data(signature.utf8))
        return payload.certificateID + "." + String(Data(digest).base64URL.prefix(16))
    }

    /// The document as JSON (what the holder keeps and a verifier reads).
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

/// Signs certificates with the issuing worker's Ed25519 key (swift-crypto).
public struct CertificateSigner: Sendable {
    private let key: Key
    /// Whether this is the well-known development key.
    public let isDevelopmentKey: Bool

    /// A key for tests and the sample run only (derived from a fixed seed).
    public static let development = try! CertificateSigner(
        rawKey: Data(SHA256.hash(data: Data("kaltim-development-certificate-key".utf8))), development: true)

    init(rawKey: Data, development: Bool) throws {
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: rawKey)
        self.key = Key(key)
        isDevelopmentKey = development
        keyID = Self.keyID(ofPublicKey: key.publicKey.rawRepresentation)
    }

    /// The private key, made from its raw bytes once: making it derives the public key (a scalar
    /// multiplication), which every signature would otherwise repeat. Never changed after init;
    /// swift-crypto does not declare the key `Sendable`.
    private final class Key: @unchecked Sendable {
        let privateKey: Curve25519.Signing.PrivateKey
        init(_ privateKey: Curve25519.Signing.PrivateKey) { self.privateKey = privateKey }
    }

    /// Reads a private key file: 32 raw bytes, or their 64 hex digits.
    public init(file path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CertificateError(.signingKey, "cannot read the signing key file \(path)")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let raw = text.count == 64 ? Data(hex: text) : data
        guard let raw, raw.count == 32 else {
            throw CertificateError(.signingKey, "the signing key file \(path) must hold 32 bytes or 64 hex digits")
        }
        try self.init(rawKey: raw, development: false)
    }

    /// A new random key, as 64 hex digits (for `kaltim-worker certificate-key`).
    public static func generateHex() -> String {
        Curve25519.Signing.PrivateKey().rawRepresentation.map { String(format: "%02x", $0) }.joined()
    }

    package var privateKey: Curve25519.Signing.PrivateKey { key.privateKey }

    /// The public key, 64 hex digits: what verifiers need.
    public var publicKeyHex: String { privateKey.publicKey.rawRepresentation.map { String(format: "%02x", $0) }.joined() }

    /// A short fingerprint of the public key (first 16 hex digits of its SHA-256), computed once
    /// (every certificate's PDF asks whether it is the development key's).
    public let keyID: String

    static func keyID(ofPublicKey raw: Data) -> String {
        SHA256.hash(data: raw).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// Signs a payload (its `keyID` is set to this key's, its `signedOn` to the WITA day of
    /// `date`).
    public func sign(_ payload: CertificateDocument.Payload, at date: Date) throws -> CertificateDocument {
        var payload = payload
        payload.keyID = keyID
        payload.signedOn = CertificateKeyRing.witaDay(date)
        let signature = try privateKey.signature(for: CertificateDocument.canonical(payload))
        return CertificateDocument(payload: payload, signature: signature.base64URL)
    }
}

/// Why a certificate does not verify; each failure has its own reason.
public enum CertificateVerdict: Sendable, Equatable {
    case valid
    /// Not signed with a key the verifier knows (its key id is on no key of the ring).
    case unknownKey
    /// Signed with a known key outside the days that key may sign on (a retired key, or one
    /// not in service yet).
    case keyNotValid(on: String)
    /// The signature does not match the content: something was changed.
    case signatureInvalid
    case revoked(reason: String)
    case expired(on: String)
    case notYetValid(from: String)
    /// Not a certificate document at all.
    case malformed(String)

    /// A stable code for the verdict.
    public var code: String {
        switch self {
        case .valid: "VALID"
        case .unknownKey: "UNKNOWN_KEY"
        case .keyNotValid: "KEY_NOT_VALID_ON_DATE"
        case .signatureInvalid: "SIGNATURE_INVALID"
        case .revoked: "REVOKED"
        case .expired: "EXPIRED"
        case .notYetValid: "NOT_YET_VALID"
        case .malformed: "MALFORMED"
        }
    }
}

/// The issuer's public keys a verifier knows, each with the days it may sign on.
///
/// A key is retired by giving it an end day and a new one is put in service from the next day
/// (docs/OPERATIONS.md, "Rotating the certificate key"): every certificate signed under the old
/// key stays valid, and a certificate the old key signs after its end day does not verify. The
/// key id is always computed from the public key, never taken from the file.
public struct CertificateKeyRing: Sendable {
    /// One public key and its window (both ends included; nil for open).
    public struct Key: Sendable, Equatable {
        /// The key's fingerprint, as in ``CertificateDocument/Payload/keyID``.
        public let keyID: String
        let publicKey: Data
        /// `YYYY-MM-DD`: the first day it signs on; nil for no start.
        public let from: String?
        /// `YYYY-MM-DD`: the last day it signs on; nil while it is in service.
        public let until: String?

        /// - Throws: ``CertificateError`` for a key that is not 64 hex digits of an Ed25519
        ///   public key, a day that is not `YYYY-MM-DD`, or an end before the start.
        public init(publicKeyHex: String, from: String? = nil, until: String? = nil) throws {
            guard let raw = Data(hex: publicKeyHex.trimmingCharacters(in: .whitespacesAndNewlines)), raw.count == 32,
                (try? Curve25519.Signing.PublicKey(rawRepresentation: raw)) != nil
            else { throw CertificateError(.publicKey, "a public key is 64 hex digits") }
            for day in [from, until].compactMap({ $0 }) where !CertificateKeyRing.isDay(day) {
                throw CertificateError(.keyRing, "a key's window is given in days, YYYY-MM-DD")
            }
            if let from, let until, until < from {
                throw CertificateError(.keyRing, "the key \(CertificateSigner.keyID(ofPublicKey: raw)) ends before it starts")
            }
            keyID = CertificateSigner.keyID(ofPublicKey: raw)
            publicKey = raw
            self.from = from
            self.until = until
        }

        func covers(_ day: String) -> Bool { (from.map { $0 <= day } ?? true) && (until.map { day <= $0 } ?? true) }
    }

    /// The keys, by key id.
    public let keys: [String: Key]

    /// - Throws: ``CertificateError`` when a key is given twice.
    public init(_ keys: [Key]) throws {
        var byID: [String: Key] = [:]
        for key in keys {
            guard byID.updateValue(key, forKey: key.keyID) == nil else {
                throw CertificateError(.keyRing, "the key \(key.keyID) is given twice")
            }
        }
        guard !byID.isEmpty else { throw CertificateError(.keyRing, "a key ring needs at least one key") }
        self.keys = byID
    }

    /// Reads a key ring file: `{"keys": [{"publicKey": "<64 hex>", "from": "2025-01-01",
    /// "until": "2026-06-30"}, …]}` (`from` and `until` optional). Unknown fields are refused, so
    /// a misspelt `untill` cannot leave a retired key open.
    public init(json data: Data) throws {
        struct File: Decodable {
            struct Entry: Decodable {
                let publicKey: String
                let from: String?
                let until: String?
            }
            let keys: [Entry]
        }
        let allowed: Set<String> = ["publicKey", "from", "until"]
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], Set(object.keys) == ["keys"],
            let entries = object["keys"] as? [[String: Any]], entries.allSatisfy({ Set($0.keys).isSubset(of: allowed) }),
            let file = try? JSONDecoder().decode(File.self, from: data)
        else {
            throw CertificateError(
                .keyRing, "a key ring is {\"keys\": [{\"publicKey\": HEX, \"from\": DAY, \"until\": DAY}]} and nothing else")
        }
        try self.init(file.keys.map { try Key(publicKeyHex: $0.publicKey, from: $0.from, until: $0.until) })
    }

    /// Reads a key ring file (see ``init(json:)``).
    public init(file path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CertificateError(.keyRing, "cannot read the key ring \(path)")
        }
        try self.init(json: data)
    }

    /// `YYYY-MM-DD` of `date` in WITA (UTC+8, no daylight saving).
    public static func witaDay(_ date: Date) -> String {
        CivilDay.text(date, offset: CivilDay.wita) ?? "0000-00-00"
    }

    /// Whether `text` is a day that exists, `YYYY-MM-DD`.
    public static func isDay(_ text: String) -> Bool {
        CivilDay.days(text) != nil
    }
}

/// Checks a certificate document: key and its window, signature, revocation status, validity
/// dates.
public struct CertificateVerifier: Sendable {
    private let ring: CertificateKeyRing

    /// A verifier trusting every key of a key ring, each on the days of its window.
    public init(keyRing: CertificateKeyRing) {
        ring = keyRing
    }

    /// A verifier trusting one public key, given as 64 hex digits, on any day.
    public init(publicKeyHex: String) throws {
        ring = try CertificateKeyRing([CertificateKeyRing.Key(publicKeyHex: publicKeyHex)])
    }

    /// The verdict for a document's bytes.
    /// - Parameters:
    ///   - revocations: revoked certificate ids with their reason codes.
    ///   - today: `YYYY-MM-DD` (WITA) of the check.
    public func verify(_ json: Data, revocations: [String: String] = [:], today: String) -> CertificateVerdict {
        let document: CertificateDocument
        do {
            document = try JSONDecoder().decode(CertificateDocument.self, from: json)
        } catch {
            return .malformed("not a certificate document")
        }
        return verify(document, revocations: revocations, today: today)
    }

    /// The verdict for a decoded document (see ``verify(_:revocations:today:)-(Data,_,_)``).
    public func verify(_ document: CertificateDocument, revocations: [String: String] = [:], today: String) -> CertificateVerdict
    {
        guard let key = ring.keys[document.payload.keyID] else { return .unknownKey }
        guard let publicKey = try? Curve25519.Signing.PublicKey(rawRepresentation: key.publicKey),
            let signature = Data(base64URL: document.signature),
            let signed = try? CertificateDocument.canonical(document.payload),
            publicKey.isValidSignature(signature, for: signed)
        else { return .signatureInvalid }
        // A document without a signing day was signed before rotation existed: only a key in
        // service since then (no start day) can have signed it, and its issue day stands in.
        // A key put in service later always records the day, so a holder of that key cannot
        // leave it out to escape the window.
        guard let signedOn = document.payload.signedOn ?? (key.from == nil ? document.payload.issuedOn : nil) else {
            return .keyNotValid(on: document.payload.issuedOn)
        }
        guard CertificateKeyRing.isDay(signedOn), key.covers(signedOn) else { return .keyNotValid(on: signedOn) }
        if let reason = revocations[document.payload.certificateID] { return .revoked(reason: reason) }
        if today < document.payload.issuedOn { return .notYetValid(from: document.payload.issuedOn) }
        if let until = document.payload.validUntil, today > until { return .expired(on: until) }
        return .valid
    }
}

/// A certificate key or document that cannot be used.
public struct CertificateError: Error, CustomStringConvertible {
    /// What went wrong, for a caller to switch on.
    public enum Code: String, Sendable {
        /// A signing key file that cannot be read or is not a key.
        case signingKey = "signing-key"
        /// A public key that is not 64 hex digits.
        case publicKey = "public-key"
        /// A key ring file that cannot be read or holds a bad entry.
        case keyRing = "key-ring"
        /// cairo or libqrencode failed drawing the PDF.
        case rendering
        /// A stored certificate without its signed document.
        case storedDocument = "stored-document"
        /// A certificate's file could not be put in place.
        case fileWrite = "file-write"
    }

    public let code: Code
    public let description: String
    package init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }
}

extension Data {
    var base64URL: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    init?(base64URL text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        self.init(base64Encoded: base64)
    }

    init?(hex text: String) {
        guard text.count % 2 == 0, text.allSatisfy(\.isHexDigit) else { return nil }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.init(bytes)
    }
}
