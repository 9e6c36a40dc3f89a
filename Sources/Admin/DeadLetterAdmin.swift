public import AMQP
public import ContractKit
import Contracts
public import Foundation
import Jobs
import Topology

/// Which dead letters an admin action takes. Empty sets and `nil`s match everything.
public struct DeadLetterFilter: Sendable, CustomStringConvertible {
    public var messageIDs: Set<String> = []
    public var codes: Set<String> = []
    public var fingerprints: Set<String> = []
    public var contractType: String?
    public var contractVersion: Int?
    /// Last failure at or after / before.
    public var since: Date?
    public var until: Date?

    public init() {}

    public func matches(_ letter: DeadLetter) -> Bool {
        (messageIDs.isEmpty || messageIDs.contains(letter.messageID))
            && (codes.isEmpty || codes.contains(letter.code))
            && (fingerprints.isEmpty || fingerprints.contains(letter.fingerprint))
            && (contractType == nil || letter.contractType == contractType)
            && (contractVersion == nil || letter.contractVersion == contractVersion)
            && (since == nil || (letter.lastFailure ?? .distantPast) >= since!)
            && (until == nil || (letter.lastFailure ?? .distantFuture) < until!)
    }

    public var description: String {
        var parts: [String] = []
        if !messageIDs.isEmpty { parts.append("message-id=\(messageIDs.sorted().joined(separator: ","))") }
        if !codes.isEmpty { parts.append("code=\(codes.sorted().joined(separator: ","))") }
        if !fingerprints.isEmpty { parts.append("fingerprint=\(fingerprints.sorted().joined(separator: ","))") }
        if let contractType { parts.append("type=\(contractType)") }
        if let contractVersion { parts.append("version=\(contractVersion)") }
        if let since { parts.append("since=\(since.formatted(.iso8601))") }
        if let until { parts.append("until=\(until.formatted(.iso8601))") }
        return parts.isEmpty ? "all" : parts.joined(separator: " ")
    }
}

/// How a replay went.
public struct ReplayReport: Sendable {
    public let replayID: String
    /// Matched the filter (within the limit).
    public var selected = 0
    /// Re-published with a confirm, then removed from the dead letters.
    public var replayed = 0
    /// Could not be re-published: left in the dead letters.
    public var failed = 0
    /// Canaries that came back to the dead letters (the replay stopped after them).
    public var canariesFailed = 0
    public var stoppedAfterCanary: Bool { canariesFailed > 0 }
    /// What was selected, for a dry run or the report.
    public var letters: [DeadLetter] = []
}

/// The dead-letter side of the admin tool: browse, replay, export and purge the dead-letter
/// queues of the roles, over the broker with the admin's own credentials.
///
/// A sweep takes, with `basic.get`, only the messages the queue held when it began, and
/// holds them unacknowledged: a message that arrives meanwhile is left alone, and if the tool
/// dies, the broker gives every held message back. A replay re-publishes each chosen message
/// to the queue it failed in, waits for the broker's confirm, and only then acknowledges (and
/// so removes) its dead-letter copy; the others are given back at the end.
public final class DeadLetterAdmin: Sendable {
    public let connection: AMQPConnection
    public let prefix: String

    public init(connection: AMQPConnection, prefix: String = "") {
        self.connection = connection
        self.prefix = prefix
    }

    /// The dead-letter queue of each role.
    public func queues(_ roles: [WorkerRole]) -> [(role: WorkerRole, queue: String)] {
        roles.map { ($0, RoleTopology(role: $0, prefix: prefix).deadLetterQueue) }
    }

    /// Takes what `queue` holds now, unacknowledged. Give it back with ``release(_:)``.
    ///
    /// The snapshot is not the queue's message count: a quorum queue reports 0 when its leader
    /// does not answer a passive declaration within 250 ms, which happens on a busy broker.
    /// Instead a marker is published (confirmed) to the back of the queue, and messages are
    /// taken until the marker comes back: exactly what the queue held, and nothing that
    /// arrived later. A marker left by a sweep that died is dropped when met
    /// (``isSweepMarker(_:admin:)``). A publisher's message with the marker header is a dead
    /// letter like any other: the header alone would let a publisher make its rejected
    /// messages vanish the next time an admin lists them.
    public func sweep(_ queue: String) async throws -> [DeadLetter] {
        let marker = "sweep-" + UUID().uuidString
        try await connection.publish(
            Data(), exchange: "", routingKey: queue,
            properties: AMQPProperties(
                headers: [ReplayHeader.sweepMarker: .bool(true)], deliveryMode: .persistent, messageID: marker,
                timestamp: Date(), userID: connection.username),
            mandatory: true)
        var letters: [DeadLetter] = []
        while let delivery = try await connection.get(queue: queue) {
            if Self.isSweepMarker(delivery, admin: connection.username) {
                let properties = delivery.properties
                try await delivery.ack()
                if properties.messageID == marker { break }
                continue
            }
            letters.append(DeadLetter(delivery, queue: queue))
        }
        return letters
    }

    /// Whether `delivery` is a sweep's end marker: empty, with the marker header and a `sweep-`
    /// id, and published by an admin tool: with the admin's own broker user as its `user_id`
    /// (the broker checks it), or, as markers were written before they carried it, with no
    /// `user_id`, no `x-death` and no failure record. A publisher's message reaches the dead
    /// letters only through the broker (which adds `x-death`) or a failure router (which writes
    /// its record and the role's `user_id`), so it is neither.
    static func isSweepMarker(_ delivery: AMQPDelivery, admin: String) -> Bool {
        let properties = delivery.properties
        let headers = properties.headers ?? [:]
        guard headers[ReplayHeader.sweepMarker] != nil, properties.messageID?.hasPrefix("sweep-") == true,
            delivery.body.isEmpty
        else { return false }
        if properties.userID == admin { return true }
        return properties.userID == nil && headers["x-death"] == nil
            && !headers.keys.contains { $0.hasPrefix("x-failure-") }
    }

    /// Gives held messages back to their queue, and waits (up to 5 s) until the broker counts
    /// them again, so that the next command sees them.
    public func release(_ letters: [DeadLetter]) async {
        for letter in letters { try? await letter.delivery.nack(requeue: true) }
        let deadline = ContinuousClock.now + .seconds(5)
        for (queue, count) in Dictionary(grouping: letters, by: \.queue).mapValues(\.count) {
            while ContinuousClock.now < deadline,
                let state = try? await connection.queueState(queue), Int(state.messageCount) < count
            {
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Every dead letter of `roles`, read and given back.
    public func list(_ roles: [WorkerRole], filter: DeadLetterFilter = DeadLetterFilter()) async throws -> [DeadLetter] {
        var all: [DeadLetter] = []
        for (_, queue) in queues(roles) {
            let letters = try await sweep(queue)
            all += letters.filter(filter.matches)
            await release(letters)
        }
        return all
    }

    /// Replays the dead letters of `roles` that match `filter`.
    /// - Parameters:
    ///   - limit: at most this many.
    ///   - rate: at most this many per second (at least 0.001; NaN or infinity: no limit).
    ///   - canary: replay this many first, watch the dead letters for `canaryWait`, and stop
    ///     there if any of them comes back.
    ///   - dryRun: select and report, move nothing.
    ///   - by: who replays (a provenance header and the audit log).
    public func replay(
        _ roles: [WorkerRole], filter: DeadLetterFilter, limit: Int? = nil, rate: Double? = nil, canary: Int = 0,
        canaryWait: Duration = .seconds(10), dryRun: Bool = false, by: String, replayID: String = UUID().uuidString
    ) async throws -> ReplayReport {
        var report = ReplayReport(replayID: replayID)
        var held: [DeadLetter] = []
        var chosen: [DeadLetter] = []
        for (_, queue) in queues(roles) {
            let letters = try await sweep(queue)
            for letter in letters {
                if filter.matches(letter) && chosen.count < (limit ?? .max) { chosen.append(letter) } else { held.append(letter) }
            }
        }
        report.selected = chosen.count
        report.letters = chosen
        if dryRun {
            await release(held + chosen)
            return report
        }
        let started = ContinuousClock.now
        var index = 0
        /// Replays `letters` at the rate; those that fail stay held.
        func replayAll(_ letters: ArraySlice<DeadLetter>) async {
            for letter in letters {
                // A rate below one in 1,000 s counts as that (a smaller one made the due time
                // overflow `Duration`, a trap); NaN and infinity as no rate.
                if let rate, rate.isFinite, rate > 0 {
                    let due = started + .seconds(Double(index) / max(rate, 0.001))
                    if due > ContinuousClock.now { try? await Task.sleep(until: due, clock: .continuous) }
                }
                index += 1
                if await replay(letter, replayID: replayID, by: by) {
                    report.replayed += 1
                } else {
                    report.failed += 1
                    held.append(letter)
                }
            }
        }
        var remaining = chosen[...]
        // A canary as large as the selection makes every message a canary: they are still
        // watched, so a replay whose messages all come back says so.
        if canary > 0 && !chosen.isEmpty {
            await replayAll(chosen.prefix(canary))
            remaining = chosen.dropFirst(canary)
            let (failedCanaries, newcomers) = try await watch(roles, replayID: replayID, for: canaryWait)
            report.canariesFailed = failedCanaries.count
            held += failedCanaries + newcomers
            if !failedCanaries.isEmpty {
                await release(held + Array(remaining))
                return report
            }
        }
        await replayAll(remaining)
        await release(held)
        return report
    }

    /// Re-publishes one dead letter to the queue it failed in (confirmed), then acks its copy.
    func replay(_ letter: DeadLetter, replayID: String, by: String) async -> Bool {
        var properties = letter.delivery.properties
        var headers = properties.headers ?? [:]
        // With the failure record go a publisher's CC and BCC (they would route the replay, sent
        // with the admin's rights, to any queue they name) and a sweep's end marker (a later
        // sweep would drop the letter as one).
        for key in headers.keys
        where key.hasPrefix("x-failure-") || key.hasPrefix("x-first-death") || key.hasPrefix("x-last-death")
            || key == "x-death" || key == FailureRouter.Header.attempt || key == FailureRouter.Header.firstFailureAt
            || FailureRouter.Header.isSenderSelectedRouting(key) || key == ReplayHeader.sweepMarker
        {
            headers.removeValue(forKey: key)
        }
        // The worker believes the routing key and user a message was first published with only
        // on a copy from its own failure router or from this replay. Only the failure router's
        // copies carry the role's own broker user as their (broker-validated) user_id; any other
        // letter was dead-lettered by the broker as its publisher sent it, headers and all, so
        // its publisher is its own validated user_id, whatever its headers claim. A forged routing
        // key is then bounded by the worker's publisher check: the publisher may only send the
        // types it may publish anyway.
        typealias H = FailureRouter.Header
        let roleQueue = letter.queue.hasSuffix(".dead") ? String(letter.queue.dropLast(".dead".count)) : letter.originalQueue
        let roleUser = roleQueue.map { ContractPublishers.brokerUser(DeadLetter.role(ofQueue: $0)) }
        let routerWritten = roleUser != nil && letter.delivery.properties.userID == roleUser
        if !routerWritten {
            headers[H.publishedBy] = letter.delivery.properties.userID.map { .string($0) }
        }
        if headers[H.publishedRoutingKey] == nil {
            let death = letter.delivery.properties.headers?["x-death"]?.arrayValue?.first?.tableValue
            let key = letter.originalRoutingKey ?? death?["routing-keys"]?.arrayValue?.first?.stringValue
            headers[H.publishedRoutingKey] = key.map { .string($0) }
        }
        // A copy never expires on the way (a publisher's expiration would make it vanish).
        properties.expiration = nil
        // The broker accepts no user_id on the copy but the admin connection's own.
        properties.userID = connection.username
        headers[ReplayHeader.id] = .string(replayID)
        headers[ReplayHeader.count] = .int64(Int64(letter.replayCount) + 1)
        headers[ReplayHeader.by] = .string(by)
        headers[ReplayHeader.at] = .timestamp(Date())
        properties.headers = headers
        properties.deliveryMode = .persistent
        // Back to the queue of the dead letters it was taken from: a header naming another queue
        // may have been written by a publisher.
        let (exchange, routingKey) =
            roleQueue.map { ("", $0) } ?? (letter.originalExchange ?? "", letter.originalRoutingKey ?? "")
        do {
            try await connection.publish(
                letter.delivery.body, exchange: exchange, routingKey: routingKey, properties: properties, mandatory: true)
        } catch {
            return false
        }
        do {
            try await letter.delivery.ack()
        } catch {
            // The copy stays in the dead letters (the broker gives it back); the replayed one is
            // harmless twice: the worker's inbox knows its message id.
        }
        return true
    }

    /// Watches the dead letters for `duration`: canaries of `replayID` that come back, and
    /// other newcomers (both held, to be given back).
    private func watch(_ roles: [WorkerRole], replayID: String, for duration: Duration) async throws -> (
        [DeadLetter], [DeadLetter]
    ) {
        var canaries: [DeadLetter] = []
        var newcomers: [DeadLetter] = []
        let deadline = ContinuousClock.now + duration
        while ContinuousClock.now < deadline {
            for (_, queue) in queues(roles) {
                while let delivery = try await connection.get(queue: queue) {
                    let letter = DeadLetter(delivery, queue: queue)
                    if letter.replayID == replayID { canaries.append(letter) } else { newcomers.append(letter) }
                }
            }
            if !canaries.isEmpty { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        return (canaries, newcomers)
    }

    /// Removes every message of `queue`; returns how many.
    public func purge(_ queue: String) async throws -> Int {
        Int(try await connection.purgeQueue(queue))
    }
}
