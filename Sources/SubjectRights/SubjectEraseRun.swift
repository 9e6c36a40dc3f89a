public import DataProtection
import Foundation
public import Jobs

/// One erasure carried out in its order (after the caller has written its audit entry): the
/// dead letters first, while the stores still say who the person is (a broker that cannot be
/// reached stops it before anything is changed), then checked by a second look; then the local
/// notification logs, while the person's addresses are still known (a log that cannot be
/// rewritten stops it before the stores, so it can be run again); then every store by the
/// register's rules.
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
    ///   - afterSweep: told the dead letters removed and how many naming the person remain, as
    ///     soon as the sweep is done (before anything else can fail).
    public static func erase(
        _ found: SubjectExport, in stores: [(role: String, store: any MessageStore)], nikKey: NIKKey?,
        sweep: ((MessageMatcher, _ remove: Bool) async throws -> [SubjectExport.DeadLetterRecord])?,
        notificationLogs: [String],
        afterSweep: ([SubjectExport.DeadLetterRecord], _ remaining: Int) -> Void = { _, _ in }
    ) async throws -> Outcome {
        let addresses = found.addresses
        let matcher = MessageMatcher(identifiers: found.identifiers, addresses: addresses, nikKey: nikKey)
        var letters: [SubjectExport.DeadLetterRecord]?
        var remaining = 0
        if let sweep {
            letters = try await sweep(matcher, true)
            // An ack has no answer, and another sweep at the same time may have held some.
            remaining = try await sweep(matcher, false).filter { $0.matchedBy == .person }.count
            afterSweep(letters ?? [], remaining)
        }
        var lines = 0
        for log in notificationLogs {
            lines += try NotificationLogEraser.remove(addresses: addresses, from: log)
        }
        let report = try await SubjectErasure.erase(found.identifiers, in: stores)
        return Outcome(stores: report, deadLetters: letters, deadLettersRemaining: remaining, notificationLogLines: lines)
    }
}
