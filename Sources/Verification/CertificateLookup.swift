public import CertificateTrust
public import Foundation
public import Jobs
public import Programme

/// What the public verification service says about one verification code: nothing but the
/// status, the certificate's id and kind, the holder's name partly masked, the programme, the
/// issuer and the dates.
public struct VerificationResult: Codable, Sendable, Equatable {
    /// The verdict a visitor reads.
    public enum Status: String, Codable, Sendable {
        /// Genuine, not revoked, within its dates.
        case valid = "VALID"
        /// Genuine and revoked.
        case revoked = "REVOKED"
        /// Genuine and past its validity.
        case expired = "EXPIRED"
        /// Genuine and dated in the future.
        case notYetValid = "NOT_YET_VALID"
        /// A certificate of that number exists and its code matches, but its record does not
        /// verify (a key not on the ring or outside its window, a payload changed after
        /// signing): nothing from it is shown. A record whose signature itself was changed no
        /// longer matches its code, and is UNKNOWN.
        case invalid = "INVALID"
        /// No certificate has this code (also for a code that is not one).
        case unknown = "UNKNOWN"
    }

    public var status: Status
    public var certificateID: String?
    /// `PELATIHAN`, `KOMPETENSI`, `SKK_KONSTRUKSI` or `LISENSI_K3`.
    public var kind: String?
    /// The holder's name partly masked (``CertificateLookup/maskedName(_:)``).
    public var holder: String?
    /// The programme's name.
    public var programme: String?
    public var issuer: String?
    /// `YYYY-MM-DD`.
    public var issuedOn: String?
    /// `YYYY-MM-DD`; nil for a certificate that does not expire.
    public var validUntil: String?
    /// What a licence qualifies for (SKK Konstruksi and Lisensi K3 records only).
    public var qualification: String?

    public init(
        status: Status, certificateID: String? = nil, kind: String? = nil, holder: String? = nil, programme: String? = nil,
        issuer: String? = nil, issuedOn: String? = nil, validUntil: String? = nil, qualification: String? = nil
    ) {
        self.status = status
        self.certificateID = certificateID
        self.kind = kind
        self.holder = holder
        self.programme = programme
        self.issuer = issuer
        self.issuedOn = issuedOn
        self.validUntil = validUntil
        self.qualification = qualification
    }

    static let unknown = VerificationResult(status: .unknown)
}

/// Looks a verification code up in the certificates role's store (read only) and checks the
/// stored signed document against the key ring: the answer comes from the signature, never
/// from the store's word alone.
public struct CertificateLookup: Sendable {
    /// How the store is read.
    public enum Access: Sendable {
        /// The tables `cert_certificates` and `cert_revocations` (a SQLite file).
        case tables
        /// The function `verification_document(code)` of deploy/postgres/reader-grants.sql: one
        /// certificate for its whole code, so that the service's database user can list nothing.
        case function
    }

    let store: any MessageStore
    let verifier: CertificateVerifier
    let catalogue: ProgrammeCatalogue
    let access: Access
    let today: @Sendable () -> String

    /// - Parameters:
    ///   - store: the certificates role's store, opened for reading.
    ///   - today: the day of the check, `YYYY-MM-DD` in WITA (injectable for tests).
    public init(
        store: any MessageStore, verifier: CertificateVerifier, catalogue: ProgrammeCatalogue, access: Access = .tables,
        today: @escaping @Sendable () -> String = { CertificateKeyRing.witaDay(Date()) }
    ) {
        self.store = store
        self.verifier = verifier
        self.catalogue = catalogue
        self.access = access
        self.today = today
    }

    /// The longest code accepted (a certificate id, a dot and 16 characters).
    public static let maximumCodeLength = 120

    /// The verdict for a code as typed or scanned. A code that is not one, or names no
    /// certificate, or whose check part does not match the certificate's, is `UNKNOWN`: the
    /// service never tells whether a certificate id exists.
    public func result(forCode code: String) async throws -> VerificationResult {
        let code = code.trimmingCharacters(in: .whitespacesAndNewlines)
        guard code.utf8.count <= Self.maximumCodeLength,
            let match = code.wholeMatch(of: /([A-Za-z0-9][A-Za-z0-9-]{0,99})\.([A-Za-z0-9_-]{16})/)
        else { return .unknown }
        let certificateID = String(match.output.1)
        // One read: the document and whether it is revoked (the reason is never shown).
        let row: [String: SQLValue]?
        switch access {
        case .tables:
            row = try await store.read(
                """
                SELECT c.document, r.certificate_id IS NOT NULL AS revoked FROM cert_certificates c
                LEFT JOIN cert_revocations r ON r.certificate_id = c.certificate_id WHERE c.certificate_id = ?
                """, [.text(certificateID)]
            ).first
        case .function:
            row = try await store.read("SELECT document, revoked FROM verification_document(?)", [.text(code)]).first
        }
        let stored = row?["document"]
        // The same work whether the id exists or not (decoding a document, hashing its
        // signature), so that the time of an answer does not tell which ids exist.
        var json = Self.decoy
        if case .blob(let data)? = stored { json = data }
        let document = try? JSONDecoder().decode(CertificateDocument.self, from: json)
        let matches = document.map { Self.sameCode($0.verificationCode, code) } ?? false
        guard stored != nil, let document, matches else { return .unknown }
        let revocations = row?["revoked"]?.integer == 1 ? [certificateID: ""] : [:]
        let status: VerificationResult.Status
        switch verifier.verify(document, revocations: revocations, today: today()) {
        case .valid: status = .valid
        case .revoked: status = .revoked
        case .expired: status = .expired
        case .notYetValid: status = .notYetValid
        case .unknownKey, .keyNotValid, .signatureInvalid, .malformed:
            return VerificationResult(status: .invalid, certificateID: certificateID)
        }
        let payload = document.payload
        let competency = payload.kind == "KOMPETENSI"
        let licence = payload.issuer.hasPrefix("LSP ") ? String(payload.issuer.dropFirst(4)) : payload.issuer
        let programme = catalogue.centres.lazy.flatMap(\.programmes).first { $0.code == payload.programme }
        return VerificationResult(
            status: status, certificateID: certificateID, kind: payload.kind,
            holder: payload.holderName.map(Self.maskedName),
            programme: programme?.name ?? payload.programme,
            issuer: competency
                ? catalogue.lspName(licence: licence).map { "\($0) (\(licence))" } ?? payload.issuer
                : payload.issuer,
            issuedOn: payload.issuedOn, validUntil: payload.validUntil, qualification: payload.qualification)
    }

    /// A document decoded in place of a missing one (see ``result(forCode:)``).
    static let decoy = Data(
        #"{"payload":{"certificateID":"X","kind":"PELATIHAN","issuer":"X","certificateNumber":"X","participantID":"X","programme":"X","issuedOn":"2000-01-01","keyID":"X"},"signature":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#
            .utf8)

    /// Whether two codes are equal, looking at every character either way.
    static func sameCode(_ left: String, _ right: String) -> Bool {
        let a = Array(left.utf8)
        let b = Array(right.utf8)
        var difference = a.count ^ b.count
        for index in 0..<max(a.count, b.count) {
            difference |= Int((index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0))
        }
        return difference == 0
    }

    /// A name partly masked: the first word whole and the others as initials ("Siti Aminah
    /// Putri" → "Siti A. P."); a one-word name keeps its first two letters ("Sukarni" →
    /// "Su*****"), one letter when it has at most three ("A***"). Enough for an employer to
    /// match the person in front of them, too little to learn a stranger's name from a guessed
    /// code.
    public static func maskedName(_ name: String) -> String {
        let words = name.split(whereSeparator: \.isWhitespace).map(String.init)
        guard let first = words.first else { return "" }
        if words.count == 1 {
            let shown = first.prefix(first.count >= 4 ? 2 : 1)
            return shown + String(repeating: "*", count: max(3, first.count - shown.count))
        }
        return ([first] + words.dropFirst().map { "\($0.prefix(1))." }).joined(separator: " ")
    }
}
