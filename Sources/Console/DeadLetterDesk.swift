import AMQP
import Admin
import ContractKit
import Contracts
import DataProtection
import Foundation
import Logging
import SubjectRights

/// A dead letter as the console shows it: its failure record, and its body masked (or, for an
/// admin who asked, revealed).
struct DeadLetterSummary: Sendable {
    let messageID, queue, role, code, kind, fingerprint: String
    let contractType: String?
    let contractVersion: Int?
    let firstFailure, lastFailure: Date?
    let attempts, replayCount: Int
    let originalQueue, originalRoutingKey: String?
    let failureText: String
    let body: String

    init(_ letter: DeadLetter, reveal: Bool) {
        messageID = letter.messageID
        queue = letter.queue
        role = letter.role
        code = letter.code
        kind = letter.kind
        fingerprint = letter.fingerprint
        contractType = letter.contractType
        contractVersion = letter.contractVersion
        firstFailure = letter.firstFailure
        lastFailure = letter.lastFailure
        attempts = letter.attempts
        replayCount = letter.replayCount
        originalQueue = letter.originalQueue
        originalRoutingKey = letter.originalRoutingKey
        failureText = letter.failureText(reveal: reveal)
        body = letter.bodyText(reveal: reveal)
    }
}

/// The console's side of the broker for admin work: one connection with the admin's
/// credentials, opened on first use, and one operation at a time (a sweep holds the messages
/// it reads until it gives them back, so two at once would each see only part of a queue).
final class DeadLetterDesk: Sendable {
    private let configuration: AMQPConfiguration?
    private let prefix: String
    private let logger: Logger
    private let serial = SerialExecutorQueue()
    private let connection = ConnectionSlot()
    private let managementFigures = ManagementFigureCache()

    init(configuration: AMQPConfiguration?, prefix: String, logger: Logger) {
        var configuration = configuration
        configuration?.connectionName = "kaltim-console admin"
        self.configuration = configuration
        self.prefix = prefix
        self.logger = logger
    }

    private func admin() async throws -> DeadLetterAdmin {
        guard let configuration else {
            throw ConsoleError(.notConfigured, "dead letters need the admin's broker URL (--admin-url or KALTIM_ADMIN_URL)")
        }
        let connection = try await self.connection.get(configuration, logger: logger)
        return DeadLetterAdmin(connection: connection, prefix: prefix)
    }

    /// The management API is asked first, outside the desk's turn (it needs no broker
    /// connection): a slow API does not hold up replays and sweeps meanwhile.
    func status(roles: [WorkerRole], management: ManagementAPI?) async throws -> [QueueStatusRow] {
        var figures: ManagementFigureCache.Figures?
        if let management {
            figures = await managementFigures.figures(roles: roles, prefix: prefix, management: management)
        }
        return try await serial.run { [figures] in
            let admin = try await self.admin()
            return try await QueueStatusRow.collect(
                roles: roles, prefix: self.prefix, connection: admin.connection, management: management, figures: figures)
        }
    }

    /// The roles whose dead-letter queue exists (a role never started has none yet).
    private func existing(_ roles: [WorkerRole], _ admin: DeadLetterAdmin) async -> [WorkerRole] {
        var existing: [WorkerRole] = []
        for (role, queue) in admin.queues(roles) where (try? await admin.connection.queueState(queue)) != nil {
            existing.append(role)
        }
        return existing
    }

    func list(roles: [WorkerRole]) async throws -> [DeadLetterSummary] {
        try await serial.run {
            let admin = try await self.admin()
            return try await admin.list(await self.existing(roles, admin)).map { DeadLetterSummary($0, reveal: false) }
        }
    }

    func find(messageID: String, roles: [WorkerRole], reveal: Bool) async throws -> DeadLetterSummary? {
        try await serial.run {
            var filter = DeadLetterFilter()
            filter.messageIDs = [messageID]
            let admin = try await self.admin()
            return try await admin.list(await self.existing(roles, admin), filter: filter).first.map {
                DeadLetterSummary($0, reveal: reveal)
            }
        }
    }

    func replay(
        roles: [WorkerRole], filter: DeadLetterFilter, canary: Int, canaryWait: Duration, dryRun: Bool, by: String
    ) async throws -> ReplayReport {
        try await serial.run {
            let admin = try await self.admin()
            return try await admin.replay(
                await self.existing(roles, admin), filter: filter, canary: canary, canaryWait: canaryWait, dryRun: dryRun,
                by: by)
        }
    }

    /// The dead letters naming one person (``SubjectDeadLetters/sweep(_:matching:remove:note:)``),
    /// in turn with the desk's other sweeps, so none holds part of a queue the other reads.
    func sweepSubject(matching matcher: MessageMatcher, remove: Bool) async throws -> [SubjectExport.DeadLetterRecord] {
        try await serial.run {
            try await SubjectDeadLetters.sweep(try await self.admin(), matching: matcher, remove: remove)
        }
    }

    func purge(_ queue: String) async throws -> Int {
        try await serial.run { try await self.admin().purge(queue) }
    }
}

/// The management API's figures, fetched by one caller at a time and kept 5 s: every open
/// queue page reloads every 5 s, and a hung API must not gather one request per page and role.
actor ManagementFigureCache {
    typealias Figures = [String: Result<ManagementAPI.QueueFigures?, QueueStatusRow.ManagementProblem>]
    private var last: (at: ContinuousClock.Instant, roles: [String], figures: Figures)?
    private var inFlight: Task<Figures, Never>?

    func figures(roles: [WorkerRole], prefix: String, management: ManagementAPI) async -> Figures {
        let names = roles.map(\.name)
        if let last, last.roles == names, ContinuousClock.now - last.at < .seconds(5) { return last.figures }
        if let inFlight { return await inFlight.value }
        let task = Task { await QueueStatusRow.managementFigures(roles: roles, prefix: prefix, management: management) }
        inFlight = task
        let figures = await task.value
        inFlight = nil
        last = (ContinuousClock.now, names, figures)
        return figures
    }
}

/// The admin connection, opened once and kept (it reconnects by itself).
private actor ConnectionSlot {
    private var connection: AMQPConnection?

    func get(_ configuration: AMQPConfiguration, logger: Logger) async throws -> AMQPConnection {
        if let connection { return connection }
        let connection = try await AMQPConnection.connect(configuration, logger: logger)
        self.connection = connection
        return connection
    }
}

/// Runs async operations one after another, in the order they were asked for.
private actor SerialExecutorQueue {
    private var tail: Task<Void, Never>?

    func run<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let previous = tail
        let task = Task<T, any Error> {
            await previous?.value
            return try await body()
        }
        tail = Task { _ = try? await task.value }
        return try await task.value
    }
}
