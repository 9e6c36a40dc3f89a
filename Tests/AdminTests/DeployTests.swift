import AMQP
import Admin
import Console
import ContractKit
import Contracts
import Crypto
import Foundation
import Jobs
import Programme
import Stores
import Synchronization
import TestSupport
import Testing
import Topology
import Workers

/// deploy/: current, parseable, consistent; and on the private broker the permissions refuse
/// what a role or a publisher should not do.
struct DeployFileTests {
    /// The broker users' parties of the repository's programme plan: its LSPs and BLKIs.
    static func parties() throws -> [String: [String]] {
        let catalogue = try ProgrammeCatalogue.load(path: DatabaseUsersTests.repositoryFile("config/programme-2025.json"))
        return ContractPublishers.parties(
            lspLicences: catalogue.lsps?.map(\.licence) ?? [], centreCodes: catalogue.centres.map(\.code))
    }

    static let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../deploy")
        .standardized.path

    @Test func theCommittedFilesAreWhatTheGeneratorWrites() throws {
        for (path, content) in try DeploymentFiles.files(parties: DeployFileTests.parties()) {
            let committed = FileManager.default.contents(atPath: Self.deploy + "/" + path).map {
                String(decoding: $0, as: UTF8.self)
            }
            #expect(committed == content, "deploy/\(path) is stale: run `swift run kaltim-admin deploy-files`")
        }
    }

    /// The console's and the verification service's units name only options their command
    /// knows: the command gets past parsing and stops at the first missing file.
    @Test func theConsoleUnitsArgumentsAreOnesTheConsoleTakes() async throws {
        for unit in ["kaltim-console.service", "kaltim-verification.service"] {
            let text = try String(contentsOfFile: Self.deploy + "/systemd/" + unit, encoding: .utf8)
            let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
            let arguments = line.split(separator: " ").dropFirst().map(String.init).filter { !$0.hasPrefix("$") }
            let child = try ChildProcess(
                builtProductsDirectory.appendingPathComponent("kaltim-console").path, arguments,
                environment: ["KALTIM_BROKER_URL": "amqp://u:p@127.0.0.1:1/%2f"], standardErrorToo: true)
            defer { unlink(child.outputPath) }
            let status = try await child.waitForExit(timeout: .seconds(120))
            let output = child.output
            // Past parsing: it fails on a missing file or the unreachable broker, never on an option.
            #expect(status != 0)
            for parseError in ["Unknown option", "Missing expected argument", "Unexpected argument", "Missing value"] {
                #expect(!output.contains(parseError), "\(unit): \(output)")
            }
            #expect(output.contains("Error:"), "\(unit): \(output)")
        }
    }

    @Test func everyFileParsesAndTheFilesAgree() async throws {
        // YAML through Python's parser (PyYAML), JSON through Foundation.
        let script = """
            import json, sys, yaml, glob
            out = {}
            for path in [sys.argv[1] + '/compose.yaml', sys.argv[1] + '/compose-cluster.yaml'] + sorted(
                    glob.glob(sys.argv[1] + '/kubernetes/*.yaml') + glob.glob(sys.argv[1] + '/kubernetes/cluster/*.yaml')
                    + glob.glob(sys.argv[1] + '/kubernetes/postgres/*.yaml')):
                out[path.split('/deploy/')[-1]] = list(yaml.safe_load_all(open(path)))
            print(json.dumps(out))
            """
        let (status, output) = try await runProcess("/usr/bin/env", ["python3", "-c", script, Self.deploy], environment: [:])
        try #require(status == 0, "\(output)")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: [Any]])
        let definitions = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: Self.deploy + "/rabbitmq/definitions.json")))
                as? [String: Any])
        let users = Set((definitions["users"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String })
        let queues = Set((definitions["queues"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String })
        let compose = try #require(parsed["compose.yaml"]?.first as? [String: Any])
        let services = try #require(compose["services"] as? [String: [String: Any]])
        for role in WorkerRole.all {
            let user = DeploymentFiles.user(role)
            #expect(users.contains(user))
            #expect(queues.isSuperset(of: RoleTopology(role: role).queueSpecs.map(\.name)))
            // compose: the service runs the role as its own user.
            let service = try #require(services[role.name])
            let url = (service["environment"] as? [String: String])?["KALTIM_BROKER_URL"] ?? ""
            // AMQP over TLS, checked against the programme's CA.
            #expect(url.hasPrefix("amqps://\(user):") && url.hasSuffix(":5671/%2f"), "\(url)")
            #expect((service["command"] as? [String])?.first == role.name)
            let command = service["command"] as? [String] ?? []
            #expect(command.firstIndex(of: "--tls-ca").map { command[$0 + 1] } == "/run/secrets/ca.pem")
            #expect((service["volumes"] as? [String] ?? []).contains("./tls/ca.pem:/run/secrets/ca.pem:ro"))
            // Kubernetes: a Deployment with probes and a drain window, a ScaledObject on the role queue.
            let documents = try #require(parsed["kubernetes/\(role.name).yaml"] as? [[String: Any]])
            let kinds = documents.compactMap { $0["kind"] as? String }
            #expect(kinds == ["Deployment", "PersistentVolumeClaim", "ScaledObject"])
            let podSpec =
                (((documents[0]["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any]) ?? [:]
            #expect((podSpec["terminationGracePeriodSeconds"] as? Int ?? 0) > 30)
            let container = (podSpec["containers"] as? [[String: Any]])?.first ?? [:]
            #expect(
                ((container["readinessProbe"] as? [String: Any])?["httpGet"] as? [String: Any])?["path"] as? String == "/ready")
            #expect(
                ((container["livenessProbe"] as? [String: Any])?["httpGet"] as? [String: Any])?["path"] as? String == "/health")
            let trigger =
                (((documents[2]["spec"] as? [String: Any])?["triggers"] as? [[String: Any]])?.first?["metadata"]
                    as? [String: Any]) ?? [:]
            #expect(trigger["queueName"] as? String == RoleTopology(role: role).queue)
            // systemd: restart, and a stop timeout longer than the drain.
            let unit = try String(contentsOfFile: Self.deploy + "/systemd/kaltim-\(role.name)@.service", encoding: .utf8)
            #expect(unit.contains("[Service]") && unit.contains("Restart=always") && unit.contains("TimeoutStopSec=60"))
            #expect(unit.contains("ExecStart=/usr/local/bin/kaltim-worker \(role.name) "))
            #expect(unit.contains("--no-declare-topology"), "a role's user has no configure permission")
        }
        // Dead letters bounded without a silent drop: each role's dead-letter queue refuses
        // more past its bound, and its queue dead-letters at least once.
        let policies = definitions["policies"] as? [[String: Any]] ?? []
        for role in WorkerRole.all + [.console] {
            let topology = RoleTopology(role: role)
            func definition(matching queue: String) -> [String: Any]? {
                policies.first { policy in
                    (policy["pattern"] as? String).flatMap { try? Regex($0) }.map { queue.wholeMatch(of: $0) != nil } == true
                }?[
                    "definition"] as? [String: Any]
            }
            let dead = definition(matching: topology.deadLetterQueue)
            #expect(dead?["overflow"] as? String == "reject-publish" && (dead?["max-length"] as? Int ?? 0) > 0, "\(role.name)")
            let queue = definition(matching: topology.queue)
            #expect(queue?["dead-letter-strategy"] as? String == "at-least-once", "\(role.name)")
            #expect(definition(matching: topology.retryQueues[0].name) == nil, "the retry tiers are left alone")
        }
        // The console and the verification service on Kubernetes: their documents, and options
        // the command takes (it gets past parsing and stops at the first missing file).
        for (file, kinds) in [
            ("kubernetes/console.yaml", ["Deployment", "PersistentVolumeClaim", "Service"]),
            ("kubernetes/verification.yaml", ["Deployment", "Service"]),
        ] {
            let documents = try #require(parsed[file] as? [[String: Any]], "\(file)")
            #expect(documents.compactMap { $0["kind"] as? String } == kinds, "\(file)")
            let podSpec =
                (((documents[0]["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any]) ?? [:]
            let container = (podSpec["containers"] as? [[String: Any]])?.first ?? [:]
            #expect(container["command"] as? [String] == ["kaltim-console"], "\(file)")
            let child = try ChildProcess(
                builtProductsDirectory.appendingPathComponent("kaltim-console").path, container["args"] as? [String] ?? [],
                environment: ["KALTIM_BROKER_URL": "amqp://u:p@127.0.0.1:1/%2f"], standardErrorToo: true)
            defer { unlink(child.outputPath) }
            let status = try await child.waitForExit(timeout: .seconds(120))
            #expect(status != 0 && child.output.contains("Error:"), "\(file): \(child.output)")
            for parseError in ["Unknown option", "Missing expected argument", "Unexpected argument", "Missing value"] {
                #expect(!child.output.contains(parseError), "\(file): \(child.output)")
            }
        }
        for publisher in DeploymentFiles.publishers(parties: try Self.parties()) { #expect(users.contains(publisher.user)) }
        #expect(users.contains(DeploymentFiles.user(.console)), "the console has a user of its own")
        for config in ["rabbitmq/rabbitmq.conf", "rabbitmq/cluster.conf"] {
            let text = try String(contentsOfFile: Self.deploy + "/" + config, encoding: .utf8)
            #expect(text.contains("max_message_size = 1048576"), "\(config) caps a message's size")
            // TLS only: no plain listener, the certificates of scripts/make-broker-certs.sh.
            for line in [
                "listeners.tcp = none", "listeners.ssl.default = 5671", "ssl_options.certfile = /etc/rabbitmq/tls/server.pem",
            ] {
                #expect(text.contains(line), "\(config): \(line)")
            }
        }

        // The cluster variants: every queue quorum (the retry tiers with at-least-once
        // dead-lettering), three broker nodes, every worker given all three and quorum tiers.
        let clusterDefinitions = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: Self.deploy + "/rabbitmq/definitions-cluster.json")))
                as? [String: Any])
        let clusterQueues = clusterDefinitions["queues"] as? [[String: Any]] ?? []
        #expect(clusterQueues.count == queues.count)
        for queue in clusterQueues {
            let arguments = queue["arguments"] as? [String: Any] ?? [:]
            let type = arguments["x-queue-type"] as? String
            let stream = queue["name"] as? String == WorkerRole.consoleHistoryStream
            #expect(type == (stream ? "stream" : "quorum"), "\(queue["name"] ?? "")")
            if (queue["name"] as? String)?.contains(".retry.") == true {
                #expect(arguments["x-dead-letter-strategy"] as? String == "at-least-once")
                #expect(arguments["x-overflow"] as? String == "reject-publish")
            }
        }
        let clusterCompose = try #require(parsed["compose-cluster.yaml"]?.first as? [String: Any])
        let clusterServices = try #require(clusterCompose["services"] as? [String: [String: Any]])
        #expect(DeploymentFiles.clusterNodes.allSatisfy { clusterServices[$0] != nil })
        #expect(clusterServices["postgres"] != nil)
        for role in WorkerRole.all {
            let environment = clusterServices[role.name]?["environment"] as? [String: String] ?? [:]
            #expect(environment["KALTIM_BROKER_URL"]?.split(separator: ",").count == 3)
            #expect(environment["KALTIM_BROKER_URL"]?.split(separator: ",").allSatisfy { $0.hasPrefix("amqps://") } == true)
            #expect(environment["KALTIM_RETRY_QUEUE_TYPE"] == "quorum")
            let command = clusterServices[role.name]?["command"] as? [String] ?? []
            #expect(
                environment["KALTIM_DATABASE_URL"]?.hasPrefix("postgres://") == true && !command.contains("--database"),
                "the scale-out variant keeps state in PostgreSQL, its URL in the environment")
            // Kubernetes on PostgreSQL: several pods, no volume claim, the URL from the role's secret.
            let onPostgres = parsed["kubernetes/postgres/\(role.name).yaml"] as? [[String: Any]] ?? []
            #expect(onPostgres.compactMap { $0["kind"] as? String } == ["Deployment", "ScaledObject"])
            #expect((onPostgres.first?["spec"] as? [String: Any])?["replicas"] as? Int ?? 0 > 1)
            #expect((onPostgres.last?["spec"] as? [String: Any])?["maxReplicaCount"] as? Int ?? 0 > 1)
            #expect("\(onPostgres.first ?? [:])".contains("KALTIM_DATABASE_URL"))
            let documents = parsed["kubernetes/\(role.name).yaml"] as? [[String: Any]] ?? []
            #expect("\(documents.first ?? [:])".contains("KALTIM_RETRY_QUEUE_TYPE"), "the Deployment reads the broker setting")
        }
        let kubernetesCluster = parsed["kubernetes/cluster/rabbitmq.yaml"] as? [[String: Any]] ?? []
        #expect(kubernetesCluster.compactMap { $0["kind"] as? String } == ["RabbitmqCluster", "ConfigMap"])
        #expect((kubernetesCluster.first?["spec"] as? [String: Any])?["replicas"] as? Int == 3)
        let clusterTLS = (kubernetesCluster.first?["spec"] as? [String: Any])?["tls"] as? [String: Any]
        #expect(clusterTLS?["disableNonTLSListeners"] as? Bool == true && clusterTLS?["secretName"] != nil)
        #expect((kubernetesCluster.last?["data"] as? [String: String])?["retry-queue-type"] == "quorum")
        // No password on a command line (`ps` shows it to every user of the machine): no
        // password, secret reference or URL with credentials in any command, args or ExecStart.
        for (path, content) in try DeploymentFiles.files(parties: DeployFileTests.parties()) {
            for line in content.split(separator: "\n")
            where line.contains("command:") || line.contains("args:") || line.contains("ExecStart=") {
                #expect(
                    !line.contains("PASSWORD") && !line.contains("$(") && !line.contains("://"),
                    "deploy/\(path): \(line)")
            }
        }
        let dockerfile = try String(contentsOfFile: Self.deploy + "/docker/Dockerfile", encoding: .utf8)
        #expect(dockerfile.components(separatedBy: "\nFROM ").count == 3 && dockerfile.hasPrefix("# Generated"), "two stages")
        #expect(dockerfile.contains("librabbitmq4") && dockerfile.contains("ENTRYPOINT [\"kaltim-worker\"]"))
    }
}

/// A private virtual host loaded with deploy/'s definitions (users named with a prefix of the
/// test's own, every password set), and connections as each of its users.
struct PrivateVirtualHost {
    let vhost: String
    let userPrefix: String
    let users: [String]
    let password: String
    let base: URL

    /// With the plan's parties, and the LSPs in `moreLicences` besides.
    static func make(_ name: String, moreLicences: [String] = []) async throws -> PrivateVirtualHost {
        let tag = uniqueName(name).replacingOccurrences(of: ".", with: "-")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(tag + ".json").path
        var parties = try DeployFileTests.parties()
        parties["lsp", default: []] += moreLicences
        var document = DeploymentFiles.definitions(vhost: tag, userPrefix: tag + "-", parties: parties)
        // Every user's password goes in with the definitions (RabbitMQ's salted SHA-256), so the
        // virtual host is one `rabbitmqctl` call: each call starts an Erlang VM, which takes
        // long on a busy machine.
        document["users"] = (document["users"] as? [[String: Any]] ?? []).map { user in
            user.merging(["password_hash": Self.passwordHash("secret-\(tag)")]) { _, new in new }
        }
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let users = (document["users"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        _ = try await BrokerEnvironment.brokerScript(["ctl", "import_definitions", file])
        return PrivateVirtualHost(
            vhost: tag, userPrefix: tag + "-", users: users, password: "secret-\(tag)",
            base: try #require(BrokerEnvironment.url.flatMap { URL(string: $0) }))
    }

    /// RabbitMQ's `rabbit_password_hashing_sha256`: base64 of a 4-byte salt followed by
    /// SHA-256(salt + password).
    static func passwordHash(_ password: String) -> String {
        let salt = (0..<4).map { _ in UInt8.random(in: 0...255) }
        return Data(salt + SHA256.hash(data: Data(salt + Array(password.utf8)))).base64EncodedString()
    }

    /// The broker user of a principal (`portal`, `intake`, `admin`) in this virtual host.
    func user(_ principal: String) -> String { ContractPublishers.brokerUser(principal, prefix: userPrefix) }

    func connect(_ principal: String) async throws -> AMQPConnection {
        try await AMQPConnection.connect(configuration(principal))
    }

    func configuration(_ principal: String) throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(
            url: "amqp://\(user(principal)):\(password)@\(base.host ?? "127.0.0.1"):\(base.port ?? 5672)/\(vhost)")
        configuration.reconnect = nil
        return configuration
    }

    func delete() async {
        _ = try? await BrokerEnvironment.brokerScript(["ctl", "delete_vhost", vhost])
        for user in users { _ = try? await BrokerEnvironment.brokerScript(["ctl", "delete_user", user]) }
    }
}

/// Records what reached it; publishes nothing.
final class RecordingHandler: MessageHandler {
    let seen = Mutex<[(type: String, id: String)]>([])
    var migrations: [String] { [] }

    func handle(_ event: DecodedEvent, in transaction: any StoreTransaction) throws -> [OutgoingEvent] {
        seen.withLock { $0.append((event.header.type, event.header.id)) }
        return []
    }
}

@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .serialized, .timeLimit(.minutes(10))  // a guard against a hang, not a verdict on speed
)
struct LeastPrivilegeTests {
    static func refused(_ error: any Error) -> Bool { (error as? AMQPError)?.replyCode == 403 }

    @Test func eachUserMayDoItsJobAndNothingElse() async throws {
        let host = try await PrivateVirtualHost.make("perm")
        defer { Task { await host.delete() } }
        let refused = Self.refused
        let exchange = ContractDocuments.exchange
        let intakeTopology = RoleTopology(role: .intake)

        // A role: consumes its own queue (declared by the definitions), publishes what it produces,
        // routes failures to its own tiers and dead letters through kaltim.failures.
        let intake = try await host.connect("intake")
        _ = try await intake.queueState(intakeTopology.queue)
        _ = try await intake.get(queue: intakeTopology.queue)
        try await intake.publish(Data("{}".utf8), exchange: exchange, routingKey: RegistrationAcceptedV2.eventType)
        try await intake.publish(
            Data("{}".utf8), exchange: intakeTopology.failureExchange, routingKey: intakeTopology.deadLetterQueue)
        // … but it declares nothing (the definitions did), reads no other queue, publishes no other
        // role's events, writes neither to the default exchange nor to another role's failures.
        await #expect(performing: { try await intakeTopology.declare(on: intake) }, throws: { _ in true })
        await #expect(performing: { try await intake.get(queue: RoleTopology(role: .scheduling).queue) }, throws: refused)
        await #expect(performing: { try await intake.get(queue: intakeTopology.deadLetterQueue) }, throws: refused)
        await #expect(
            performing: {
                try await intake.publish(Data("{}".utf8), exchange: exchange, routingKey: AssessmentGradedV2.eventType)
            },
            throws: refused)
        await #expect(performing: { try await intake.declareQueue(.quorum("kaltim.intake.sneaky")) }, throws: refused)
        await #expect(
            performing: {
                try await intake.publish(Data("{}".utf8), exchange: "", routingKey: intakeTopology.deadLetterQueue)
            },
            throws: refused)
        await #expect(
            performing: {
                try await intake.publish(
                    Data("{}".utf8), exchange: intakeTopology.failureExchange,
                    routingKey: RoleTopology(role: .scheduling).deadLetterQueue)
            },
            throws: refused)
        await intake.close()

        // An external publisher: its own event type only, nothing to read or declare.
        let portal = try await host.connect("portal")
        try await portal.publish(Data("{}".utf8), exchange: exchange, routingKey: RegistrationSubmittedV2.eventType)
        await #expect(
            performing: {
                try await portal.publish(Data("{}".utf8), exchange: exchange, routingKey: RegistrationAcceptedV2.eventType)
            },
            throws: refused)
        await #expect(performing: { try await portal.get(queue: intakeTopology.queue) }, throws: refused)
        await #expect(performing: { try await portal.declareQueue(.quorum("portal.own")) }, throws: refused)
        // It reads the offers applicants must answer from its own inbox, and nobody else's.
        let offer = try await host.connect("scheduling")
        try await offer.publish(
            Data("{\"offer\":1}".utf8), exchange: exchange, routingKey: EnrolmentTransferOfferedV1.eventType)
        await offer.close()
        var offered: AMQPDelivery?
        let deadline = ContinuousClock.now + .seconds(30)  // bounds a failure only
        while offered == nil && ContinuousClock.now < deadline {
            offered = try await portal.get(queue: "kaltim.portal.inbox")
            if offered == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(offered?.body == Data("{\"offer\":1}".utf8))
        try await offered?.ack()
        await #expect(performing: { try await portal.get(queue: "kaltim.lsp.BNSP-LSP-0123-ID.inbox") }, throws: refused)
        try await portal.publish(
            Data("{}".utf8), exchange: exchange, routingKey: EnrolmentTransferAnsweredV1.eventType)
        // The console publishes what staff record in it (officers' decisions, a BLKI's records),
        // and nothing a role decides.
        let console = try await host.connect("console")
        for type in WorkerRole.consoleStaffEvents {
            try await console.publish(Data("{}".utf8), exchange: exchange, routingKey: type)
        }
        await #expect(
            performing: {
                try await console.publish(Data("{}".utf8), exchange: exchange, routingKey: RegistrationAcceptedV2.eventType)
            },
            throws: refused)
        await console.close()
        // The office announces classes into the scheduling queue the definitions declared: it may
        // check that the queue exists without any permission on it.
        let office = try await host.connect("office")
        _ = try await office.queueState(RoleTopology(role: .scheduling).queue)
        await office.close()
        // The broker validates `user_id`: the portal may sign its messages with its own name, and
        // cannot pass one off as the LSP's (406 PRECONDITION_FAILED), so a consumer may trust it.
        try await portal.publish(
            Data("{}".utf8), exchange: exchange, routingKey: RegistrationSubmittedV2.eventType,
            properties: AMQPProperties(userID: host.user("portal")))
        await #expect(
            performing: {
                try await portal.publish(
                    Data("{}".utf8), exchange: exchange, routingKey: RegistrationSubmittedV2.eventType,
                    properties: AMQPProperties(userID: host.user("lsp-BNSP-LSP-0123-ID")))
            },
            throws: { ($0 as? AMQPError)?.replyCode == 406 })
        await portal.close()

        // An LSP publishes through its own user (its licence) and reads its own inbox only, a
        // BLKI publishes through its own user (its code); no user speaks for all of them.
        let lsp = try await host.connect("lsp-BNSP-LSP-0123-ID")
        try await lsp.publish(
            Data("{}".utf8), exchange: exchange, routingKey: AssessmentSubmittedV3.eventType,
            properties: AMQPProperties(userID: host.user("lsp-BNSP-LSP-0123-ID")))
        _ = try await lsp.get(queue: "kaltim.lsp.BNSP-LSP-0123-ID.inbox")
        await #expect(
            performing: {
                try await lsp.publish(Data("{}".utf8), exchange: exchange, routingKey: TrainingCompletedV1.eventType)
            },
            throws: refused)
        await lsp.close()
        let bontang = try await host.connect("blki-BTG")
        try await bontang.publish(Data("{}".utf8), exchange: exchange, routingKey: TrainingCompletedV1.eventType)
        await bontang.close()
        #expect(!host.users.contains(host.user("blki")) && !host.users.contains(host.user("lsp")))
    }

    /// The attack suite: each user of deploy/'s definitions tries what a buggy, compromised or
    /// curious publisher would, against a running notifications worker that enforces the
    /// contracts' publishers. Every attempt is refused by the broker or dead-lettered by the
    /// worker; the worker never stops, and an honest message after the attacks is handled.
    @Test func everyAttackIsRefusedOrDeadLetteredAndTheWorkerCarriesOn() async throws {
        let host = try await PrivateVirtualHost.make("attack")
        defer { Task { await host.delete() } }
        let topology = RoleTopology(role: .notifications)
        let storePath = FileManager.default.temporaryDirectory.appendingPathComponent(host.vhost + ".sqlite").path
        defer { try? FileManager.default.removeItem(atPath: storePath) }
        let consuming = try await AMQPConnection.connect(try host.configuration("notifications"))
        let handler = RecordingHandler()
        var options = WorkerOptions()
        options.concurrency = 16
        options.declaresTopology = false
        options.publishers = .enforcing(ContractPublishers.allowedUsers(prefix: host.userPrefix))
        let worker = Worker(
            topology: topology, registry: .pipeline, handler: handler, store: try SQLiteStore(path: storePath),
            consuming: consuming,
            publishing: consuming, instance: "notifications@attack-test", options: options)
        let running = Task { try await worker.run() }
        try await waitUntil(timeout: .seconds(30), "the worker consumes as its own user") { worker.isReady }

        let exchange = ContractDocuments.exchange
        let request = try Self.notificationRequest()
        let registration = try Self.registration()
        var table: [(attack: String, user: String, result: String)] = []
        func attempt(_ attack: String, as principal: String, _ body: (AMQPConnection) async throws -> Void) async throws {
            let connection = try await host.connect(principal)
            defer { Task { await connection.close() } }
            do {
                try await body(connection)
                table.append((attack, principal, "accepted by the broker"))
            } catch let error as AMQPError {
                table.append((attack, principal, "refused \(error.replyCode.map(String.init) ?? "\(error.code)")"))
            }
        }
        let portal = host.user("portal")
        try await attempt("another type under an allowed key (notification.requested as registration.submitted)", as: "portal") {
            try await $0.publish(
                request, exchange: exchange, routingKey: RegistrationSubmittedV2.eventType,
                properties: AMQPProperties(contentType: "application/json", userID: portal))
        }
        try await attempt("a type its user may not publish (notification.requested)", as: "portal") {
            try await $0.publish(
                request, exchange: exchange, routingKey: NotificationRequestedV1.eventType,
                properties: AMQPProperties(contentType: "application/json", userID: portal))
        }
        try await attempt("user_id of another publisher (kaltim-office)", as: "portal") {
            try await $0.publish(
                registration, exchange: exchange, routingKey: RegistrationSubmittedV2.eventType,
                properties: AMQPProperties(contentType: "application/json", userID: host.user("office")))
        }
        try await attempt("the default exchange into another role's queue", as: "portal") {
            try await $0.publish(registration, exchange: "", routingKey: topology.queue)
        }
        try await attempt("the default exchange into another role's queue", as: "intake") {
            try await $0.publish(registration, exchange: "", routingKey: topology.queue)
        }
        try await attempt("kaltim.failures into another role's retry tier", as: "intake") {
            try await $0.publish(registration, exchange: topology.failureExchange, routingKey: topology.retryQueues[0].name)
        }
        try await attempt("a tap queue", as: "portal") { _ = try await $0.declareQueue(.quorum("tap")) }
        try await attempt("bind its own queue to # on kaltim.events", as: "intake") {
            try await $0.bindQueue(RoleTopology(role: .intake).queue, exchange: exchange, routingKey: "#")
        }
        try await attempt("delete kaltim.events", as: "portal") { try await $0.deleteExchange(exchange) }
        try await attempt("delete kaltim.events", as: "notifications") { try await $0.deleteExchange(exchange) }
        try await attempt("declare a queue", as: "lsp-BNSP-LSP-0123-ID") { _ = try await $0.declareQueue(.quorum("lsp.own")) }
        try await attempt("read another role's queue", as: "intake") { _ = try await $0.get(queue: topology.queue) }
        try await attempt("a 2 MiB body", as: "portal") {
            try await $0.publish(
                Data(repeating: UInt8(ascii: "a"), count: 2 << 20), exchange: exchange,
                routingKey: RegistrationSubmittedV2.eventType, properties: AMQPProperties(userID: portal))
        }
        try await attempt("forged x-attempt and x-failure-* on an honest registration", as: "portal") {
            try await $0.publish(
                registration, exchange: exchange, routingKey: RegistrationSubmittedV2.eventType,
                properties: AMQPProperties(
                    contentType: "application/json",
                    headers: [
                        FailureRouter.Header.attempt: .int64(.max), FailureRouter.Header.code: .string("forged"),
                        FailureRouter.Header.publishedBy: .string(host.user("office")),
                        FailureRouter.Header.publishedRoutingKey: .string(NotificationRequestedV1.eventType),
                    ], userID: portal))
        }
        try await attempt("a registration without user_id", as: "portal") {
            try await $0.publish(
                try Self.registration(), exchange: exchange, routingKey: RegistrationSubmittedV2.eventType,
                properties: AMQPProperties(contentType: "application/json"))
        }
        try await attempt("a compromised role: notification.requested as registration.accepted", as: "intake") {
            try await $0.publish(
                request, exchange: exchange, routingKey: RegistrationAcceptedV2.eventType,
                properties: AMQPProperties(contentType: "application/json", userID: host.user("intake")))
        }
        // The refusals close only the attackers' channels: an honest message still goes through.
        try await attempt("an honest registration", as: "portal") {
            try await $0.publish(
                try Self.registration(), exchange: exchange, routingKey: RegistrationSubmittedV2.eventType,
                properties: AMQPProperties(contentType: "application/json", userID: portal))
        }

        try await waitUntil(timeout: .seconds(60), "the accepted attacks are settled") {
            worker.statistics.succeeded + worker.statistics.deadLettered == 5
        }
        let admin = try await host.connect("admin")
        var deadLetters: [String] = []
        while let letter = try await admin.get(queue: topology.deadLetterQueue) {
            deadLetters.append(letter.properties.headers?[FailureRouter.Header.code]?.stringValue ?? "(none)")
            try await letter.ack()
        }
        await admin.close()
        print("attack | user | result")
        for row in table { print("\(row.attack) | \(host.user(row.user)) | \(row.result)") }
        print("worker: \(worker.statistics.succeeded) handled, dead letters by code: \(deadLetters.sorted())")

        let accepted = table.filter { $0.result == "accepted by the broker" }.map(\.attack)
        #expect(
            accepted == [
                "another type under an allowed key (notification.requested as registration.submitted)",
                "forged x-attempt and x-failure-* on an honest registration", "a registration without user_id",
                "a compromised role: notification.requested as registration.accepted", "an honest registration",
            ], "everything else is refused by the broker: \(table)")
        #expect(
            table.filter { $0.result != "accepted by the broker" }.allSatisfy { $0.result.hasPrefix("refused") },
            "\(table)")
        #expect(deadLetters.sorted() == ["publisher-not-allowed", "type-mismatch", "type-mismatch"])
        let handled = handler.seen.withLock { $0 }
        #expect(handled.count == 2 && handled.allSatisfy { $0.type == RegistrationSubmittedV2.eventType })
        #expect(worker.statistics.retried == 0, "a forged attempt count is not a failure")
        #expect(worker.isReady, "the worker never stopped")
        running.cancel()
        _ = try? await running.value
        await consuming.close()
    }

    /// Two LSPs under deploy/'s definitions and a grading worker as `kaltim-worker` runs it
    /// (the contracts' publishers and parties enforced, answers routed by licence). The second
    /// LSP sends a result and an appeal under the first's licence: both are dead-lettered
    /// (`publisher-not-allowed`) and nothing is graded. The first LSP's own result is graded, and
    /// the answer reaches its inbox and not the second's.
    @Test func anLSPCannotSpeakForAnotherNorReadItsAnswers() async throws {
        let (first, second) = ("BNSP-LSP-0123-ID", "BNSP-LSP-0999-ID")
        let host = try await PrivateVirtualHost.make("lsps", moreLicences: [second])
        defer { Task { await host.delete() } }
        let topology = RoleTopology(role: .grading)
        let storePath = FileManager.default.temporaryDirectory.appendingPathComponent(host.vhost + ".sqlite").path
        defer { try? FileManager.default.removeItem(atPath: storePath) }
        let catalogue = try ProgrammeCatalogue.load(path: DatabaseUsersTests.repositoryFile("config/programme-2025.json"))
        let consuming = try await AMQPConnection.connect(try host.configuration("grading"))
        var options = WorkerOptions()
        options.declaresTopology = false
        options.publishers = .enforcing(
            ContractPublishers.allowedUsers(prefix: host.userPrefix),
            parties: ContractPublishers.partyRules(prefix: host.userPrefix))
        options.carbonCopies = ContractPublishers.carbonCopies(type:body:)
        let worker = Worker(
            topology: topology, registry: .pipeline, handler: GradingHandler(catalogue: catalogue),
            store: try SQLiteStore(path: storePath), consuming: consuming, publishing: consuming,
            instance: "grading@lsps-test", options: options)
        let running = Task { try await worker.run() }
        try await waitUntil(timeout: .seconds(30), "the worker consumes as its own user") { worker.isReady }

        let exchange = ContractDocuments.exchange
        func send<M: ContractMessage>(_ data: M, as principal: String) async throws {
            let connection = try await host.connect(principal)
            defer { Task { await connection.close() } }
            try await connection.publish(
                try OutgoingEvent(EventEnvelope(source: "/test", data: data), exchange: exchange).body, exchange: exchange,
                routingKey: M.eventType, properties: AMQPProperties(contentType: "application/json", userID: host.user(principal))
            )
        }
        let programme = try #require(catalogue.centres.first { $0.centre == .balikpapan }?.programmes.first)
        try await send(
            ClassScheduledV1(
                participantID: "PST-1", classID: "BPN-2025-\(programme.code)-01", centre: .balikpapan,
                programme: programme.code, startDate: "2025-07-07", endDate: "2025-08-29", seat: 1),
            as: "scheduling")
        func result(_ id: String, licence: String) -> AssessmentSubmittedV3 {
            AssessmentSubmittedV3(
                assessmentID: id, participantID: "PST-1", lspLicence: licence, scheme: programme.scheme.code,
                assessorRegistration: "MET.000.001234 2019", testSite: "TUK BLKI Balikpapan", assessedOn: "2025-09-02",
                units: programme.scheme.units.map { AssessmentSubmittedV1.Unit(code: $0, result: .competent) },
                attendancePercent: 95, certificateNumber: nil, registrationNumber: nil, retakeOf: nil)
        }
        try await waitUntil(timeout: .seconds(60), "the seat is known") { worker.statistics.succeeded == 1 }
        try await send(result("FORGED-1", licence: first), as: "lsp-\(second)")
        try await send(
            AssessmentAppealedV1(
                assessmentID: "FORGED-1", participantID: "PST-1", lspLicence: first, scheme: programme.scheme.code,
                status: .filed, on: "2025-09-03", revisedUnits: [], certificateNumber: nil, registrationNumber: nil),
            as: "lsp-\(second)")
        try await send(result("HONEST-1", licence: first), as: "lsp-\(first)")
        try await waitUntil(timeout: .seconds(60), "every message is settled") {
            worker.statistics.succeeded + worker.statistics.deadLettered == 4
        }
        let admin = try await host.connect("admin")
        defer { Task { await admin.close() } }
        var codes: [String] = []
        while let letter = try await admin.get(queue: topology.deadLetterQueue) {
            codes.append(letter.properties.headers?[FailureRouter.Header.code]?.stringValue ?? "(none)")
            try await letter.ack()
        }
        #expect(codes == ["publisher-not-allowed", "publisher-not-allowed"])
        // The answer to the honest result: in its LSP's inbox only.
        var answer: AMQPDelivery?
        let deadline = ContinuousClock.now + .seconds(30)  // bounds a failure only
        while answer == nil && ContinuousClock.now < deadline {
            answer = try await admin.get(queue: ContractPublishers.inbox("lsp", party: first))
            if answer == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let graded = try ContractJSON.decoder().decode(
            EventEnvelope<AssessmentGradedV3>.self, from: try #require(answer?.body)
        ).data
        #expect(graded.assessmentID == "HONEST-1" && graded.lspLicence == first && graded.outcome == .competent)
        #expect(answer?.routingKey == AssessmentGradedV3.eventType, "routed by CC, delivered under its type")
        try await answer?.ack()
        #expect(try await admin.get(queue: ContractPublishers.inbox("lsp", party: second)) == nil, "nothing for the other LSP")
        let snooping = try await host.connect("lsp-\(second)")
        defer { Task { await snooping.close() } }
        await #expect(
            performing: { try await snooping.get(queue: ContractPublishers.inbox("lsp", party: first)) },
            throws: Self.refused)
        #expect(try await admin.get(queue: ContractPublishers.inbox("lsp", party: first)) == nil, "one answer: one result graded")
        running.cancel()
        _ = try? await running.value
        await consuming.close()
    }

    static func notificationRequest() throws -> Data {
        let request = NotificationRequestedV1(
            notificationID: "ATTACK-1", participantID: nil, registrationID: nil, channel: .whatsApp,
            recipient: "+6281299990000", template: "pengumuman", parameters: ["teks": "Transfer biaya ke rekening 123"])
        return try OutgoingEvent(EventEnvelope(source: "/kaltim/registration-portal", data: request), exchange: "x").body
    }

    static func registration() throws -> Data {
        let registration = RegistrationSubmittedV2(
            registrationID: "REG-" + UUID().uuidString.prefix(8), nik: "6471054107990003", familyCardNumber: nil,
            fullName: "Siti Rahmawati", birthPlace: "Balikpapan", birthDate: "1999-07-01", sex: .female,
            phone: "+6281250001001", whatsApp: nil, email: nil,
            domicile: Domicile(regionCode: "6471051001", address: "Jl. Contoh 1"), education: .smk,
            employmentStatus: .unemployed, jobSeekerCardNumber: nil, preferredCentre: .balikpapan,
            programme: "MEKANIK_SEPEDA_MOTOR", secondChoiceProgramme: nil, apprenticeshipInterest: false,
            declaredTrainings: [], consent: Consent(given: true, givenAt: "2025-03-03T01:14:10Z", textVersion: "pdp-2025-01"))
        return try OutgoingEvent(EventEnvelope(source: "/kaltim/registration-portal", data: registration), exchange: "x")
            .body
    }
}

/// The console's rebuild as deploy/ runs it: under the console's own broker user (no configure
/// permission, no default exchange), applying only what the console's worker would.
@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .serialized, .timeLimit(.minutes(10))  // a guard against a hang, not a verdict on speed
)
struct ConsoleRebuildPrivilegeTests {
    @Test func theConsoleRebuildsUnderItsOwnUserAndRefusesWhatItsWorkerWouldRefuse() async throws {
        let host = try await PrivateVirtualHost.make("rebuild")
        defer { Task { await host.delete() } }
        let exchange = ContractDocuments.exchange
        let body = try OutgoingEvent(
            EventEnvelope(
                source: "/kaltim/workers/intake",
                data: RegistrationReceivedV1(
                    registrationID: "REG-REBUILD-1", centre: .bontang, programme: "TATA_GRAHA", submittedAt: Date())),
            exchange: exchange
        ).body
        let intake = try await host.connect("intake")
        // Signed by intake: applied. The same body claiming another type in the AMQP type
        // property, and one without user_id: refused, as the console's worker refuses them.
        try await intake.publish(
            body, exchange: exchange, routingKey: RegistrationReceivedV1.eventType,
            properties: AMQPProperties(userID: host.user("intake")))
        try await intake.publish(
            body, exchange: exchange, routingKey: RegistrationReceivedV1.eventType,
            properties: AMQPProperties(type: RegistrationAcceptedV2.eventType, userID: host.user("intake")))
        try await intake.publish(body, exchange: exchange, routingKey: RegistrationReceivedV1.eventType)
        await intake.close()

        let console = try await host.connect("console")
        defer { Task { await console.close() } }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("rebuild") + ".sqlite").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        let store = try SQLiteStore(path: file)
        let catalogue = try ProgrammeCatalogue.load(path: DatabaseUsersTests.repositoryFile("config/programme-2025.json"))
        let report = try await ProgressHistory().rebuild(
            into: store, handler: ProgressHandler(catalogue: catalogue), connection: console,
            policy: .enforcing(ContractPublishers.allowedUsers(prefix: host.userPrefix)))
        #expect(report.applied == 1 && report.skipped == 0 && report.refused == 2, "\(report)")
        let rows = try await store.read("SELECT count(*) AS n FROM console_registrations", [])
        #expect(rows.first?["n"]?.integer == 1)
        // The console publishes the marker and the staff's records, not intake's events.
        await #expect(
            performing: {
                try await console.publish(body, exchange: exchange, routingKey: RegistrationReceivedV1.eventType)
            },
            throws: LeastPrivilegeTests.refused)
    }
}
