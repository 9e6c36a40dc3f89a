import ContractKit
import Crypto
import Foundation

/// The secret key of the NIK blind index (DOMAIN.md §6.3): the intake worker stores and
/// compares NIKs only as HMAC-SHA-256 values under this key, never in clear.
public struct NIKKey: Sendable {
    private let bytes: [UInt8]
    /// Whether this is the well-known development key (a warning is logged in that case).
    public let isDevelopmentKey: Bool

    /// The development key: for tests and the sample run only.
    public static let development = NIKKey(bytes: Array("kaltim-development-nik-key-not-secret".utf8), development: true)

    init(bytes: [UInt8], development: Bool) {
        self.bytes = bytes
        isDevelopmentKey = development
    }

    /// Reads a key file (at least 32 bytes; a hex text file is read as its bytes' hex value).
    public init(file path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NIKKeyError("cannot read the NIK key file \(path)")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        var bytes = Array(data)
        if text.count >= 64, text.count % 2 == 0, text.allSatisfy(\.isHexDigit) {
            bytes = stride(from: 0, to: text.count, by: 2).compactMap {
                let start = text.index(text.startIndex, offsetBy: $0)
                return UInt8(text[start..<text.index(start, offsetBy: 2)], radix: 16)
            }
        }
        guard bytes.count >= 32 else { throw NIKKeyError("the NIK key file \(path) holds fewer than 32 bytes") }
        self.init(bytes: bytes, development: false)
    }

    /// The blind index of a normalised NIK (64 hex characters).
    public func blindIndex(_ nik: String) -> String {
        Hex.lowercase(HMAC<SHA256>.authenticationCode(for: Data(nik.utf8), using: SymmetricKey(data: bytes)))
    }
}

/// Why a NIK key file cannot be used.
public struct NIKKeyError: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) { self.description = description }
}
