public import Foundation

/// Multibase base58btc (`z…`, the Bitcoin alphabet) and the `did:key` form of an Ed25519
/// public key, as Data Integrity proofs name their keys and values.
public enum Multibase {
    private static let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)

    /// `z` followed by the bytes in base58btc.
    public static func base58btc(_ bytes: Data) -> String {
        var digits: [UInt8] = []  // base-58 digits, least significant first
        for byte in bytes {
            var carry = Int(byte)
            for index in digits.indices {
                carry += Int(digits[index]) << 8
                digits[index] = UInt8(carry % 58)
                carry /= 58
            }
            while carry > 0 {
                digits.append(UInt8(carry % 58))
                carry /= 58
            }
        }
        let zeros = bytes.prefix { $0 == 0 }.count
        return "z" + String(repeating: "1", count: zeros)
            + String(decoding: digits.reversed().map { alphabet[Int($0)] }, as: UTF8.self)
    }

    /// The bytes of a `z…` base58btc value; nil for another base or a character outside the alphabet.
    public static func decodeBase58btc(_ text: String) -> Data? {
        guard text.first == "z", text.utf8.count <= 1024 else { return nil }
        var bytes: [UInt8] = []  // least significant first
        let body = text.utf8.dropFirst()
        for character in body {
            guard let value = alphabet.firstIndex(of: character) else { return nil }
            var carry = value
            for index in bytes.indices {
                carry += Int(bytes[index]) * 58
                bytes[index] = UInt8(carry & 0xFF)
                carry >>= 8
            }
            while carry > 0 {
                bytes.append(UInt8(carry & 0xFF))
                carry >>= 8
            }
        }
        let zeros = body.prefix { $0 == UInt8(ascii: "1") }.count
        return Data(repeating: 0, count: zeros) + Data(bytes.reversed())
    }

    /// The multicodec prefix of an Ed25519 public key (0xed, as an unsigned varint).
    static let ed25519PublicKeyPrefix: [UInt8] = [0xED, 0x01]

    /// `did:key:z6Mk…` of a 32-byte Ed25519 public key.
    public static func didKey(ed25519PublicKey raw: Data) -> String {
        "did:key:" + base58btc(Data(ed25519PublicKeyPrefix) + raw)
    }

    /// The verification method of a did:key: `did:key:z6Mk…#z6Mk…`.
    public static func verificationMethod(ed25519PublicKey raw: Data) -> String {
        let did = didKey(ed25519PublicKey: raw)
        return did + "#" + did.dropFirst("did:key:".count)
    }

    /// The Ed25519 public key a did:key verification method names (`did:key:X#X` or `did:key:X`).
    /// - Throws: ``CredentialError`` (`key`) for anything else.
    public static func ed25519PublicKey(verificationMethod: String) throws -> Data {
        let parts = verificationMethod.split(separator: "#", omittingEmptySubsequences: false)
        guard parts.count <= 2, parts[0].hasPrefix("did:key:") else {
            throw CredentialError(.key, "the verification method is not a did:key")
        }
        let identifier = String(parts[0].dropFirst("did:key:".count))
        guard parts.count == 1 || parts[1] == identifier,
            let bytes = decodeBase58btc(identifier), bytes.count == 34, bytes.starts(with: ed25519PublicKeyPrefix)
        else { throw CredentialError(.key, "the did:key does not name an Ed25519 public key") }
        return bytes.dropFirst(2)
    }
}
