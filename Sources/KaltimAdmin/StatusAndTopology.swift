import AMQP
import Admin
import ArgumentParser
import Contracts
import Foundation
import Jobs

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per role: ready messages, consumers, dead letters, retry-tier depths and the oldest dead letter's age.",
        discussion: """
            Counts come from passive declarations (AMQP). Unacknowledged messages and the age of the oldest \
            message of a role queue are not visible over AMQP without taking messages: read them from the \
            workers' metrics (jobs_messages_in_flight, jobs_oldest_unprocessed_age_seconds).
            """)
    @OptionGroup var admin: AdminOptions
    @OptionGroup var roles: RoleOptions
    @Flag(help: "JSON instead of a table.") var json = false

    func run() async throws {
        let rows: [Row] = try await admin.withAdmin { connection, _ in try await self.rows(connection) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
            return
        }
        print("ROLE            READY  CONSUMERS  DEAD  OLDEST DEAD   RETRY TIERS")
        for row in rows {
            let tiers = row.retryTiers.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            let age = row.oldestDeadLetterAgeSeconds.map { String(format: "%.0f s", $0) } ?? "-"
            let name: String = row.role.padding(toLength: 14, withPad: " ", startingAt: 0)
            let columns: [String] = [
                name, String(row.ready).leftPadded(6), String(row.consumers).leftPadded(10),
                String(row.deadLetters).leftPadded(5), age.leftPadded(12), " " + tiers,
            ]
            print(columns.joined(separator: " "))
        }
    }

    struct Row: Encodable {
        let role: String, queue: String
        let ready: Int, consumers: Int, deadLetters: Int
        let retryTiers: [String: Int]
        let oldestDeadLetterAgeSeconds: Double?
    }

    func rows(_ connection: AMQPConnection) async throws -> [Row] {
        var rows: [Row] = []
        for role in roles.roles {
            let topology = RoleTopology(role: role, prefix: admin.topologyPrefix)
            guard let state = try? await connection.queueState(topology.queue) else {
                rows.append(
                    Row(
                        role: role.name, queue: topology.queue + " (missing)", ready: 0, consumers: 0, deadLetters: 0,
                        retryTiers: [:], oldestDeadLetterAgeSeconds: nil))
                continue
            }
            let dead = try await connection.queueState(topology.deadLetterQueue)
            var tiers: [String: Int] = [:]
            for (name, _) in topology.retryQueues {
                tiers[String(name.dropFirst(topology.queue.count + 1))] = Int(
                    (try? await connection.queueState(name))?.messageCount ?? 0)
            }
            // The head of the dead letters is the oldest: look at it and give it back.
            var age: Double?
            if dead.messageCount > 0, let head = try await connection.get(queue: topology.deadLetterQueue) {
                let letter = DeadLetter(head, queue: topology.deadLetterQueue)
                age = (letter.lastFailure ?? head.properties.timestamp).map { Date().timeIntervalSince($0) }
                try await head.nack(requeue: true)
            }
            rows.append(
                Row(
                    role: role.name, queue: topology.queue, ready: Int(state.messageCount), consumers: Int(state.consumerCount),
                    deadLetters: Int(dead.messageCount), retryTiers: tiers, oldestDeadLetterAgeSeconds: age))
        }
        return rows
    }
}

struct Topology: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Declare the roles' broker objects, or export them as a RabbitMQ definitions.json.",
        subcommands: [Apply.self, Export.self])

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Declare the exchange, queues, retry tiers, dead-letter queues and bindings (idempotent); audited.")
        @OptionGroup var admin: AdminOptions
        @OptionGroup var roles: RoleOptions

        func run() async throws {
            try await admin.withAdmin { connection, _ in
                for role in roles.roles {
                    try await RoleTopology(role: role, prefix: admin.topologyPrefix).declare(on: connection)
                    print("declared \(role.name)")
                }
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
        @OptionGroup var roles: RoleOptions

        func run() async throws {
            let data = try TopologyDefinitions.json(roles: roles.roles, prefix: topologyPrefix)
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
    @Flag(help: "Only compare.") var check = false

    func run() async throws {
        var stale: [String] = []
        for (path, content) in try DeploymentFiles.files().sorted(by: { $0.key < $1.key }) {
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
