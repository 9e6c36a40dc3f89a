public import Foundation

/// A CloudEvents 1.0 shaped JSON envelope around one contract message.
///
/// ```json
/// { "specversion": "1.0", "id": "…", "source": "/kaltim/registration-portal",
///   "type": "registration.submitted", "dataversion": 2, "time": "2025-03-01T08:00:00Z",
///   "subject": "REG-…", "datacontenttype": "application/json",
///   "correlationid": "…", "causationid": "…", "data": { … } }
/// ```
///
/// On AMQP the important fields are mirrored into properties: `message_id` = ``id``,
/// `type` = ``type``, `timestamp` = ``time``, `correlation_id` = ``correlationID``,
/// `app_id` = ``source``, `content_type` = `application/json`, delivery mode 2, and the
/// header `x-contract-version` = ``dataVersion``. The routing key is ``type``.
public struct EventEnvelope<Payload: ContractMessage>: Codable, Sendable, Equatable {
    public var specVersion: String
    /// Unique per message; the idempotency key of every consumer.
    public var id: String
    /// Who produced it, as a URI reference: `/kaltim/registration-portal`, `/kaltim/workers/intake`.
    public var source: String
    public var type: String
    public var dataVersion: Int
    public var time: Date
    /// What the event is about (a registration or participant id; never a NIK).
    public var subject: String?
    public var dataContentType: String
    /// The id shared by every message of one business flow.
    public var correlationID: String
    /// The id of the message that caused this one (nil for the first of a flow).
    public var causationID: String?
    public var data: Payload

    /// Creates an envelope for `data`; `type` and `dataversion` come from the payload's type.
    public init(
        id: String = EventID.random(), source: String, time: Date = Date(), subject: String? = nil,
        correlationID: String? = nil, causationID: String? = nil, data: Payload
    ) {
        self.specVersion = "1.0"
        self.id = id
        self.source = source
        self.type = Payload.eventType
        self.dataVersion = Payload.version
        self.time = time
        self.subject = subject
        self.dataContentType = "application/json"
        self.correlationID = correlationID ?? id
        self.causationID = causationID
        self.data = data
    }

    enum CodingKeys: String, CodingKey {
        case specVersion = "specversion"
        case id, source, type
        case dataVersion = "dataversion"
        case time, subject
        case dataContentType = "datacontenttype"
        case correlationID = "correlationid"
        case causationID = "causationid"
        case data
    }
}

/// The envelope's metadata, read before the payload's type is known.
public struct EnvelopeHeader: Decodable, Sendable, Equatable {
    public let specVersion: String
    public let id: String
    public let source: String
    public let type: String
    public let dataVersion: Int
    public let time: Date
    public let subject: String?
    public let correlationID: String
    public let causationID: String?

    init<M>(_ envelope: EventEnvelope<M>) {
        specVersion = envelope.specVersion
        id = envelope.id
        source = envelope.source
        type = envelope.type
        dataVersion = envelope.dataVersion
        time = envelope.time
        subject = envelope.subject
        correlationID = envelope.correlationID
        causationID = envelope.causationID
    }

    enum CodingKeys: String, CodingKey {
        case specVersion = "specversion"
        case id, source, type
        case dataVersion = "dataversion"
        case time, subject
        case correlationID = "correlationid"
        case causationID = "causationid"
    }
}

/// JSON settings every producer and consumer shares: ISO 8601 dates (UTC, `Z`), sorted keys.
public enum ContractJSON {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    /// Encodes an envelope as the body of an AMQP message: the same bytes as ``encoder()``
    /// gives for the whole envelope, written directly: the envelope's fields by hand, the
    /// payload by ``ContractJSONEncoder`` (the outbox encodes one envelope per event, and
    /// `JSONEncoder` was a tenth of a worker's CPU). A payload it does not handle takes
    /// `JSONEncoder`; dates outside the years 1970–9999 take `JSONEncoder` for the whole
    /// envelope.
    public static func encode<Payload>(_ envelope: EventEnvelope<Payload>) throws -> Data {
        guard let time = EnvelopeWriter.timestamp(envelope.time) else { return try encoder().encode(envelope) }
        let payload: [UInt8]
        do {
            payload = try ContractJSONEncoder.encode(envelope.data)
        } catch is ContractJSONEncoder.Unsupported {
            payload = Array(try encoder().encode(envelope.data))
        }
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + 400)
        var writer = EnvelopeWriter(out: out)
        writer.begin()
        if let causation = envelope.causationID { writer.field("causationid", string: causation) }
        writer.field("correlationid", string: envelope.correlationID)
        writer.field("data", raw: payload)
        writer.field("datacontenttype", string: envelope.dataContentType)
        writer.field("dataversion", raw: Array(String(envelope.dataVersion).utf8))
        writer.field("id", string: envelope.id)
        writer.field("source", string: envelope.source)
        writer.field("specversion", string: envelope.specVersion)
        if let subject = envelope.subject { writer.field("subject", string: subject) }
        writer.field("time", string: time)
        writer.field("type", string: envelope.type)
        writer.end()
        return Data(writer.out)
    }
}

/// Writes a JSON object field by field, keys in the order given (the caller sorts them), with
/// `JSONEncoder`'s escaping (`.withoutEscapingSlashes`).
struct EnvelopeWriter {
    var out: [UInt8]
    private var first = true

    init(out: [UInt8]) { self.out = out }

    mutating func begin() { out.append(UInt8(ascii: "{")) }
    mutating func end() { out.append(UInt8(ascii: "}")) }

    private mutating func key(_ key: StaticString) {
        if !first { out.append(UInt8(ascii: ",")) }
        first = false
        out.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }

    mutating func field(_ name: StaticString, raw: some Sequence<UInt8>) {
        key(name)
        out.append(contentsOf: raw)
    }

    mutating func field(_ name: StaticString, string: String) {
        key(name)
        Self.appendString(string, to: &out)
    }

    /// A JSON string literal: `"` and `\` escaped, control characters as `\b \t \n \f \r`
    /// or `\u00xx`; everything else (`/`, non-ASCII) as it is, in UTF-8.
    static func appendString(_ string: String, to out: inout [UInt8]) {
        var string = string
        string.withUTF8 { appendString(utf8: $0, to: &out) }
    }

    /// ``appendString(_:to:)`` over UTF-8 bytes: runs that need no escape are copied whole.
    static func appendString(utf8 bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        let hex = Hex.digits
        out.append(UInt8(ascii: "\""))
        var runStart = 0
        for (index, byte) in bytes.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
            runStart = index + 1
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            default:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
        out.append(UInt8(ascii: "\""))
    }

    /// `yyyy-MM-ddTHH:mm:ssZ` in UTC, the fraction dropped (as `JSONEncoder`'s `.iso8601`), for
    /// the years 1970 to 9999; nil outside them.
    static func timestamp(_ date: Date) -> String? { UTCTimestamp.iso8601(date) }
}

/// Message ids: random (version 4) UUIDs in lowercase.
public enum EventID {
    /// A new random id, such as `3f2b8c1e-5d4a-4f6b-9c7d-1e2f3a4b5c6d`. Drawn from the system's
    /// random generator (`getrandom`); Foundation's `UUID()` opens `/dev/urandom` on every call
    /// on Linux, which showed in the worker's profile.
    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        var high: UInt64 = generator.next()
        var low: UInt64 = generator.next()
        high = (high & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000  // version 4
        low = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000  // RFC 4122 variant
        let hex = Hex.digits
        var out = [UInt8](repeating: UInt8(ascii: "-"), count: 36)
        var position = 0
        for word in [high, low] {
            for nibble in 0..<16 {
                if position == 8 || position == 13 || position == 18 || position == 23 { position += 1 }
                out[position] = hex[Int((word >> UInt64(60 - 4 * nibble)) & 0xF)]
                position += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
