import AMQP
import Admin
import ArgumentParser
import ContractKit
import Contracts
import DeploymentSettings
import Foundation
import Jobs
import Programme
import Topology

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Per role: ready and unacknowledged messages, consumers, rates, dead letters, retry-tier depths, oldest dead letter.",
        discussion: """
            Ready messages, consumers and depths come from passive declarations (AMQP). Unacknowledged messages \
            and rates need the management plugin's HTTP API: give --management-url (or set KALTIM_MANAGEMENT_URL); \
            without it those columns show "-". The age of the oldest message of a role queue (a quorum queue) is \
            not reported by RabbitMQ 3.10, and peeking at it would cost the message a delivery attempt: read it from \
            the workers' gauge jobs_oldest_unprocessed_age_seconds. The oldest dead letter is looked at and put back.
            """)
    @OptionGroup var admin: AdminOptions
    @OptionGroup var roles: RoleOptions
    @Option(
        help: ArgumentHelp(
            "The management API, e.g. http://127.0.0.1:15672 (default: $KALTIM_MANAGEMENT_URL); the broker user's credentials are used unless the URL names its own.",
            valueName: "url"))
    var managementURL: String?
    @Flag(help: "JSON instead of a table.") var json = false

    func run() async throws {

        PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
        let management = try managementAPI()
        let rows: [Row] = try await admin.withAdmin { connection, _ in try await self.rows(connection, management) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
            try failOnManagementProblems(rows)
            return
        }
        print("ROLE            READY  UNACKED  CONSUMERS   IN/s  ACK/s   DEAD  OLDEST DEAD   RETRY TIERS")
        for row in rows {
            let tiers = row.retryTiers.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            let age = row.oldestDeadLetterAgeSeconds.map { String(format: "%.0f s", $0) } ?? "-"
            let rate = { (value: Double?) in value.map { String(format: "%.1f", $0) } ?? "-" }
            let name: String = row.role.padding(toLength: 14, withPad: " ", startingAt: 0)
            let columns: [String] = [
                name, String(row.ready).leftPadded(6), (row.unacknowledged.map(String.init) ?? "-").leftPadded(8),
                String(row.consumers).leftPadded(10), rate(row.publishRate).leftPadded(6), rate(row.ackRate).leftPadded(6),
                String(row.deadLetters).leftPadded(6), age.leftPadded(12), " " + tiers,
            ]
            print(columns.joined(separator: " "))
        }
        try failOnManagementProblems(rows)
    }

    /// A management API that was asked for and gave no figures for a queue is an error of the
    /// command (exit 1), after the figures AMQP gave were printed.
    private func failOnManagementProblems(_ rows: [Row]) throws {
        let problems = rows.compactMap { row in row.managementProblem.map { "management API, \(row.queue): \($0)" } }
        guard !problems.isEmpty else { return }
        FileHandle.standardError.write(Data((problems.joined(separator: "\n") + "\n").utf8))
        throw ExitCode(1)
    }

    typealias Row = QueueStatusRow

    private func managementAPI() throws -> ManagementAPI? { try admin.managementAPI(url: managementURL) }

    func rows(_ connection: AMQPConnection, _ management: ManagementAPI?) async throws -> [Row] {
        try await QueueStatusRow.collect(
            roles: roles.roles, prefix: admin.topologyPrefix, connection: connection, management: management)
    }
}

extension AdminOptions {
    /// The management API at `url` (or `KALTIM_MANAGEMENT_URL`), signed in as the admin's broker
    /// user unless the URL names its own; `nil` when neither is given.
    func managementAPI(url: String?) throws -> ManagementAPI? {
        let environment = DeploymentEnvironment.current
        guard let url = environment.managementURL(option: url) else { return nil }
        let broker = environment.adminBrokerURL(option: brokerURL)
        let configuration = broker.flatMap { try? AMQPConfiguration(url: $0) }
        do {
            return try ManagementAPI(
                url: url, virtualHost: configuration?.virtualHost ?? "/", username: configuration?.username ?? "guest",
                password: configuration?.password ?? "guest")
        } catch {
            throw ValidationError("--management-url: \(error)")
        }
    }
}

struct TopologyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topology",
        abstract: "Declare the roles' broker objects, or export them as a RabbitMQ definitions.json.",
        subcommands: [Apply.self, Export.self])

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Declare the exchange, queues, retry tiers, dead-letter queues, the outside readers' inboxes and bindings (idempotent); audited.",
            discussion: """
                With --management-url (or KALTIM_MANAGEMENT_URL) it also applies the policies that bound the dead-letter \
                queues (\(DeadLetterBounds.defaultMaximumLength) messages, then refused; expired after 90 days) and make the role queues dead-letter \
                at least once, so that a full dead-letter queue holds messages back instead of dropping them. Without it \
                the policies are not applied (deploy/'s definitions carry them).
                """)
        @OptionGroup var admin: AdminOptions
        @OptionGroup var roles: RoleOptions
        @Option(help: ArgumentHelp("The management API, for the dead-letter policies.", valueName: "url"))
        var managementURL: String?
        @Option(
            help: ArgumentHelp(
                "The programme plan whose LSPs get an inbox each (default: config/programme-2025.json when it exists).",
                valueName: "path"))
        var programmeFile: String?

        /// The parties of the plan (the LSPs by licence), or nil without a plan.
        func parties() throws -> [String: [String]]? {
            let fallback = "config/programme-2025.json"
            guard let path = programmeFile ?? (FileManager.default.fileExists(atPath: fallback) ? fallback : nil) else {
                return nil
            }
            let catalogue = try ProgrammeCatalogue.load(path: path)
            return ContractPublishers.parties(
                lspLicences: catalogue.lsps?.map(\.licence) ?? [], centreCodes: catalogue.centres.map(\.code))
        }

        func run() async throws {

            PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
            let retryQueueType = try admin.resolvedRetryQueueType()
            let parties = try parties()
            try await admin.withAdmin { connection, _ in
                for role in roles.roles {
                    try await RoleTopology(role: role, prefix: admin.topologyPrefix, retryQueueType: retryQueueType)
                        .declare(on: connection)
                    print("declared \(role.name)")
                    if role == .console {
                        // Bindings an earlier version made to event types the console no longer
                        // reads (personal data), on its queue and its history stream.
                        let exchange = admin.topologyPrefix + ContractDocuments.exchange
                        for queue in [
                            RoleTopology(role: role, prefix: admin.topologyPrefix).queue,
                            admin.topologyPrefix + WorkerRole.consoleHistoryStream,
                        ]
                        where (try? await connection.queueState(queue)) != nil {
                            for key in WorkerRole.consoleRetiredKeys {
                                try await connection.unbindQueue(queue, exchange: exchange, routingKey: key)
                            }
                        }
                    }
                }
                // The inboxes of the outside systems that read events (the portal its offers, the
                // LSPs what grading decided), as deploy/'s definitions declare them.
                let exchange = admin.topologyPrefix + ContractDocuments.exchange
                for publisher in ContractPublishers.external where !publisher.reads.isEmpty {
                    if let inbox = publisher.inbox(prefix: admin.topologyPrefix) {
                        _ = try await connection.declareQueue(.quorum(inbox))
                        for type in publisher.reads {
                            try await connection.bindQueue(inbox, exchange: exchange, routingKey: type)
                        }
                        print("declared \(inbox)")
                        continue
                    }
                    // Each party (an LSP) reads its own inbox, bound to its party key, which the
                    // events for it carry in CC. Without the plan nothing changes here: the old
                    // shared inbox keeps its bindings.
                    guard let parties else {
                        print(
                            "WARNING: the \(publisher.name) inboxes not declared (no programme plan): give --programme-file")
                        continue
                    }
                    var declared = 0
                    for party in parties[publisher.name] ?? [] where ContractPublishers.isPartyName(party) {
                        let inbox = ContractPublishers.inbox(publisher.name, party: party, prefix: admin.topologyPrefix)
                        _ = try await connection.declareQueue(.quorum(inbox))
                        try await connection.bindQueue(
                            inbox, exchange: exchange, routingKey: ContractPublishers.partyKey(publisher.name, party: party))
                        print("declared \(inbox)")
                        declared += 1
                    }
                    // The inbox all of them once shared is no longer fed, once each has its own;
                    // what it holds stays for its reader, and an operator deletes it once read.
                    let shared = "\(admin.topologyPrefix)kaltim.\(publisher.name).inbox"
                    if declared == 0 {
                        print("WARNING: the plan names no \(publisher.name): no inbox declared, \(shared) left as it is")
                    } else if (try? await connection.queueState(shared)) != nil {
                        for type in publisher.reads {
                            try await connection.unbindQueue(shared, exchange: exchange, routingKey: type)
                        }
                        print("unbound \(shared): each \(publisher.name) reads its own inbox; delete it once read")
                    }
                }
            }
            if let management = try admin.managementAPI(url: managementURL) {
                for policy in DeadLetterBounds.policies(roles: roles.roles, prefix: admin.topologyPrefix) {
                    try await management.apply(policy)
                    print("applied policy \(policy.name)")
                }
            } else {
                print("dead-letter policies not applied: give --management-url (or load deploy/rabbitmq/definitions.json)")
            }
            try admin.audit.append(
                AuditLog.Entry(
                    who: admin.who, action: "topology-apply", target: roles.roles.map(\.name).joined(separator: ","),
                    count: roles.roles.count))
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the topology as a RabbitMQ definitions document (rabbitmqctl import_definitions).")
        @Option(help: ArgumentHelp("Prefix of every broker object name.", valueName: "prefix")) var topologyPrefix = ""
        @Option(help: ArgumentHelp("The file (default: standard output).", valueName: "path")) var output: String?
        @Option(
            help: ArgumentHelp(
                "Queue type of the retry tiers (default: $KALTIM_RETRY_QUEUE_TYPE, else classic).", valueName: "classic|quorum"))
        var retryQueueType: String?
        @OptionGroup var roles: RoleOptions

        func run() async throws {

            PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
            let type = try DeploymentEnvironment.current.retryQueueType(option: retryQueueType)
            let data = try TopologyDefinitions.json(roles: roles.roles, prefix: topologyPrefix, retryQueueType: type)
            if let output {
                try (data + Data("\n".utf8)).write(to: URL(fileURLWithPath: output))
            } else {
                print(String(decoding: data, as: UTF8.self))
            }
        }
    }
}

struct DeployFiles: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy-files",
        abstract: "Write deploy/ (RabbitMQ definitions with least-privilege users, systemd, Docker, compose, Kubernetes).",
        discussion: "With --check, write nothing and exit 1 when a file under --output differs from what would be written.")
    @Option(help: ArgumentHelp("The folder.", valueName: "path")) var output = "deploy"
    @Option(
        help: ArgumentHelp(
            "The programme plan whose LSPs (by licence) and BLKIs (by code) get a broker user each.", valueName: "path"))
    var programmeFile = "config/programme-2025.json"
    @Flag(help: "Only compare.") var check = false

    func run() async throws {

        PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
        let catalogue = try ProgrammeCatalogue.load(path: programmeFile)
        let parties = ContractPublishers.parties(
            lspLicences: catalogue.lsps?.map(\.licence) ?? [], centreCodes: catalogue.centres.map(\.code))
        for party in parties.values.joined() where !ContractPublishers.isPartyName(party) {
            throw ValidationError(
                "\(programmeFile): \(party.prefix(80).debugDescription) cannot name a broker user (1-64 letters, digits, '.', '-')"
            )
        }
        // A class id names its BLKI by what comes before its first dash.
        for code in parties["blki"] ?? [] where code.contains("-") {
            throw ValidationError("\(programmeFile): the BLKI code \(code.debugDescription) has a dash")
        }
        var stale: [String] = []
        for (path, content) in try DeploymentFiles.files(parties: parties).sorted(by: { $0.key < $1.key }) {
            let url = URL(fileURLWithPath: output).appendingPathComponent(path)
            let current = FileManager.default.contents(atPath: url.path).map { String(decoding: $0, as: UTF8.self) }
            guard current != content else { continue }
            stale.append(path)
            if !check {
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try content.write(to: url, atomically: true, encoding: .utf8)
            }
        }
        if check {
            guard stale.isEmpty else {
                print("stale: \(stale.joined(separator: ", ")); run kaltim-admin deploy-files --output \(output)")
                throw ExitCode(1)
            }
            print("deploy files are current")
        } else {
            print("wrote \(stale.count) files under \(output)/")
        }
    }
}
