internal import CRabbitMQ
public import Foundation

extension AMQPProperties {
    /// Decodes the property list of a basic content header as it travels on the wire (the
    /// property flags, then each property present, headers included), with librabbitmq's own
    /// decoder and the conversion the connection applies to every delivery. The fuzzer feeds it
    /// arbitrary bytes; no input may trap.
    /// - Throws: ``AMQPError/Code/protocolError`` when librabbitmq refuses the bytes.
    public init(wireEncoded data: Data) throws {
        var pool = amqp_pool_t()
        init_amqp_pool(&pool, 4096)
        defer { empty_amqp_pool(&pool) }
        var decoded: UnsafeMutableRawPointer?
        let status = data.withUnsafeBytes { raw -> Int32 in
            let bytes = amqp_bytes_t(len: raw.count, bytes: UnsafeMutableRawPointer(mutating: raw.baseAddress))
            return amqp_decode_properties(UInt16(AMQP_BASIC_CLASS), &pool, bytes, &decoded)
        }
        guard status == 0, let decoded else {
            throw AMQPError(.protocolError, "not a basic property list: \(amqpStatusText(status))")
        }
        self = CDecoding.properties(decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee)
    }

    /// The property list as librabbitmq writes it on the wire (the inverse of
    /// ``init(wireEncoded:)``).
    /// - Throws: ``AMQPError/Code/protocolError`` when the properties do not fit `capacity` bytes.
    public func wireEncoded(capacity: Int = 131_072) throws -> Data {
        let arena = CArena()
        defer { arena.release() }
        var properties = arena.properties(self)
        var buffer = [UInt8](repeating: 0, count: capacity)
        let written = buffer.withUnsafeMutableBytes { raw -> Int32 in
            let bytes = amqp_bytes_t(len: raw.count, bytes: raw.baseAddress)
            return amqp_encode_properties(UInt16(AMQP_BASIC_CLASS), &properties, bytes)
        }
        guard written >= 0 else { throw AMQPError(.protocolError, "cannot encode the properties: \(amqpStatusText(written))") }
        return Data(buffer.prefix(Int(written)))
    }
}
