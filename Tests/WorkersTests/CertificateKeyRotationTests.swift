import CertificateTrust
import ContractKit
import Contracts
import Crypto
import Foundation
import Jobs
import Programme
import Stores
import TestSupport
import Testing
import Verification
import Workers

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

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

    /// The whole rotation as operations carry it out (OPERATIONS.md): the certificates worker
    /// signs on the old key, restarts on the new one on the switch day, and the public
    /// verification service (the real `kaltim-console verification`, with the ring file as
    /// `--keys` reads it) answers VALID for both holders' codes.
    @Test(.timeLimit(.minutes(5)))
    func aWorkerRestartedOnANewKeyKeepsEveryEarlierCertificateValidAtTheVerificationService() async throws {
        let old = try newSigner()
        let new = try newSigner()
        let before = Self.noon("2025-08-20")
        let driver = try await CertificateDriver.make(signer: old, now: { before })
        let first = try #require(try driver.issued(try await driver.trained("PST-1")).first)
        // 2 September: the worker restarted with --signing-key-file on the new key.
        let after = Self.noon("2025-09-02")
        let catalogue = try ProgrammeCatalogue.load(path: repositoryFile("config/programme-2025.json"))
        let rotated = CertificateDriver(
            kit: try await HandlerTestKit(
                handler: CertificateHandler(catalogue: catalogue, signer: new, now: { after }), registry: .pipeline,
                sharingStoreOf: driver.kit), output: driver.output)
        let second = try #require(try rotated.issued(try await rotated.trained("PST-2")).first)
        // The key ring file: the old key until the day before the switch, the new one from it.
        let ringFile = FileManager.default.temporaryDirectory.appendingPathComponent("ring-\(UUID().uuidString).json").path
        defer { unlink(ringFile) }
        try Data(
            """
            {"keys": [
              {"publicKey": "\(old.publicKeyHex)", "until": "2025-08-31"},
              {"publicKey": "\(new.publicKeyHex)", "from": "2025-09-01"}
            ]}
            """.utf8
        ).write(to: URL(fileURLWithPath: ringFile))
        let service = try ChildProcess(
            builtProductsDirectory.appendingPathComponent("kaltim-console").path,
            [
                "verification", "--database", driver.kit.path, "--keys", ringFile, "--port", "0",
                "--programme-file", repositoryFile("config/programme-2025.json"),
            ])
        try await service.waitForLog("verification service listening")
        let listening = service.output.split(separator: "\n").first { $0.contains("verification service listening") } ?? ""
        let address = try #require(listening.firstRange(of: "listen=127.0.0.1:"), "no address in: \(listening)")
        let port = try #require(Int(listening[address.upperBound...].prefix { $0.isNumber }))
        func status(_ code: String) async throws -> String {
            let (data, _) = try await URLSession.shared.data(
                from: URL(string: "http://127.0.0.1:\(port)/api/v/\(code)")!)
            let answer = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            return answer?["status"] as? String ?? String(decoding: data, as: UTF8.self)
        }
        #expect(try await status(first.verificationCode) == "VALID", "signed on the old key before the switch")
        #expect(try await status(second.verificationCode) == "VALID", "signed on the new key after it")
        await service.terminate()
        // Without the old key on the ring its certificates are no longer known: the reason to
        // keep it there (step 4).
        let newOnly = CertificateLookup(
            store: driver.kit.store,
            verifier: CertificateVerifier(keyRing: try CertificateKeyRing([.init(publicKeyHex: new.publicKeyHex)])),
            catalogue: catalogue, today: { "2026-01-05" })
        #expect(try await newOnly.result(forCode: first.verificationCode).status == .invalid)
        #expect(try await newOnly.result(forCode: second.verificationCode).status == .valid)
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
