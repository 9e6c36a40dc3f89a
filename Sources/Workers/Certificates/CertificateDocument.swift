import Crypto
public import Foundation

/// The public, verifiable part of a certificate and its Ed25519 signature. It names the
/// participant by participant id only: no NIK, no birth date. The signature covers the
/// canonical JSON form of ``Payload`` (keys sorted, no whitespace, no escaped slashes).
public struct CertificateDocument: Codable, Sendable, Equatable {
    public struct Payload: Codable, Sendable, Equatable {
        public var certificateID: String
        /// PELATIHAN or KOMPETENSI.
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
    }

    public var payload: Payload
    /// base64url (no padding) Ed25519 signature over ``canonicalPayload``.
    public var signature: String

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
    private let rawKey: Data
    /// Whether this is the well-known development key.
    public let isDevelopmentKey: Bool

    /// A key for tests and the sample run only (derived from a fixed seed).
    public static let development = try! CertificateSigner(
        rawKey: Data(SHA256.hash(data: Data("kaltim-development-certificate-key".utf8))), development: true)

    init(rawKey: Data, development: Bool) throws {
        _ = try Curve25519.Signing.PrivateKey(rawRepresentation: rawKey)
        self.rawKey = rawKey
        isDevelopmentKey = development
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

    private var privateKey: Curve25519.Signing.PrivateKey {
        // Checked in init.
        try! Curve25519.Signing.PrivateKey(rawRepresentation: rawKey)
    }

    /// The public key, 64 hex digits: what verifiers need.
    public var publicKeyHex: String { privateKey.publicKey.rawRepresentation.map { String(format: "%02x", $0) }.joined() }

    /// A short fingerprint of the public key (first 16 hex digits of its SHA-256).
    public var keyID: String { Self.keyID(ofPublicKey: privateKey.publicKey.rawRepresentation) }

    static func keyID(ofPublicKey raw: Data) -> String {
        SHA256.hash(data: raw).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// Signs a payload (its `keyID` is set to this key's).
    public func sign(_ payload: CertificateDocument.Payload) throws -> CertificateDocument {
        var payload = payload
        payload.keyID = keyID
        let signature = try privateKey.signature(for: CertificateDocument.canonical(payload))
        return CertificateDocument(payload: payload, signature: signature.base64URL)
    }
}

/// Why a certificate does not verify; each failure has its own reason.
public enum CertificateVerdict: Sendable, Equatable {
    case valid
    /// Not signed with the key the verifier trusts (its key id differs).
    case unknownKey
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
        case .signatureInvalid: "SIGNATURE_INVALID"
        case .revoked: "REVOKED"
        case .expired: "EXPIRED"
        case .notYetValid: "NOT_YET_VALID"
        case .malformed: "MALFORMED"
        }
    }
}

/// Checks a certificate document: key, signature, revocation status, validity dates.
public struct CertificateVerifier: Sendable {
    private let publicKeyRaw: Data

    /// A verifier trusting the public key given as 64 hex digits.
    public init(publicKeyHex: String) throws {
        guard let raw = Data(hex: publicKeyHex.trimmingCharacters(in: .whitespacesAndNewlines)), raw.count == 32 else {
            throw CertificateError(.publicKey, "a public key is 64 hex digits")
        }
        _ = try Curve25519.Signing.PublicKey(rawRepresentation: raw)
        publicKeyRaw = raw
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

    public func verify(_ document: CertificateDocument, revocations: [String: String] = [:], today: String) -> CertificateVerdict
    {
        guard document.payload.keyID == CertificateSigner.keyID(ofPublicKey: publicKeyRaw) else { return .unknownKey }
        guard let publicKey = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKeyRaw),
            let signature = Data(base64URL: document.signature),
            let signed = try? CertificateDocument.canonical(document.payload),
            publicKey.isValidSignature(signature, for: signed)
        else { return .signatureInvalid }
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
        /// cairo or libqrencode failed drawing the PDF.
        case rendering
        /// A stored certificate without its signed document.
        case storedDocument = "stored-document"
        /// A certificate's file could not be put in place.
        case fileWrite = "file-write"
    }

    public let code: Code
    public let description: String
    init(_ code: Code, _ description: String) {
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
