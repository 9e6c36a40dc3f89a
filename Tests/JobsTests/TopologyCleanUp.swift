import AMQP
import Jobs

extension RoleTopology {
    /// Deletes everything ``declare(on:)`` made (tests only).
    func delete(on connection: AMQPConnection) async {
        for name in [queue, deadLetterQueue] + retryQueues.map(\.name) {
            _ = try? await connection.deleteQueue(name)
        }
        try? await connection.deleteExchange(exchange)
    }
}
