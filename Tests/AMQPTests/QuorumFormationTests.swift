import Logging
import Synchronization
import Testing

@testable import AMQP

/// A quorum queue declared on a busy node can be refused with `541 ... cluster_not_formed` (seen
/// in CI: a process test's setup failed on it). The declaration is tried again; nothing else is.
struct QuorumFormationTests {
    /// The broker's refusal, as RabbitMQ 3.13 and 4.x word it; it closes the connection.
    static let refusal = AMQPError(
        .connectionLost, "declaring queue 'q': the broker closed the connection", replyCode: 541,
        replyText: "INTERNAL_ERROR - Cannot declare quorum queue 'q' in vhost '/' on node 'n' with leader on node 'n': "
            + "cluster_not_formed", classID: 50, methodID: 10)

    /// Runs the retry with `answers` given in turn by the operation; returns the result or the
    /// error, the number of calls and the waits asked for.
    static func run(_ answers: [Result<Int, AMQPError>]) async -> (Result<Int, any Error>, calls: Int, waits: [Duration]) {
        let calls = Mutex(0)
        let waits = Mutex<[Duration]>([])
        let delays: [Duration] = [.seconds(1), .seconds(2), .seconds(3)]
        // The waits are recorded, not slept.
        let sleep: (Duration) async throws -> Void = { delay in waits.withLock { $0.append(delay) } }
        do {
            let value = try await AMQPConnection.retryingWhileQuorumForms(
                delays: delays, logger: Logger(label: "test"), sleep: sleep
            ) {
                let call = calls.withLock { count in
                    count += 1
                    return count
                }
                return try answers[min(call, answers.count) - 1].get()
            }
            return (.success(value), calls.withLock { $0 }, waits.withLock { $0 })
        } catch {
            return (.failure(error), calls.withLock { $0 }, waits.withLock { $0 })
        }
    }

    @Test func theRefusalIsRecognisedAndNothingElseIs() {
        #expect(Self.refusal.isQuorumClusterNotFormed)
        // As a Kubernetes broker sends it: the reason over 255 bytes, cut to 252 and "...".
        let node = "rabbit@kaltim-rabbitmq-server-0.kaltim-rabbitmq-nodes.kaltim-programme"
        let whole =
            "INTERNAL_ERROR - Cannot declare quorum queue 'kaltim.notifications.retry.30s' in vhost '/' on node "
            + "'\(node)' with leader on node '\(node)': cluster_not_formed"
        #expect(whole.utf8.count > 255)
        let cut = String(decoding: whole.utf8.prefix(252), as: UTF8.self) + "..."
        #expect(
            AMQPError(.connectionLost, "x", replyCode: 541, replyText: cut, classID: 50, methodID: 10).isQuorumClusterNotFormed)
        #expect(AMQPError(.connectionLost, "x", replyCode: 541, replyText: cut).isQuorumClusterNotFormed)
        // The same text for another method (a publish) is not a declaration's refusal.
        #expect(
            !AMQPError(.connectionLost, "x", replyCode: 541, replyText: cut, classID: 60, methodID: 40).isQuorumClusterNotFormed)
        #expect(
            !AMQPError(.connectionLost, "x", replyCode: 541, replyText: "INTERNAL_ERROR - Cannot declare quorum queue 'q': no")
                .isQuorumClusterNotFormed)
        #expect(!AMQPError(.connectionLost, "x", replyCode: 541, replyText: "INTERNAL_ERROR").isQuorumClusterNotFormed)
        #expect(
            !AMQPError(.channelClosed, "x", replyCode: 406, replyText: "PRECONDITION_FAILED - cluster_not_formed")
                .isQuorumClusterNotFormed)
        // A queue named so is not the refusal.
        #expect(
            !AMQPError(.channelClosed, "x", replyCode: 541, replyText: "INTERNAL_ERROR - 'cluster_not_formed' is busy")
                .isQuorumClusterNotFormed)
    }

    @Test func aRefusedDeclarationIsTriedAgainUntilTheGroupForms() async throws {
        let reconnecting = AMQPError(.notConnected, "not connected to the broker (reconnecting)")
        let (result, calls, waits) = await Self.run([.failure(Self.refusal), .failure(reconnecting), .success(7)])
        #expect(try result.get() == 7)
        #expect(calls == 3)
        #expect(waits == [.seconds(1), .seconds(2)])
    }

    @Test func afterEveryWaitTheLastRefusalIsThrown() async {
        let (result, calls, waits) = await Self.run([.failure(Self.refusal)])
        #expect(calls == 4, "the first try and one after each of the three waits")
        #expect(waits == [.seconds(1), .seconds(2), .seconds(3)])
        guard case .failure(let error as AMQPError) = result else {
            Issue.record("expected the refusal, got \(result)")
            return
        }
        #expect(error.isQuorumClusterNotFormed)
    }

    @Test func otherErrorsAreNotRetried() async {
        let mismatch = AMQPError(.channelClosed, "x", replyCode: 406, replyText: "PRECONDITION_FAILED - inequivalent arg")
        for first in [mismatch, AMQPError(.connectionLost, "socket closed"), AMQPError(.notConnected, "reconnecting")] {
            let (result, calls, waits) = await Self.run([.failure(first), .success(1)])
            #expect(calls == 1 && waits.isEmpty, "\(first)")
            guard case .failure(let error as AMQPError) = result else {
                Issue.record("expected \(first), got \(result)")
                continue
            }
            #expect(error.code == first.code)
        }
        // After a refusal, a mismatch is thrown at once, and so is a connection closed for good.
        // A connection that does not come back is thrown as what it is, not as the refusal.
        let down = AMQPError(.connectionFailed, "cannot connect to 127.0.0.1:5672")
        let (last, tries, _) = await Self.run([.failure(Self.refusal), .failure(down)])
        #expect(tries == 4)
        if case .failure(let error as AMQPError) = last {
            #expect(error.code == .connectionFailed, "\(error)")
        } else {
            Issue.record("expected the connection failure, got \(last)")
        }
        for second in [mismatch, AMQPError(.connectionClosed, "the connection is closed")] {
            let (result, calls, _) = await Self.run([.failure(Self.refusal), .failure(second), .success(1)])
            #expect(calls == 2, "\(second)")
            guard case .failure(let error as AMQPError) = result else {
                Issue.record("expected \(second), got \(result)")
                continue
            }
            #expect(error.code == second.code)
        }
    }
}
