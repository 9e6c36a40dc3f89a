import AMQP
import Admin
import ArgumentParser
import CommandOptions
import Console
import ContractKit
import Contracts
import DeploymentSettings
import Foundation
import Jobs
import Logging
import Programme
import ServiceLifecycle
import Stores
import SubjectRights
import Topology
import WorkerHost

@main
struct KaltimConsole: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kaltim-console",
        abstract:
            "The web console: programme progress, the officers' review desk, the BLKIs' classes, queues, dead letters (replay, purge) and the audit log.",
        subcommands: [Serve.self, Rebuild.self, HashPassword.self, VerificationService.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the console: its read-model worker (queue kaltim.console) and the web pages.",
        discussion: """
            The console is one more independent consumer: its queue is bound to the pipeline's events and its \
            read model lives in its own store (--database, default var/console.sqlite in a checkout of the project, else /var/lib/kaltim/console.sqlite). Dead-letter pages use the \
            broker with an admin's credentials (--admin-url or KALTIM_ADMIN_URL) and the same replay engine and \
            audit log as kaltim-admin (--audit-log or KALTIM_AUDIT_LOG, default var/audit.jsonl in a checkout, else /var/lib/kaltim/audit.jsonl).
            """)

    @OptionGroup var options: WorkerCommandOptions

    @OptionGroup var programme: ProgrammeOptions

    @Option(help: ArgumentHelp("The accounts file (users, roles, password hashes).", valueName: "path"))
    var accounts: String

    @Option(help: "Interface of the web pages.") var consoleHost = "127.0.0.1"
    @Option(help: "Port of the web pages; 0 picks a free port (logged at start).") var consolePort = 8080

    @Option(
        help: ArgumentHelp(
            "Trust this header (set by an authenticating reverse proxy) to name the user; roles still come from --accounts.",
            valueName: "header"))
    var trustedIdentityHeader: String?

    @Option(
        help: ArgumentHelp(
            "A header the reverse proxy sets to the client's address (e.g. X-Forwarded-For: its last entry), for the sign-in's limits per client; needs --console-host on loopback.",
            valueName: "header"))
    var clientAddressHeader: String?

    @Flag(
        help: ArgumentHelp(
            "Limit sign-ins per client by the peer's address (a console its users reach directly, with no proxy or NAT between). Without it or --client-address-header, there is no limit per client."
        ))
    var limitSignInsPerPeer = false

    @Flag(help: "Mark cookies Secure and send Strict-Transport-Security (the console is served over HTTPS).")
    var secureCookies = false

    @Option(help: ArgumentHelp("The broker with an admin's credentials (default: $KALTIM_ADMIN_URL).", valueName: "url"))
    var adminURL: String?

    @Option(
        help: ArgumentHelp(
            "The RabbitMQ management API for unacked counts and rates (default: $KALTIM_MANAGEMENT_URL).", valueName: "url"))
    var managementURL: String?

    @Option(help: ArgumentHelp("The audit log shared with kaltim-admin.", valueName: "path"))
    var auditLog: String?

    @Option(help: ArgumentHelp("How long a canary replay is watched.", valueName: "seconds"))
    var canaryWait = 10

    @Option(
        help: ArgumentHelp(
            "Intake's store (a file or a postgres:// URL; $KALTIM_INTAKE_STORE_URL, when set, replaces it and keeps a password off the command line), read only, for the officers' case files and the reports by profile; without it officers see the queue but cannot decide.",
            valueName: "path"))
    var intakeStore: String?

    @Option(help: ArgumentHelp("The PostgreSQL schema of intake's store (default: intake).", valueName: "name"))
    var intakeStoreSchema = "intake"

    @Option(
        help: ArgumentHelp(
            "The certificates role's store (a file or a postgres:// URL; $KALTIM_CERTIFICATES_STORE_URL, when set, replaces it), read only, for finding an accepted participant by name; without it the search is by registration number only.",
            valueName: "path"))
    var certificatesStore: String?

    @Option(help: ArgumentHelp("The PostgreSQL schema of the certificates store (default: certificates).", valueName: "name"))
    var certificatesStoreSchema = "certificates"

    @Option(
        help: ArgumentHelp(
            "A role's store for a data subject's export and erasure on the console (admins): ROLE=PATH or ROLE=postgres://… (the role's schema), repeat for each role; $KALTIM_SUBJECT_STORES (entries separated by spaces), when set, replaces them and keeps passwords off the command line. Without them the page names the kaltim-admin commands.",
            valueName: "role=store"))
    var subjectStore: [String] = []

    /// The subject stores given: `KALTIM_SUBJECT_STORES` when set, else `--subject-store`.
    func subjectStoreEntries() -> [String] {
        if let variable = DeploymentEnvironment.current["KALTIM_SUBJECT_STORES"] {
            return variable.split(whereSeparator: \.isWhitespace).map(String.init)
        }
        return subjectStore
    }

    func validate() throws {
        do {
            _ = try SubjectStores(subjectStoreEntries())
        } catch {
            throw ValidationError("--subject-store \(error)")
        }
        guard (0...65535).contains(consolePort) else { throw ValidationError("--console-port must be 0…65535") }
        guard canaryWait >= 0 else { throw ValidationError("--canary-wait cannot be negative") }
        // Whoever reaches the port could name any address in the header: only a proxy beside it may.
        if let clientAddressHeader {
            guard clientAddressHeader.wholeMatch(of: /[A-Za-z0-9-]{1,64}/) != nil else {
                throw ValidationError("--client-address-header is a header name, e.g. X-Real-IP")
            }
            guard ["127.0.0.1", "::1", "localhost"].contains(consoleHost) else {
                throw ValidationError("--client-address-header needs --console-host on loopback (the proxy's side only)")
            }
        }
        if clientAddressHeader != nil && limitSignInsPerPeer {
            throw ValidationError("give --client-address-header (behind a proxy) or --limit-sign-ins-per-peer, not both")
        }
        // Whoever reaches the port could name themselves admin in the header: only the proxy
        // (on the same host, or in the same pod) may.
        if trustedIdentityHeader != nil, !["127.0.0.1", "::1", "localhost"].contains(consoleHost) {
            throw ValidationError("--trusted-identity-header needs --console-host on loopback (the proxy's side only)")
        }
    }

    func run() async throws {

        PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
        let environment = DeploymentEnvironment.current
        let catalogue = try programme.load()
        let accounts: ConsoleAccounts
        do {
            accounts = try ConsoleAccounts(path: self.accounts)
        } catch {
            throw ValidationError("\(error)")
        }
        var configuration = ConsoleConfiguration(
            accounts: accounts,
            auditLog: AuditLog(path: environment.auditLogPath(option: auditLog)),
            catalogue: catalogue)
        configuration.host = consoleHost
        configuration.port = consolePort
        configuration.trustedIdentityHeader = trustedIdentityHeader
        configuration.clientAddressHeader = clientAddressHeader
        configuration.limitSignInsPerPeer = limitSignInsPerPeer
        configuration.secureCookies = secureCookies
        configuration.topologyPrefix = options.topologyPrefix
        configuration.canaryWait = .seconds(canaryWait)
        if let url = adminURL ?? environment["KALTIM_ADMIN_URL"] {
            do {
                configuration.adminBroker = try AMQPConfiguration(url: url)
            } catch {
                throw ValidationError("--admin-url: \(error)")
            }
        }
        if let url = environment.managementURL(option: managementURL) {
            let admin = configuration.adminBroker
            do {
                configuration.management = try ManagementAPI(
                    url: url, virtualHost: admin?.virtualHost ?? "/", username: admin?.username ?? "guest",
                    password: admin?.password ?? "guest")
            } catch {
                throw ValidationError("--management-url: \(error)")
            }
        }
        if let intakeStore = environment.readerStore(option: intakeStore, variable: "KALTIM_INTAKE_STORE_URL") {
            do {
                configuration.intakeStore = try await Stores.openForReading(intakeStore, schema: intakeStoreSchema)
            } catch {
                throw ValidationError("--intake-store: \(error)")
            }
        }
        if let certificatesStore = environment.readerStore(
            option: certificatesStore, variable: "KALTIM_CERTIFICATES_STORE_URL")
        {
            do {
                configuration.certificatesStore = try await Stores.openForReading(
                    certificatesStore, schema: certificatesStoreSchema)
            } catch {
                throw ValidationError("--certificates-store: \(error)")
            }
        }
        let subjectStores = subjectStoreEntries()
        if !subjectStores.isEmpty {
            configuration.subjectStores = try SubjectStores(subjectStores)
        }
        var workerOptions = options
        if workerOptions.database == nil { workerOptions.database = InstallLayout.current.state("console.sqlite") }
        // The history a rebuild replays, declared before the first event can be missed.
        let setup = try await AMQPConnection.connect(try options.amqpConfiguration(role: .console))
        if options.declareTopology {
            try await options.topology(role: .console).declare(on: setup)
            try await ProgressHistory(prefix: options.topologyPrefix).declare(on: setup)
        }
        await setup.close()
        let console = configuration
        try await WorkerHost.run(
            role: .console, handler: ProgressHandler(catalogue: catalogue), options: workerOptions,
            services: { store, _, logger, _ in
                [
                    ConsoleServer(configuration: console, store: store, logger: logger).application(),
                    ReviewGauges(store: store, logger: logger),
                ]
            })
    }
}

struct Rebuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Throw the read model away and rebuild it from the console's history stream (kaltim.console.history).")

    @OptionGroup var options: WorkerCommandOptions

    @OptionGroup var programme: ProgrammeOptions

    func run() async throws {

        PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
        let catalogue = try programme.load()
        let store = try await Stores.open(
            options.database ?? InstallLayout.current.state("console.sqlite"),
            schema: options.storeSchema ?? WorkerRole.console.name,
            durability: .full, logger: Logger(label: "kaltim.console"))
        let connection = try await AMQPConnection.connect(try options.amqpConfiguration(role: .console))
        let history = ProgressHistory(prefix: options.topologyPrefix)
        if options.declareTopology {
            try await options.topology(role: .console).declare(on: connection)
            try await history.declare(on: connection)
        }
        let report = try await history.rebuild(
            into: store, handler: ProgressHandler(catalogue: catalogue), connection: connection,
            policy: options.historyPublisherPolicy)
        await connection.close()
        print(
            "rebuilt the read model from \(history.queue): \(report.applied) events applied, \(report.skipped) skipped, "
                + "\(report.refused) refused (type or publisher)")
    }
}

struct HashPassword: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read a password from standard input and print its hash for the accounts file.")

    func run() throws {
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw ValidationError("give the password on standard input")
        }
        print(try PasswordHash.make(line).encoded)
    }
}
