public import Contracts
import Foundation
import Jobs

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
    }

    /// The external publishers and what each may publish.
    public static let publishers: [Publisher] = [
        Publisher(
            user: "kaltim-portal", summary: "the registration portal", publishes: [RegistrationSubmittedV2.eventType]),
        Publisher(user: "kaltim-lsp", summary: "the LSPs' assessment systems", publishes: [AssessmentSubmittedV2.eventType]),
        Publisher(
            user: "kaltim-office",
            summary: "the programme office (open-classes, withdrawals, revoke-certificate, notification requests)",
            publishes: [
                ClassOpenedV1.eventType, EnrolmentWithdrawnV1.eventType, CertificateRevokedV1.eventType,
                NotificationRequestedV1.eventType,
            ]),
    ]

    /// The broker user of a role.
    public static func user(_ role: WorkerRole, prefix: String = "") -> String { "\(prefix)kaltim-\(role.name)" }

    /// The admin tool's user.
    public static let adminUser = "kaltim-admin"

    /// The HTTP port of a role's metrics and probes (containers; systemd adds the instance).
    public static func httpPort(_ role: WorkerRole) -> Int { 8080 }

    static func regex(_ names: [String]) -> String {
        "^(" + names.map { NSRegularExpression.escapedPattern(for: $0) }.joined(separator: "|") + ")$"
    }

    /// The RabbitMQ definitions: topology, users without passwords (set them with
    /// `rabbitmqctl change_password`), permissions and topic permissions.
    /// - Parameters:
    ///   - vhost: the virtual host.
    ///   - userPrefix: prepended to every user name (tests).
    public static func definitions(vhost: String = "/", userPrefix: String = "", topologyPrefix: String = "") -> [String: Any] {
        var document = TopologyDefinitions.document(roles: WorkerRole.all, prefix: topologyPrefix, vhost: vhost)
        let exchange = topologyPrefix + ContractDocuments.exchange
        var users: [[String: Any]] = []
        var permissions: [[String: Any]] = []
        var topicPermissions: [[String: Any]] = []
        func addUser(_ name: String, tags: [String]) {
            users.append(["name": name, "password_hash": "", "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": tags])
        }
        addUser(userPrefix + adminUser, tags: ["administrator"])
        permissions.append(["user": userPrefix + adminUser, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"])
        for role in WorkerRole.all {
            let name = user(role, prefix: userPrefix)
            let own = NSRegularExpression.escapedPattern(for: topologyPrefix + role.queue) + "(\\..+)?"
            let events = NSRegularExpression.escapedPattern(for: exchange)
            addUser(name, tags: [])
            permissions.append([
                "user": name, "vhost": vhost,
                // Its own queue, retry tiers and dead letters; the events exchange (declared by every role).
                "configure": "^(\(events)|\(own))$",
                // Publish events; route retries and dead letters through the default exchange; bind.
                "write": "^(\(events)|amq\\.default|\(own))$",
                "read": "^(\(events)|\(own))$",
            ])
            topicPermissions.append([
                "user": name, "vhost": vhost, "exchange": exchange, "write": regex(role.publishes), "read": ".*",
            ])
        }
        for publisher in publishers {
            let name = userPrefix + publisher.user
            addUser(name, tags: [])
            permissions.append([
                "user": name, "vhost": vhost, "configure": "^$",
                "write": "^" + NSRegularExpression.escapedPattern(for: exchange) + "$", "read": "^$",
            ])
            topicPermissions.append([
                "user": name, "vhost": vhost, "exchange": exchange, "write": regex(publisher.publishes), "read": "^$",
            ])
        }
        document["users"] = users
        document["vhosts"] = [["name": vhost]]
        document["permissions"] = permissions
        document["topic_permissions"] = topicPermissions
        document["policies"] = [[String: Any]]()
        document["parameters"] = [[String: Any]]()
        return document
    }

    /// Every file, by its path under `deploy/`.
    public static func files() throws -> [String: String] {
        var files: [String: String] = [:]
        let json = try JSONSerialization.data(
            withJSONObject: definitions(), options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        files["rabbitmq/definitions.json"] = String(decoding: json, as: UTF8.self) + "\n"
        for (index, role) in WorkerRole.all.enumerated() {
            files["systemd/kaltim-\(role.name)@.service"] = systemdUnit(role, index: index + 1)
            files["kubernetes/\(role.name).yaml"] = kubernetes(role)
        }
        files["docker/Dockerfile"] = dockerfile
        files["compose.yaml"] = compose
        return files
    }

    /// Arguments a role needs beyond the common ones (paths of secrets and settings).
    static func roleArguments(_ role: WorkerRole, secrets: String, config: String) -> [String] {
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
        return """
            # Generated by `kaltim-admin deploy-files`; do not edit by hand.
            # One process of the \(role.name) role: \(role.summary)
            # Start N of them: systemctl enable --now kaltim-\(role.name)@1 kaltim-\(role.name)@2
            # Metrics and probes on 127.0.0.1:18<instance>0\(index) (instance 1–9).
            [Unit]
            Description=Kaltim \(role.name) worker %i
            After=network-online.target
            Wants=network-online.target

            [Service]
            Type=simple
            User=kaltim
            Group=kaltim
            # KALTIM_BROKER_URL with the \(user(role)) user's password (and, for notifications,
            # KALTIM_GATEWAY_TOKEN / KALTIM_SMTP_PASSWORD).
            EnvironmentFile=/etc/kaltim/\(role.name).env
            ExecStart=/usr/local/bin/kaltim-worker \(arguments.joined(separator: " ")) $KALTIM_EXTRA_ARGUMENTS
            # SIGTERM drains (up to --shutdown-timeout 30 s); stop waits longer than that.
            KillSignal=SIGTERM
            TimeoutStopSec=60
            Restart=always
            RestartSec=2
            StateDirectory=kaltim
            NoNewPrivileges=true
            ProtectSystem=strict
            ProtectHome=true
            ReadWritePaths=/var/lib/kaltim

            [Install]
            WantedBy=multi-user.target

            """
    }

    static let dockerfile = """
        # Generated by `kaltim-admin deploy-files`; do not edit by hand.
        # Build from the repository root: docker build -f deploy/docker/Dockerfile -t kaltim/worker .
        FROM swift:6.1-bookworm AS build
        RUN apt-get update && apt-get install -y --no-install-recommends librabbitmq-dev libsqlite3-dev libcairo2-dev \\
            libqrencode-dev libcurl4-openssl-dev pkg-config && rm -rf /var/lib/apt/lists/*
        WORKDIR /src
        COPY . .
        RUN swift build -c release --static-swift-stdlib --product kaltim-worker \\
            && swift build -c release --static-swift-stdlib --product kaltim-admin \\
            && cp .build/release/kaltim-worker .build/release/kaltim-admin /usr/local/bin/

        FROM debian:bookworm-slim
        RUN apt-get update && apt-get install -y --no-install-recommends librabbitmq4 libsqlite3-0 libcairo2 libqrencode4 \\
            libcurl4 ca-certificates tzdata && rm -rf /var/lib/apt/lists/* \\
            && useradd --system --home /var/lib/kaltim --create-home kaltim
        COPY --from=build /usr/local/bin/kaltim-worker /usr/local/bin/kaltim-admin /usr/local/bin/
        COPY config /etc/kaltim
        USER kaltim
        WORKDIR /var/lib/kaltim
        ENTRYPOINT ["kaltim-worker"]

        """

    static var compose: String {
        var services = """
            # Generated by `kaltim-admin deploy-files`; do not edit by hand.
            # docker compose -f deploy/compose.yaml up --build   (set the passwords in .env first;
            # the broker loads deploy/rabbitmq/definitions.json, then set each user's password with
            # rabbitmqctl change_password).
            services:
              rabbitmq:
                image: rabbitmq:3.10-management
                environment:
                  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-rabbitmq_management load_definitions \\"/etc/rabbitmq/definitions.json\\""
                volumes:
                  - ./rabbitmq/definitions.json:/etc/rabbitmq/definitions.json:ro
                  - rabbitmq-data:/var/lib/rabbitmq
                ports:
                  - "5672:5672"

            """
        var volumes = ["rabbitmq-data"]
        for role in WorkerRole.all {
            let replicas = role == .intake ? 2 : 1
            let arguments =
                [
                    role.name, "--database", "/var/lib/kaltim/\(role.name).sqlite", "--programme-file",
                    "/etc/kaltim/programme-2025.json", "--http-host", "0.0.0.0", "--http-port", "8080",
                ] + roleArguments(role, secrets: "/run/secrets", config: "/etc/kaltim")
            services += """
                  \(role.name):
                    build:
                      context: ..
                      dockerfile: deploy/docker/Dockerfile
                    image: kaltim/worker
                    command: [\(arguments.map { "\"\($0)\"" }.joined(separator: ", "))]
                    environment:
                      KALTIM_BROKER_URL: "amqp://\(user(role)):${\(role.name.uppercased())_PASSWORD}@rabbitmq:5672/%2f"
                    deploy:
                      replicas: \(replicas)
                    # Longer than the worker's drain (--shutdown-timeout 30 s).
                    stop_grace_period: 60s
                    volumes:
                      - \(role.name)-data:/var/lib/kaltim
                    depends_on:
                      - rabbitmq

                """
            volumes.append("\(role.name)-data")
        }
        services += "volumes:\n" + volumes.map { "  \($0):\n" }.joined()
        return services
    }

    static func kubernetes(_ role: WorkerRole) -> String {
        let topology = RoleTopology(role: role)
        let arguments =
            [
                role.name, "--database", "/var/lib/kaltim/\(role.name).sqlite", "--programme-file",
                "/etc/kaltim/programme-2025.json", "--http-host", "0.0.0.0", "--http-port", "8080",
            ] + roleArguments(role, secrets: "/etc/kaltim/secrets", config: "/etc/kaltim")
        return """
            # Generated by `kaltim-admin deploy-files`; do not edit by hand.
            # The \(role.name) role: \(role.summary)
            # With the embedded SQLite store a role runs in one pod (its volume is ReadWriteOnce); the
            # ScaledObject's maxReplicaCount goes up once the role uses the PostgreSQL store (issue 11).
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: kaltim-\(role.name)
              labels: {app: kaltim, role: \(role.name)}
            spec:
              replicas: 1
              strategy: {type: Recreate}
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
                      env:
                        - name: KALTIM_BROKER_URL
                          valueFrom: {secretKeyRef: {name: kaltim-\(role.name), key: broker-url}}
                      ports: [{name: http, containerPort: 8080}]
                      livenessProbe: {httpGet: {path: /health, port: http}, periodSeconds: 10, failureThreshold: 3}
                      readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 5, failureThreshold: 2}
                      volumeMounts:
                        - {name: data, mountPath: /var/lib/kaltim}
                        - {name: secrets, mountPath: /etc/kaltim/secrets, readOnly: true}
                  volumes:
                    - name: data
                      persistentVolumeClaim: {claimName: kaltim-\(role.name)-data}
                    - name: secrets
                      secret: {secretName: kaltim-\(role.name)-files, optional: true}
            ---
            apiVersion: v1
            kind: PersistentVolumeClaim
            metadata:
              name: kaltim-\(role.name)-data
            spec:
              accessModes: [ReadWriteOnce]
              resources: {requests: {storage: 2Gi}}
            ---
            apiVersion: keda.sh/v1alpha1
            kind: ScaledObject
            metadata:
              name: kaltim-\(role.name)
            spec:
              scaleTargetRef: {name: kaltim-\(role.name)}
              minReplicaCount: 1
              maxReplicaCount: 1
              triggers:
                - type: rabbitmq
                  metadata: {protocol: amqp, queueName: \(topology.queue), mode: QueueLength, value: "500"}
                  authenticationRef: {name: kaltim-rabbitmq}

            """
    }
}
