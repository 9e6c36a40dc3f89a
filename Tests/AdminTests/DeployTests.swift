import AMQP
import Admin
import Contracts
import Foundation
import Jobs
import TestSupport
import Testing

/// deploy/: current, parseable, consistent; and on the private broker the permissions refuse
/// what a role or a publisher should not do.
struct DeployFileTests {
    static let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../deploy")
        .standardized.path

    @Test func theCommittedFilesAreWhatTheGeneratorWrites() throws {
        for (path, content) in try DeploymentFiles.files() {
            let committed = FileManager.default.contents(atPath: Self.deploy + "/" + path).map {
                String(decoding: $0, as: UTF8.self)
            }
            #expect(committed == content, "deploy/\(path) is stale: run `swift run kaltim-admin deploy-files`")
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
            #expect(url.hasPrefix("amqp://\(user):"), "\(url)")
            #expect((service["command"] as? [String])?.first == role.name)
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
        }
        for publisher in DeploymentFiles.publishers { #expect(users.contains(publisher.user)) }

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
            #expect(arguments["x-queue-type"] as? String == "quorum", "\(queue["name"] ?? "")")
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
            #expect(environment["KALTIM_RETRY_QUEUE_TYPE"] == "quorum")
            let command = clusterServices[role.name]?["command"] as? [String] ?? []
            #expect(
                command.firstIndex(of: "--database").map { command[$0 + 1].hasPrefix("postgres://") } == true,
                "the scale-out variant keeps state in PostgreSQL")
            // Kubernetes on PostgreSQL: several pods, no volume claim, the URL from the role's secret.
            let onPostgres = parsed["kubernetes/postgres/\(role.name).yaml"] as? [[String: Any]] ?? []
            #expect(onPostgres.compactMap { $0["kind"] as? String } == ["Deployment", "ScaledObject"])
            #expect((onPostgres.first?["spec"] as? [String: Any])?["replicas"] as? Int ?? 0 > 1)
            #expect((onPostgres.last?["spec"] as? [String: Any])?["maxReplicaCount"] as? Int ?? 0 > 1)
            #expect("\(onPostgres.first ?? [:])".contains("$(KALTIM_DATABASE_URL)"))
            let documents = parsed["kubernetes/\(role.name).yaml"] as? [[String: Any]] ?? []
            #expect("\(documents.first ?? [:])".contains("KALTIM_RETRY_QUEUE_TYPE"), "the Deployment reads the broker setting")
        }
        let kubernetesCluster = parsed["kubernetes/cluster/rabbitmq.yaml"] as? [[String: Any]] ?? []
        #expect(kubernetesCluster.compactMap { $0["kind"] as? String } == ["RabbitmqCluster", "ConfigMap"])
        #expect((kubernetesCluster.first?["spec"] as? [String: Any])?["replicas"] as? Int == 3)
        #expect((kubernetesCluster.last?["data"] as? [String: String])?["retry-queue-type"] == "quorum")
        let dockerfile = try String(contentsOfFile: Self.deploy + "/docker/Dockerfile", encoding: .utf8)
        #expect(dockerfile.components(separatedBy: "\nFROM ").count == 3 && dockerfile.hasPrefix("# Generated"), "two stages")
        #expect(dockerfile.contains("librabbitmq4") && dockerfile.contains("ENTRYPOINT [\"kaltim-worker\"]"))
    }
}

@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .serialized, .timeLimit(.minutes(3))
)
struct LeastPrivilegeTests {
    @Test func eachUserMayDoItsJobAndNothingElse() async throws {
        let tag = uniqueName("perm").replacingOccurrences(of: ".", with: "-")
        let vhost = tag
        let userPrefix = tag + "-"
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(tag + ".json").path
        let document = DeploymentFiles.definitions(vhost: vhost, userPrefix: userPrefix)
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: file))
        let users = (document["users"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        defer {
            Task {
                _ = try? await BrokerEnvironment.brokerScript(["ctl", "delete_vhost", vhost])
                for user in users { _ = try? await BrokerEnvironment.brokerScript(["ctl", "delete_user", user]) }
                try? FileManager.default.removeItem(atPath: file)
            }
        }
        _ = try await BrokerEnvironment.brokerScript(["ctl", "import_definitions", file])
        for user in [DeploymentFiles.user(.intake, prefix: userPrefix), userPrefix + "kaltim-portal"] {
            _ = try await BrokerEnvironment.brokerScript(["ctl", "change_password", user, "secret-\(tag)"])
        }
        let base = try #require(BrokerEnvironment.url.flatMap { URL(string: $0) })
        func connect(_ user: String) async throws -> AMQPConnection {
            var configuration = try AMQPConfiguration(
                url: "amqp://\(user):secret-\(tag)@\(base.host ?? "127.0.0.1"):\(base.port ?? 5672)/\(vhost)")
            configuration.reconnect = nil
            return try await AMQPConnection.connect(configuration)
        }
        func refused(_ error: any Error) -> Bool { (error as? AMQPError)?.replyCode == 403 }
        let exchange = ContractDocuments.exchange

        // A role: declares its own topology, consumes its own queue, publishes what it produces.
        let intake = try await connect(DeploymentFiles.user(.intake, prefix: userPrefix))
        try await RoleTopology(role: .intake).declare(on: intake)
        _ = try await intake.queueState(RoleTopology(role: .intake).queue)
        try await intake.publish(Data("{}".utf8), exchange: exchange, routingKey: RegistrationAcceptedV2.eventType)
        // … but not another role's queue, not another role's events, not someone else's topology.
        await #expect(performing: { try await intake.get(queue: RoleTopology(role: .scheduling).queue) }, throws: refused)
        await #expect(
            performing: {
                try await intake.publish(Data("{}".utf8), exchange: exchange, routingKey: AssessmentGradedV2.eventType)
            },
            throws: refused)
        await #expect(performing: { try await intake.declareQueue(.quorum("kaltim.grading.sneaky")) }, throws: refused)
        // Its own retry tiers and dead letters through the default exchange (the failure router).
        try await intake.publish(Data("{}".utf8), exchange: "", routingKey: RoleTopology(role: .intake).deadLetterQueue)
        await intake.close()

        // An external publisher: its own event type only, nothing to read or declare.
        let portal = try await connect(userPrefix + "kaltim-portal")
        try await portal.publish(Data("{}".utf8), exchange: exchange, routingKey: RegistrationSubmittedV2.eventType)
        await #expect(
            performing: {
                try await portal.publish(Data("{}".utf8), exchange: exchange, routingKey: RegistrationAcceptedV2.eventType)
            },
            throws: refused)
        await #expect(performing: { try await portal.get(queue: RoleTopology(role: .intake).queue) }, throws: refused)
        await #expect(performing: { try await portal.declareQueue(.quorum("portal.own")) }, throws: refused)
        // The broker validates `user_id`: the portal may sign its messages with its own name, and
        // cannot pass one off as the LSP's (406 PRECONDITION_FAILED), so a consumer may trust it.
        try await portal.publish(
            Data("{}".utf8), exchange: exchange, routingKey: RegistrationSubmittedV2.eventType,
            properties: AMQPProperties(userID: userPrefix + "kaltim-portal"))
        await #expect(
            performing: {
                try await portal.publish(
                    Data("{}".utf8), exchange: exchange, routingKey: RegistrationSubmittedV2.eventType,
                    properties: AMQPProperties(userID: userPrefix + "kaltim-lsp"))
            },
            throws: { ($0 as? AMQPError)?.replyCode == 406 })
        await portal.close()
    }
}
