import CertificateTrust
import ContractKit
import Contracts
import Foundation
import Jobs
import Programme
import Stores
import TestSupport
import Testing
import Workers

@testable import Verification

/// The public verification service: what it answers for each kind of code, what it never
/// shows, its rate limit, and the pages in a real browser.
struct VerificationTests {
    static func catalogue() throws -> ProgrammeCatalogue {
        try ProgrammeCatalogue.load(path: repositoryFile("config/programme-2025.json"))
    }

    static let developmentRing = try! CertificateKeyRing([.init(publicKeyHex: CertificateSigner.development.publicKeyHex)])

    static func lookup(_ store: any MessageStore, today: String = "2025-09-01") throws -> CertificateLookup {
        CertificateLookup(
            store: store, verifier: CertificateVerifier(keyRing: developmentRing), catalogue: try catalogue(),
            today: { today })
    }

    @Test func eachCodeGetsItsAnswerAndNothingButTheMaskedNameProgrammeIssuerAndDates() async throws {
        let driver = try await CertificateDriver.make()
        let training = try #require(try driver.issued(try await driver.trained()).first)
        let record = try #require(try driver.issued(try await driver.deliver(CertificateDriver.graded("A-1"))).first)
        let lookup = try Self.lookup(driver.kit.store)
        let valid = try await lookup.result(forCode: training.verificationCode)
        #expect(
            valid
                == VerificationResult(
                    status: .valid, certificateID: training.certificateID, kind: "PELATIHAN", holder: "Siti A.",
                    programme: "Tata Graha", issuer: "BLKI Bontang", issuedOn: "2025-08-08",
                    validUntil: nil), "\(valid)")
        let recordResult = try await lookup.result(forCode: record.verificationCode)
        #expect(recordResult.status == .valid && recordResult.validUntil == "2028-08-12")
        #expect(recordResult.issuer == "LSP Kompetensi Kaltim (sintetis) (BNSP-LSP-0123-ID)")
        // Dates: not yet valid, expired.
        #expect(
            try await Self.lookup(driver.kit.store, today: "2028-08-13").result(forCode: record.verificationCode).status
                == .expired)
        #expect(
            try await Self.lookup(driver.kit.store, today: "2025-08-01").result(forCode: record.verificationCode).status
                == .notYetValid)
        // Revoked.
        _ = try await driver.kit.deliver(
            EventEnvelope(
                source: "/kaltim/admin/revoke-certificate",
                data: CertificateRevokedV1(certificateID: record.certificateID, participantID: "PST-1", reasonCode: "FRAUD")))
        #expect(try await lookup.result(forCode: record.verificationCode).status == .revoked)
        // Codes that are not one, or name nothing, or guess the check part: UNKNOWN, with nothing else.
        let id = training.certificateID
        for code in [
            "", "x", id, id + ".", id + ".AAAAAAAAAAAAAAAA", "NOPE-2025-PBK-00001.AAAAAAAAAAAAAAAA",
            training.verificationCode + "A", "' OR 1=1 --.AAAAAAAAAAAAAAAA", String(repeating: "A", count: 5_000),
            id + ".AAAAAAAAAAAAAAA\u{0}", "../" + training.verificationCode,
        ] {
            #expect(try await lookup.result(forCode: code) == VerificationResult(status: .unknown), "\(code.prefix(40))")
        }
        // Surrounding blanks (a scanned or pasted code) do not matter.
        #expect(try await lookup.result(forCode: " \(training.verificationCode)\n").status == .valid)
    }

    @Test func aLicenceRecordSaysItIsARecordAndShowsItsQualificationNotItsNumbers() async throws {
        let driver = try await LicenceRecordTests.driver()
        let licence = try #require(
            try driver.issued(try await LicenceRecordTests.record(driver, LicenceRecordTests.licence())).first)
        let result = try await Self.lookup(driver.kit.store, today: "2025-10-01").result(forCode: licence.verificationCode)
        #expect(
            result
                == VerificationResult(
                    status: .valid, certificateID: licence.certificateID, kind: "LISENSI_K3", holder: "Rahmat H.",
                    programme: "Operator Forklift", issuer: "Kemnaker", issuedOn: "2025-09-15", validUntil: "2030-09-14",
                    qualification: "Operator Forklift Kelas II"), "\(result)")
        let page = VerificationPage.result(result, code: licence.verificationCode)
        #expect(page.contains("Catatan Lisensi K3 / SIO (diterbitkan Kemnaker), dicatat Disnakertrans"))
        #expect(page.contains("sertifikat itu sendiri dapat diperiksa pada penerbitnya"), "\(page)")
        #expect(page.contains("Operator Forklift Kelas II") && !page.contains("KEP.5/123") && !page.contains("PST-3"))
        #expect(page.contains("<dt>Dicatat oleh</dt><dd>Disnakertrans Provinsi Kalimantan Timur</dd>"), "\(page)")
        // Revoked: the record, not the holder's licence.
        _ = try await driver.kit.deliver(
            EventEnvelope(
                source: "/kaltim/admin/revoke-certificate",
                data: CertificateRevokedV1(certificateID: licence.certificateID, participantID: "PST-3", reasonCode: "DATA_ERROR")
            ))
        let revoked = try await Self.lookup(driver.kit.store, today: "2025-10-01").result(forCode: licence.verificationCode)
        let revokedPage = VerificationPage.result(revoked, code: licence.verificationCode)
        #expect(
            revoked.status == .revoked && revokedPage.contains("Pencabutan ini mengenai catatan, bukan dokumen dari penerbitnya"))
    }

    @Test func aRecordThatDoesNotVerifyShowsNothingFromIt() async throws {
        // Signed with a key that is not on the ring (a stolen store, a forged row).
        let driver = try await CertificateDriver.make(signer: try newSigner())
        let training = try #require(try driver.issued(try await driver.trained()).first)
        let result = try await Self.lookup(driver.kit.store).result(forCode: training.verificationCode)
        #expect(result == VerificationResult(status: .invalid, certificateID: training.certificateID))
    }

    /// An attacker's link to the official address: text that escapes only when the page is read
    /// per Unicode scalar (a quote or bracket joined to a combining mark or a prepended sign is
    /// one Swift character) must stay inside the form's value and the page.
    @Test(arguments: [
        "\"\u{301}>\u{301}\u{600}<meta http-equiv=refresh content=0;url=https://evil.example/>\u{301}",
        "\"\u{301} autofocus onfocus=alert(1) x=\"\u{301}", "\u{600}<b id=injected>SAH</b>", "'\u{301}><i>", "a&b",
    ])
    func aCodeThatIsMarkupStaysTextEvenWithCombiningMarks(code: String) {
        let quotes = { (text: String) in text.unicodeScalars.filter { "\"'<>".unicodeScalars.contains($0) }.count }
        for (page, benign) in [
            (VerificationPage.form(code: code), VerificationPage.form(code: "X")),
            (VerificationPage.result(.unknown, code: code), VerificationPage.result(.unknown, code: "X")),
        ] {
            #expect(quotes(page) == quotes(benign), "no quote or bracket of the code reaches the page: \(page)")
            #expect(!page.contains("<meta http-equiv") && !page.contains("<b id") && !page.contains("<i>"))
        }
    }

    @Test func namesAreMaskedToTheFirstWordAndInitials() {
        #expect(CertificateLookup.maskedName("Siti Aminah Putri") == "Siti A. P.")
        #expect(CertificateLookup.maskedName("  Made   Wirawan ") == "Made W.")
        #expect(CertificateLookup.maskedName("Sukarni") == "Su*****")
        #expect(CertificateLookup.maskedName("Ani") == "A***")
        #expect(CertificateLookup.maskedName("Ah") == "A***", "a short name is not shown whole")
        #expect(CertificateLookup.maskedName("") == "")
    }

    /// The key a client's requests are counted under. Behind `--host ::` an IPv4 client arrives
    /// as `::ffff:a.b.c.d`: keyed by its first 64 bits (zero for all of them), every IPv4 visitor
    /// shared one bucket, and one of them could spend it for all.
    @Test func eachIPv4ClientHasItsOwnKeyAlsoWhenMappedIntoIPv6() {
        #expect(VerificationServer.clientKey("203.0.113.7") == "203.0.113.7")
        #expect(VerificationServer.clientKey("::ffff:203.0.113.7") == "203.0.113.7")
        #expect(VerificationServer.clientKey("::ffff:cb00:7108") == "203.0.113.8")
        #expect(VerificationServer.clientKey("::ffff:203.0.113.7") != VerificationServer.clientKey("::ffff:198.51.100.1"))
        #expect(VerificationServer.clientKey("2001:db8:1:2:aaaa::1") == "20010db800010002::/64")
        #expect(VerificationServer.clientKey("2001:db8:1:2:bbbb::9") == "20010db800010002::/64", "one /64, one key")
        #expect(VerificationServer.clientKey("::1") == "0000000000000000::/64")
        #expect(VerificationServer.clientKey("not an address") == "not an address")
    }

    @Test func theRateLimitHoldsPerClientAndForEveryoneAndStaysBounded() {
        final class Clock: @unchecked Sendable {
            var seconds = 0.0
        }
        let clock = Clock()
        let limiter = RateLimiter(perMinute: 6, burst: 3, totalPerMinute: 600_000, maximumClients: 4, now: { clock.seconds })
        #expect((0..<3).allSatisfy { _ in limiter.allow("a") })
        #expect(!limiter.allow("a"), "the burst is spent")
        #expect(limiter.allow("b"), "another client has its own bucket")
        clock.seconds += 10  // one request a 10 s
        #expect(limiter.allow("a") && !limiter.allow("a"))
        // A flood of addresses: the table stays bounded, and the known client keeps its limit.
        for index in 0..<1_000 { _ = limiter.allow("flood-\(index)") }
        #expect(limiter.clientCount <= 5)
        #expect(!limiter.allow("a"), "not reset by the flood")
        // New clients share one overflow bucket while the table is full of the flood's; once the
        // flood's buckets have filled up again they are dropped and a new client has its own.
        clock.seconds += 60
        #expect(limiter.allow("c") && limiter.allow("c") && limiter.allow("c") && !limiter.allow("c"))
        // Everyone together: 60 a minute, burst 10.
        let total = RateLimiter(perMinute: 600, burst: 100, totalPerMinute: 60, now: { clock.seconds })
        let allowed = (0..<50).filter { total.allow("c\($0)") }.count
        #expect(allowed == 10, "\(allowed)")
    }
}

/// The verification service as a process, in a real browser (headless Chromium, Selenium;
/// `verification_browser.py`): an employer types a code, opens a revoked one's QR address and an
/// unknown one, markup in a code stays text, the JSON holds only what it may, and the rate
/// limit answers 429. Screenshots in .build/test-logs/verification.
@Suite(.timeLimit(.minutes(5)))
struct VerificationBrowserTests {
    @Test func anEmployerChecksACertificateInARealBrowser() async throws {
        for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] where !FileManager.default.fileExists(atPath: tool) {
            throw TestFailure("\(tool) is missing: scripts/install-deps.sh installs chromium and chromium-driver")
        }
        let driver = try await CertificateDriver.make()
        let valid = try #require(try driver.issued(try await driver.trained()).first)
        let revoked = try #require(try driver.issued(try await driver.trained("PST-2")).first)
        _ = try await driver.kit.deliver(
            EventEnvelope(
                source: "/kaltim/admin/revoke-certificate",
                data: CertificateRevokedV1(certificateID: revoked.certificateID, participantID: "PST-2", reasonCode: "FRAUD")))
        // A wrong check part on an existing id, and an id that does not exist.
        let guessed = String(valid.verificationCode.prefix { $0 != "." }) + ".AAAAAAAAAAAAAAAA"
        let service = try ChildProcess(
            builtProductsDirectory.appendingPathComponent("kaltim-console").path,
            [
                "verification", "--database", driver.kit.path, "--development-key", "--port", "0", "--burst", "12",
                "--per-minute", "1", "--programme-file", repositoryFile("config/programme-2025.json"),
            ])
        try await service.waitForLog("verification service listening")
        let listening = service.output.split(separator: "\n").first { $0.contains("verification service listening") } ?? ""
        let address = try #require(listening.firstRange(of: "listen=127.0.0.1:"), "no address in: \(listening)")
        let port = try #require(Int(listening[address.upperBound...].prefix { $0.isNumber }))
        let (status, output) = try await runProcess(
            "/usr/bin/python3", [repositoryFile("Tests/WorkersTests/verification_browser.py")],
            environment: ProcessInfo.processInfo.environment.merging([
                "VERIFY_URL": "http://127.0.0.1:\(port)", "VALID_CODE": valid.verificationCode,
                "REVOKED_CODE": revoked.verificationCode, "FULL_NAME": "Siti Aminah", "PARTICIPANT": "PST-1",
                "GUESSED_CODE": guessed,
                "SCREENSHOTS": repositoryFile(".build/test-logs/verification"),
            ]) { _, new in new })
        print(output)
        #expect(status == 0, "the browser test failed:\n\(output)\n--- service:\n\(service.output.suffix(3000))")
        #expect(!service.output.contains("Aminah"), "no name in the service's log")
        await service.terminate()
    }
}
