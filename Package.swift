// swift-tools-version: 6.1
import PackageDescription

/// Settings every Swift target shares: Swift 6 mode (strict concurrency), explicit
/// `public import` for anything that appears in a public signature, `any` for existentials.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "kaltim-certification",
    // Linux only (Debian): the AMQP layer waits on an eventfd, and the C libraries come from
    // Debian's -dev packages. No Apple platform is claimed.
    products: [
        .library(name: "Contracts", targets: ["Contracts"]),
        .library(name: "AMQP", targets: ["AMQP"]),
        .library(name: "Jobs", targets: ["Jobs"]),
        .library(name: "Workers", targets: ["Workers"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.1.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.20.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.60.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.21.0"),
    ],
    targets: [
        // The system library librabbitmq (Debian/Ubuntu: librabbitmq-dev) as a Clang module.
        .systemLibrary(
            name: "CRabbitMQ",
            path: "Sources/CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        // cairo and libqrencode for printable certificates (Debian: libcairo2-dev, libqrencode-dev).
        .systemLibrary(name: "CCairo", path: "Sources/CCairo", pkgConfig: "cairo", providers: [.apt(["libcairo2-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(
            name: "CQREncode", path: "Sources/CQREncode", pkgConfig: "libqrencode", providers: [.apt(["libqrencode-dev"])]),
        // How contracts travel, whatever they say: the envelope, the strict JSON engine, the
        // registry with upcasting, schema derivation, personal-data masking by field, roles and
        // their inputs, days and times written by arithmetic. Foundation only.
        .target(name: "ContractKit", swiftSettings: swiftSettings),
        // Every message that crosses the broker: one type per (event type, version).
        .target(name: "Contracts", dependencies: ["ContractKit"], swiftSettings: swiftSettings),
        // The pipeline's topology: its roles (queues, exchanges, what each consumes and
        // publishes), who may publish what, and the documents generated from both.
        .target(name: "Topology", dependencies: ["ContractKit", "Contracts"], swiftSettings: swiftSettings),
        // The AMQP 0-9-1 client over librabbitmq: the only importer of CRabbitMQ.
        .target(
            name: "AMQP",
            dependencies: [
                "CRabbitMQ",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Writes schemas/ and docs/asyncapi.json from the contract types.
        .executableTarget(
            name: "contracts-export", dependencies: ["Topology"], path: "Sources/ContractsExport", swiftSettings: swiftSettings),
        // The domain-free worker runtime.
        .target(
            name: "Jobs",
            dependencies: [
                "AMQP", "ContractKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The settings a deployment gives through environment variables, read once at the edge
        // of each executable (no library reads the environment).
        .target(name: "DeploymentSettings", dependencies: ["Jobs"], swiftSettings: swiftSettings),
        // The message stores: SQLite (GRDB) and PostgreSQL (postgres-nio), their shared group
        // commit, opening one from a `--database` value, and the handler test kit.
        .target(
            name: "Stores",
            dependencies: [
                "Jobs", "ContractKit",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The command-line options several executables share: the broker connection and its
        // TLS files, the programme plan.
        .target(
            name: "CommandOptions",
            dependencies: [
                "AMQP", "DeploymentSettings", "Programme",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // What every worker process shares: options, logging, metrics, HTTP probes, lifecycle.
        .target(
            name: "WorkerHost",
            dependencies: [
                "CommandOptions", "ContractKit", "Topology", "CMalloc",
                "Jobs", "AMQP", "Contracts", "Stores", "DeploymentSettings",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // SMTP submission through libcurl (Debian: libcurl4-openssl-dev), loaded with dlopen by
        // the first SMTP sender (not linked: every worker would load it); C because
        // curl_easy_setopt is variadic.
        .target(name: "CSMTP", path: "Sources/CSMTP"),
        // mallopt(M_ARENA_MAX) at load, in every process linking WorkerHost (glibc's malloc.h is not
        // in Swift's Glibc module).
        .target(name: "CMalloc", path: "Sources/CMalloc"),
        // The notification channels: HTTP gateway (WhatsApp, SMS), SMTP, file; rate limiting.
        .target(
            name: "Senders",
            dependencies: [
                "ContractKit", "Contracts", "CSMTP",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The programme plan (classes, centres, schemes, quotas, dates): read by the workers, the
        // console and the main job. Contracts, ContractKit and Foundation only.
        .target(name: "Programme", dependencies: ["ContractKit", "Contracts"], swiftSettings: swiftSettings),
        // The officers' review desk: intake's case files, reading them, checking a decision (used
        // by intake, `kaltim-worker review` and the console).
        .target(name: "ReviewDesk", dependencies: ["ContractKit", "Contracts", "Jobs"], swiftSettings: swiftSettings),
        // Personal data: the NIK blind-index key, the register of personal data (checked
        // against the stores), a person's export across the roles' stores.
        .target(
            name: "DataProtection",
            dependencies: [
                "ContractKit", "Contracts", "Topology", "Jobs",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // Signed certificate documents: the document, the signer, the key ring and the verifier
        // (what the workers sign and a public verification service checks).
        .target(
            name: "CertificateTrust",
            dependencies: ["ContractKit", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        // Text escaped for HTML, per Unicode scalar: the one escaper of the console and the
        // verification service.
        .target(name: "HTMLEscaping", swiftSettings: swiftSettings),
        // A web client's key for limits per client (the console's sign-in, the verification
        // service's rate limit): the proxy's header or the peer, an IPv6 client by its /64.
        .target(
            name: "ClientAddress",
            dependencies: [
                "ContractKit", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        // The public certificate verification service (page and JSON, rate-limited, read only).
        .target(
            name: "Verification",
            dependencies: [
                "CertificateTrust", "Programme", "Jobs", "HTMLEscaping", "ClientAddress",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // W3C Verifiable Credentials with eddsa-jcs-2022 Data Integrity proofs: JCS (RFC 8785),
        // base58btc and did:key, the proof's signing and checking.
        .target(
            name: "Credentials",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        // The five workers of the pipeline.
        .target(
            name: "Workers",
            dependencies: [
                "ContractKit", "Topology",
                "Jobs", "Contracts", "Programme", "IntakeRules", "ReviewDesk", "Senders", "CCairo", "CQREncode", "CZlib",
                "DataProtection",
                "Credentials", "CertificateTrust",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The intake rules on their own (NIK N1–N8, region codes, phone, e-mail): pure functions
        // over Contracts, small enough to fuzz (scripts/fuzz.sh).
        .target(
            name: "IntakeRules",
            dependencies: ["Contracts"],
            resources: [.copy("Resources/kode-wilayah-kemendagri-2025.csv"), .copy("Resources/LICENSE-kode-wilayah.txt")],
            swiftSettings: swiftSettings
        ),
        // libFuzzer entry for the envelope and contract decoders and the NIK rules. Built with
        // -sanitize=fuzzer by scripts/fuzz.sh; in a normal build it replays the files it is given.
        .executableTarget(
            name: "kaltim-fuzz",
            dependencies: ["ContractKit", "Topology", "Contracts", "IntakeRules", "AMQP", "Jobs"],
            path: "Sources/KaltimFuzz",
            swiftSettings: swiftSettings
        ),
        // The worker executable: one subcommand per role, plus the admin commands.
        .executableTarget(
            name: "kaltim-worker",
            dependencies: [
                "CommandOptions", "ContractKit", "Topology",
                "Workers", "ReviewDesk", "Programme", "WorkerHost", "Stores", "Jobs", "AMQP", "Contracts", "Senders",
                "Credentials", "CertificateTrust",
                "DeploymentSettings", "DataProtection",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/KaltimWorker",
            swiftSettings: swiftSettings
        ),
        // The main job: the 2025 programme end to end on a synthetic cohort (scripts/run.sh).
        .executableTarget(
            name: "kaltim-demo",
            dependencies: [
                "CommandOptions", "ContractKit", "Topology",
                "Workers", "Programme", "WorkerHost", "Stores", "Jobs", "AMQP", "Contracts", "DeploymentSettings",
                "DataProtection",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/KaltimDemo",
            swiftSettings: swiftSettings
        ),
        // The admin side: dead-letter browsing and replay, audit log, topology definitions.
        .target(
            name: "Admin",
            dependencies: [
                "ContractKit", "Topology",
                "AMQP", "Jobs", "Contracts",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // A data subject's export and erasure across every role's store, dead letters and
        // notification logs: what kaltim-admin's `subject` commands and the console share.
        .target(
            name: "SubjectRights",
            dependencies: ["ContractKit", "Topology", "DataProtection", "Admin", "Stores", "Jobs", "AMQP"],
            swiftSettings: swiftSettings
        ),
        // The admin executable: dead letters, status, topology.
        .executableTarget(
            name: "kaltim-admin",
            dependencies: [
                "CommandOptions", "ContractKit", "Topology",
                "Admin", "AMQP", "Jobs", "Contracts", "DeploymentSettings", "DataProtection", "Stores", "IntakeRules",
                "SubjectRights", "Programme",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/KaltimAdmin",
            swiftSettings: swiftSettings
        ),
        // The web console: progress read model, queues, dead letters, audit log (Hummingbird).
        .target(
            name: "Console",
            dependencies: [
                "ContractKit", "Topology",
                "Admin", "AMQP", "Jobs", "Contracts", "Programme", "ReviewDesk", "IntakeRules", "DataProtection",
                "SubjectRights", "HTMLEscaping", "ClientAddress",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The console executable: serve (the read model's worker and the web pages), hash-password.
        .executableTarget(
            name: "kaltim-console",
            dependencies: [
                "CommandOptions", "ContractKit", "Topology",
                "Console", "Admin", "WorkerHost", "Programme", "Stores", "Jobs", "AMQP", "Contracts", "DeploymentSettings",
                "Verification", "CertificateTrust", "SubjectRights",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/KaltimConsole",
            swiftSettings: swiftSettings
        ),
        // Relay benchmark (run it in release mode: scripts/bench.sh).
        .executableTarget(
            name: "amqp-relay-bench",
            dependencies: ["AMQP"],
            path: "Benchmarks/AMQPRelayBenchmark",
            swiftSettings: swiftSettings
        ),
        // The worker runtime's full-path benchmark (scripts/bench.sh).
        .executableTarget(
            name: "jobs-bench",
            dependencies: ["ContractKit", "Topology", "Jobs", "Stores", "AMQP", "Contracts"],
            path: "Benchmarks/JobsBenchmark",
            swiftSettings: swiftSettings
        ),
        // The certificates role's own rate (issuance, then files) against the store path alone.
        .executableTarget(
            name: "certificates-bench",
            dependencies: ["ContractKit", "Contracts", "Jobs", "Stores", "Programme", "Workers", "CertificateTrust"],
            path: "Benchmarks/CertificatesBenchmark",
            swiftSettings: swiftSettings
        ),
        // The contract codec against Foundation's JSONDecoder and JSONEncoder (scripts/bench.sh).
        .executableTarget(
            name: "codec-bench",
            dependencies: ["ContractKit", "Contracts"],
            path: "Benchmarks/CodecBenchmark",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ContractsTests",
            dependencies: ["ContractKit", "Topology", "Contracts"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        // Helpers shared by the broker test targets (private nodes, waits with deadlines).
        .target(
            name: "TestSupport",
            dependencies: ["AMQP", "Jobs", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "JobsTests",
            dependencies: [
                "ContractKit", "Topology",
                "Jobs", "Stores", "AMQP", "Contracts", "DeploymentSettings", "TestSupport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // A worker process with a probe handler, for the runtime's process-level tests (kill -9,
        // several processes, SIGTERM, broker restart).
        .executableTarget(
            name: "jobs-probe-worker",
            dependencies: [
                "ContractKit",
                "WorkerHost", "Jobs", "Contracts", "Topology", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tests/ProbeWorker",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WorkerProcessTests",
            dependencies: [
                "ContractKit",
                "jobs-probe-worker", "kaltim-demo", "kaltim-worker", "Jobs", "Stores", "AMQP", "Contracts", "Topology",
                "TestSupport", "WorkerHost", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WorkersTests",
            dependencies: [
                "ContractKit", "Topology",
                "Workers", "ReviewDesk", "Programme", "IntakeRules", "kaltim-worker", "kaltim-fuzz", "kaltim-demo", "Jobs",
                "Stores", "AMQP",
                "Contracts", "DataProtection",
                "Senders",
                "TestSupport", "Credentials", "CertificateTrust", "Verification",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["verification_browser.py"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ConsoleTests",
            dependencies: [
                "ContractKit",
                "Console", "kaltim-console", "Admin", "AMQP", "Jobs", "Stores", "Contracts", "Topology", "Workers", "Programme",
                "ReviewDesk", "DataProtection", "SubjectRights", "CertificateTrust", "ClientAddress",
                "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["console_browser.py"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AdminTests",
            dependencies: [
                "ContractKit", "Topology",
                "Admin", "kaltim-admin", "AMQP", "Jobs", "Contracts", "Stores", "Console", "Workers", "Programme", "TestSupport",
                "DataProtection", "CertificateTrust", "Verification",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AMQPTests",
            dependencies: ["ContractKit", "Topology", "AMQP", "Contracts", "TestSupport"],
            exclude: ["hostile_headers.py"],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
