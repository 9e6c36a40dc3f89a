import AMQP
public import Admin
import ContractKit
public import DataProtection
import Foundation
public import Jobs
import Topology

/// The dead letters of every role (and the console) that name one person.
public enum SubjectDeadLetters {
    /// Lists them, and with `remove` acknowledges (so deletes) those naming the person by an id
    /// or their NIK; one naming only an address of theirs (which someone else may share) is
    /// listed and given back, as is every other one. A dead-letter queue missing on the broker
    /// (a role not deployed) is skipped and said through `note`; any other failure stops.
    public static func sweep(
        _ engine: DeadLetterAdmin, matching matcher: MessageMatcher, remove: Bool, note: (String) -> Void = { _ in }
    ) async throws -> [SubjectExport.DeadLetterRecord] {
        var found: [SubjectExport.DeadLetterRecord] = []
        for (_, queue) in engine.queues(WorkerRole.all + [.console]) {
            do {
                _ = try await engine.connection.queueState(queue)
            } catch let error as AMQPError where error.replyCode == 404 {
                note("no dead-letter queue \(queue) on this broker: skipped")
                continue
            }
            let letters = try await engine.sweep(queue)
            var kept: [DeadLetter] = []
            for letter in letters {
                let match = matcher.match(letter.delivery.body)
                if match != .none {
                    found.append(
                        .init(
                            queue: queue, messageID: letter.messageID, contractType: letter.contractType,
                            failureCode: letter.code, firstFailure: letter.firstFailure,
                            matchedBy: match == .person ? .person : .addressOnly))
                    if remove && match == .person {
                        try await letter.delivery.ack()
                        continue
                    }
                }
                kept.append(letter)
            }
            await engine.release(kept)
        }
        return found
    }
}

/// One erasure carried out in its order (after the caller has written its audit entry): the
/// dead letters first, while the stores still say who the person is (a broker that cannot be
/// reached stops it before anything is changed), then checked by a second look; then every
/// store by the register's rules; then the local notification logs.
public enum SubjectEraseRun {
    /// What it changed.
    public struct Outcome: Sendable {
        public var stores: SubjectErasure.Report
        /// The dead letters found naming the person (nil: not searched).
        public var deadLetters: [SubjectExport.DeadLetterRecord]?
        /// Dead letters naming the person still there after the sweep (held by another sweep).
        public var deadLettersRemaining = 0
        public var notificationLogLines = 0

        /// Dead letters removed (those naming the person by an id or the NIK).
        public var deadLettersRemoved: Int { deadLetters?.filter { $0.matchedBy == .person }.count ?? 0 }
    }

    /// - Parameters:
    ///   - found: the person, as ``SubjectExport/collect(from:start:)`` found them in `stores`.
    ///   - sweep: runs a dead-letter sweep (`remove` or only look); nil: dead letters untouched.
    ///   - notificationLogs: the file channel's logs to remove the person's lines from.
    public static func erase(
        _ found: SubjectExport, in stores: [(role: String, store: any MessageStore)], nikKey: NIKKey?,
        sweep: ((MessageMatcher, _ remove: Bool) async throws -> [SubjectExport.DeadLetterRecord])?,
        notificationLogs: [String]
    ) async throws -> Outcome {
        let addresses = found.addresses
        let matcher = MessageMatcher(identifiers: found.identifiers, addresses: addresses, nikKey: nikKey)
        var letters: [SubjectExport.DeadLetterRecord]?
        var remaining = 0
        if let sweep {
            letters = try await sweep(matcher, true)
            // An ack has no answer, and another sweep at the same time may have held some.
            remaining = try await sweep(matcher, false).filter { $0.matchedBy == .person }.count
        }
        let report = try await SubjectErasure.erase(found.identifiers, in: stores)
        var lines = 0
        for log in notificationLogs {
            lines += try NotificationLogEraser.remove(addresses: addresses, from: log)
        }
        return Outcome(stores: report, deadLetters: letters, deadLettersRemaining: remaining, notificationLogLines: lines)
    }
}
