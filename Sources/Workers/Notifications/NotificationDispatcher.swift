import ContractKit
public import Contracts
import Crypto
public import Foundation
public import Jobs
public import Logging
import Metrics
public import Senders
public import ServiceLifecycle
import Synchronization
public import Topology

/// Tunables of the ``NotificationDispatcher``.
public struct DispatcherOptions: Sendable {
    /// Non-urgent messages wait while these hours last (`nil`: no quiet hours).
    public var quietHours: QuietHours? = .default
    /// Sends per second and burst, per channel.
    public var rates: [NotificationChannel: (perSecond: Double, burst: Double)] = [
        .whatsApp: (20, 40), .sms: (20, 40), .email: (10, 20),
    ]
    /// Messages taken per round at most (and sent concurrently); a round takes fewer when its
    /// channels could not send them within half the claim (``messagesPerRound(over:)``).
    public var batchSize = 256
    /// The longest one send may take (the HTTP gateway's timeout is 10 s, SMTP's 20 s): a
    /// round is sized so that it ends within half its claim even when every send takes this.
    public var longestSend: Duration = .seconds(20)
    /// Pause when nothing is due, unless the ``NotificationDispatcher``'s doorbell rings
    /// first (the worker committed new messages).
    public var idleInterval: Duration = .milliseconds(250)
    /// Sends of one message on one channel before it counts as failed there.
    public var maximumAttempts = 6
    /// Waits between attempts (the last repeats); a longer `Retry-After` wins.
    public var backoff: [Duration] = [.seconds(5), .seconds(30), .seconds(120), .seconds(600)]
    /// How long a taken message is reserved for this process (replicas skip it meanwhile).
    public var claim: Duration = .seconds(120)
    /// How long a settled (sent or finally failed) message keeps its values and routes: the
    /// person's name, the figures of the text, and the numbers and addresses it went to. Then
    /// they are cleared (``NotificationDispatcher/purgeSettledMessageData()``, every 10
    /// minutes); the record (ids, template, state, times, channel, gateway id) stays. `nil`:
    /// kept for ever.
    public var messageDataRetention: Duration? = .seconds(30 * 86_400)
    /// How long a person's contact (name, numbers, e-mail address) is kept after their last
    /// message: a contact last updated, and last written to, longer ago than this, with no
    /// message still waiting, is deleted (``NotificationDispatcher/purgeContacts()``, every 10
    /// minutes). A later event about the person finds no address and fails visibly. `nil`:
    /// kept for ever.
    public var contactRetention: Duration? = .seconds(365 * 86_400)

    public init() {}

    /// The messages one round takes when it may send on `channels`: ``batchSize``, fewer when
    /// the slowest of them could not send that many within half of ``claim``, neither at its
    /// rate nor with at most its burst in flight and each send taking ``longestSend``. A round
    /// that outlasted its claim would let another replica take its last messages and send them
    /// again. With the default rates and a 120 s claim: 60 with e-mail (burst 20, 60 s / 20 s
    /// per wave), 120 on the gateway alone; in the main job (no rate to protect) 256.
    public func messagesPerRound(over channels: some Sequence<NotificationChannel>) -> Int {
        func seconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        }
        let window = seconds(claim) / 2
        let longest = max(seconds(longestSend), 0.001)
        var limit = Double(min(max(1, batchSize), 1_000_000))
        for channel in channels {
            guard let rate = rates[channel] else { continue }
            limit = min(limit, rate.perSecond * window, max(1, rate.burst) * (window / longest).rounded(.down))
        }
        return max(1, Int(limit.rounded(.down)))
    }
}

/// Sends the notifications the ``NotificationHandler`` queued: due ones first, through the
/// person's channels in order, within each channel's rate limit, holding non-urgent ones
/// during quiet hours. Each success or final failure is recorded with its
/// `notification.delivered` / `notification.failed` event in one store transaction (the worker
/// publishes that outbox). Runs as a service beside the ``Jobs/Worker``, in every replica:
/// a message is reserved for one process (`claimed_until`, on the store's clock) before it is
/// sent, and each outcome is recorded as soon as its send returns (with the others that
/// returned while the last was being recorded: ``GroupWriter``).
///
/// **Never twice.** A message recorded as sent is never taken again; the idempotency key sent
/// with it is the same for every attempt on a channel, so a gateway drops a repeat after a
/// crash between its acceptance and our record.
public final class NotificationDispatcher: Service, Sendable {
    private let store: any MessageStore
    private let templates: NotificationTemplates
    private let senders: [NotificationChannel: any MessageSender]
    private let limiters: [NotificationChannel: RateLimiter]
    private let options: DispatcherOptions
    private let exchange: String
    private let instance: String
    private let now: @Sendable () -> Date
    private let logger: Logger
    private let doorbell: Doorbell
    private let outbox: (any OutboxPublishing)?
    private let counters = Mutex<(sent: Int, failed: Int, held: Int)>((0, 0, 0))
    /// When this process last cleared settled messages' data (by its clock).
    private let lastPurge = Mutex<Date?>(nil)
    /// Records the outcomes of sends that finish while another is being recorded together.
    let recorder = GroupWriter<Step>()

    /// - Parameters:
    ///   - senders: the channel implementations; a channel without one is skipped.
    ///   - now: the clock (tests move it across quiet hours).
    ///   - doorbell: rung after the worker commits (``Jobs/WorkerOptions/afterCommit``), so a new
    ///     message is sent at once rather than after the idle interval.
    ///   - outbox: the worker beside it, which publishes each recorded outcome's event at once;
    ///     without it the events wait for the worker's flusher (rows older than 10 s, every 2 s).
    public init(
        store: any MessageStore, templates: NotificationTemplates, senders: [NotificationChannel: any MessageSender],
        options: DispatcherOptions = DispatcherOptions(), exchange: String = ContractDocuments.exchange, instance: String,
        now: @escaping @Sendable () -> Date = { Date() }, doorbell: Doorbell = Doorbell(), outbox: (any OutboxPublishing)? = nil,
        logger: Logger = Logger(label: "kaltim.notifications")
    ) {
        self.doorbell = doorbell
        self.outbox = outbox
        self.store = store
        self.templates = templates
        self.senders = senders
        self.options = options
        self.exchange = exchange
        self.instance = instance
        self.now = now
        self.logger = logger
        var limiters: [NotificationChannel: RateLimiter] = [:]
        for (channel, rate) in options.rates { limiters[channel] = RateLimiter(perSecond: rate.perSecond, burst: rate.burst) }
        self.limiters = limiters
    }

    /// Sent, failed (finally) and held-for-quiet-hours counts of this process.
    public var statistics: (sent: Int, failed: Int, held: Int) { counters.withLock { $0 } }

    /// Sends until a graceful shutdown; messages in flight are finished and recorded.
    public func run() async throws {
        let stopping = Atomic(false)
        await withGracefulShutdownHandler {
            while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
                let sent = await runOnce()
                let now = now()
                let due = lastPurge.withLock { last in
                    guard last.map({ now.timeIntervalSince($0) >= 600 }) ?? true else { return false }
                    last = now
                    return true
                }
                if due {
                    await purgeSettledMessageData()
                    await purgeContacts()
                    await purgeAddressLoad()
                }
                if sent == 0 { await doorbell.wait(upTo: options.idleInterval) }
            }
        } onGracefulShutdown: {
            stopping.store(true, ordering: .relaxed)
            self.doorbell.ring()
        }
    }

    /// Clears the values, routes and last gateway reply (which may echo the number) of messages
    /// settled longer ago than
    /// ``DispatcherOptions/messageDataRetention`` (in batches of 1,000, each its own short
    /// transaction), and returns how many it cleared. A pending message is never touched.
    @discardableResult
    public func purgeSettledMessageData() async -> Int {
        guard let keep = options.messageDataRetention else { return 0 }
        let cutoff = cutoff(keep)
        let cleared = await inBatches(what: "settled messages' data") { transaction in
            let ids = try transaction.query(
                """
                SELECT notification_id FROM notif_messages
                WHERE state IN ('sent', 'failed') AND COALESCE(sent_at, next_attempt_at) < ?
                    AND (routes <> '[]' OR last_error IS NOT NULL)
                LIMIT 1000
                """, [cutoff]
            ).compactMap { $0["notification_id"] }
            guard !ids.isEmpty else { return 0 }
            try transaction.execute(
                """
                UPDATE notif_messages SET parameters = '{}', routes = '[]', last_error = NULL
                WHERE notification_id IN (\(Self.placeholders(ids.count)))
                """,
                ids)
            return ids.count
        }
        if cleared > 0 {
            Counter(label: "notifications_message_data_cleared_total").increment(by: cleared)
            logger.info("cleared the data of settled messages past their retention", metadata: ["messages": "\(cleared)"])
        }
        let (seconds, attoseconds) = keep.components
        await forgetSentCopies(before: now().addingTimeInterval(-(Double(seconds) + Double(attoseconds) / 1e18)))
        return cleared
    }

    /// Deletes the counts of acknowledgements per address older than a day
    /// (`NotificationHandler.admitUnverified`): digests of numbers and addresses, kept no longer
    /// than the bound needs them.
    public func purgeAddressLoad() async {
        let cutoff = SQLValue.real(now().timeIntervalSince1970 - 86_400)
        // One statement (the rows are small and indexed by time): no batches needed.
        _ = await inBatches(what: "counts per address") { transaction in
            try transaction.execute("DELETE FROM notif_address_load WHERE queued_at < ?", [cutoff])
            return 0
        }
    }

    /// Has each sender delete its own copy of what it sent before `cutoff` (the file channel's
    /// log), each sender object once however many channels it serves; counts the lines in
    /// `notifications_log_lines_purged_total`. A failure is logged and tried again next round.
    private func forgetSentCopies(before cutoff: Date) async {
        var seen: Set<ObjectIdentifier> = []
        for channel in NotificationChannel.allCases {
            guard let sender = senders[channel] else { continue }
            if type(of: sender) is AnyClass, !seen.insert(ObjectIdentifier(sender as AnyObject)).inserted { continue }
            do {
                let removed = try await sender.forgetSent(before: cutoff)
                if removed > 0 {
                    Counter(label: "notifications_log_lines_purged_total").increment(by: removed)
                    logger.info("deleted the sent messages' copies past their retention", metadata: ["lines": "\(removed)"])
                }
            } catch {
                logger.error("could not delete the sent messages' copies past their retention: \(error)")
            }
        }
    }

    /// Deletes the contacts past ``DispatcherOptions/contactRetention``: not updated, and no
    /// message to the person created, since the cutoff, and none waiting (in batches of 1,000,
    /// each its own short transaction). Returns how many it deleted.
    @discardableResult
    public func purgeContacts() async -> Int {
        guard let keep = options.contactRetention else { return 0 }
        let cutoff = cutoff(keep)
        let deleted = await inBatches(what: "contacts") { transaction in
            let ids = try transaction.query(
                """
                SELECT c.registration_id FROM notif_contacts c
                WHERE c.updated_at < ? AND NOT EXISTS (
                    SELECT 1 FROM notif_messages m
                    WHERE (m.registration_id = c.registration_id OR m.participant_id = c.participant_id)
                        AND (m.state = 'pending' OR m.created_at >= ?))
                LIMIT 1000
                """, [cutoff, cutoff]
            ).compactMap { $0["registration_id"] }
            guard !ids.isEmpty else { return 0 }
            try transaction.execute(
                "DELETE FROM notif_contacts WHERE registration_id IN (\(Self.placeholders(ids.count)))", ids)
            return ids.count
        }
        if deleted > 0 {
            Counter(label: "notifications_contacts_purged_total").increment(by: deleted)
            logger.info("deleted contacts past their retention", metadata: ["contacts": "\(deleted)"])
        }
        return deleted
    }

    /// `now` less `keep`, as the stores keep times.
    private func cutoff(_ keep: Duration) -> SQLValue {
        .real(now().timeIntervalSince1970 - Double(keep.components.seconds) - Double(keep.components.attoseconds) / 1e18)
    }

    /// Runs `batch` (at most 1,000 rows each, its own short transaction) until it takes fewer;
    /// a store error is logged and the rest left for the next round. Returns the rows taken.
    private func inBatches(what: String, _ batch: @escaping @Sendable (any StoreTransaction) throws -> Int) async -> Int {
        var total = 0
        do {
            while true {
                let count = try await store.write(batch)
                total += count
                if count < 1000 { break }
            }
        } catch {
            logger.warning("could not purge \(what) past their retention; tried again later", metadata: ["error": "\(error)"])
        }
        return total
    }

    static func placeholders(_ count: Int) -> String { Array(repeating: "?", count: count).joined(separator: ", ") }

    /// One round: takes the due messages and sends them. Returns how many it took.
    @discardableResult
    public func runOnce() async -> Int {
        let due: [Pending]
        do {
            due = try await claimDue()
        } catch {
            logger.error("could not read the notification queue", metadata: ["error": "\(error)"])
            return 0
        }
        // Each outcome is recorded as soon as its send returns, not after the round: a process
        // that dies during a slow send loses only that send's record, never its neighbours'.
        // Outcomes that come while one is being recorded share the next transaction.
        await withDiscardingTaskGroup { group in
            for message in due {
                group.addTask {
                    if let step = await self.deliver(message) {
                        await self.recorder.submit(step) { steps in await self.record(steps) }
                    }
                }
            }
        }
        return due.count
    }

    struct Pending: Sendable {
        let notificationID: String
        let template: String
        let parameters: [String: String]
        let routes: [NotificationHandler.Route]
        let routeIndex: Int
        let urgent: Bool
        let attempts: Int
        let correlationID: String
        let participantID: String?
    }

    /// What a claim reads of a waiting message, and whether its person withdrew their consent.
    static let claimColumns = """
        SELECT notification_id, template, parameters, routes, route_index, urgent, attempts, correlation_id, participant_id,
            CASE WHEN EXISTS (
                SELECT 1 FROM notif_withdrawals w
                WHERE w.registration_id = notif_messages.registration_id
                    OR w.participant_id = notif_messages.participant_id) THEN 1 ELSE 0 END AS withdrawn
        FROM notif_messages
        """

    /// The messages due again, not claimed (arguments: this dispatcher's time, the store's
    /// time, how many): retries, moves to another channel and those quiet hours held, by the
    /// time they fell due, then in order of arrival. They go before new messages: each waited
    /// already, and a backlog of new ones would otherwise hold them back. Read in that order
    /// from the index `notif_messages_due_order`, so a claim sorts nothing however long the
    /// backlog (it still steps over due rows other replicas hold).
    static let dueAgainQuery =
        claimColumns + """
             WHERE state = 'pending' AND next_attempt_at > 0 AND next_attempt_at <= ?
                AND (claimed_until IS NULL OR claimed_until <= ?)
            ORDER BY next_attempt_at, created_at LIMIT ?
            """

    /// The new messages (due at once: `next_attempt_at` 0), not claimed (arguments: the
    /// store's time, how many), in order of arrival, from the same index.
    static let newQuery =
        claimColumns + """
             WHERE state = 'pending' AND next_attempt_at = 0 AND (claimed_until IS NULL OR claimed_until <= ?)
            ORDER BY created_at LIMIT ?
            """

    /// Takes the due messages (by this dispatcher's clock) whose claim has expired, and claims
    /// them until `claim` from now **by the store's clock**, which every replica agrees on: a
    /// replica whose clock runs ahead would otherwise take over a message another is still
    /// sending.
    private func claimDue() async throws -> [Pending] {
        let now = now().timeIntervalSince1970
        let storeNow = try await store.currentTime().timeIntervalSince1970
        let until = storeNow + Double(options.claim.components.seconds)
        let limit = options.messagesPerRound(over: senders.keys)
        let instance = instance
        return try await store.write { transaction in
            var rows = try transaction.query(
                Self.dueAgainQuery, [.real(now), .real(storeNow), .integer(Int64(limit))])
            if rows.count < limit {
                rows += try transaction.query(Self.newQuery, [.real(storeNow), .integer(Int64(limit - rows.count))])
            }
            var due: [Pending] = []
            for row in rows {
                guard let id = row["notification_id"]?.text else { continue }
                // The person withdrew their consent: the message goes, unsent (the withdrawal
                // deleted what was waiting; this is one that escaped it).
                if row["withdrawn"]?.integer == 1 {
                    try transaction.execute("DELETE FROM notif_messages WHERE notification_id = ?", [.text(id)])
                    continue
                }
                try transaction.execute(
                    "UPDATE notif_messages SET claimed_until = ?, claimed_by = ? WHERE notification_id = ?",
                    [.real(until), .text(instance), .text(id)])
                due.append(
                    Pending(
                        notificationID: id, template: row["template"]?.text ?? "",
                        parameters: FlatJSON.values(row["parameters"]?.text ?? "{}"),
                        routes: FlatJSON.routes(reading: row["routes"]?.text ?? "[]"),
                        routeIndex: Int(row["route_index"]?.integer ?? 0), urgent: row["urgent"]?.integer == 1,
                        attempts: Int(row["attempts"]?.integer ?? 0), correlationID: row["correlation_id"]?.text ?? "",
                        participantID: row["participant_id"]?.text))
            }
            return due
        }
    }

    /// What a send leaves to record: a change of the row, or its final state with its event.
    enum Step: Sendable {
        case update(notificationID: String, assignments: String, arguments: [SQLValue])
        case final(notificationID: String, sent: Bool, event: OutgoingEvent, assignments: String, arguments: [SQLValue])
    }

    private func deliver(_ message: Pending) async -> Step? {
        let now = now()
        if !message.urgent, let quiet = options.quietHours, quiet.contains(now) {
            counters.withLock { $0.held += 1 }
            return .update(
                notificationID: message.notificationID, assignments: "SET next_attempt_at = ?, claimed_until = NULL",
                arguments: [.real(quiet.end(after: now).timeIntervalSince1970)])
        }
        // The first route from `routeIndex` on that has a sender.
        guard
            let index = message.routes.indices.first(where: {
                $0 >= message.routeIndex && senders[message.routes[$0].channel] != nil
            }),
            let sender = senders[message.routes[index].channel]
        else {
            return fail(
                message, channel: message.routes.last?.channel ?? .sms, code: "NO_CHANNEL", permanent: true,
                "no configured channel")
        }
        let route = message.routes[index]
        let rendered: (subject: String, text: String)
        do {
            rendered = try templates.render(message.template, channel: route.channel.rawValue, message.parameters)
        } catch {
            return fail(message, channel: route.channel, code: "TEMPLATE_ERROR", permanent: true, "\(error)")
        }
        let outgoing = OutgoingNotification(
            idempotencyKey: Self.idempotencyKey(message.notificationID, route.channel), channel: route.channel,
            recipient: route.recipient, template: message.template, subject: rendered.subject, text: rendered.text)
        let result: SendResult
        do {
            if let limiter = limiters[route.channel] {
                result = try await limiter.run { await sender.send(outgoing) }
            } else {
                result = await sender.send(outgoing)
            }
        } catch {
            return .update(notificationID: message.notificationID, assignments: "SET claimed_until = NULL", arguments: [])
        }
        switch result {
        case .sent(let providerID):
            return sent(message, channel: route.channel, providerID: providerID)
        case .permanent(let code, let detail):
            guard index + 1 < message.routes.count else {
                return fail(message, channel: route.channel, code: code, permanent: true, detail)
            }
            logger.warning(
                "notification refused on one channel; trying the next",
                metadata: [
                    "notification": "\(message.notificationID)", "channel": "\(route.channel.rawValue)", "code": "\(code)",
                ])
            return .update(
                notificationID: message.notificationID,
                assignments: "SET route_index = ?, attempts = 0, next_attempt_at = ?, claimed_until = NULL, last_error = ?",
                arguments: [
                    .integer(Int64(index + 1)), .real(now.timeIntervalSince1970), .text(code + ": " + detail.prefix(200)),
                ])
        case .transient(let code, let detail, let retryAfter):
            let attempts = message.attempts + 1
            if attempts >= options.maximumAttempts {
                return fail(message, channel: route.channel, code: code, permanent: false, detail)
            }
            let backoff = options.backoff[min(attempts - 1, options.backoff.count - 1)]
            let wait = max(backoff, retryAfter ?? .zero)
            let next = now.addingTimeInterval(Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18)
            return .update(
                notificationID: message.notificationID,
                assignments: "SET attempts = ?, next_attempt_at = ?, claimed_until = NULL, last_error = ?",
                arguments: [
                    .integer(Int64(attempts)), .real(next.timeIntervalSince1970), .text(code + ": " + detail.prefix(200)),
                ])
        }
    }

    /// Writes steps of sends that finished together: the final states with their events in one
    /// batch (each under its own inbox id, so a state is recorded once; one that fails leaves
    /// the others recorded), the other changes in one transaction (each in its own if that
    /// fails).
    func record(_ steps: [Step]) async {
        var finals: [StoreWork] = []
        var finalIsSent: [Bool] = []
        var updates: [(String, String, [SQLValue])] = []
        for step in steps {
            switch step {
            case .update(let id, let assignments, let arguments):
                updates.append((id, assignments, arguments))
            case .final(let id, let isSent, let event, let assignments, let arguments):
                finalIsSent.append(isSent)
                finals.append(
                    StoreWork(messageID: "notification-final:" + id) { transaction in
                        try transaction.execute(
                            "UPDATE notif_messages \(assignments) WHERE notification_id = ?", arguments + [.text(id)])
                        return [event]
                    })
            }
        }
        // A record that fails is not retried here: the claim expires and the message is taken
        // again; a gateway's idempotency key absorbs the repeat.
        if !finals.isEmpty {
            do {
                var sent = 0
                var failed = 0
                var events: [OutboxEntry] = []
                for (result, isSent) in zip(try await store.process(finals), finalIsSent) {
                    switch result {
                    case .success(let outcome):
                        if case .processed(let entries) = outcome { events += entries }
                        if isSent { sent += 1 } else { failed += 1 }
                    case .failure(let error):
                        logger.error("could not record a notification's outcome", metadata: ["error": "\(error)"])
                    }
                }
                counters.withLock {
                    $0.sent += sent
                    $0.failed += failed
                }
                outbox?.publishSoon(events)
            } catch {
                logger.error("could not record notification outcomes", metadata: ["error": "\(error)"])
            }
        }
        if !updates.isEmpty {
            let batch = updates
            do {
                try await store.write { transaction in
                    for (id, assignments, arguments) in batch {
                        try transaction.execute(
                            "UPDATE notif_messages \(assignments) WHERE notification_id = ?", arguments + [.text(id)])
                    }
                }
            } catch  where batch.count > 1 {
                // One change that fails must not take the others with it: each on its own.
                for (id, assignments, arguments) in batch {
                    do {
                        try await store.write { transaction in
                            try transaction.execute(
                                "UPDATE notif_messages \(assignments) WHERE notification_id = ?", arguments + [.text(id)])
                        }
                    } catch {
                        logger.error(
                            "could not record a notification's outcome",
                            metadata: ["notification": "\(id)", "error": "\(error)"])
                    }
                }
            } catch {
                logger.error("could not record notification outcomes", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The key for one notification on one channel: the same for every attempt, free of
    /// personal data.
    public static func idempotencyKey(_ notificationID: String, _ channel: NotificationChannel) -> String {
        let digest = SHA256.hash(data: Data("\(notificationID)|\(channel.rawValue)".utf8))
        // Lowercase hex by hand: `String(format:)` per byte was 5.5 % of the role's CPU.
        return "ntf-" + Hex.lowercase(digest.prefix(16))
    }

    private func sent(_ message: Pending, channel: NotificationChannel, providerID: String) -> Step? {
        let sentAt = now()
        let delivered = NotificationDeliveredV1(
            notificationID: message.notificationID, channel: channel,
            deliveredAt: UTCTimestamp.iso8601(sentAt, milliseconds: true)
                ?? sentAt.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)),
            providerMessageID: providerID)
        return final(
            message, event: delivered, sent: true,
            assignments: "SET state = 'sent', sent_at = ?, channel_used = ?, provider_id = ?, claimed_until = NULL",
            arguments: [.real(sentAt.timeIntervalSince1970), .text(channel.rawValue), .text(providerID)])
    }

    private func fail(_ message: Pending, channel: NotificationChannel, code: String, permanent: Bool, _ detail: String)
        -> Step?
    {
        logger.warning(
            "notification failed",
            metadata: [
                "notification": "\(message.notificationID)", "channel": "\(channel.rawValue)", "code": "\(code)",
                "permanent": "\(permanent)", "detail": "\(PersonalData.mask(String(detail.prefix(200))))",
            ])
        let failed = NotificationFailedV1(
            notificationID: message.notificationID, channel: channel, reasonCode: code, permanent: permanent)
        return final(
            message, event: failed, sent: false, assignments: "SET state = 'failed', claimed_until = NULL, last_error = ?",
            arguments: [.text(code + ": " + detail.prefix(200))])
    }

    private func final<M: ContractMessage>(
        _ message: Pending, event: M, sent: Bool, assignments: String, arguments: [SQLValue]
    ) -> Step? {
        let envelope = EventEnvelope(
            source: "/kaltim/workers/notifications", subject: message.participantID, correlationID: message.correlationID,
            data: event)
        guard let outgoing = try? OutgoingEvent(envelope, exchange: exchange) else {
            logger.error("could not encode a notification outcome", metadata: ["notification": "\(message.notificationID)"])
            return nil
        }
        return .final(
            notificationID: message.notificationID, sent: sent, event: outgoing, assignments: assignments, arguments: arguments)
    }
}
