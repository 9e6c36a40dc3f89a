import AMQP
import CMalloc
public import ContractKit
public import Contracts
import Foundation
import Hummingbird
public import Jobs
public import Logging
import Metrics
import NIOCore
import Prometheus
public import ServiceLifecycle
import Stores
import Synchronization
import Topology
import UnixSignals

/// Runs one worker process: logging and metrics bootstrapped, two broker connections (consumer
/// and publisher, each on its own thread, reconnecting), the role's SQLite store, the
/// ``Jobs/Worker`` and an HTTP server for `/metrics` (Prometheus text), `/health` and `/ready`,
/// all in one swift-service-lifecycle `ServiceGroup` that shuts down gracefully on SIGTERM and
/// SIGINT: the worker stops consuming, finishes what it received (within
/// `--shutdown-timeout`), flushes, and the process exits 0.
public enum WorkerHost {
    /// Runs the worker of `role` with `handler` until a signal stops it.
    /// - Parameters:
    ///   - afterCommit: ``Jobs/WorkerOptions/afterCommit``: wakes a service beside the worker
    ///     (the dispatcher, the file writer); a fault-injection hook in tests.
    ///   - services: more services of the role that share its store and run in the same
    ///     service group (the notification dispatcher), given the store, the instance name, the
    ///     logger and the worker's ``Jobs/OutboxPublishing`` (to publish rows they write at once).
    public static func run(
        role: WorkerRole, handler: any MessageHandler, options: WorkerCommandOptions, registry: ContractRegistry = .pipeline,
        afterCommit: (@Sendable ([String]) -> Void)? = nil,
        services makeServices: (any MessageStore, String, Logger, any OutboxPublishing) throws -> [any Service] = {
            _, _, _, _ in []
        }
    ) async throws {
        PersonalData.restrictNewFiles()
        Redaction.install { PersonalData.mask($0) }
        let format = options.logFormat
        let level = options.logLevel.level
        LoggingSystem.bootstrap { label in MaskingLogHandler(label: label, level: level, format: format) }
        let prometheus = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: prometheus))

        let instance = options.instance ?? "\(role.name)@\(ProcessInfo.processInfo.hostName):\(getpid())"
        var logger = Logger(label: "kaltim.worker")
        logger[metadataKey: "role"] = "\(role.name)"
        logger[metadataKey: "instance"] = "\(instance)"

        let topology = try options.topology(role: role)
        let configuration = try options.amqpConfiguration(role: role)
        let database = options.databaseLocation(role: role)
        let store = try await Stores.open(
            database, schema: options.storeSchema ?? role.name,
            durability: options.durability,
            logger: logger)
        // The role's tables exist before any service of the role (the worker, a dispatcher) runs.
        try await store.migrate(handler.migrations)
        logger.info("store opened", metadata: ["database": "\(Stores.redacted(database))"])
        logger.debug(
            mallocArenasLimited
                ? "malloc limited to 2 arenas at load" : "malloc arenas as glibc decides (its environment, or not glibc)")

        let consuming = try await connect(configuration, name: "consumer", logger: logger)
        let publishing = try await connect(configuration, name: "publisher", logger: logger)
        var workerOptions = WorkerOptions()
        workerOptions.concurrency = UInt16(options.concurrency(of: role))
        workerOptions.afterCommit = afterCommit
        workerOptions.publishers = options.publisherPolicy
        // An answer for one LSP reaches that LSP's inbox only.
        workerOptions.carbonCopies = ContractPublishers.carbonCopies(type:body:)
        workerOptions.declaresTopology = options.declareTopology
        workerOptions.retention = options.retention
        workerOptions.topologyHint =
            "--no-declare-topology is set: load deploy/rabbitmq/definitions.json or run `kaltim-admin topology apply` first"
        let worker = Worker(
            topology: topology, registry: registry, handler: handler, store: store, consuming: consuming,
            publishing: publishing, instance: instance, options: workerOptions, logger: logger)

        var services: [any Service] = []
        if !options.noHTTP {
            services.append(
                httpServer(
                    host: options.httpHost, port: options.httpPort, registry: prometheus, worker: worker, logger: logger))
        }
        // The role's other services before the worker: a group shuts its services down in reverse
        // order, so the worker finishes its messages first and a service that follows its
        // commits (the certificate file writer) sees the last of them.
        services.append(contentsOf: try makeServices(store, instance, logger, worker))
        services.append(worker)
        var groupConfiguration = ServiceGroupConfiguration(
            services: services.map {
                ServiceGroupConfiguration.ServiceConfiguration(
                    service: $0, successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .gracefullyShutdownGroup)
            },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // Past this, in-flight work is cancelled: its messages were not acknowledged, so the
        // broker redelivers them and the inbox absorbs any that did commit.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(options.shutdownTimeout)
        let group = ServiceGroup(configuration: groupConfiguration)
        do {
            try await group.run()
        } catch {
            logger.error("worker failed", metadata: ["error": "\(error)"])
            await consuming.close()
            await publishing.close()
            throw error
        }
        let statistics = worker.statistics
        logger.info(
            "worker exited",
            metadata: [
                "received": "\(statistics.received)", "succeeded": "\(statistics.succeeded)",
                "duplicates": "\(statistics.duplicates)", "retried": "\(statistics.retried)",
                "dead_lettered": "\(statistics.deadLettered)", "published": "\(statistics.published)",
            ])
        await consuming.close()
        await publishing.close()
    }

    /// Whether glibc's malloc was limited to two arenas when the process loaded (`CMalloc`'s
    /// constructor, before any thread exists; `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` in the
    /// environment decide instead): each thread would otherwise grow an arena of its own that
    /// keeps freed memory.
    public static var mallocArenasLimited: Bool { kaltim_malloc_arenas_limited() == 1 }

    /// Connects, retrying with backoff for a while when the broker is not reachable yet (a
    /// worker started with, or slightly before, its broker).
    static func connect(_ configuration: AMQPConfiguration, name: String, logger: Logger) async throws -> AMQPConnection {
        var configuration = configuration
        configuration.connectionName = (configuration.connectionName ?? "kaltim-worker") + " " + name
        let policy = ReconnectPolicy()
        let deadline = ContinuousClock.now + .seconds(60)
        var attempt = 0
        while true {
            do {
                return try await AMQPConnection.connect(configuration, logger: logger)
            } catch {
                attempt += 1
                guard ContinuousClock.now < deadline else {
                    throw WorkerHostError(.brokerUnreachable, "cannot reach the broker at \(configuration): \(error)")
                }
                logger.warning("broker not reachable; retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                try await Task.sleep(for: policy.ceiling(forAttempt: attempt))
            }
        }
    }

    static func httpServer(
        host: String, port: Int, registry: PrometheusCollectorRegistry, worker: Worker, logger: Logger
    ) -> some Service {
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            var buffer = ByteBuffer()
            buffer.writeBytes(registry.emitToBuffer())
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: buffer))
        }
        router.get("/health") { _, _ -> Response in
            Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        router.get("/ready") { _, _ -> Response in
            worker.isReady
                ? Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ready\n")))
                : Response(status: .serviceUnavailable, body: ResponseBody(byteBuffer: ByteBuffer(string: "not ready\n")))
        }
        var httpLogger = logger
        httpLogger.logLevel = max(logger.logLevel, .warning)
        return Application(
            router: router, configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                logger.info("http listening", metadata: ["listen": "\(host):\(channel.localAddress?.port ?? port)"])
            },
            logger: httpLogger)
    }
}

/// A worker process that cannot start.
public struct WorkerHostError: Error, CustomStringConvertible {
    /// What went wrong, for a caller to switch on.
    public enum Code: String, Sendable {
        /// A child process could not be started (`supervise`).
        case processNotStarted = "process-not-started"
        /// The broker could not be reached at start.
        case brokerUnreachable = "broker-unreachable"
    }

    public let code: Code
    public let description: String
    init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }
}
