import AMQP
import Admin
import ArgumentParser
import CommandOptions
import ContractKit
import Contracts
import DeploymentSettings
import Foundation
import Jobs
import Topology

@main
struct KaltimAdmin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kaltim-admin",
        abstract:
            "Operate the Kaltim pipeline: dead letters (list, show, replay, export, purge), queue status, topology, a data subject's export and erasure, a breach notice, the register of personal data.",
        discussion: """
            Connects with the admin's own credentials (--broker-url or KALTIM_ADMIN_URL). Every action that \
            changes something, or reveals personal data, is appended to the audit log (--audit-log or \
            KALTIM_AUDIT_LOG; default var/audit.jsonl in a checkout of the project, else /var/lib/kaltim/audit.jsonl).
            """,
        subcommands: [
            DeadLetters.self, Status.self, TopologyCommand.self, DeployFiles.self, SubjectCommand.self, BreachCommand.self,
            PersonalDataCommand.self,
        ])
}

/// Options every admin command shares.
struct AdminOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The broker, with the admin's credentials; a cluster's nodes as a comma-separated list of URLs (default: $KALTIM_ADMIN_URL).",
            valueName: "url"))
    var brokerURL: String?
    /// The TLS files of an `amqps://` admin URL.
    @OptionGroup var tls: TLSOptions
    @Option(help: ArgumentHelp("Prefix of every broker object name (tests).", valueName: "prefix")) var topologyPrefix = ""
    @Option(
        help: ArgumentHelp(
            "The audit log (default: $KALTIM_AUDIT_LOG, else var/audit.jsonl in a checkout of the project, else /var/lib/kaltim/audit.jsonl).",
            valueName: "path"))
    var auditLog: String?
    @Option(
        name: .customLong("operator"),
        help: ArgumentHelp("Who acts, for the audit log and provenance headers (default: $USER).", valueName: "name"))
    var operatorName: String?
    @Option(
        help: ArgumentHelp(
            "Queue type of the retry tiers, where a command declares them (default: $KALTIM_RETRY_QUEUE_TYPE, else classic).",
            valueName: "classic|quorum"))
    var retryQueueType: String?

    /// `--retry-queue-type`, else `KALTIM_RETRY_QUEUE_TYPE`, else classic.
    func resolvedRetryQueueType() throws -> RoleTopology.RetryQueueType {
        do {
            return try DeploymentEnvironment.current.retryQueueType(option: retryQueueType)
        } catch {
            throw ValidationError(error.description)
        }
    }

    var who: String { operatorName ?? ProcessInfo.processInfo.environment["USER"] ?? "unknown" }

    var audit: AuditLog {
        AuditLog(path: DeploymentEnvironment.current.auditLogPath(option: auditLog))
    }

    /// Runs `body` with a connection and the dead-letter engine, and closes the connection.
    func withAdmin<T>(_ body: (AMQPConnection, DeadLetterAdmin) async throws -> T) async throws -> T {
        let connection = try await connect()
        do {
            let result = try await body(connection, DeadLetterAdmin(connection: connection, prefix: topologyPrefix))
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    func connect() async throws -> AMQPConnection {
        guard let url = DeploymentEnvironment.current.adminBrokerURL(option: brokerURL) else {
            throw ValidationError("give --broker-url (or set KALTIM_ADMIN_URL)")
        }
        var configuration: AMQPConfiguration
        do {
            configuration = try AMQPConfiguration(url: url)
        } catch {
            throw ValidationError("--broker-url: \(error)")
        }
        tls.apply(to: &configuration)
        configuration.connectionName = "kaltim-admin \(who)"
        configuration.reconnect = nil
        return try await AMQPConnection.connect(configuration)
    }
}

/// `--role intake --role grading`, or every role.
struct RoleOptions: ParsableArguments {
    @Option(
        name: .customLong("role"),
        help: ArgumentHelp(
            "A role (repeat for several; default the five workers; `console` for the console's read model).", valueName: "name"))
    var names: [String] = []

    /// The roles an admin command may name: the workers and the console.
    static let known = WorkerRole.all + [.console]

    func validate() throws {
        for name in names where !Self.known.contains(where: { $0.name == name }) {
            throw ValidationError("unknown role \(name); roles: \(Self.known.map(\.name).joined(separator: ", "))")
        }
    }

    var roles: [WorkerRole] { names.isEmpty ? WorkerRole.all : Self.known.filter { names.contains($0.name) } }
}

/// The filter options of `replay` and `export`.
struct FilterOptions: ParsableArguments {
    @Option(name: .customLong("message-id"), help: "Only this message (repeat for several).") var messageIDs: [String] = []
    @Option(name: .customLong("code"), help: "Only this failure code, e.g. malformed-json.") var codes: [String] = []
    @Option(name: .customLong("fingerprint"), help: "Only this fingerprint (from `list`).") var fingerprints: [String] = []
    @Option(help: "Only this contract type, e.g. registration.submitted.") var type: String?
    @Option(help: "Only this contract version.") var version: Int?
    @Option(help: ArgumentHelp("Only failures at or after this time (ISO 8601).", valueName: "time")) var since: String?
    @Option(help: ArgumentHelp("Only failures before this time (ISO 8601).", valueName: "time")) var until: String?

    func validate() throws {
        for (name, value) in [("--since", since), ("--until", until)] {
            if let value, Self.date(value) == nil { throw ValidationError("\(name) is not an ISO 8601 time: \(value)") }
        }
        if let version, version < 1 { throw ValidationError("--version must be 1 or more") }
    }

    var filter: DeadLetterFilter {
        var filter = DeadLetterFilter()
        filter.messageIDs = Set(messageIDs)
        filter.codes = Set(codes)
        filter.fingerprints = Set(fingerprints)
        filter.contractType = type
        filter.contractVersion = version
        filter.since = since.flatMap(Self.date)
        filter.until = until.flatMap(Self.date)
        return filter
    }

    var isEmpty: Bool {
        messageIDs.isEmpty && codes.isEmpty && fingerprints.isEmpty && type == nil && version == nil && since == nil
            && until == nil
    }

    static func date(_ text: String) -> Date? {
        (try? Date(text, strategy: .iso8601))
            ?? (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
    }
}

func timestamp(_ date: Date?) -> String { date?.formatted(.iso8601) ?? "-" }
