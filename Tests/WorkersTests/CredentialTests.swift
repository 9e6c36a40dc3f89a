import CertificateTrust
import ContractKit
import Contracts
import Credentials
import Crypto
import Foundation
import Programme
import TestSupport
import Testing
import Workers

/// Certificates as W3C Verifiable Credentials 2.0 with an eddsa-jcs-2022 proof: the proof is
/// checked against the W3C Recommendation's own test vectors, and the programme's credentials
/// by an independent implementation (scripts/verify-credential.py: rfc8785, base58 and
/// cryptography from PyPI).
struct CredentialTests {
    static func vector(_ name: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: repositoryFile("Tests/Vectors/eddsa-jcs-2022/\(name)")))
    }

    static func text(_ name: String) throws -> String {
        String(decoding: try vector(name), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The vectors' key pair: the private key (multicodec 0x1300, `0x80 0x26` + 32 bytes) and the
    /// public one (`0xed 0x01` + 32 bytes).
    static func vectorKey() throws -> Curve25519.Signing.PrivateKey {
        let pair = try JSONValue(json: try vector("keyPair.json")).object ?? [:]
        let secretText = try #require(pair["privateKeyMultibase"]?.string)
        let secret = try #require(Multibase.decodeBase58btc(secretText))
        #expect(secret.count == 34 && secret.starts(with: [0x80, 0x26]))
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: secret.dropFirst(2))
        let publicText = try #require(pair["publicKeyMultibase"]?.string)
        let publicBytes = try #require(Multibase.decodeBase58btc(publicText))
        #expect(publicBytes == Data([0xED, 0x01]) + key.publicKey.rawRepresentation)
        return key
    }

    @Test func signingTheW3CVectorGivesEveryIntermediateValueAndTheSignatureOfTheSpec() throws {
        let key = try Self.vectorKey()
        let unsigned = try JSONValue(json: try Self.vector("unsigned.json"))
        #expect(String(decoding: JCS.canonical(unsigned), as: UTF8.self) == (try Self.text("canonDocJCS.txt")))
        let options = try JSONValue(json: try Self.vector("proofConfigJCS.json"))
        #expect(String(decoding: JCS.canonical(options), as: UTF8.self) == (try Self.text("proofCanonJCS.txt")))
        let hash = EddsaJcs2022.hashData(document: unsigned, options: options)
        #expect(hash.map { String(format: "%02x", $0) }.joined() == (try Self.text("combinedHashJCS.txt")))
        let method = try #require(options.object?["verificationMethod"]?.string)
        #expect(method == Multibase.verificationMethod(ed25519PublicKey: key.publicKey.rawRepresentation))
        let signed = try EddsaJcs2022.sign(unsigned, with: key, created: "2023-02-24T23:36:38Z")
        #expect(signed.object?["proof"]?.object?["proofValue"]?.string == (try Self.text("sigBTC58JCS.txt")))
        #expect(signed == (try JSONValue(json: try Self.vector("signedJCS.json"))), "the whole signed credential")
    }

    @Test func theSpecsSignedCredentialVerifiesAndAnyChangeBreaksIt() throws {
        let signed = try JSONValue(json: try Self.vector("signedJCS.json"))
        let result = try EddsaJcs2022.verify(signed)
        let vectorPublicKey = try Self.vectorKey().publicKey.rawRepresentation
        #expect(result.valid && result.publicKey == vectorPublicKey)
        var members = try #require(signed.object)
        members["name"] = .string("Alumni Credential!")
        #expect(try !EddsaJcs2022.verify(.object(members)).valid, "a changed field")
        members = try #require(signed.object)
        var proof = try #require(members["proof"]?.object)
        proof["@context"] = .array([.string("https://www.w3.org/ns/credentials/v2")])
        members["proof"] = .object(proof)
        #expect(try !EddsaJcs2022.verify(.object(members)).valid, "a proof context that is not the document's")
        members = try #require(signed.object)
        proof = try #require(members["proof"]?.object)
        proof["verificationMethod"] = .string(
            Multibase.verificationMethod(ed25519PublicKey: CertificateSignerKeys.stranger().publicKey.rawRepresentation))
        members["proof"] = .object(proof)
        #expect(try !EddsaJcs2022.verify(.object(members)).valid, "another key named as the signer")
        // An issuer object whose id is not the signing key.
        let key = try Self.vectorKey()
        var claimed = try #require(try JSONValue(json: try Self.vector("unsigned.json")).object)
        claimed["issuer"] = .object(["id": .string("did:key:z6MkOtherIssuer"), "name": .string("Dinas")])
        let forged = try EddsaJcs2022.sign(.object(claimed), with: key, created: "2023-02-24T23:36:38Z")
        #expect(try !EddsaJcs2022.verify(forged).valid, "an issuer that is not the signer")
        claimed["issuer"] = .string("did:key:z6MkOtherIssuer")
        let forgedString = try EddsaJcs2022.sign(.object(claimed), with: key, created: "2023-02-24T23:36:38Z")
        #expect(try !EddsaJcs2022.verify(forgedString).valid, "an issuer DID given as a string")
        claimed["issuer"] = .object([
            "id": .string(Multibase.didKey(ed25519PublicKey: key.publicKey.rawRepresentation)), "name": .string("Dinas"),
        ])
        #expect(
            try EddsaJcs2022.verify(try EddsaJcs2022.sign(.object(claimed), with: key, created: "2023-02-24T23:36:38Z")).valid)
        // Proofs that cannot be read are errors, never a pass.
        for bad in [
            #"{"name": "no proof"}"#, #"{"proof": {"type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022"}}"#,
            #"{"proof": {"type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022", "proofPurpose": "assertionMethod", "verificationMethod": "https://x", "proofValue": "z1"}}"#,
            #"{"proof": {"type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022", "proofPurpose": "authentication", "verificationMethod": "did:key:z6Mk", "proofValue": "z1"}}"#,
            #"{"proof": {"type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022", "verificationMethod": "did:key:z6Mk#zOther", "proofValue": "z1"}}"#,
        ] {
            #expect(throws: CredentialError.self, "\(bad)") { try EddsaJcs2022.verify(try JSONValue(json: Data(bad.utf8))) }
        }
    }

    @Test func theCanonicalFormSortsByUTF16AndEscapesAsECMAScript() throws {
        // RFC 8785 §3.2.3: members sorted by UTF-16 code units (U+1F600's high surrogate D83D sorts
        // before U+FB33, which UTF-8 bytes would put the other way round).
        let value = JSONValue.object([
            "\u{20AC}": .string("Euro Sign"), "\r": .string("Carriage Return"),
            "\u{FB33}": .string("Hebrew Letter Dalet With Dagesh"),
            "1": .string("One"), "\u{1F600}": .string("Emoji: Grinning Face"), "\u{80}": .string("Control"),
            "\u{F6}": .string("Latin Small Letter O With Diaeresis"),
        ])
        let expected =
            #"{"\r":"Carriage Return","1":"One","\#u{80}":"Control","ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign","😀":"Emoji: Grinning Face","דּ":"Hebrew Letter Dalet With Dagesh"}"#
        #expect(String(decoding: JCS.canonical(value), as: UTF8.self) == expected)
        let escapes = JSONValue.array([
            .string("\u{0F}\u{08}\u{0C}\n\r\t\"\\/\u{7F}\u{2028}é"), .integer(-42), .bool(true), .null,
        ])
        #expect(
            String(decoding: JCS.canonical(escapes), as: UTF8.self)
                == #"["\u000f\b\f\n\r\t\"\\/\#u{7F}\#u{2028}é",-42,true,null]"#)
        // What has no exact canonical form here is refused, not rounded.
        // An integer written with an exponent is that integer (ECMAScript prints 1e3 as 1000).
        #expect(JCS.canonical(try JSONValue(json: Data("[1e3, 2.0]".utf8))) == Data("[1000,2]".utf8))
        for bad in ["1.5", "9007199254740993", "-9223372036854775808", "[1, 2.5e0]", "1e400", "{", ""] {
            #expect(throws: CredentialError.self, "\(bad)") { try JSONValue(json: Data(bad.utf8)) }
        }
    }

    @Test func aProofsCreatedTimeIsTheUTCSecondAsFoundationWritesIt() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        // Whole and fractional seconds (cut, not rounded), a leap day, the ends of the hand-written
        // range and a date outside it.
        // Within 1970–9999, written by hand: the same text as the formatter's.
        let seconds: [TimeInterval] = [0, 1_756_699_200, 1_756_699_200.999, 1_709_164_799.5, 253_402_300_799, 4_102_444_800.001]
        for second in seconds {
            let date = Date(timeIntervalSince1970: second)
            #expect(CertificateCredential.timestamp(date) == formatter.string(from: date), "\(second)")
        }
        #expect(CertificateCredential.timestamp(Date(timeIntervalSince1970: 1_756_699_200.999)) == "2025-09-01T04:00:00Z")
        #expect(CertificateCredential.timestamp(Date(timeIntervalSince1970: 253_402_300_799)) == "9999-12-31T23:59:59Z")
        // Outside it, the formatter's text (a date no certificate has; what matters is an answer).
        #expect(CertificateCredential.timestamp(Date(timeIntervalSince1970: -1)) == "1969-12-31T23:59:59Z")
    }

    @Test func base58btcAndDidKeyRoundTripAndRefuseWhatIsNotThem() throws {
        for bytes in [Data(), Data([0]), Data([0, 0, 1]), Data((0..<64).map { UInt8($0 * 3 % 256) })] {
            #expect(Multibase.decodeBase58btc(Multibase.base58btc(bytes)) == bytes)
        }
        #expect(Multibase.decodeBase58btc("z0OIl") == nil, "characters outside the alphabet")
        #expect(Multibase.decodeBase58btc("f00") == nil, "another base")
        let key = CertificateSignerKeys.stranger().publicKey.rawRepresentation
        #expect(try Multibase.ed25519PublicKey(verificationMethod: Multibase.verificationMethod(ed25519PublicKey: key)) == key)
        #expect(Multibase.didKey(ed25519PublicKey: key).hasPrefix("did:key:z6Mk"))
        for bad in ["did:web:example.org", "did:key:z6Mk", "did:key:zQ3s#zQ3s", "did:key:a#b#c", ""] {
            #expect(throws: CredentialError.self, "\(bad)") { try Multibase.ed25519PublicKey(verificationMethod: bad) }
        }
    }

    @Test func aTrainingCertificateACompetencyRecordAndALicenceRecordExportAsOpenBadgesThatAnIndependentVerifierAccepts()
        async throws
    {
        let driver = try await LicenceRecordTests.driver()
        let training = try #require(try driver.issued(try await driver.trained()).first)
        let competency = try #require(try driver.issued(try await driver.deliver(CertificateDriver.graded("A-1"))).first)
        let licence = try #require(
            try driver.issued(try await LicenceRecordTests.record(driver, LicenceRecordTests.licence())).first)
        let catalogue = try ProgrammeCatalogue.load(path: repositoryFile("config/programme-2025.json"))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let created = ISO8601DateFormatter().date(from: "2025-09-01T04:00:00Z")!
        var files: [String: String] = [:]
        for issued in [training, competency, licence] {
            let document = try JSONDecoder().decode(
                CertificateDocument.self, from: try await driver.document(issued.certificateID))
            let credential = try CertificateSigner.development.credential(for: document, catalogue: catalogue, at: created)
            #expect(try EddsaJcs2022.verify(credential).valid)
            let path = folder.appendingPathComponent("\(issued.certificateID).vc.json").path
            try credential.prettyJSON().write(to: URL(fileURLWithPath: path))
            files[issued.certificateID] = path
            let text = String(decoding: try credential.prettyJSON(), as: UTF8.self)
            #expect(text.contains(issued.certificateNumber) && text.contains(issued.participantID) && !text.contains("nik"))
            #expect(credential.object?["proof"]?.object?["created"]?.string == "2025-09-01T04:00:00Z")
        }
        let trainingVC = try JSONValue(json: try Data(contentsOf: URL(fileURLWithPath: files[training.certificateID]!)))
        #expect(trainingVC.object?["validFrom"] == .string("2025-08-08T00:00:00+08:00"))
        #expect(trainingVC.object?["validUntil"] == nil, "a training certificate does not expire")
        #expect(trainingVC.object?["issuer"]?.object?["name"] == .string("BLKI Bontang"))
        let recordVC = try JSONValue(json: try Data(contentsOf: URL(fileURLWithPath: files[competency.certificateID]!)))
        #expect(recordVC.object?["validUntil"] == .string("2028-08-12T23:59:59+08:00"))
        #expect(recordVC.object?["name"]?.string?.hasPrefix("Catatan Sertifikat Kompetensi BNSP") == true)
        #expect(recordVC.object?["description"]?.string?.contains("bukan sertifikat BNSP") == true)
        #expect(
            recordVC.object?["credentialSubject"]?.object?["achievement"]?.object?["achievementType"]
                == .string("Certification"))

        let licenceVC = try JSONValue(json: try Data(contentsOf: URL(fileURLWithPath: files[licence.certificateID]!)))
        #expect(licenceVC.object?["validUntil"] == .string("2030-09-14T23:59:59+08:00"), "the issuer's date")
        #expect(licenceVC.object?["name"] == .string("Catatan Lisensi K3 (SIO) — Operator Forklift Kelas II"))
        #expect(licenceVC.object?["description"]?.string?.contains("bukan lisensi itu sendiri") == true)
        #expect(
            licenceVC.object?["credentialSubject"]?.object?["achievement"]?.object?["achievementType"] == .string("License"))

        let trusted = CertificateSigner.development.publicKeyHex
        #expect(files.count == 3)
        for path in files.values {
            let (status, output) = try await runProcess(
                "/usr/bin/env",
                ["python3", repositoryFile("scripts/verify-credential.py"), path, "--public-key", trusted, "--open-badge"],
                environment: [:])
            #expect(status == 0 && output.hasPrefix("VALID did:key:z6Mk"), "\(output)")
        }
        // The independent verifier refuses a changed credential, another key, and the spec's
        // vector passes through it too (so it is not a verifier that accepts anything).
        var changed = try #require(trainingVC.object)
        changed["validFrom"] = .string("2024-08-08T00:00:00+08:00")
        let changedPath = folder.appendingPathComponent("changed.vc.json").path
        try JSONValue.object(changed).prettyJSON().write(to: URL(fileURLWithPath: changedPath))
        let script = repositoryFile("scripts/verify-credential.py")
        let (changedStatus, changedOutput) = try await runProcess(
            "/usr/bin/env", ["python3", script, changedPath, "--public-key", trusted], environment: [:])
        #expect(changedStatus == 1 && changedOutput.hasPrefix("INVALID the signature does not match"), "\(changedOutput)")
        let (strangerStatus, strangerOutput) = try await runProcess(
            "/usr/bin/env", ["python3", script, files[training.certificateID]!, "--public-key", otherKey()], environment: [:])
        #expect(strangerStatus == 1 && strangerOutput.contains("another key"), "\(strangerOutput)")
        let vectorKey = try Self.vectorKey().publicKey.rawRepresentation.map { String(format: "%02x", $0) }.joined()
        let (vectorStatus, vectorOutput) = try await runProcess(
            "/usr/bin/env",
            ["python3", script, repositoryFile("Tests/Vectors/eddsa-jcs-2022/signedJCS.json"), "--public-key", vectorKey],
            environment: [:])
        #expect(vectorStatus == 0 && vectorOutput.hasPrefix("VALID"), "\(vectorOutput)")
    }
}

/// A key that signed nothing here.
enum CertificateSignerKeys {
    static func stranger() -> Curve25519.Signing.PrivateKey { Curve25519.Signing.PrivateKey() }
}
