public import AMQP
public import Jobs

extension RoleTopology {
    /// Deletes everything ``declare(on:)`` made (tests only).
    public func delete(on connection: AMQPConnection) async {
        for name in [queue, deadLetterQueue] + retryQueues.map(\.name) {
            _ = try? await connection.deleteQueue(name)
        }
        try? await connection.deleteExchange(exchange)
        try? await connection.deleteExchange(failureExchange)
    }
}
