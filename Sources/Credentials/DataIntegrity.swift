public import Crypto
public import Foundation

/// A Data Integrity proof with the `eddsa-jcs-2022` cryptosuite (W3C, "Data Integrity EdDSA
/// Cryptosuites v1.0", §3.3): Ed25519 over the SHA-256 of the proof's options and the SHA-256
/// of the document, each in its JCS canonical form.
public enum EddsaJcs2022 {
    /// The cryptosuite's name in a proof.
    public static let cryptosuite = "eddsa-jcs-2022"

    /// `document` (an object without `proof`) with an `assertionMethod` proof signed by `key`.
    /// - Parameters:
    ///   - created: the proof's `created`, an XML Schema dateTime (`2025-09-01T04:00:00Z`).
    ///   - verificationMethod: defaults to the did:key of `key`'s public key.
    /// - Throws: ``CredentialError`` when `document` is not an object or already has a proof.
    public static func sign(
        _ document: JSONValue, with key: Curve25519.Signing.PrivateKey, created: String,
        verificationMethod: String? = nil
    ) throws -> JSONValue {
        guard var members = document.object, members["proof"] == nil else {
            throw CredentialError(.proof, "only an object without a proof can be signed")
        }
        var options: [String: JSONValue] = [
            "type": .string("DataIntegrityProof"), "cryptosuite": .string(cryptosuite),
            "created": .string(created), "proofPurpose": .string("assertionMethod"),
            "verificationMethod": .string(
                verificationMethod ?? Multibase.verificationMethod(ed25519PublicKey: key.publicKey.rawRepresentation)),
        ]
        if let context = members["@context"] { options["@context"] = context }
        let signature = try key.signature(for: hashData(document: document, options: .object(options)))
        options["proofValue"] = .string(Multibase.base58btc(signature))
        members["proof"] = .object(options)
        return .object(members)
    }

    /// Whether `secured` carries one valid `eddsa-jcs-2022` proof by the did:key it names, and
    /// which public key that is (the caller decides whether it trusts that key).
    /// - Throws: ``CredentialError`` (`proof`, `key`) for a proof that cannot be read.
    public static func verify(_ secured: JSONValue) throws -> (valid: Bool, publicKey: Data) {
        guard var members = secured.object, var options = members.removeValue(forKey: "proof")?.object else {
            throw CredentialError(.proof, "the document has no single proof")
        }
        guard options["type"] == .string("DataIntegrityProof"), options["cryptosuite"] == .string(cryptosuite),
            options["proofPurpose"] == .string("assertionMethod"),
            let method = options["verificationMethod"]?.string,
            let proofValue = options.removeValue(forKey: "proofValue")?.string
        else { throw CredentialError(.proof, "the proof is not an eddsa-jcs-2022 DataIntegrityProof") }
        let publicKey = try Multibase.ed25519PublicKey(verificationMethod: method)
        // An issuer that is a DID (as an object's id, or the issuer itself) must be the key that
        // signed; an issuer named by a URL is the caller's to trust.
        let issuer = members["issuer"]?.object?["id"]?.string ?? members["issuer"]?.string
        if let issuer, issuer.hasPrefix("did:"), issuer != method.split(separator: "#").first.map(String.init) {
            return (false, publicKey)
        }
        // The proof's context, when it has one, must be the document's (§3.3.2).
        if let context = options["@context"], context != members["@context"] { return (false, publicKey) }
        guard let signature = Multibase.decodeBase58btc(proofValue), signature.count == 64,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey)
        else { return (false, publicKey) }
        let data = hashData(document: .object(members), options: .object(options))
        return (key.isValidSignature(signature, for: data), publicKey)
    }

    /// SHA-256 of the canonical proof options, then SHA-256 of the canonical document (§3.3.4).
    public static func hashData(document: JSONValue, options: JSONValue) -> Data {
        Data(SHA256.hash(data: JCS.canonical(options))) + Data(SHA256.hash(data: JCS.canonical(document)))
    }
}
