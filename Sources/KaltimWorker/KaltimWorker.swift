import AMQP
import ArgumentParser
import CertificateTrust
import CommandOptions
import ContractKit
import Contracts
import DataProtection
import DeploymentSettings
import Foundation
import Jobs
import Programme
import Stores
import Topology
import WorkerHost
import Workers

@main
struct KaltimWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kaltim-worker",
        abstract: "The workers of the Kaltim 2025 certification pipeline, and their admin commands.",
        subcommands: [
            Intake.self, Scheduling.self, Grading.self, Certificates.self, ImportRegistry.self, ImportHistory.self,
            Notifications.self, Supervise.self, OpenClasses.self, CertificateKey.self, VerifyCertificate.self,
            RevokeCertificate.self, ExportCredential.self, Review.self, ReRegister.self, Withdraw.self, TrainingResult.self,
            RecordLicence.self, RepublishNames.self,
        ])
}

struct Intake: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the intake validation worker (registration.submitted → accepted, rejected or review-needed).")

    @OptionGroup var options: WorkerCommandOptions
    @OptionGroup var programme: ProgrammeOptions
    @OptionGroup var nikKey: NIKKeyOptions
    @Option(
        help: ArgumentHelp(
            "Days after its decision a registration of an earlier programme year keeps its masked NIK and blind index, and its consent the parent's name (0: for ever; at least 365).",
            valueName: "days"))
    var registrationRetentionDays = 730

    func validate() throws {
        guard registrationRetentionDays == 0 || (365...36_500).contains(registrationRetentionDays) else {
            throw ValidationError(
                "--registration-retention-days: 0 (for ever) or 365 to 36500 (a year at least: a past year's grades keep arriving)"
            )
        }
    }

    func run() async throws {

        PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
        let catalogue = try programme.load()
        let key = try nikKey.key()
        if key.isDevelopmentKey {
            FileHandle.standardError.write(Data("kaltim-worker: --development-key: using the public development NIK key\n".utf8))
        }
        let topology = try options.topology(role: .intake)
        try await WorkerHost.run(
            role: .intake,
            handler: IntakeHandler(
                catalogue: catalogue, nikKey: key, exchange: topology.exchange,
                registrationRetention: registrationRetentionDays == 0 ? nil : .seconds(registrationRetentionDays * 86_400)),
            options: options)
    }
}

struct Scheduling: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the class scheduling worker (acceptances and classes → scheduled, waitlisted, apprenticeships).")

    @OptionGroup var options: WorkerCommandOptions
    @OptionGroup var programme: ProgrammeOptions

    func run() async throws {

        PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
        let catalogue = try programme.load()
        let topology = try options.topology(role: .scheduling)
        try await WorkerHost.run(
            role: .scheduling, handler: SchedulingHandler(catalogue: catalogue, exchange: topology.exchange), options: options)
    }
}

struct Grading: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the assessment grading intake worker (assessment.submitted → graded or rejected).")

    @OptionGroup var options: WorkerCommandOptions
    @OptionGroup var programme: ProgrammeOptions

    func run() async throws {

        PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
        let catalogue = try programme.load()
        let topology = try options.topology(role: .grading)
        try await WorkerHost.run(
            role: .grading, handler: GradingHandler(catalogue: catalogue, exchange: topology.exchange), options: options)
    }
}

struct Certificates: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the certificate issuance worker (assessment.graded → certificate.issued / revoked).")

    @OptionGroup var options: WorkerCommandOptions
    @OptionGroup var programme: ProgrammeOptions
    @Option(
        help: ArgumentHelp(
            "Ed25519 private key file (32 bytes or 64 hex digits; `certificate-key` makes one).", valueName: "path"))
    var signingKeyFile: String?
    @Option(help: ArgumentHelp("Folder for each certificate's signed JSON and printable PDF.", valueName: "path"))
    var outputDirectory: String?
    @Option(
        help: ArgumentHelp(
            "The verification service's address, printed on each PDF and put in its QR code followed by the verification code (https://…/; default: $KALTIM_VERIFICATION_URL/v/, else https://sertifikat.disnakertrans.kaltimprov.go.id/v/).",
            valueName: "url"))
    var verificationURL: String?
    @Option(
        help: ArgumentHelp(
            "Threads drawing certificates' files at once (1 to 64; default: the processors, at most 4).", valueName: "n"))
    var fileRenderers = min(ProcessInfo.processInfo.activeProcessorCount, 4)

    func validate() throws {
        if let verificationURL {
            guard let url = URL(string: verificationURL), url.scheme == "https" || url.scheme == "http", url.host != nil,
                url.user == nil, url.password == nil,
                verificationURL.utf8.count <= 200, verificationURL.hasSuffix("/") || verificationURL.hasSuffix("="),
                DeploymentEnvironment.isPrintableASCII(verificationURL)
            else {
                throw ValidationError(
                    "--verification-url is an http(s) address of at most 200 characters of printable ASCII, without a user, ending in / or = (the code follows it)"
                )
            }
        }
        guard (1...64).contains(fileRenderers) else { throw ValidationError("--file-renderers takes 1 to 64") }
    }

    func run() async throws {

        PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
        let catalogue = try programme.load()
        let signer = try signingKeyFile.map { try CertificateSigner(file: $0) } ?? .development
        if signer.isDevelopmentKey {
            FileHandle.standardError.write(Data("kaltim-worker: no --signing-key-file; signing with the development key\n".utf8))
        }
        let topology = try options.topology(role: .certificates)
        let directory = outputDirectory
        // Every QR code holds the service's address: the option's, else the deployment's.
        let verificationURL: String
        do {
            verificationURL = try self.verificationURL ?? DeploymentEnvironment.current.verificationAddress() + "/v/"
        } catch {
            throw ValidationError("\(error)")
        }
        let renderers = fileRenderers
        // The files are written after each commit, by a service beside the worker, woken by it.
        let doorbell = Doorbell()
        let ring: @Sendable ([String]) -> Void = { committed in if !committed.isEmpty { doorbell.ring() } }
        try await WorkerHost.run(
            role: .certificates,
            handler: CertificateHandler(
                catalogue: catalogue, signer: signer, writesFiles: directory != nil, exchange: topology.exchange),
            options: options,
            afterCommit: directory == nil ? nil : ring,
            services: { store, _, logger, _ in
                directory.map {
                    [
                        CertificateFileWriter(
                            store: store, directory: $0, verificationURL: verificationURL, renderers: renderers,
                            doorbell: doorbell, logger: logger)
                    ]
                } ?? []
            })
    }
}

struct CertificateKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a new Ed25519 signing key file, or print the public key of one (for verifiers).")

    @Option(help: ArgumentHelp("Write a new private key here (refuses to overwrite).", valueName: "path")) var new: String?
    @Option(help: ArgumentHelp("Print the public key of this private key file.", valueName: "path")) var publicOf: String?

    func validate() throws {
        guard (new == nil) != (publicOf == nil) else { throw ValidationError("give exactly one of --new and --public-of") }
    }

    func run() async throws {

        PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
        if let new {
            try Self.writeNewKey(to: new)
            print(try CertificateSigner(file: new).publicKeyHex)
        } else if let publicOf {
            print(try CertificateSigner(file: publicOf).publicKeyHex)
        }
    }
}

extension CertificateKey {
    /// Creates the key file only where nothing is (not even a link: `O_EXCL`, `O_NOFOLLOW`), so
    /// that a key in use is never replaced, readable by its owner only, and flushed to disk with
    /// its name before the public key is printed (a verifier told of a key whose private half a
    /// power loss took could never be given a certificate it checks).
    static func writeNewKey(to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            let code = errno
            if code == EEXIST { throw ValidationError("\(path) exists; not overwriting it") }
            throw ValidationError("cannot create \(path): \(String(cString: strerror(code)))")
        }
        let contents = Data((CertificateSigner.generateHex() + "\n").utf8)
        let written = contents.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let flushed = written == contents.count && fsync(descriptor) == 0
        close(descriptor)
        guard flushed else {
            unlink(path)
            throw ValidationError("cannot write \(path)")
        }
        do {
            try DiskFlush.flush(URL(fileURLWithPath: path).deletingLastPathComponent().path)
        } catch {
            throw ValidationError(
                "\(path) is written but its folder could not be flushed to disk; check the disk, then print its public key "
                    + "with --public-of")
        }
    }
}

struct VerifyCertificate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a certificate document: key, signature, revocation, validity dates. Exit 0 only when valid.")

    @Option(help: ArgumentHelp("The certificate's JSON document.", valueName: "path")) var file: String
    @Option(help: ArgumentHelp("The issuer's public key, 64 hex digits, trusted on any day.", valueName: "hex"))
    var publicKey: String?
    @Option(
        help: ArgumentHelp(
            "The issuer's key ring: every key with the days it signs on (docs/OPERATIONS.md, rotating the key).",
            valueName: "path"))
    var keys: String?
    @Flag(help: "Check against the development key (test certificates only) instead of --public-key.")
    var developmentKey = false
    @Option(
        help: ArgumentHelp("The certificates worker's store, for revocations (a file or a postgres:// URL).", valueName: "path"))
    var database: String?
    @Option(help: ArgumentHelp("Its PostgreSQL schema (default: certificates).", valueName: "name")) var storeSchema =
        "certificates"
    @Option(help: ArgumentHelp("The day of the check, YYYY-MM-DD (default: today in WITA).", valueName: "date")) var today:
        String?

    func validate() throws {
        // No silent default: a verifier that falls back to the development key would call a
        // certificate signed with it valid.
        guard [publicKey != nil, keys != nil, developmentKey].filter({ $0 }).count == 1 else {
            throw ValidationError(
                "give the issuer's keys with --keys FILE or --public-key HEX, or --development-key for test certificates")
        }
    }

    func run() async throws {

        PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
        let verifier =
            try keys.map { CertificateVerifier(keyRing: try CertificateKeyRing(file: $0)) }
            ?? CertificateVerifier(publicKeyHex: publicKey ?? CertificateSigner.development.publicKeyHex)
        var revocations: [String: String] = [:]
        if let database {
            let store = try await Stores.openForReading(database, schema: storeSchema)
            for row in try await store.read("SELECT certificate_id, reason FROM cert_revocations") {
                if let id = row["certificate_id"]?.text { revocations[id] = row["reason"]?.text ?? "" }
            }
        }
        let day = today ?? CertificateKeyRing.witaDay(Date())
        let verdict = verifier.verify(try Data(contentsOf: URL(fileURLWithPath: file)), revocations: revocations, today: day)
        print("\(verdict.code) \(verdict)")
        if verdict != .valid { throw ExitCode(1) }
    }
}

struct RevokeCertificate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Revoke a certificate: publishes certificate.revoked.")

    @Option(help: "The certificate id.") var certificateID: String
    @Option(help: "A reason code, e.g. DATA_ERROR or FRAUD.") var reason: String
    @Option(
        help: ArgumentHelp(
            "The certificates worker's store (to find the participant; a file or a postgres:// URL).", valueName: "path"))
    var database = InstallLayout.current.state("certificates.sqlite")
    @Option(help: ArgumentHelp("Its PostgreSQL schema (default: certificates).", valueName: "name")) var storeSchema =
        "certificates"
    @OptionGroup var broker: BrokerOptions
    @Option(help: ArgumentHelp("Prefix of the exchange and queue names.", valueName: "prefix")) var topologyPrefix = ""

    func validate() throws {
        guard reason.wholeMatch(of: /[A-Z][A-Z0-9_]{1,63}/) != nil else {
            throw ValidationError("--reason is an UPPER_SNAKE code, e.g. DATA_ERROR")
        }
        // The holder is told a replacement under the corrected name is on its way: only the
        // certificates role, which issues that replacement, revokes with it.
        guard reason != CertificateHandler.nameCorrected else {
            throw ValidationError(
                "--reason \(reason) is the certificates role's own (it reissues under a corrected name); use DATA_ERROR")
        }
        // Only a correction of the assessment, graded by grading, revokes with it (and may
        // later give the record back); the office corrects an assessment through the LSP.
        guard reason != CertificateHandler.assessmentCorrected else {
            throw ValidationError(
                "--reason \(reason) is the certificates role's own (a corrected assessment); use DATA_ERROR")
        }
    }

    func run() async throws {

        PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
        let store = try await Stores.openForReading(database, schema: storeSchema)
        let rows = try await store.read(
            """
            SELECT c.participant_id, c.scheme, c.kind, r.reason FROM cert_certificates c
            LEFT JOIN cert_revocations r ON r.certificate_id = c.certificate_id WHERE c.certificate_id = ?
            """, [.text(certificateID)])
        guard let row = rows.first, let participant = row["participant_id"]?.text else {
            throw ValidationError("no certificate \(certificateID) in \(database)")
        }
        // Already revoked (replaced under a corrected name, or by a correction): name what is
        // in force instead of telling the holder of the old one again.
        if let earlier = row["reason"]?.text {
            let scheme = String((row["scheme"]?.text ?? "").split(separator: "#", maxSplits: 1).first ?? "")
            let inForce = try await store.read(
                """
                SELECT c.certificate_id FROM cert_certificates c
                LEFT JOIN cert_revocations r ON r.certificate_id = c.certificate_id
                WHERE c.participant_id = ? AND c.kind = ? AND (c.scheme = ? OR (c.scheme >= ? AND c.scheme < ?))
                    AND r.certificate_id IS NULL
                """,
                // The scheme and its reissues (`scheme#n`), by byte order ('$' follows '#'); not a
                // LIKE, in which a `_` of the scheme would match any character and case is ignored.
                [.text(participant), .text(row["kind"]?.text ?? ""), .text(scheme), .text(scheme + "#"), .text(scheme + "$")]
            ).compactMap { $0["certificate_id"]?.text }
            throw ValidationError(
                "\(certificateID) is already revoked (\(earlier))"
                    + (inForce.isEmpty ? "" : "; in force now: \(inForce.joined(separator: ", ")) (revoke that one)"))
        }
        let connection = try await AMQPConnection.connect(try broker.configuration(connectionName: nil))
        let topology = RoleTopology(role: .certificates, prefix: topologyPrefix)
        let event = try OutgoingEvent(
            EventEnvelope(
                id: "revoked-\(certificateID)", source: "/kaltim/admin/revoke-certificate", subject: participant,
                data: CertificateRevokedV1(certificateID: certificateID, participantID: participant, reasonCode: reason)),
            exchange: topology.exchange)
        var message = event.amqpMessage
        message.properties.userID = connection.username  // required: consumers check who may revoke
        let result = await connection.publish([message]).first
        await connection.close()
        guard case .success = result else { throw ValidationError("the broker did not confirm the revocation") }
        print("revoked \(certificateID) (\(reason))")
    }
}

/// `--nik-key-file` or `--development-key`: the NIK blind-index key of intake and of the imports
/// into its store. The public development key only when asked for by name: a worker or an
/// import under the wrong key matches nobody, and one under the public key protects nothing.
struct NIKKeyOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "File with the secret key of the NIK blind index, the intake worker's (≥ 32 bytes or 64 hex digits).",
            valueName: "path"))
    var nikKeyFile: String?
    @Flag(help: "Use the development NIK key, which is public: local runs and tests only.") var developmentKey = false

    func validate() throws {
        switch (nikKeyFile, developmentKey) {
        case (_?, true): throw ValidationError("--nik-key-file and --development-key exclude each other")
        case (nil, false):
            throw ValidationError("give --nik-key-file (the intake worker's key), or --development-key for a local run")
        default: break
        }
    }

    /// The key: read from `--nik-key-file`, or the development key.
    func key() throws -> NIKKey {
        guard let nikKeyFile else { return .development }
        return try NIKKey(file: nikKeyFile)
    }
}

struct ImportRegistry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load a Dukcapil registry extract (CSV: nik,full_name,birth_date,region_code) into the intake store.",
        discussion: """
            Columns: nik = 16 digits (spaces, dots or dashes between them allowed); full_name = not empty; \
            birth_date = yyyy-MM-dd; region_code = the domicile's 10-digit village code, of which only the \
            province is kept. A sex column is allowed and not read. A row with any other value is skipped \
            and reported with its line and reason. With --replace the extract is the whole registry: records \
            of earlier extracts it does not have are deleted, unless a row was skipped.
            """)

    @Option(help: ArgumentHelp("The extract.", valueName: "path")) var csv: String
    @Option(help: ArgumentHelp("The intake worker's store (a file, or a postgres:// URL).", valueName: "path"))
    var database = InstallLayout.current.state("intake.sqlite")
    @OptionGroup var nikKey: NIKKeyOptions
    @Flag(help: "Delete the records of earlier extracts that this one does not have (not when a row is skipped).")
    var replace = false
    @Option(
        help: ArgumentHelp(
            "With --replace: how many records may be deleted (default: a tenth of those held).", valueName: "count"))
    var maxRemoved: Int?

    func validate() throws {
        if let maxRemoved, maxRemoved < 0 { throw ValidationError("--max-removed: a count, 0 or more") }
        if maxRemoved != nil && !replace { throw ValidationError("--max-removed goes with --replace") }
    }

    func run() async throws {

        PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
        let summary = try await IntakeImport.registry(
            csv: try readText(csv), into: try await openIntakeStore(database),
            key: try nikKey.key(), replace: replace, maximumRemoved: maxRemoved)
        report(summary, what: "registry records")
        if replace {
            print(
                summary.skipped.isEmpty
                    ? "removed \(summary.removed) records the extract no longer has"
                    : "removed nothing: rows were skipped (fix them and import again with --replace)")
        }
    }
}

struct ImportHistory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load training history of earlier programmes (CSV: nik,programme,year,outcome) into the intake store.")

    @Option(help: ArgumentHelp("The history file.", valueName: "path")) var csv: String
    @Option(help: ArgumentHelp("The intake worker's store (a file, or a postgres:// URL).", valueName: "path"))
    var database = InstallLayout.current.state("intake.sqlite")
    @OptionGroup var nikKey: NIKKeyOptions

    func run() async throws {

        PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
        let summary = try await IntakeImport.history(
            csv: try readText(csv), into: try await openIntakeStore(database),
            key: try nikKey.key())
        report(summary, what: "history rows")
    }
}

struct OpenClasses: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish class.opened for every class of the programme plan (idempotent: fixed message ids).")

    @OptionGroup var programme: ProgrammeOptions
    @OptionGroup var broker: BrokerOptions
    @Option(help: ArgumentHelp("Prefix of the exchange and queue names.", valueName: "prefix")) var topologyPrefix = ""
    @Option(help: "Publish only the classes of this BLKI (BLKI_BALIKPAPAN or BLKI_BONTANG).") var centre: String?
    @Flag(
        inversion: .prefixedNo,
        help: ArgumentHelp(
            "Declare the scheduling role's topology first (--no-declare-topology as the office user of deploy/, "
                + "which may not: then the scheduling queue must exist)."))
    var declareTopology = true

    func validate() throws {
        if let centre, TrainingCentre(rawValue: centre) == nil {
            throw ValidationError("--centre must be BLKI_BALIKPAPAN or BLKI_BONTANG")
        }
    }

    func run() async throws {

        PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
        let catalogue = try programme.load()
        let environment = DeploymentEnvironment.current
        let connection = try await AMQPConnection.connect(try broker.configuration(connectionName: nil))
        // The scheduling queue exists before the first class is announced, so none is lost.
        let topology = RoleTopology(
            role: .scheduling, prefix: topologyPrefix, retryQueueType: try environment.retryQueueType())
        if declareTopology {
            try await topology.declare(on: connection)
        } else {
            _ = try await connection.queueState(topology.queue)
        }
        let classes = catalogue.plannedClasses.filter { centre == nil || $0.centre.rawValue == centre }
        let messages = try classes.map { planned in
            try OutgoingEvent(
                EventEnvelope(
                    id: "class-opened-\(planned.classID)", source: "/kaltim/admin/open-classes", subject: planned.classID,
                    data: planned),
                exchange: topology.exchange
            ).amqpMessage
        }.map { message in
            var message = message
            message.properties.userID = connection.username  // required: consumers check who may open classes
            return message
        }
        let results = await connection.publish(messages, window: 100)
        await connection.close()
        let failed = results.filter { if case .failure = $0 { true } else { false } }.count
        print("published \(classes.count - failed) of \(classes.count) class.opened events")
        if failed > 0 { throw ExitCode(1) }
    }
}

func readText(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
    return String(decoding: data, as: UTF8.self)
}

/// The intake store at `database`: a SQLite file, or the intake schema of a `postgres://` URL.
func openIntakeStore(_ database: String) async throws -> any MessageStore {
    try await Stores.open(database, schema: WorkerRole.intake.name)
}

func report(_ summary: IntakeImport.Summary, what: String) {
    print("imported \(summary.imported) \(what); skipped \(summary.skipped.count)")
    for (line, reason) in summary.skipped.prefix(20) { print("  line \(line): \(reason)") }
}
