import AMQP
public import Admin
import ContractKit
public import DataProtection
import Foundation
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
            for (index, letter) in letters.enumerated() {
                let match = matcher.match(letter.delivery.body)
                if match != .none {
                    found.append(
                        .init(
                            queue: queue, messageID: letter.messageID, contractType: letter.contractType,
                            failureCode: letter.code, firstFailure: letter.firstFailure,
                            matchedBy: match == .person ? .person : .addressOnly))
                    if remove && match == .person {
                        do {
                            try await letter.delivery.ack()
                        } catch {
                            // The letters not acknowledged go back to their queue, not held by a
                            // connection that stays open (the console's).
                            await engine.release(kept + letters[index...])
                            throw error
                        }
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
