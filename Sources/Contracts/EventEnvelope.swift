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
        id: String = UUID().uuidString.lowercased(), source: String, time: Date = Date(), subject: String? = nil,
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

    /// Encodes an envelope as the body of an AMQP message.
    public static func encode<Payload>(_ envelope: EventEnvelope<Payload>) throws -> Data {
        try encoder().encode(envelope)
    }
}
