public import AMQP
public import ArgumentParser
public import CommandOptions
public import ContractKit
import Contracts
public import DeploymentSettings
import Foundation
public import Jobs
public import Logging
public import Stores
import Topology

/// The command-line options every worker process takes (`kaltim-worker <role> --help`).
public struct WorkerCommandOptions: ParsableArguments, Sendable {
    /// `--broker-url` and the TLS files.
    @OptionGroup public var broker: BrokerOptions

    @Option(
        help: ArgumentHelp(
            "The role's store: a SQLite file, shared by the role's processes on one machine, or a "
                + "postgres://user:password@host:port/database URL, shared by its processes on any machine (default: "
                + "$KALTIM_DATABASE_URL, which keeps a password off the command line, else <role>.sqlite in var/ of a checkout of the project, or in $KALTIM_STATE_DIR or /var/lib/kaltim).",
            valueName: "path|url"))
    public var database: String?

    @Option(help: ArgumentHelp("The PostgreSQL schema of the role's tables (default: the role's name).", valueName: "name"))
    public var storeSchema: String?

    @Option(
        help: ArgumentHelp(
            "How a commit reaches the disk: full (fsync each commit; messages acknowledged at commit) or normal (no fsync; acknowledged only after their outputs' publish).",
            valueName: "full|normal"))
    public var durability: SQLiteStore.Durability = .full

    /// The retention of the worker's outbox and inbox rows.
    public var retention: RetentionPolicy {
        RetentionPolicy(
            publishedOutbox: outboxRetentionDays == 0 ? nil : .seconds(outboxRetentionDays * 86_400),
            inbox: inboxRetentionDays == 0 ? nil : .seconds(inboxRetentionDays * 86_400))
    }

    @Option(
        help: ArgumentHelp(
            "Messages held at once: the consumer prefetch and the largest group commit (1–65535; default 64, for intake and notifications 256).",
            valueName: "n"))
    public var concurrency: Int?

    /// The concurrency of a process of `role`: `--concurrency` when given, else
    /// ``defaultConcurrency(of:)``.
    public func concurrency(of role: WorkerRole) -> Int { concurrency ?? Self.defaultConcurrency(of: role) }

    /// 256 for the intake and notification roles, 64 for the others: both take the most
    /// messages (intake every registration, notifications three events per registration), each
    /// small. 20,000 registrations (kaltim-demo as `scripts/bench-e2e.sh` runs it, 2026-12-07):
    /// with notifications at 64, 703–818 registrations/s end to end (six runs), up to 17,400
    /// of its messages waiting in the broker (one sampled run); at 256, 1,131–1,197 (four
    /// runs), its peak memory 61–63 MiB either way. Intake's outputs took 14.1–15.9 s at 64
    /// (ten runs), its two processes spending 5.8–5.9 s of CPU together, and 12.7 s at 256
    /// (one run), each process's peak memory 4–5 MiB higher.
    public static func defaultConcurrency(of role: WorkerRole) -> Int {
        [WorkerRole.intake.name, WorkerRole.notifications.name].contains(role.name) ? 256 : 64
    }

    @Option(
        help: ArgumentHelp(
            "Backoff tiers for transient failures, shortest first; one retry per tier (units ms, s, m, h).",
            valueName: "list"))
    public var retryDelays: String = "5s,30s,5m"

    @Option(help: "Deliveries of one message before the broker dead-letters it (a crash loop).")
    public var deliveryLimit: Int = 20

    @Option(
        help: ArgumentHelp(
            "Days a published outbox row (the whole event) is kept; 0 keeps them for ever.", valueName: "days"))
    public var outboxRetentionDays: Int = 7

    @Option(
        help: ArgumentHelp(
            "Days a handled message's id is kept to recognise a resend (keep it beyond any replay you allow); 0 keeps them for ever.",
            valueName: "days"))
    public var inboxRetentionDays: Int = 90

    @Option(
        help: ArgumentHelp(
            "Queue type of the retry tiers: classic (one node) or quorum (a cluster: replicated). Default: "
                + "$KALTIM_RETRY_QUEUE_TYPE, else classic. Every process of a deployment must agree.",
            valueName: "classic|quorum"))
    public var retryQueueType: String?

    @Option(
        help: ArgumentHelp("Prefix for every exchange and queue name (isolated test or staging topologies).", valueName: "prefix")
    )
    public var topologyPrefix: String = ""

    @Flag(
        help: ArgumentHelp(
            "Development only: let any broker user publish any event type to this role (every process of a local run "
                + "logs in as one user). Without it, each event's validated user_id must be one of its contract's "
                + "publishers (kaltim-portal, kaltim-office, kaltim-<role>; an LSP's results from kaltim-lsp-<licence>, a BLKI's "
                + "records from kaltim-blki-<code>). Logged as a warning at start."))
    public var allowAnyPublisher = false

    @Flag(
        inversion: .prefixedNo,
        help: ArgumentHelp(
            "Declare the role's exchanges, queues and bindings at start (--no-declare-topology where the role's broker "
                + "user has no configure permission, as in deploy/: the definitions or `kaltim-admin topology apply` "
                + "declare them, and the worker only checks that its queue exists)."))
    public var declareTopology = true

    @Option(help: "Interface for /metrics, /health and /ready.")
    public var httpHost: String = "127.0.0.1"

    @Option(help: "Port for /metrics, /health and /ready; 0 picks a free port (logged at start).")
    public var httpPort: Int = 0

    @Flag(help: "Serve no HTTP endpoints.")
    public var noHTTP = false

    @Option(
        help: ArgumentHelp("This process's name in logs and failure records (default: <role>@<host>:<pid>).", valueName: "name"))
    public var instance: String?

    @Option(help: "Seconds a graceful shutdown (SIGTERM, SIGINT) may take to finish in-flight messages.")
    public var shutdownTimeout: Int = 30

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    public var logLevel: LogLevelOption = .info

    @Option(help: ArgumentHelp("json (one object per line) or text.", valueName: "format"))
    public var logFormat: MaskingLogHandler.Format = .json

    public init() {}

    public func validate() throws {
        guard (0...36_500).contains(outboxRetentionDays), (0...36_500).contains(inboxRetentionDays) else {
            throw ValidationError("--outbox-retention-days and --inbox-retention-days are 0 (for ever) to 36500")
        }
        guard inboxRetentionDays == 0 || inboxRetentionDays >= 7 else {
            throw ValidationError("--inbox-retention-days is at least 7: a message redelivered later would be handled twice")
        }
        if let concurrency, !(1...Int(UInt16.max)).contains(concurrency) {
            throw ValidationError("--concurrency must be between 1 and 65535, not \(concurrency)")
        }
        if let storeSchema, storeSchema.wholeMatch(of: /[a-z_][a-z0-9_]{0,62}/) == nil {
            throw ValidationError("--store-schema must be a lowercase identifier (letters, digits, _), not \(storeSchema)")
        }
        _ = try resolvedRetryQueueType()
        guard deliveryLimit > 0 else { throw ValidationError("--delivery-limit must be positive, not \(deliveryLimit)") }
        guard (0...65535).contains(httpPort) else { throw ValidationError("--http-port must be between 0 and 65535") }
        guard shutdownTimeout > 0 else { throw ValidationError("--shutdown-timeout must be positive") }
        _ = try parsedRetryDelays()
    }

    /// The retry tiers, e.g. `5s,30s,5m`.
    public func parsedRetryDelays() throws -> [Duration] {
        let delays = try retryDelays.split(separator: ",").map { try Self.parseDuration(String($0)) }
        guard !delays.isEmpty else { throw ValidationError("--retry-delays needs at least one delay") }
        return delays
    }

    static func parseDuration(_ text: String) throws -> Duration {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (suffix, milliseconds) in units where trimmed.hasSuffix(suffix) {
            if let value = Int64(trimmed.dropLast(suffix.count)), value > 0 {
                return .milliseconds(value * milliseconds)
            }
        }
        throw ValidationError("--retry-delays: '\(text)' is not a positive duration like 500ms, 5s, 30s, 5m or 1h")
    }

    /// Who may publish each event type: the contracts' publishers, unless `--allow-any-publisher`.
    public var publisherPolicy: PublisherPolicy {
        allowAnyPublisher
            ? .anyPublisher
            : .enforcing(ContractPublishers.allowedUsers(), parties: ContractPublishers.partyRules())
    }

    /// Who may have published an event of the console's history (400 days): as
    /// ``publisherPolicy``, and also the users the LSPs and the BLKIs shared before each had its
    /// own, whose events the console's worker took then (a rebuild would otherwise lose them).
    public var historyPublisherPolicy: PublisherPolicy {
        allowAnyPublisher
            ? .anyPublisher
            : .enforcing(
                ContractPublishers.allowedUsers().merging(ContractPublishers.retiredUsers()) { $0.union($1) },
                parties: ContractPublishers.partyRules())
    }

    /// The role's store: `--database`, else `$KALTIM_DATABASE_URL` (where a URL with a password
    /// belongs: a command line is visible to every user of the machine in `ps`), else
    /// `<role>.sqlite` in the state folder (``InstallLayout``: `var/` in a checkout, else
    /// `/var/lib/kaltim`).
    public func databaseLocation(role: WorkerRole) -> String {
        if let database { return database }
        if let url = environment["KALTIM_DATABASE_URL"] { return url }
        return InstallLayout(environment: environment, isCheckout: InstallLayout.isCheckout).state("\(role.name).sqlite")
    }

    /// The broker connection settings, the connection named after the role.
    public func amqpConfiguration(role: WorkerRole) throws -> AMQPConfiguration {
        try broker.configuration(connectionName: "kaltim-worker \(role.name)")
    }

    /// The topology for `role` with these options.
    public func topology(role: WorkerRole) throws -> RoleTopology {
        RoleTopology(
            role: role, retryDelays: try parsedRetryDelays(), deliveryLimit: deliveryLimit, prefix: topologyPrefix,
            retryQueueType: try resolvedRetryQueueType())
    }

    /// `--retry-queue-type`, else `KALTIM_RETRY_QUEUE_TYPE`, else classic.
    public func resolvedRetryQueueType() throws -> RoleTopology.RetryQueueType {
        do {
            return try environment.retryQueueType(option: retryQueueType)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// Where the options fall back to the deployment's environment variables.
    public var environment: DeploymentEnvironment { .current }
}

// The options' enums, parsed by swift-argument-parser itself: an unknown value is refused with
// the list of valid ones, and the command receives a typed value (no string re-parsed later
// with a silent fallback).

extension SQLiteStore.Durability: ExpressibleByArgument {
    /// `full` or `normal`, in any case.
    public init?(argument: String) { self.init(rawValue: argument.uppercased()) }
    public static var allValueStrings: [String] { ["full", "normal"] }
    public var defaultValueDescription: String { rawValue.lowercased() }
}

/// `--log-level`: swift-log's levels by their names.
public enum LogLevelOption: String, CaseIterable, Sendable, ExpressibleByArgument {
    case trace, debug, info, notice, warning, error, critical

    /// The swift-log level.
    public var level: Logger.Level { Logger.Level(rawValue: rawValue) ?? .info }
}

extension MaskingLogHandler.Format: ExpressibleByArgument {}
