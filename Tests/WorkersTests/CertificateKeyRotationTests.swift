import CertificateTrust
import ContractKit
import Contracts
import Crypto
import Foundation
import Testing
import Workers

/// Rotating the certificate key: the verifier's key ring knows every key with the days it
/// signs on, so certificates signed before a rotation stay valid and a retired key signs
/// nothing new.
struct CertificateKeyRotationTests {
    /// 12:00 WITA of a day.
    static func noon(_ day: String) -> Date {
        ISO8601DateFormatter().date(from: day + "T04:00:00Z")!
    }

    static func payload(issuedOn: String = "2025-08-08") -> CertificateDocument.Payload {
        CertificateDocument.Payload(
            certificateID: "BTG-2025-PBK-00001", kind: "PELATIHAN", issuer: "BLKI Bontang",
            certificateNumber: "00001/PBK/BTG/2025", registrationNumber: nil, participantID: "PST-1",
            programme: "TATA_GRAHA", scheme: nil, issuedOn: issuedOn, validUntil: nil, keyID: "")
    }

    @Test func certificatesOfTheOldAndTheNewKeyVerifyAndARetiredKeySignsNothingNew() throws {
        let old = try newSigner()
        let new = try newSigner()
        // The rotation on 1 September 2025: the old key's last day is 31 August.
        let ring = try CertificateKeyRing([
            .init(publicKeyHex: old.publicKeyHex, until: "2025-08-31"),
            .init(publicKeyHex: new.publicKeyHex, from: "2025-09-01"),
        ])
        let verifier = CertificateVerifier(keyRing: ring)
        let before = try old.sign(Self.payload(), at: Self.noon("2025-08-20"))
        #expect(before.payload.signedOn == "2025-08-20")
        #expect(verifier.verify(before, today: "2026-01-05") == .valid, "signed before the rotation: still valid")
        // A training certificate dated the class's last day, signed after the rotation.
        let after = try new.sign(Self.payload(issuedOn: "2025-08-08"), at: Self.noon("2025-09-02"))
        #expect(verifier.verify(after, today: "2026-01-05") == .valid)
        // The retired key, still in someone's hands, signs after its last day: refused.
        let late = try old.sign(Self.payload(), at: Self.noon("2025-09-02"))
        #expect(verifier.verify(late, today: "2026-01-05") == .keyNotValid(on: "2025-09-02"))
        #expect(verifier.verify(late, today: "2026-01-05").code == "KEY_NOT_VALID_ON_DATE")
        // The new key before it was put in service: refused too.
        let early = try new.sign(Self.payload(), at: Self.noon("2025-08-30"))
        #expect(verifier.verify(early, today: "2026-01-05") == .keyNotValid(on: "2025-08-30"))
        // Backdating the signing day breaks the signature.
        var backdated = late
        backdated.payload.signedOn = "2025-08-20"
        #expect(verifier.verify(backdated, today: "2026-01-05") == .signatureInvalid)
        // A key ring without the old key no longer knows its certificates.
        let newOnly = CertificateVerifier(keyRing: try CertificateKeyRing([.init(publicKeyHex: new.publicKeyHex)]))
        #expect(newOnly.verify(before, today: "2026-01-05") == .unknownKey)
    }

    @Test func aDocumentSignedBeforeRotationExistedIsCheckedOnItsIssueDate() throws {
        // Signed as the worker signed before signedOn existed: the development key over a
        // payload without it.
        let development = try Curve25519.Signing.PrivateKey(
            rawRepresentation: Data(SHA256.hash(data: Data("kaltim-development-certificate-key".utf8))))
        var payload = Self.payload(issuedOn: "2025-08-08")
        payload.keyID = CertificateSigner.development.keyID
        let canonical = try CertificateDocument.canonical(payload)
        #expect(!String(decoding: canonical, as: UTF8.self).contains("signedOn"), "an absent day is not encoded")
        let signature = try development.signature(for: canonical).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        let legacy = CertificateDocument(payload: payload, signature: signature)
        let key = CertificateSigner.development.publicKeyHex
        let inService = CertificateVerifier(keyRing: try CertificateKeyRing([.init(publicKeyHex: key, until: "2025-08-31")]))
        #expect(inService.verify(legacy, today: "2025-09-10") == .valid)
        let retiredBefore = CertificateVerifier(
            keyRing: try CertificateKeyRing([.init(publicKeyHex: key, until: "2025-08-01")]))
        #expect(retiredBefore.verify(legacy, today: "2025-09-10") == .keyNotValid(on: "2025-08-08"))
        // A key put in service later always recorded the day: a document of it without one (its
        // holder leaving the day out to fall back on an issue date in the window) is refused.
        let startedLater = CertificateVerifier(
            keyRing: try CertificateKeyRing([.init(publicKeyHex: key, from: "2025-01-01", until: "2025-12-31")]))
        #expect(startedLater.verify(legacy, today: "2025-09-10") == .keyNotValid(on: "2025-08-08"))
        // Adding a signing day afterwards breaks its signature.
        var stamped = legacy
        stamped.payload.signedOn = "2025-08-08"
        #expect(inService.verify(stamped, today: "2025-09-10") == .signatureInvalid)
    }

    @Test func theWorkerSignsOnTheDayOfItsOwnClockInWITA() async throws {
        // 17:00 UTC on 31 August is 1 September in WITA.
        let signer = try newSigner()
        let driver = try await CertificateDriver.make(
            signer: signer, now: { ISO8601DateFormatter().date(from: "2025-08-31T17:00:00Z")! })
        let issued = try #require(try driver.issued(try await driver.trained()).first)
        let document = try JSONDecoder().decode(
            CertificateDocument.self, from: try await driver.document(issued.certificateID))
        #expect(document.payload.signedOn == "2025-09-01" && document.payload.issuedOn == "2025-08-08")
        let ring = try CertificateKeyRing([.init(publicKeyHex: signer.publicKeyHex, from: "2025-09-01")])
        #expect(CertificateVerifier(keyRing: ring).verify(document, today: "2025-09-02") == .valid)
    }

    @Test func aKeyRingFileThatCouldLeaveARetiredKeyOpenIsRefused() throws {
        let key = otherKey()
        let good = #"{"keys": [{"publicKey": "\#(key)", "from": "2025-01-01", "until": "2025-12-31"}]}"#
        #expect(try CertificateKeyRing(json: Data(good.utf8)).keys.count == 1)
        let bad = [
            #"{"keys": [{"publicKey": "\#(key)", "untill": "2025-12-31"}]}"#,  // a misspelt end day
            #"{"keys": [{"publicKey": "\#(key)", "until": "2025-02-30"}]}"#,  // no such day
            #"{"keys": [{"publicKey": "\#(key)", "until": "31-12-2025"}]}"#,
            #"{"keys": [{"publicKey": "\#(key)", "from": "2025-12-31", "until": "2025-01-01"}]}"#,
            #"{"keys": [{"publicKey": "\#(key)"}, {"publicKey": "\#(key)", "until": "2025-01-01"}]}"#,  // twice
            #"{"keys": []}"#,
            #"{"keys": [{"publicKey": "zz"}]}"#,
            #"{"keys": [{"publicKey": "\#(key)"}], "trustEverything": true}"#,
            #"[]"#, "", "\u{0}",
            #"{"keys": [{"publicKey": "\#(String(repeating: "0", count: 63))g"}]}"#,
        ]
        for text in bad {
            #expect(throws: CertificateError.self, "\(text)") { try CertificateKeyRing(json: Data(text.utf8)) }
        }
        #expect(throws: CertificateError.self) { try CertificateKeyRing(file: "/nonexistent/keys.json") }
    }
}
