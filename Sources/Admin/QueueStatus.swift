public import AMQP
public import ContractKit
import Foundation
import Jobs

/// One role's queues as `kaltim-admin status` and the console show them.
public struct QueueStatusRow: Encodable, Sendable, Equatable {
    public let role: String, queue: String
    public let ready: Int, consumers: Int, deadLetters: Int
    /// Delivered to a worker and not yet settled (management API only).
    public let unacknowledged: Int?
    /// Messages per second into and acknowledged from the role queue (management API only).
    public let publishRate: Double?, ackRate: Double?
    /// Depth of each retry tier, by its delay (`5s`, `30s`, …).
    public let retryTiers: [String: Int]
    public let oldestDeadLetterAgeSeconds: Double?
    /// Messages published to and acknowledged from the role queue so far, by the broker's
    /// count (management API only): rates between two reads come from these.
    public var published: Int? = nil, acknowledged: Int? = nil
    /// Why the management API's figures are missing for this queue, when it was asked.
    public var managementProblem: String? = nil

    /// What the management API says of each role queue (queue name → its figures, `nil` when
    /// the API does not know it, or the problem), every queue asked for at once: a slow API
    /// costs its slowest answer, not one timeout per role.
    public static func managementFigures(roles: [WorkerRole], prefix: String, management: ManagementAPI) async -> [String:
        Result<ManagementAPI.QueueFigures?, ManagementProblem>]
    {
        await withTaskGroup(of: (String, Result<ManagementAPI.QueueFigures?, ManagementProblem>).self) { group in
            for role in roles {
                let queue = RoleTopology(role: role, prefix: prefix).queue
                group.addTask {
                    do {
                        return (queue, .success(try await management.queue(named: queue)))
                    } catch {
                        return (queue, .failure(ManagementProblem(description: "\(error)")))
                    }
                }
            }
            var figures: [String: Result<ManagementAPI.QueueFigures?, ManagementProblem>] = [:]
            for await (queue, result) in group { figures[queue] = result }
            return figures
        }
    }

    /// Why the management API gave no figures for a queue.
    public struct ManagementProblem: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Reads the figures of `roles`: depths and consumers from passive declarations, rates and
    /// unacknowledged counts from the management API when there is one, and the age of the
    /// oldest dead letter by looking at the head of the dead letters and putting it back (the
    /// dead-letter queue has no delivery limit, so the look costs nothing).
    ///
    /// - Parameter figures: the management API's answers when already asked for
    ///   (``managementFigures(roles:prefix:management:)``); otherwise they are asked for here.
    public static func collect(
        roles: [WorkerRole], prefix: String, connection: AMQPConnection, management: ManagementAPI?,
        figures: [String: Result<ManagementAPI.QueueFigures?, ManagementProblem>]? = nil
    ) async throws -> [QueueStatusRow] {
        var figures = figures
        if figures == nil, let management {
            figures = await managementFigures(roles: roles, prefix: prefix, management: management)
        }
        var rows: [QueueStatusRow] = []
        for role in roles {
            let topology = RoleTopology(role: role, prefix: prefix)
            guard let state = try? await connection.queueState(topology.queue) else {
                rows.append(
                    QueueStatusRow(
                        role: role.name, queue: topology.queue + " (missing)", ready: 0, consumers: 0, deadLetters: 0,
                        unacknowledged: nil, publishRate: nil, ackRate: nil, retryTiers: [:],
                        oldestDeadLetterAgeSeconds: nil))
                continue
            }
            let dead = try await connection.queueState(topology.deadLetterQueue)
            var tiers: [String: Int] = [:]
            for (name, _) in topology.retryQueues {
                tiers[String(name.dropFirst(topology.queue.count + 1))] = Int(
                    (try? await connection.queueState(name))?.messageCount ?? 0)
            }
            var age: Double?
            if dead.messageCount > 0, let head = try await connection.get(queue: topology.deadLetterQueue) {
                let letter = DeadLetter(head, queue: topology.deadLetterQueue)
                age = (letter.lastFailure ?? head.properties.timestamp).map { Date().timeIntervalSince($0) }
                try await head.nack(requeue: true)
            }
            // Each role queue by name, not the virtual host's listing, which one stray queue can
            // break (``ManagementAPI/queue(named:)``); a queue the API cannot give (an error, or
            // not found where AMQP found it: another virtual host) leaves only its own figures
            // out, and says why.
            var managed: ManagementAPI.QueueFigures?
            var managementProblem: String?
            switch figures?[topology.queue] {
            case .success(let found?): managed = found
            case .success(nil): managementProblem = "the management API does not know this queue (its virtual host?)"
            case .failure(let problem): managementProblem = problem.description
            case nil: break
            }
            rows.append(
                QueueStatusRow(
                    role: role.name, queue: topology.queue, ready: Int(state.messageCount), consumers: Int(state.consumerCount),
                    deadLetters: Int(dead.messageCount), unacknowledged: managed?.unacknowledged,
                    publishRate: managed?.publishRate, ackRate: managed?.ackRate, retryTiers: tiers,
                    oldestDeadLetterAgeSeconds: age, published: managed?.published, acknowledged: managed?.acknowledged,
                    managementProblem: managementProblem))
        }
        return rows
    }
}
