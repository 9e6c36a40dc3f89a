import ArgumentParser
import CertificateTrust
import CommandOptions
import DeploymentSettings
import Foundation
import Hummingbird
import Jobs
import Logging
import Programme
import Stores
import Verification

struct VerificationService: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verification",
        abstract: "Run the public certificate verification service (a page and JSON for the code in a certificate's QR code).",
        discussion: """
            Read only: it reads the certificates worker's store (--database, with a user that may only read it) and \
            checks each stored signed document against the issuer's key ring (--keys). Behind no sign-in; each \
            client gets --burst requests at once and --per-minute a minute after that, everyone together \
            --total-per-minute. GET /v/<code> (page), GET /v?kode=<code> (the form), GET /api/v/<code> (JSON: \
            status VALID, REVOKED, EXPIRED, NOT_YET_VALID, INVALID or UNKNOWN, the holder's name partly masked, the \
            programme, the issuer, the dates), GET /health.
            """)

    @Option(
        help: ArgumentHelp(
            "The certificates worker's store: a file, or a postgres:// URL ($KALTIM_VERIFICATION_DATABASE_URL, when set, replaces it and keeps its password off the command line).",
            valueName: "path"))
    var database: String?
    @Option(help: ArgumentHelp("Its PostgreSQL schema (default: certificates).", valueName: "name")) var storeSchema =
        "certificates"
    @Option(help: ArgumentHelp("The issuer's key ring (every key with the days it signs on).", valueName: "path"))
    var keys: String?
    @Flag(help: "Trust the development key (test certificates only) instead of --keys.") var developmentKey = false
    @OptionGroup var programme: ProgrammeOptions
    @Option(help: "Interface to listen on.") var host = "127.0.0.1"
    @Option(help: "Port; 0 picks a free port (logged at start).") var port = 8090
    @Option(
        help: ArgumentHelp(
            "A header a reverse proxy on the same host sets to the client's address (e.g. X-Real-IP), for the rate limit.",
            valueName: "header"))
    var clientAddressHeader: String?
    @Option(help: "Requests a minute per client, after the burst.") var perMinute = 30
    @Option(help: "Requests a client may make at once.") var burst = 10
    @Option(help: "Requests a minute for all clients together.") var totalPerMinute = 30_000

    func validate() throws {
        guard (keys != nil) != developmentKey else {
            throw ValidationError("give the issuer's key ring with --keys, or --development-key for test certificates")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535") }
        guard (1...100_000).contains(perMinute), (1...10_000).contains(burst), (1...10_000_000).contains(totalPerMinute) else {
            throw ValidationError("--per-minute, --burst and --total-per-minute must be positive (and not absurd)")
        }
        // Whoever reaches the port could name any address in the header: only a proxy beside it may.
        if let clientAddressHeader {
            guard clientAddressHeader.wholeMatch(of: /[A-Za-z0-9-]{1,64}/) != nil else {
                throw ValidationError("--client-address-header is a header name, e.g. X-Real-IP")
            }
            guard ["127.0.0.1", "::1", "localhost"].contains(host) else {
                throw ValidationError("--client-address-header needs --host on loopback (the proxy's side only)")
            }
        }
    }

    func run() async throws {
        guard
            let database = DeploymentEnvironment.current.readerStore(
                option: database, variable: "KALTIM_VERIFICATION_DATABASE_URL")
        else {
            throw ValidationError("give the certificates' store with --database or KALTIM_VERIFICATION_DATABASE_URL")
        }
        let catalogue = try programme.load()
        let ring =
            try keys.map { try CertificateKeyRing(file: $0) }
            ?? CertificateKeyRing([CertificateKeyRing.Key(publicKeyHex: CertificateSigner.development.publicKeyHex)])
        let store: any MessageStore
        do {
            store = try await Stores.openForReading(database, schema: storeSchema)
        } catch {
            throw ValidationError("--database: \(error)")
        }
        var configuration = VerificationConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.clientAddressHeader = clientAddressHeader
        configuration.perMinute = perMinute
        configuration.burst = burst
        configuration.totalPerMinute = totalPerMinute
        // On PostgreSQL through the function of reader-grants.sql: the service's user lists nothing.
        let lookup = CertificateLookup(
            store: store, verifier: CertificateVerifier(keyRing: ring), catalogue: catalogue,
            access: Stores.isPostgres(database) ? .function : .tables)
        let server = VerificationServer(
            configuration: configuration, lookup: lookup, logger: Logger(label: "kaltim.verification"))
        try await server.application().runService()
    }
}
