import ArgumentParser
import CertificateTrust
import CommandOptions
import Contracts
import Credentials
import Foundation
import Jobs
import Stores
import Workers

struct ExportCredential: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export certificates as W3C Verifiable Credentials 2.0 (Open Badges 3.0) with an eddsa-jcs-2022 proof.",
        discussion: """
            Each certificate is read from the certificates worker's store and verified first (key ring, \
            signature, revocation, validity dates): only a valid one is exported, as <id>.vc.json in the \
            output folder, signed with the key of --signing-key-file (its did:key is the credential's \
            issuer). Prints EXPORTED or SKIPPED with the reason for each; exits 1 when a named \
            certificate was not exported.
            """)

    @Option(
        help: ArgumentHelp("The certificates worker's store (a file or a postgres:// URL).", valueName: "path"))
    var database: String
    @Option(help: ArgumentHelp("Its PostgreSQL schema (default: certificates).", valueName: "name")) var storeSchema =
        "certificates"
    @Option(help: ArgumentHelp("A certificate to export (repeatable).", valueName: "id")) var certificateID: [String] = []
    @Flag(help: "Export every valid certificate of the store.") var all = false
    @Option(help: ArgumentHelp("Where the <id>.vc.json files go (created when missing).", valueName: "path"))
    var outputDirectory: String
    @Option(
        help: ArgumentHelp("The Ed25519 private key that signs the credentials (the worker's key file).", valueName: "path"))
    var signingKeyFile: String?
    @Flag(help: "Sign with the development key (test certificates only) instead of --signing-key-file.")
    var developmentKey = false
    @Option(
        help: ArgumentHelp(
            "The issuer's key ring for checking the certificates (default: the signing key alone).", valueName: "path"))
    var keys: String?
    @Option(help: ArgumentHelp("The day of the check, YYYY-MM-DD (default: today in WITA).", valueName: "date")) var today:
        String?
    @OptionGroup var programme: ProgrammeOptions

    func validate() throws {
        guard (signingKeyFile != nil) != developmentKey else {
            throw ValidationError("give --signing-key-file, or --development-key for test certificates")
        }
        guard all != !certificateID.isEmpty else { throw ValidationError("give --certificate-id (one or more) or --all") }
        for id in certificateID where id.wholeMatch(of: /[A-Za-z0-9][A-Za-z0-9._-]{0,199}/) == nil {
            throw ValidationError("a certificate id is letters, digits, dots, dashes and underscores")
        }
        if let today, !CertificateKeyRing.isDay(today) {
            throw ValidationError("--today is YYYY-MM-DD")
        }
    }

    func run() async throws {
        PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
        let catalogue = try programme.load()
        let signer = try signingKeyFile.map { try CertificateSigner(file: $0) } ?? .development
        let verifier =
            try keys.map { CertificateVerifier(keyRing: try CertificateKeyRing(file: $0)) }
            ?? CertificateVerifier(publicKeyHex: signer.publicKeyHex)
        let store = try await Stores.openForReading(database, schema: storeSchema)
        var revocations: [String: String] = [:]
        for row in try await store.read("SELECT certificate_id, reason FROM cert_revocations") {
            if let id = row["certificate_id"]?.text { revocations[id] = row["reason"]?.text ?? "" }
        }
        var documents: [String: Data] = [:]
        let rows =
            all
            ? try await store.read("SELECT certificate_id, document FROM cert_certificates ORDER BY certificate_id")
            : try await store.read(
                "SELECT certificate_id, document FROM cert_certificates WHERE certificate_id IN ("
                    + certificateID.map { _ in "?" }.joined(separator: ",") + ")", certificateID.map(SQLValue.text))
        for row in rows {
            if let id = row["certificate_id"]?.text, case .blob(let document)? = row["document"] { documents[id] = document }
        }
        try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        let day = today ?? CertificateKeyRing.witaDay(Date())
        var missed = 0
        for id in all ? documents.keys.sorted() : certificateID {
            guard let json = documents[id] else {
                print("SKIPPED \(id) UNKNOWN: no such certificate in the store")
                missed += 1
                continue
            }
            let verdict = verifier.verify(json, revocations: revocations, today: day)
            guard verdict == .valid, id.wholeMatch(of: /[A-Za-z0-9][A-Za-z0-9._-]{0,199}/) != nil else {
                print("SKIPPED \(id) \(verdict.code)")
                missed += 1
                continue
            }
            let document = try JSONDecoder().decode(CertificateDocument.self, from: json)
            let credential = try signer.credential(for: document, catalogue: catalogue, at: Date())
            let path = URL(fileURLWithPath: outputDirectory).appendingPathComponent("\(id).vc.json")
            try credential.prettyJSON().write(to: path, options: .atomic)
            print("EXPORTED \(id) \(path.lastPathComponent)")
        }
        print("issuer \(signer.didKey)")
        if !all && missed > 0 { throw ExitCode(1) }
    }
}
