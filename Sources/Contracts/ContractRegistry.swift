public import Foundation

/// A decoded message: the envelope's metadata and the payload, upcast to the newest version
/// of its contract.
public struct DecodedEvent: Sendable {
    public let header: EnvelopeHeader
    /// The newest version of the contract, whatever version was on the wire.
    public let payload: any ContractMessage
    /// The version that was on the wire.
    public var receivedVersion: Int { header.dataVersion }
}

/// Knows every (type, version) the system accepts, decodes bodies strictly, and upcasts old
/// versions to the newest before anyone sees them.
///
/// ```swift
/// var registry = ContractRegistry()
/// registry.register(RegistrationSubmittedV2.self)
/// registry.register(RegistrationSubmittedV1.self, upcast: { $0.upcast() })
/// let event = try registry.decode(body)   // a V2, from a V1 or a V2 body
/// ```
public struct ContractRegistry: Sendable {
    private struct Entry: Sendable {
        let decode: @Sendable (Data, JSONDecoder) throws -> (EnvelopeHeader, any ContractMessage)
        /// Turns this version's payload into the next version's (identity for the newest).
        let upcast: @Sendable (any ContractMessage) -> any ContractMessage
        let isNewest: Bool
        let nextVersion: Int?
    }

    /// The largest body accepted (256 KiB by default).
    public var sizeLimit: Int
    private var entries: [String: [Int: Entry]] = [:]

    /// An empty registry.
    public init(sizeLimit: Int = 256 * 1024) {
        self.sizeLimit = sizeLimit
    }

    /// Registers the newest version of a contract.
    public mutating func register<M: ContractMessage>(_ type: M.Type) {
        entries[M.eventType, default: [:]][M.version] = Entry(
            decode: { data, decoder in
                let envelope = try decoder.decode(EventEnvelope<M>.self, from: data)
                return (EnvelopeHeader(envelope), envelope.data)
            },
            upcast: { $0 }, isNewest: true, nextVersion: nil)
    }

    /// Registers an older version with the function that upcasts it to the next version
    /// (which must be registered too, as newest or with its own upcaster).
    public mutating func register<Old: ContractMessage, Next: ContractMessage>(
        _ type: Old.Type, upcast: @escaping @Sendable (Old) -> Next
    ) {
        precondition(
            Old.eventType == Next.eventType && Next.version > Old.version, "upcast within one contract, to a newer version")
        entries[Old.eventType, default: [:]][Old.version] = Entry(
            decode: { data, decoder in
                let envelope = try decoder.decode(EventEnvelope<Old>.self, from: data)
                return (EnvelopeHeader(envelope), envelope.data)
            },
            upcast: { upcast($0 as! Old) }, isNewest: false, nextVersion: Next.version)
    }

    /// The registered (type, versions), for documentation and schema export.
    public var contracts: [String: [Int]] { entries.mapValues { $0.keys.sorted() } }

    /// Decodes a message as it came from the broker: its content type must be absent or
    /// `application/json` (a `charset` other than UTF-8 is refused) and its content encoding
    /// absent or `identity`; then the body, as ``decode(_:)``.
    public func decode(_ body: Data, contentType: String?, contentEncoding: String?) throws(ContractError) -> DecodedEvent {
        if let contentType, contentType != "application/json" {
            let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            let charsetOK = parts.dropFirst().allSatisfy { !$0.hasPrefix("charset=") || $0 == "charset=utf-8" }
            guard parts.first == "application/json" || parts.first?.hasSuffix("+json") == true, charsetOK else {
                throw .unsupportedContentType
            }
        }
        if let contentEncoding, !contentEncoding.isEmpty, contentEncoding.lowercased() != "identity" {
            throw .unsupportedContentEncoding
        }
        return try decode(body)
    }

    /// Decodes a message body: size limit, duplicate keys, envelope, (type, version) lookup,
    /// payload, upcast to the newest version.
    /// - Throws: ``ContractError`` with a stable ``ContractError/reason``.
    public func decode(_ body: Data) throws(ContractError) -> DecodedEvent {
        let summary = try StrictJSON.check(body, limit: sizeLimit)
        let decoder = ContractJSON.decoder()
        var entry: Entry
        if let type = summary.type, let version = summary.dataVersion, let known = entries[type]?[version] {
            entry = known  // the common case: the body is parsed once
        } else {
            // Read the envelope alone, for a precise error.
            let header: EnvelopeHeader
            do {
                header = try decoder.decode(EnvelopeHeader.self, from: body)
            } catch {
                throw Self.translate(error)
            }
            guard header.specVersion == "1.0" else { throw .envelope("specversion must be \"1.0\"") }
            guard let versions = entries[header.type] else { throw .unknownType(header.type) }
            guard let known = versions[header.dataVersion] else {
                throw .unsupportedVersion(header.type, header.dataVersion, known: versions.keys.sorted())
            }
            entry = known
        }
        let header: EnvelopeHeader
        var payload: any ContractMessage
        do {
            (header, payload) = try entry.decode(body, decoder)
        } catch {
            throw Self.translate(error)
        }
        guard header.specVersion == "1.0" else { throw .envelope("specversion must be \"1.0\"") }
        guard let versions = entries[header.type] else { throw .unknownType(header.type) }
        while !entry.isNewest, let next = entry.nextVersion, let nextEntry = versions[next] {
            payload = entry.upcast(payload)
            entry = nextEntry
        }
        return DecodedEvent(header: header, payload: payload)
    }

    /// Turns a `DecodingError` into a ``ContractError`` naming the field's JSON path.
    static func translate(_ error: any Error) -> ContractError {
        guard let error = error as? DecodingError else { return .malformed("undecodable") }
        func path(_ codingPath: [any CodingKey], _ last: (any CodingKey)? = nil) -> String {
            var parts = codingPath
            if let last { parts.append(last) }
            var text = ""
            for key in parts {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
                }
            }
            return text.isEmpty ? "(root)" : text
        }
        switch error {
        case .keyNotFound(let key, let context): return .missingField(path(context.codingPath, key))
        case .valueNotFound(let type, let context): return .wrongType(path(context.codingPath), expected: "a \(type), not null")
        case .typeMismatch(let type, let context): return .wrongType(path(context.codingPath), expected: "a \(type)")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                // Foundation reports a number that does not fit its field (1e400, 2.5 or 10^30
                // where an Int belongs) the same way as broken syntax, without a path.
                return .malformed("the JSON cannot be parsed, or a number does not fit the field it is in")
            }
            // Foundation's descriptions can quote the value (an enum's raw value, say): only
            // our own validators' texts, which state a rule and never a value, pass through.
            let rule =
                context.debugDescription.hasPrefix("rule: ")
                ? String(context.debugDescription.dropFirst(6)) : "not an allowed value"
            return .invalidValue(path(context.codingPath), rule)
        @unknown default: return .malformed("undecodable")
        }
    }
}
