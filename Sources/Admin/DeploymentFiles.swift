public import ContractKit
import Contracts
import Foundation
public import Jobs
import Topology

/// Everything under `deploy/`, generated from the role definitions so that names, queues,
/// users and ports agree across files: RabbitMQ definitions with one user per role and per
/// external publisher (least privilege), systemd unit templates, a Dockerfile, a compose file
/// and Kubernetes manifests. `kaltim-admin deploy-files --output deploy` writes them; a test
/// fails while the committed files differ.
public enum DeploymentFiles {
    /// A system outside the pipeline that publishes events.
    public struct Publisher: Sendable {
        public let user: String
        public let summary: String
        public let publishes: [String]
        /// What it reads, and the queue it reads it from (``ContractPublishers/External/reads``).
        public let reads: [String]
        public let inbox: String?
    }

    /// The external publishers' broker users and what each may publish
    /// (``ContractPublishers/external``, which every consumer also checks against the validated
    /// `user_id`). A principal of several parties (the LSPs, the BLKIs) has one user per party
    /// in `parties` (``ContractPublishers/parties(lspLicences:centreCodes:)``, from the
    /// programme plan), and no user of its own. A party that reads has an inbox of its own,
    /// bound to its party key (`lsp.BNSP-LSP-0123-ID`), which the events for it carry in `CC`.
    public static func publishers(parties: [String: [String]]) -> [Publisher] {
        ContractPublishers.external.flatMap { external -> [Publisher] in
            guard external.party != nil else {
                return [
                    Publisher(
                        user: ContractPublishers.brokerUser(external.name), summary: external.summary,
                        publishes: external.publishes, reads: external.reads, inbox: external.inbox())
                ]
            }
            return (parties[external.name] ?? []).filter(ContractPublishers.isPartyName).map { party in
                Publisher(
                    user: ContractPublishers.brokerUser(external.name, party: party), summary: external.summary + ": " + party,
                    publishes: external.publishes,
                    reads: external.reads.isEmpty ? [] : [ContractPublishers.partyKey(external.name, party: party)],
                    inbox: external.reads.isEmpty ? nil : ContractPublishers.inbox(external.name, party: party))
            }
        }
    }

    /// Patterns of the routing keys of the party inboxes that read some of `types`
    /// (`lsp\.[A-Za-z0-9.-]{1,64}` for grading's answers), which the events name in their `CC`
    /// header: any party's, not only the plan's, so that an answer to an LSP taken out of the
    /// plan while its results still wait does not stall grading's outbox.
    static func partyKeyPatterns(for types: [String]) -> [String] {
        ContractPublishers.external.filter { $0.party != nil && !Set($0.reads).isDisjoint(with: types) }.map {
            NSRegularExpression.escapedPattern(for: ContractPublishers.partyKey($0.name, party: "")) + "[A-Za-z0-9.-]{1,64}"
        }
    }

    /// The broker user of a role.
    public static func user(_ role: WorkerRole, prefix: String = "") -> String {
        ContractPublishers.brokerUser(role.name, prefix: prefix)
    }

    /// The admin tool's user.
    public static let adminUser = "kaltim-admin"

    /// The HTTP port of a role's metrics and probes (containers; systemd adds the instance).
    public static func httpPort(_ role: WorkerRole) -> Int { 8080 }

    /// A regular expression that matches each of `names` and each of `patterns` whole.
    static func regex(_ names: [String], patterns: [String] = []) -> String {
        "^(" + (names.map { NSRegularExpression.escapedPattern(for: $0) } + patterns).joined(separator: "|") + ")$"
    }

    /// The RabbitMQ definitions: topology, users without passwords (set them with
    /// `rabbitmqctl change_password`), permissions and topic permissions.
    /// - Parameters:
    ///   - vhost: the virtual host.
    ///   - userPrefix: prepended to every user name (tests).
    ///   - retryQueueType: the retry tiers' type (quorum for the cluster variant).
    ///   - parties: the parties of the principals that have them (``publishers(parties:)``).
    public static func definitions(
        vhost: String = "/", userPrefix: String = "", topologyPrefix: String = "",
        retryQueueType: RoleTopology.RetryQueueType = .classic, parties: [String: [String]]
    ) -> [String: Any] {
        var document = TopologyDefinitions.document(
            roles: WorkerRole.all + [.console], prefix: topologyPrefix, vhost: vhost, retryQueueType: retryQueueType)
        // The console's history stream (the source of a rebuild), bound to the console's events
        // and to the rebuild's end marker.
        let history = topologyPrefix + WorkerRole.consoleHistoryStream
        document["queues"] =
            (document["queues"] as? [[String: Any]] ?? []) + [
                [
                    "name": history, "vhost": vhost, "durable": true, "auto_delete": false,
                    "arguments": ["x-queue-type": "stream", "x-max-age": WorkerRole.consoleHistoryRetention],
                ]
            ]
        document["bindings"] =
            (document["bindings"] as? [[String: Any]] ?? [])
            + (WorkerRole.console.consumes + [WorkerRole.consoleHistoryMarker]).map { type in
                [
                    "source": topologyPrefix + ContractDocuments.exchange, "vhost": vhost, "destination": history,
                    "destination_type": "queue", "routing_key": type, "arguments": [String: Any](),
                ]
            }
        let exchange = topologyPrefix + ContractDocuments.exchange
        var users: [[String: Any]] = []
        var permissions: [[String: Any]] = []
        var topicPermissions: [[String: Any]] = []
        func addUser(_ name: String, tags: [String]) {
            users.append(["name": name, "password_hash": "", "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": tags])
        }
        addUser(userPrefix + adminUser, tags: ["administrator"])
        permissions.append(["user": userPrefix + adminUser, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"])
        let failures = topologyPrefix + ContractDocuments.failureExchange
        for role in WorkerRole.all + [.console] {
            let name = user(role, prefix: userPrefix)
            let topology = RoleTopology(role: role, prefix: topologyPrefix, retryQueueType: retryQueueType)
            let events = NSRegularExpression.escapedPattern(for: exchange)
            let queue = NSRegularExpression.escapedPattern(for: topology.queue)
            addUser(name, tags: [])
            permissions.append([
                "user": name, "vhost": vhost,
                // No configure: the definitions (or `kaltim-admin topology apply`) declare the
                // topology; the worker runs with --no-declare-topology.
                "configure": "^$",
                // Events, and its failures through kaltim.failures (never the default exchange).
                "write": "^(\(events)|\(NSRegularExpression.escapedPattern(for: failures)))$",
                // Its own queue only (the console also its history stream, to rebuild from).
                "read": role == .console ? regex([topology.queue, history]) : "^\(queue)$",
            ])
            topicPermissions.append([
                "user": name, "vhost": vhost, "exchange": failures, "write": regex(topology.failureQueues), "read": "^$",
            ])
            topicPermissions.append([
                "user": name, "vhost": vhost, "exchange": exchange,
                // The console publishes a rebuild's end marker, which reaches the stream only, and
                // what staff record in it.
                // And the keys of the parties' inboxes its events are for, which it names in
                // `CC` (grading's answers to each LSP): brokers that check `CC` keys against the
                // topic permissions (RabbitMQ 4) refuse them otherwise.
                "write": role == .console
                    ? regex(role.publishes + [WorkerRole.consoleHistoryMarker])
                    : role.publishes.isEmpty ? "^$" : regex(role.publishes, patterns: partyKeyPatterns(for: role.publishes)),
                "read": role == .console ? regex(role.consumes + [WorkerRole.consoleHistoryMarker]) : regex(role.consumes),
            ])
        }
        for publisher in publishers(parties: parties) {
            let name = userPrefix + publisher.user
            addUser(name, tags: [])
            // A system that reads gets a quorum queue of its own, bound to what it reads, and may
            // read that queue only.
            let inbox = publisher.inbox.map { topologyPrefix + $0 }
            if let inbox {
                document["queues"] =
                    (document["queues"] as? [[String: Any]] ?? []) + [
                        [
                            "name": inbox, "vhost": vhost, "durable": true, "auto_delete": false,
                            "arguments": ["x-queue-type": "quorum"],
                        ]
                    ]
                document["bindings"] =
                    (document["bindings"] as? [[String: Any]] ?? [])
                    + publisher.reads.map { type in
                        [
                            "source": exchange, "vhost": vhost, "destination": inbox, "destination_type": "queue",
                            "routing_key": type, "arguments": [String: Any](),
                        ]
                    }
            }
            permissions.append([
                "user": name, "vhost": vhost, "configure": "^$",
                "write": publisher.publishes.isEmpty ? "^$" : "^" + NSRegularExpression.escapedPattern(for: exchange) + "$",
                "read": inbox.map { "^" + NSRegularExpression.escapedPattern(for: $0) + "$" } ?? "^$",
            ])
            topicPermissions.append([
                "user": name, "vhost": vhost, "exchange": exchange,
                "write": publisher.publishes.isEmpty ? "^$" : regex(publisher.publishes),
                "read": publisher.reads.isEmpty ? "^$" : regex(publisher.reads),
            ])
        }
        document["users"] = users
        document["vhosts"] = [["name": vhost]]
        document["permissions"] = permissions
        document["topic_permissions"] = topicPermissions
        document["policies"] = DeadLetterBounds.policies(roles: WorkerRole.all + [.console], prefix: topologyPrefix).map {
            $0.jsonObject.merging(["name": $0.name, "vhost": vhost]) { old, _ in old }
        }
        document["parameters"] = [[String: Any]]()
        return document
    }

    /// Every file, by its path under `deploy/`, with a broker user for each of `parties`
    /// (``publishers(parties:)``).
    public static func files(parties: [String: [String]]) throws -> [String: String] {
        var files: [String: String] = [:]
        let json = try JSONSerialization.data(
            withJSONObject: definitions(parties: parties), options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        files["rabbitmq/definitions.json"] = String(decoding: json, as: UTF8.self) + "\n"
        let clusterJSON = try JSONSerialization.data(
            withJSONObject: definitions(retryQueueType: .quorum, parties: parties),
            options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        files["rabbitmq/definitions-cluster.json"] = String(decoding: clusterJSON, as: UTF8.self) + "\n"
        files["rabbitmq/cluster.conf"] = clusterConfiguration
        files["rabbitmq/rabbitmq.conf"] = nodeConfiguration
        files["compose-cluster.yaml"] = composeCluster
        files["kubernetes/cluster/rabbitmq.yaml"] = kubernetesCluster
        for (index, role) in WorkerRole.all.enumerated() {
            files["systemd/kaltim-\(role.name)@.service"] = systemdUnit(role, index: index + 1)
            files["kubernetes/\(role.name).yaml"] = kubernetes(role)
            files["kubernetes/postgres/\(role.name).yaml"] = kubernetes(role, store: .postgres)
        }
        files["postgres/role-users.sql"] = postgresRoleUsers
        files["postgres/initdb-role-users.sh"] = postgresInitScript
        files["postgres/reader-grants.sql"] = postgresReaderGrants
        files["kubernetes/console.yaml"] = kubernetesConsole
        files["kubernetes/verification.yaml"] = kubernetesVerification
        files["systemd/kaltim-console.service"] = consoleUnit
        files["systemd/kaltim-verification.service"] = verificationUnit
        files["docker/Dockerfile"] = dockerfile
        files["compose.yaml"] = compose
        return files
    }

    /// Arguments a role needs beyond the common ones (paths of secrets and settings). Every
    /// role's user lacks configure permission, so no worker declares its topology; every worker
    /// reaches the broker over TLS and checks its certificate against the programme's CA
    /// (`scripts/make-broker-certs.sh`).
    static func roleArguments(_ role: WorkerRole, secrets: String, config: String) -> [String] {
        ["--no-declare-topology", "--tls-ca", "\(secrets)/ca.pem"] + roleSpecificArguments(role, secrets: secrets, config: config)
    }

    /// The broker's AMQP port: TLS only (5671); the plain listener is off.
    public static let amqpsPort = 5671

    /// The TLS lines of every broker configuration in deploy/: the certificates of
    /// `scripts/make-broker-certs.sh` under /etc/rabbitmq/tls, TLS 1.2 or 1.3, no plain listener.
    static let tlsSettings = """
        listeners.tcp = none
        listeners.ssl.default = 5671
        ssl_options.cacertfile = /etc/rabbitmq/tls/ca.pem
        ssl_options.certfile = /etc/rabbitmq/tls/server.pem
        ssl_options.keyfile = /etc/rabbitmq/tls/server.key
        ssl_options.versions.1 = tlsv1.3
        ssl_options.versions.2 = tlsv1.2
        """

    static func roleSpecificArguments(_ role: WorkerRole, secrets: String, config: String) -> [String] {
        switch role.name {
        case "intake": ["--nik-key-file", "\(secrets)/nik.key"]
        case "certificates":
            ["--signing-key-file", "\(secrets)/certificate.key", "--output-directory", "/var/lib/kaltim/certificates"]
        case "notifications": ["--templates", "\(config)/notifications"]
        default: []
        }
    }

    static func systemdUnit(_ role: WorkerRole, index: Int) -> String {
        let arguments =
            [
                role.name, "--database", "/var/lib/kaltim/\(role.name).sqlite", "--instance", "\(role.name)-%i@%H",
                "--programme-file", "/etc/kaltim/programme-2025.json", "--http-host", "127.0.0.1", "--http-port", "18%i0\(index)",
                "--shutdown-timeout", "30",
            ] + roleArguments(role, secrets: "/etc/kaltim/secrets", config: "/etc/kaltim")
        return systemdService(
            about: """
                # One process of the \(role.name) role: \(role.summary)
                # Start N of them: systemctl enable --now kaltim-\(role.name)@1 kaltim-\(role.name)@2
                # Metrics and probes on 127.0.0.1:18<instance>0\(index) (instance 1–9).
                """,
            description: "Kaltim \(role.name) worker %i",
            service: """
                # KALTIM_BROKER_URL=amqps://\(user(role)):…@broker:5671/%2f with the user's password (and,
                # for notifications, KALTIM_GATEWAY_TOKEN / KALTIM_SMTP_PASSWORD; for certificates and
                # notifications, KALTIM_VERIFICATION_URL=https://<the verification service's public
                # address>, which the QR codes and messages give); the broker's CA in
                # /etc/kaltim/secrets/ca.pem (scripts/make-broker-certs.sh).
                EnvironmentFile=/etc/kaltim/\(role.name).env
                ExecStart=/usr/local/bin/kaltim-worker \(arguments.joined(separator: " ")) $KALTIM_EXTRA_ARGUMENTS
                # SIGTERM drains (up to --shutdown-timeout 30 s); stop waits longer than that.
                KillSignal=SIGTERM
                TimeoutStopSec=60
                StateDirectory=kaltim
                """)
    }

    static let dockerfile = """
        # Generated by `kaltim-admin deploy-files`; do not edit by hand.
        # Build from the repository root: docker build -f deploy/docker/Dockerfile -t kaltim/worker .
        FROM swift:6.1-bookworm AS build
        RUN apt-get update && apt-get install -y --no-install-recommends librabbitmq-dev libsqlite3-dev libcairo2-dev \\
            libqrencode-dev zlib1g-dev libcurl4-openssl-dev pkg-config && rm -rf /var/lib/apt/lists/*
        WORKDIR /src
        COPY . .
        RUN swift build -c release --static-swift-stdlib --product kaltim-worker \\
            && swift build -c release --static-swift-stdlib --product kaltim-admin \\
            && swift build -c release --static-swift-stdlib --product kaltim-console \\
            && cp .build/release/kaltim-worker .build/release/kaltim-admin .build/release/kaltim-console /usr/local/bin/

        FROM debian:bookworm-slim
        RUN apt-get update && apt-get install -y --no-install-recommends librabbitmq4 libsqlite3-0 libcairo2 libqrencode4 \\
            fonts-dejavu-core libcurl4 ca-certificates tzdata && rm -rf /var/lib/apt/lists/* \\
            && useradd --system --home /var/lib/kaltim --create-home kaltim
        COPY --from=build /usr/local/bin/kaltim-worker /usr/local/bin/kaltim-admin /usr/local/bin/kaltim-console /usr/local/bin/
        COPY config /etc/kaltim
        USER kaltim
        WORKDIR /var/lib/kaltim
        ENTRYPOINT ["kaltim-worker"]

        """

    static var compose: String {
        let services = """
            # Generated by `kaltim-admin deploy-files`; do not edit by hand.
            # docker compose -f deploy/compose.yaml up --build   (first: scripts/make-broker-certs.sh
            # deploy/tls for AMQP over TLS, and the passwords in .env; the broker loads
            # deploy/rabbitmq/definitions.json, then set each user's password with rabbitmqctl
            # change_password).
            services:
              rabbitmq:
                image: rabbitmq:3.10-management
                volumes:
                  - ./rabbitmq/rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf:ro
                  - ./rabbitmq/definitions.json:/etc/rabbitmq/definitions.json:ro
                  - ./tls:/etc/rabbitmq/tls:ro
                  - rabbitmq-data:/var/lib/rabbitmq
                ports:
                  - "5671:5671"

            """
        let (workers, volumes) = composeWorkers(brokers: ["rabbitmq"], retryQueueType: nil)
        return services + workers + composeConsole + "volumes:\n"
            + (["rabbitmq-data"] + volumes + ["console-data"]).map { "  \($0):\n" }.joined()
    }

    /// The console and the public verification service in compose: the console on its own
    /// broker user (its queue and history stream only) with the admin's URL for the dead
    /// letters, reading intake's and the certificates' stores from their volumes; both publish
    /// on loopback of the host, for a TLS reverse proxy in front.
    static var composeConsole: String {
        let consoleArguments = [
            "serve", "--database", "/var/lib/kaltim/console.sqlite", "--accounts", "/run/secrets/console-accounts.json",
            "--audit-log", "/var/lib/kaltim/audit.jsonl", "--programme-file", "/etc/kaltim/programme-2025.json",
            "--console-host", "0.0.0.0", "--console-port", "8090", "--secure-cookies", "--no-declare-topology", "--tls-ca",
            "/run/secrets/ca.pem", "--intake-store", "/var/lib/intake/intake.sqlite", "--certificates-store",
            "/var/lib/certificates/certificates.sqlite",
        ]
        let verificationArguments = [
            "verification", "--database", "/var/lib/certificates/certificates.sqlite", "--keys",
            "/run/secrets/certificate-keys.json", "--programme-file", "/etc/kaltim/programme-2025.json", "--host", "0.0.0.0",
            "--port", "8091",
        ]
        func list(_ arguments: [String]) -> String { arguments.map { "\"\($0)\"" }.joined(separator: ", ") }
        return """
              console:
                image: kaltim/worker
                entrypoint: ["kaltim-console"]
                command: [\(list(consoleArguments))]
                environment:
                  KALTIM_BROKER_URL: "amqps://\(user(.console)):${CONSOLE_PASSWORD}@rabbitmq:\(amqpsPort)/%2f"
                  KALTIM_ADMIN_URL: "amqps://kaltim-admin:${ADMIN_PASSWORD}@rabbitmq:\(amqpsPort)/%2f"
                  KALTIM_MANAGEMENT_URL: "http://kaltim-admin:${ADMIN_PASSWORD}@rabbitmq:15672"
                ports:
                  - "127.0.0.1:8090:8090"
                volumes:
                  - console-data:/var/lib/kaltim
                  # Opened read only by the console; not mounted :ro, as SQLite's WAL needs its
                  # shared-memory file writable even for a reader.
                  - intake-data:/var/lib/intake
                  - certificates-data:/var/lib/certificates
                  - ./tls/ca.pem:/run/secrets/ca.pem:ro
                  - ./console-accounts.json:/run/secrets/console-accounts.json:ro
                depends_on:
                  - rabbitmq
              # Every request reaches it from the proxy's address, so all clients share one rate
              # limit here (--client-address-header needs the proxy on loopback): for a limit per
              # client, run it as systemd/kaltim-verification.service beside the proxy.
              verification:
                image: kaltim/worker
                entrypoint: ["kaltim-console"]
                command: [\(list(verificationArguments))]
                ports:
                  - "127.0.0.1:8091:8091"
                volumes:
                  # Opened read only (see the console's volume above).
                  - certificates-data:/var/lib/certificates
                  - ./certificate-keys.json:/run/secrets/certificate-keys.json:ro

            """
    }

    /// The console on Kubernetes: one pod (its read model is a SQLite file on its own volume),
    /// a Service inside the cluster for the ingress that serves it over TLS. A pod cannot
    /// reach intake's SQLite volume, so the officers' case files and the profile reports need
    /// intake on PostgreSQL (kubernetes/postgres/intake.yaml) and the console reader's URL.
    static var kubernetesConsole: String {
        let arguments = [
            "serve", "--database", "/var/lib/kaltim/console.sqlite", "--accounts", "/etc/kaltim/secrets/console-accounts.json",
            "--audit-log", "/var/lib/kaltim/audit.jsonl", "--programme-file", "/etc/kaltim/programme-2025.json",
            "--console-host", "0.0.0.0", "--console-port", "8090", "--secure-cookies", "--http-host", "0.0.0.0",
            "--http-port", "8080", "--no-declare-topology", "--tls-ca", "/etc/kaltim/secrets/ca.pem", "--shutdown-timeout",
            "30",
        ]
        return """
            # Generated by `kaltim-admin deploy-files`; do not edit by hand.
            # The web console: one pod (its read model is a SQLite file on its own volume), a Service for
            # the ingress that serves it over TLS (cookies are marked Secure). The secret kaltim-console
            # holds broker-url (its own broker user), admin-url and management-url (the admin's, for dead
            # letters and rates) and, with intake on PostgreSQL, intake-store-url (the console reader of
            # postgres/reader-grants.sql; a pod cannot reach intake's SQLite volume): without it officers
            # see the queue but cannot decide, and the profile reports say what they need; with the
            # certificates role on PostgreSQL, certificates-store-url (the same reader, schema
            # certificates): without it there is no search by name.
            # kaltim-console-files holds ca.pem and console-accounts.json. To rebuild the read model
            # (kaltim-console rebuild), scale this Deployment to 0 and run the command in a Job that
            # mounts the same volume (ReadWriteOnce).
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: kaltim-console
              labels: {app: kaltim, role: console}
            spec:
              replicas: 1
              strategy: {type: Recreate}
              selector:
                matchLabels: {app: kaltim, role: console}
              template:
                metadata:
                  labels: {app: kaltim, role: console}
                  annotations: {prometheus.io/scrape: "true", prometheus.io/port: "8080"}
                spec:
                  terminationGracePeriodSeconds: 60
                  containers:
                    - name: console
                      image: kaltim/worker:latest
                      command: ["kaltim-console"]
                      args: [\(arguments.map { "\"\($0)\"" }.joined(separator: ", "))]
                      env:
                        - name: KALTIM_BROKER_URL
                          valueFrom: {secretKeyRef: {name: kaltim-console, key: broker-url}}
                        - name: KALTIM_ADMIN_URL
                          valueFrom: {secretKeyRef: {name: kaltim-console, key: admin-url}}
                        - name: KALTIM_MANAGEMENT_URL
                          valueFrom: {secretKeyRef: {name: kaltim-console, key: management-url, optional: true}}
                        - name: KALTIM_INTAKE_STORE_URL
                          valueFrom: {secretKeyRef: {name: kaltim-console, key: intake-store-url, optional: true}}
                        - name: KALTIM_CERTIFICATES_STORE_URL
                          valueFrom: {secretKeyRef: {name: kaltim-console, key: certificates-store-url, optional: true}}
                        - name: KALTIM_RETRY_QUEUE_TYPE
                          valueFrom: {configMapKeyRef: {name: kaltim-broker, key: retry-queue-type, optional: true}}
                      ports: [{name: http, containerPort: 8080}, {name: pages, containerPort: 8090}]
                      # Alive while the worker is; ready while the pages answer (they serve the read model
                      # even while the broker is away: the worker's /ready would take them off the Service).
                      livenessProbe: {httpGet: {path: /health, port: http}, periodSeconds: 10, failureThreshold: 3}
                      readinessProbe: {httpGet: {path: /health, port: pages}, periodSeconds: 5, failureThreshold: 2}
                      volumeMounts:
                        - {name: data, mountPath: /var/lib/kaltim}
                        - {name: secrets, mountPath: /etc/kaltim/secrets, readOnly: true}
                  volumes:
                    - name: data
                      persistentVolumeClaim: {claimName: kaltim-console-data}
                    - name: secrets
                      secret: {secretName: kaltim-console-files}
            ---
            apiVersion: v1
            kind: PersistentVolumeClaim
            metadata:
              name: kaltim-console-data
            spec:
              accessModes: [ReadWriteOnce]
              resources: {requests: {storage: 2Gi}}
            \(kubernetesService("console", port: ("pages", 8090)))
            """
    }

    /// A Service inside the cluster for one of the console's processes (`role`), for the
    /// ingress in front of it.
    static func kubernetesService(_ role: String, port: (name: String, number: Int)) -> String {
        """
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: kaltim-\(role)
          labels: {app: kaltim, role: \(role)}
        spec:
          selector: {app: kaltim, role: \(role)}
          ports: [{name: \(port.name), port: \(port.number), targetPort: \(port.name)}]

        """
    }

    /// The public verification service on Kubernetes: read only, on the certificates' store
    /// in PostgreSQL (a pod cannot reach the certificates' SQLite volume).
    static var kubernetesVerification: String {
        let arguments = [
            "verification", "--keys", "/etc/kaltim/secrets/certificate-keys.json", "--programme-file",
            "/etc/kaltim/programme-2025.json", "--host", "0.0.0.0", "--port", "8091",
            // Every client arrives from the ingress: a per-client limit here would be one limit
            // for the whole public, so the pod's is set near the total and the ingress limits
            // each client.
            "--per-minute", "20000", "--burst", "500",
        ]
        return """
            # Generated by `kaltim-admin deploy-files`; do not edit by hand.
            # The public certificate verification service: two pods reading the certificates' store in
            # PostgreSQL as kaltim_verification (postgres/reader-grants.sql: one document for its whole
            # code, no table), a Service for the ingress. The secret kaltim-verification holds
            # database-url; kaltim-verification-files holds certificate-keys.json (the key ring, public
            # keys only). Every request reaches the pods from the ingress, which the service would take
            # for one client (--client-address-header needs a proxy on loopback): the pods' per-client
            # limit is set near their total, and the ingress must limit each client (e.g. 30 a minute).
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: kaltim-verification
              labels: {app: kaltim, role: verification}
            spec:
              replicas: 2
              selector:
                matchLabels: {app: kaltim, role: verification}
              template:
                metadata:
                  labels: {app: kaltim, role: verification}
                spec:
                  terminationGracePeriodSeconds: 30
                  containers:
                    - name: verification
                      image: kaltim/worker:latest
                      command: ["kaltim-console"]
                      args: [\(arguments.map { "\"\($0)\"" }.joined(separator: ", "))]
                      env:
                        - name: KALTIM_VERIFICATION_DATABASE_URL
                          valueFrom: {secretKeyRef: {name: kaltim-verification, key: database-url}}
                      ports: [{name: http, containerPort: 8091}]
                      livenessProbe: {httpGet: {path: /health, port: http}, periodSeconds: 10, failureThreshold: 3}
                      readinessProbe: {httpGet: {path: /health, port: http}, periodSeconds: 5, failureThreshold: 2}
                      volumeMounts:
                        - {name: keys, mountPath: /etc/kaltim/secrets, readOnly: true}
                  volumes:
                    - name: keys
                      secret: {secretName: kaltim-verification-files}
            \(kubernetesService("verification", port: ("http", 8091)))
            """
    }

    /// The console as a systemd service: one process (its read model is one SQLite file), on
    /// loopback behind the TLS reverse proxy that serves it.
    static var consoleUnit: String {
        let arguments = [
            "serve", "--database", "/var/lib/kaltim/console.sqlite", "--accounts", "/etc/kaltim/console-accounts.json",
            "--audit-log", "/var/lib/kaltim/audit.jsonl", "--programme-file", "/etc/kaltim/programme-2025.json",
            "--console-host", "127.0.0.1", "--console-port", "8090", "--secure-cookies",
            "--client-address-header", "X-Forwarded-For", "--http-host", "127.0.0.1",
            "--http-port", "18100", "--no-declare-topology", "--tls-ca", "/etc/kaltim/secrets/ca.pem", "--intake-store",
            "/var/lib/kaltim/intake.sqlite", "--certificates-store", "/var/lib/kaltim/certificates.sqlite",
            "--shutdown-timeout", "30",
        ]
        return systemdService(
            about: """
                # The web console (kaltim-console serve): progress, the officers' review desk, the BLKIs'
                # classes, queues, dead letters and the audit log, on 127.0.0.1:8090 behind a TLS reverse
                # proxy (cookies are marked Secure), which appends the client's address to
                # X-Forwarded-For (the sign-in's limits per client read its last entry). Metrics and
                # probes on 127.0.0.1:18100.
                # Accounts: /etc/kaltim/console-accounts.json (hashes from `kaltim-console hash-password`).
                """,
            description: "Kaltim web console",
            service: """
                # KALTIM_BROKER_URL=amqps://\(user(.console)):…@broker:5671/%2f (the console's own user: its
                # queue and history stream), KALTIM_ADMIN_URL=amqps://kaltim-admin:…@broker:5671/%2f (dead
                # letters) and KALTIM_MANAGEMENT_URL=http://kaltim-admin:…@broker:15672 (rates); on
                # PostgreSQL, KALTIM_INTAKE_STORE_URL=postgres://kaltim_console_reader:…@… and
                # KALTIM_CERTIFICATES_STORE_URL (the same reader), which replace --intake-store and
                # --certificates-store (a password stays off the command line).
                EnvironmentFile=/etc/kaltim/console.env
                ExecStart=/usr/local/bin/kaltim-console \(arguments.joined(separator: " ")) $KALTIM_EXTRA_ARGUMENTS
                KillSignal=SIGTERM
                TimeoutStopSec=60
                StateDirectory=kaltim
                """)
    }

    /// A systemd unit (a worker, the console, the verification service): the header, `service`'s
    /// own lines, then the restart and sandboxing every such unit shares (the store's directory
    /// writable: SQLite's WAL needs its shared-memory file writable even for a reader).
    static func systemdService(about: String, description: String, service: String) -> String {
        """
        # Generated by `kaltim-admin deploy-files`; do not edit by hand.
        \(about)
        [Unit]
        Description=\(description)
        After=network-online.target
        Wants=network-online.target

        [Service]
        Type=simple
        User=kaltim
        Group=kaltim
        \(service)
        Restart=always
        RestartSec=2
        NoNewPrivileges=true
        ProtectSystem=strict
        ProtectHome=true
        ReadWritePaths=/var/lib/kaltim

        [Install]
        WantedBy=multi-user.target

        """
    }

    /// The public certificate verification service as a systemd service: read only, on
    /// loopback behind the reverse proxy (which names the client in X-Forwarded-For).
    static var verificationUnit: String {
        // The other stores hold applicants' personal data: this internet-facing service never
        // sees them.
        let hidden =
            (WorkerRole.all.filter { $0 != .certificates } + [.console]).flatMap { role in
                ["", "-wal", "-shm"].map { "-/var/lib/kaltim/\(role.name).sqlite\($0)" }
            } + ["-/var/lib/kaltim/audit.jsonl", "-/var/lib/kaltim/certificates"]
        let arguments = [
            "verification", "--database", "/var/lib/kaltim/certificates.sqlite", "--keys", "/etc/kaltim/certificate-keys.json",
            "--programme-file", "/etc/kaltim/programme-2025.json", "--host", "127.0.0.1", "--port", "8091",
            "--client-address-header", "X-Forwarded-For",
        ]
        return systemdService(
            about: """
                # The public certificate verification service (kaltim-console verification): the page
                # and JSON behind the certificates' QR codes, on 127.0.0.1:8091 behind the reverse proxy.
                # It reads the certificates' store only; on PostgreSQL set
                # KALTIM_VERIFICATION_DATABASE_URL=postgres://kaltim_verification:…@… in
                # /etc/kaltim/verification.env, which replaces --database (reader-grants.sql).
                # The service sees nothing else of the programme: of /etc/kaltim only the plan and the
                # key ring (not the signing key, the NIK key or the other services' .env files), of
                # /var/lib/kaltim not the other roles' stores (those there when it starts), the audit log
                # or the certificate files.
                # For a service apart from the workers' user, give it its own User= with read access
                # to the certificates' store.
                """,
            description: "Kaltim certificate verification",
            service: """
                EnvironmentFile=-/etc/kaltim/verification.env
                ExecStart=/usr/local/bin/kaltim-console \(arguments.joined(separator: " ")) $KALTIM_EXTRA_ARGUMENTS
                TemporaryFileSystem=/etc/kaltim:ro
                BindReadOnlyPaths=/etc/kaltim/programme-2025.json /etc/kaltim/certificate-keys.json
                InaccessiblePaths=\(hidden.joined(separator: " "))
                KillSignal=SIGTERM
                TimeoutStopSec=30
                """)
    }

    /// The worker services of a compose file, and their volumes.
    static func composeWorkers(brokers: [String], retryQueueType: RoleTopology.RetryQueueType?, postgres: Bool = false) -> (
        String, [String]
    ) {
        var services = ""
        var volumes: [String] = []
        for role in WorkerRole.all {
            // With PostgreSQL every role can run several processes; with SQLite they share a file.
            let replicas = postgres ? 2 : role == .intake ? 2 : 1
            // A database URL with its password goes in the environment, never on the command line.
            let database = postgres ? [] : ["--database", "/var/lib/kaltim/\(role.name).sqlite"]
            // Each role signs in as its own user, which owns its schema and reaches no other.
            let databaseURL =
                postgres
                ? "\n      KALTIM_DATABASE_URL: \"postgres://\(databaseUser(role)):${\(databasePasswordVariable(role))}@postgres:5432/kaltim\""
                : ""
            let arguments =
                [role.name] + database + [
                    "--programme-file", "/etc/kaltim/programme-2025.json", "--http-host", "0.0.0.0", "--http-port", "8080",
                ] + roleArguments(role, secrets: "/run/secrets", config: "/etc/kaltim")
            let url = brokers.map { "amqps://\(user(role)):${\(role.name.uppercased())_PASSWORD}@\($0):\(amqpsPort)/%2f" }
                .joined(separator: ",")
            let retryType = retryQueueType.map { "\n      KALTIM_RETRY_QUEUE_TYPE: \($0.rawValue)" } ?? ""
            // The address the QR codes and messages give (unset: the programme's public one).
            let verificationURL =
                role == .certificates || role == .notifications
                ? "\n      KALTIM_VERIFICATION_URL: \"${KALTIM_VERIFICATION_URL:-}\"" : ""
            // With PostgreSQL: start once the database answers, and again if the worker exits.
            let dependencies =
                postgres
                ? "    restart: on-failure\n    depends_on:\n"
                    + brokers.map { "      \($0): {condition: service_started}\n" }.joined()
                    + "      postgres: {condition: service_healthy}\n"
                : "    depends_on:\n" + brokers.map { "      - \($0)\n" }.joined()
            services += """
                  \(role.name):
                    build:
                      context: ..
                      dockerfile: deploy/docker/Dockerfile
                    image: kaltim/worker
                    command: [\(arguments.map { "\"\($0)\"" }.joined(separator: ", "))]
                    environment:
                      KALTIM_BROKER_URL: "\(url)"\(retryType)\(databaseURL)\(verificationURL)
                    deploy:
                      replicas: \(replicas)
                    # Longer than the worker's drain (--shutdown-timeout 30 s).
                    stop_grace_period: 60s
                    volumes:
                      - \(role.name)-data:/var/lib/kaltim
                      - ./tls/ca.pem:/run/secrets/ca.pem:ro
                \(dependencies)
                """
            volumes.append("\(role.name)-data")
        }
        return (services, volumes)
    }

    /// The PostgreSQL user of a role: `kaltim_intake`.
    public static func databaseUser(_ role: WorkerRole) -> String { "kaltim_\(role.name)" }

    /// The environment variable holding that user's password in the compose files.
    static func databasePasswordVariable(_ role: WorkerRole) -> String { "\(role.name.uppercased())_DB_PASSWORD" }

    /// A database user that only reads one role's schema.
    public struct DatabaseReader: Sendable {
        /// The user's name after the prefix (`kaltim_<name>`), and its password's psql variable.
        public let name: String
        /// The roles' schemas it reads, each with the tables it may read there and no other.
        public let grants: [(schema: String, tables: [String])]
        public let purpose: String
    }

    /// The readers: the public verification service reads one certificate for its whole code
    /// through `certificates.verification_document` (`kaltim-console verification --database`;
    /// no table: it cannot list the certificates or their holders), the console's review desk
    /// and reports intake's review cases and coarse profiles
    /// (`kaltim-console serve --intake-store`, not its own `--database`; not the registry
    /// extract). Each may read those tables and nothing else, cannot take the workers'
    /// advisory locks, and its statements end after 5 s.
    public static let databaseReaders = [
        DatabaseReader(
            name: "verification", grants: [("certificates", [])], purpose: "the public verification service"),
        DatabaseReader(
            name: "console_reader",
            grants: [("intake", ["intake_reviews", "intake_profiles"]), ("certificates", ["cert_holders"])],
            purpose: "the console's review desk and reports (--intake-store), and its search by name (--certificates-store)"),
    ]

    /// psql script, run after the workers' first start (their tables exist then), and again
    /// any time: the readers' grants on exactly their tables.
    static var postgresReaderGrants: String {
        var sql = """
            -- Generated by `kaltim-admin deploy-files`; do not edit by hand.
            -- The read-only users' grants on exactly what they read: the verification service's
            -- function (one certificate for its whole code), the console's tables. Run as a superuser after
            -- role-users.sql and after the workers' first start (their tables exist then); running
            -- it again changes nothing:
            --   psql -v ON_ERROR_STOP=1 -d kaltim -f deploy/postgres/reader-grants.sql
            \\if :{?user_prefix}
            \\else
              \\set user_prefix kaltim_
            \\endif

            """
        // The verification service reads one certificate at a time, and only for its whole
        // code: a function that runs as the certificates' owner returns that document and
        // whether it is revoked, and nothing can list the certificates (or their holders).
        sql += """
            SELECT format($f$
              CREATE OR REPLACE FUNCTION certificates.verification_document(code text)
              RETURNS TABLE (document bytea, revoked boolean)
              LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $b$
                SELECT c.document,
                  EXISTS (SELECT 1 FROM certificates.cert_revocations r WHERE r.certificate_id = c.certificate_id)
                FROM certificates.cert_certificates c
                WHERE length(code) <= 120 AND c.certificate_id = split_part(code, '.', 1)
                  AND code = c.certificate_id || '.' || left(translate(encode(sha256(convert_to(
                    convert_from(c.document, 'UTF8')::jsonb ->> 'signature', 'UTF8')), 'base64'), '+/=', '-_'), 16)
              $b$$f$) \\gexec
            SELECT format('ALTER FUNCTION certificates.verification_document(text) OWNER TO %I', :'user_prefix' || 'certificates') \\gexec
            SELECT format('REVOKE ALL ON FUNCTION certificates.verification_document(text) FROM PUBLIC') \\gexec
            SELECT format('GRANT EXECUTE ON FUNCTION certificates.verification_document(text) TO %I', :'user_prefix' || 'verification') \\gexec

            """
        for reader in databaseReaders {
            for (schema, tables) in reader.grants {
                // Also in role-users.sql; here too, so that running this again after an upgrade
                // that gave a reader another schema is enough.
                sql += """
                    SELECT format('GRANT USAGE ON SCHEMA %I TO %I', '\(schema)', :'user_prefix' || '\(reader.name)') \\gexec

                    """
                for table in tables {
                    sql += """
                        SELECT format('GRANT SELECT ON %I.%I TO %I', '\(schema)', '\(table)', :'user_prefix' || '\(reader.name)') \\gexec

                        """
                }
            }
        }
        return sql
    }

    /// psql script: one database user per role, owning the role's schema and nothing else; the
    /// `public` schema and the database closed to everyone else. A role's user cannot read or
    /// change another role's tables (DeployTests checks it on a real server).
    static var postgresRoleUsers: String {
        let roles = WorkerRole.all
        var sql = """
            -- Generated by `kaltim-admin deploy-files`; do not edit by hand.
            -- One PostgreSQL user per worker role, each the owner of its role's schema and of nothing
            -- else; nobody else may create in `public` or connect, nor take the roles' advisory locks. Run as
            -- a superuser in the programme's database (created with LC_COLLATE 'C'):
            --   psql -v ON_ERROR_STOP=1 -d kaltim \(roles.map { "-v \($0.name)_password=…" }.joined(separator: " ")) \\
            --     \(databaseReaders.map { "-v \($0.name)_password=…" }.joined(separator: " ")) -f deploy/postgres/role-users.sql
            -- Each role's KALTIM_DATABASE_URL then names its own user: postgres://kaltim_intake:…@host/kaltim.
            -- Running it again changes nothing (an existing user keeps its password).
            -- Two more users only read: kaltim_verification (one certificate for its whole code, through a
            -- function), kaltim_console_reader (intake_reviews and intake_profiles, for the console's
            -- --intake-store; certificates.cert_holders, for its search by name, --certificates-store). Their
            -- grants: reader-grants.sql, after the workers' first start.
            -- `user_prefix` (default kaltim_) is for tests.
            \\if :{?user_prefix}
            \\else
              \\set user_prefix kaltim_
            \\endif
            REVOKE CREATE ON SCHEMA public FROM PUBLIC;
            SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database()) \\gexec
            -- The advisory locks serialise each role's writers: only the roles may take them.
            SELECT format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', p.oid::regprocedure) FROM pg_proc p
              WHERE p.proname ~ '^pg_(try_)?advisory' \\gexec

            """
        for role in roles {
            sql += """
                SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'user_prefix' || '\(role.name)', :'\(role.name)_password')
                  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user_prefix' || '\(role.name)') \\gexec
                SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'user_prefix' || '\(role.name)') \\gexec
                SELECT format('GRANT EXECUTE ON FUNCTION %s TO %I', p.oid::regprocedure, :'user_prefix' || '\(role.name)')
                  FROM pg_proc p WHERE p.proname ~ '^pg_(try_)?advisory' \\gexec
                SELECT format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', '\(role.name)', :'user_prefix' || '\(role.name)') \\gexec
                SELECT format('ALTER SCHEMA %I OWNER TO %I', '\(role.name)', :'user_prefix' || '\(role.name)') \\gexec

                """
        }
        for reader in databaseReaders {
            let user = ":'user_prefix' || '\(reader.name)'"
            sql += """
                SELECT format('CREATE ROLE %I LOGIN PASSWORD %L CONNECTION LIMIT 50', \(user), :'\(reader.name)_password')
                  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = \(user)) \\gexec
                SELECT format('ALTER ROLE %I SET default_transaction_read_only = on', \(user)) \\gexec
                SELECT format('ALTER ROLE %I SET statement_timeout = %L', \(user), '5s') \\gexec
                SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), \(user)) \\gexec

                """
            for (schema, _) in reader.grants {
                sql += """
                    SELECT format('GRANT USAGE ON SCHEMA %I TO %I', '\(schema)', \(user)) \\gexec

                    """
            }
        }
        return sql
    }

    /// The compose PostgreSQL container's first-start hook: runs role-users.sql with the
    /// passwords from the container's environment.
    static var postgresInitScript: String {
        """
        #!/usr/bin/env bash
        # Generated by `kaltim-admin deploy-files`; do not edit by hand.
        # Mounted into /docker-entrypoint-initdb.d by compose-cluster.yaml: on the database's first
        # start, one user per role (postgres/role-users.sql), passwords from the environment. The
        # entrypoint sources it (its own `set -e` stops the start on an error).
        psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \\
        \(WorkerRole.all.map { "  -v \($0.name)_password=\"$\(databasePasswordVariable($0))\" \\" }.joined(separator: "\n"))
        \(databaseReaders.map { "  -v \($0.name)_password=\"$\($0.name.uppercased())_DB_PASSWORD\" \\" }.joined(separator: "\n"))
          -f /etc/kaltim/role-users.sql

        """
    }

    /// The three broker nodes of the cluster variants.
    public static let clusterNodes = ["rabbitmq-1", "rabbitmq-2", "rabbitmq-3"]

    /// rabbitmq.conf of a cluster node: the three nodes find each other by name.
    static var clusterConfiguration: String {
        """
        # Generated by `kaltim-admin deploy-files`; do not edit by hand.
        # rabbitmq.conf of each node of deploy/compose-cluster.yaml: the three nodes form one cluster.
        cluster_formation.peer_discovery_backend = classic_config
        \(clusterNodes.enumerated().map { "cluster_formation.classic_config.nodes.\($0.offset + 1) = rabbit@\($0.element)" }.joined(separator: "\n"))
        load_definitions = /etc/rabbitmq/definitions.json
        disk_free_limit.absolute = 2GB
        \(maximumMessageSizeSetting)
        \(tlsSettings)

        """
    }

    /// The largest message the broker takes: 1 MiB, four times a contract's 256 KiB limit; a
    /// larger publish closes the publisher's channel, and no worker ever receives it.
    static let maximumMessageSizeSetting = "max_message_size = 1048576"

    /// rabbitmq.conf of the single node of deploy/compose.yaml.
    static var nodeConfiguration: String {
        """
        # Generated by `kaltim-admin deploy-files`; do not edit by hand.
        # rabbitmq.conf of the node of deploy/compose.yaml: AMQP over TLS only (5671).
        load_definitions = /etc/rabbitmq/definitions.json
        \(maximumMessageSizeSetting)
        \(tlsSettings)

        """
    }

    /// compose with a three-node RabbitMQ cluster: quorum queues everywhere (retry tiers too),
    /// and workers given every node's address.
    static var composeCluster: String {
        var services = """
            # Generated by `kaltim-admin deploy-files`; do not edit by hand.
            # docker compose -f deploy/compose-cluster.yaml up --build: the scale-out variant, a
            # three-node RabbitMQ cluster and PostgreSQL (docs/OPERATIONS.md, "From one broker node
            # to three" and "From SQLite to PostgreSQL"). Set in .env the passwords,
            # RABBITMQ_ERLANG_COOKIE (the same secret on the three nodes) and POSTGRES_PASSWORD. Every
            # queue is a quorum queue with a member on each node, the retry tiers too
            # (KALTIM_RETRY_QUEUE_TYPE); each worker knows all three nodes and fails over when it
            # loses one; each role keeps its tables in its own schema of the kaltim database, signed in
            # as its own database user (postgres/role-users.sql; set INTAKE_DB_PASSWORD and the
            # others in .env), and runs two processes.
            services:
              postgres:
                image: postgres:15
                environment:
                  POSTGRES_DB: kaltim
                  POSTGRES_USER: kaltim
                  POSTGRES_PASSWORD: "${POSTGRES_PASSWORD}"
                  # Text orders by bytes, as in SQLite.
                  POSTGRES_INITDB_ARGS: "--locale=C --encoding=UTF8"
                  # Read by postgres/initdb-role-users.sh, which makes one user per role.
            \(WorkerRole.all.map { "      \(databasePasswordVariable($0)): \"${\(databasePasswordVariable($0))}\"" }.joined(separator: "\n"))
            \(databaseReaders.map { "      \($0.name.uppercased())_DB_PASSWORD: \"${\($0.name.uppercased())_DB_PASSWORD}\"" }.joined(separator: "\n"))
                healthcheck:
                  test: ["CMD", "pg_isready", "-U", "kaltim", "-d", "kaltim"]
                  interval: 5s
                  timeout: 3s
                  retries: 20
                volumes:
                  - postgres-data:/var/lib/postgresql/data
                  - ./postgres/role-users.sql:/etc/kaltim/role-users.sql:ro
                  - ./postgres/initdb-role-users.sh:/docker-entrypoint-initdb.d/10-role-users.sh:ro

            """
        for (index, node) in clusterNodes.enumerated() {
            services += """
                  \(node):
                    image: rabbitmq:3.10-management
                    hostname: \(node)
                    environment:
                      RABBITMQ_ERLANG_COOKIE: "${RABBITMQ_ERLANG_COOKIE}"
                    volumes:
                      - ./rabbitmq/cluster.conf:/etc/rabbitmq/rabbitmq.conf:ro
                      - ./rabbitmq/definitions-cluster.json:/etc/rabbitmq/definitions.json:ro
                      - ./tls:/etc/rabbitmq/tls:ro
                      - \(node)-data:/var/lib/rabbitmq
                    ports:
                      - "\(5671 + index * 10):5671"

                """
        }
        let (workers, volumes) = composeWorkers(brokers: clusterNodes, retryQueueType: .quorum, postgres: true)
        return services + workers + "volumes:\n"
            + (["postgres-data"] + clusterNodes.map { "\($0)-data" } + volumes).map { "  \($0):\n" }.joined()
    }

    /// Kubernetes: a three-node RabbitMQ cluster (RabbitMQ Cluster Kubernetes Operator) and the
    /// setting that makes the workers' retry tiers quorum queues.
    static var kubernetesCluster: String {
        """
        # Generated by `kaltim-admin deploy-files`; do not edit by hand.
        # A three-node broker for the workers of kubernetes/*.yaml (needs the RabbitMQ Cluster
        # Kubernetes Operator). Every queue is a quorum queue with a member on each node; the
        # ConfigMap makes the workers declare their retry tiers as quorum queues too. The workers'
        # broker-url secrets (amqps://…@kaltim-rabbitmq:5671/%2f, and ca.pem in each role's
        # kaltim-<role>-files secret) name the cluster's Service (kaltim-rabbitmq), which reaches any node:
        # a worker that loses its node reconnects through it to another. First:
        #   kubectl create configmap kaltim-rabbitmq-definitions \\
        #     --from-file=definitions.json=deploy/rabbitmq/definitions-cluster.json
        apiVersion: rabbitmq.com/v1beta1
        kind: RabbitmqCluster
        metadata:
          name: kaltim-rabbitmq
        spec:
          replicas: 3
          image: rabbitmq:3.10-management
          persistence: {storage: 20Gi}
          # AMQP over TLS only: the secrets of scripts/make-broker-certs.sh (see its header).
          tls: {secretName: kaltim-rabbitmq-tls, caSecretName: kaltim-rabbitmq-ca, disableNonTLSListeners: true}
          rabbitmq:
            additionalConfig: |
              load_definitions = /etc/rabbitmq/definitions/definitions.json
              \(maximumMessageSizeSetting)
          override:
            statefulSet:
              spec:
                template:
                  spec:
                    containers:
                      - name: rabbitmq
                        volumeMounts: [{name: definitions, mountPath: /etc/rabbitmq/definitions}]
                    volumes:
                      - name: definitions
                        configMap: {name: kaltim-rabbitmq-definitions}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: kaltim-broker
        data:
          retry-queue-type: quorum

        """
    }

    /// Where a role's Kubernetes manifest keeps its store.
    enum KubernetesStore {
        /// The embedded SQLite file on a ReadWriteOnce volume: one pod.
        case sqlite
        /// PostgreSQL (the role's secret's `database-url`): several pods, scaled by KEDA up to ten.
        case postgres
    }

    /// A role's Deployment and ScaledObject (and, with SQLite, its volume claim), built from
    /// what differs between the two stores.
    static func kubernetes(_ role: WorkerRole, store: KubernetesStore = .sqlite) -> String {
        let topology = RoleTopology(role: role)
        let onPostgres = store == .postgres
        // The URL with its password stays in the environment (not expanded into the arguments).
        let databaseArguments = onPostgres ? [] : ["--database", "/var/lib/kaltim/\(role.name).sqlite"]
        let arguments =
            [role.name] + databaseArguments
            + [
                "--programme-file", "/etc/kaltim/programme-2025.json", "--http-host", "0.0.0.0", "--http-port", "8080",
            ] + roleArguments(role, secrets: "/etc/kaltim/secrets", config: "/etc/kaltim")
        let storeComment =
            onPostgres
            ? """
            # On the PostgreSQL store (the secret's database-url, which names the role's own database user
            # from postgres/role-users.sql; the role's own schema) the role runs in several pods on any
            # nodes, scaled by KEDA on its queue; /var/lib/kaltim is scratch space.
            """
            : """
            # With the embedded SQLite store a role runs in one pod (its volume is ReadWriteOnce); the
            # manifests in kubernetes/postgres/ run it in several, on the PostgreSQL store.
            """
        let databaseEnvironment =
            onPostgres
            ? """

                        - name: KALTIM_DATABASE_URL
                          valueFrom: {secretKeyRef: {name: kaltim-\(role.name), key: database-url}}
            """ : ""
        // The address the QR codes and messages give: the ConfigMap kaltim-verification's
        // public-url (without it, the programme's public address).
        let verificationEnvironment =
            role == .certificates || role == .notifications
            ? """

                        # The verification service's public address, given in QR codes and messages.
                        - name: KALTIM_VERIFICATION_URL
                          valueFrom: {configMapKeyRef: {name: kaltim-verification, key: public-url, optional: true}}
            """ : ""
        let dataVolume = onPostgres ? "emptyDir: {}" : "persistentVolumeClaim: {claimName: kaltim-\(role.name)-data}"
        let volumeClaim =
            onPostgres
            ? ""
            : """

            ---
            apiVersion: v1
            kind: PersistentVolumeClaim
            metadata:
              name: kaltim-\(role.name)-data
            spec:
              accessModes: [ReadWriteOnce]
              resources: {requests: {storage: 2Gi}}
            """
        return """
            # Generated by `kaltim-admin deploy-files`; do not edit by hand.
            # The \(role.name) role: \(role.summary)
            \(storeComment)
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: kaltim-\(role.name)
              labels: {app: kaltim, role: \(role.name)}
            spec:
              replicas: \(onPostgres ? 2 : 1)
              strategy: {type: \(onPostgres ? "RollingUpdate" : "Recreate")}
              selector:
                matchLabels: {app: kaltim, role: \(role.name)}
              template:
                metadata:
                  labels: {app: kaltim, role: \(role.name)}
                  annotations: {prometheus.io/scrape: "true", prometheus.io/port: "8080"}
                spec:
                  # Longer than the worker's drain (--shutdown-timeout 30 s).
                  terminationGracePeriodSeconds: 60
                  containers:
                    - name: worker
                      image: kaltim/worker:latest
                      args: [\(arguments.map { "\"\($0)\"" }.joined(separator: ", "))]
                      env:\(databaseEnvironment)
                        - name: KALTIM_BROKER_URL
                          valueFrom: {secretKeyRef: {name: kaltim-\(role.name), key: broker-url}}
                        # quorum with the three-node broker of kubernetes/cluster/rabbitmq.yaml.
                        - name: KALTIM_RETRY_QUEUE_TYPE
                          valueFrom: {configMapKeyRef: {name: kaltim-broker, key: retry-queue-type, optional: true}}\(verificationEnvironment)
                      ports: [{name: http, containerPort: 8080}]
                      livenessProbe: {httpGet: {path: /health, port: http}, periodSeconds: 10, failureThreshold: 3}
                      readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 5, failureThreshold: 2}
                      volumeMounts:
                        - {name: data, mountPath: /var/lib/kaltim}
                        - {name: secrets, mountPath: /etc/kaltim/secrets, readOnly: true}
                  volumes:
                    - name: data
                      \(dataVolume)
                    # ca.pem (the broker's CA), and the role's keys (nik.key, certificate.key).
                    - name: secrets
                      secret: {secretName: kaltim-\(role.name)-files}\(volumeClaim)
            ---
            apiVersion: keda.sh/v1alpha1
            kind: ScaledObject
            metadata:
              name: kaltim-\(role.name)
            spec:
              scaleTargetRef: {name: kaltim-\(role.name)}
              minReplicaCount: \(onPostgres ? 2 : 1)
              maxReplicaCount: \(onPostgres ? 10 : 1)
              triggers:
                - type: rabbitmq
                  metadata: {protocol: amqp, queueName: \(topology.queue), mode: QueueLength, value: "500"}
                  authenticationRef: {name: kaltim-rabbitmq}

            """
    }
}
