public import Foundation

/// A decoded message: the envelope's metadata and the payload, upcast to the newest version
/// of its contract.
public struct DecodedEvent: Sendable, Equatable {
    public let header: EnvelopeHeader
    /// The newest version of the contract, whatever version was on the wire.
    public let payload: any ContractMessage
    /// The version that was on the wire.
    public var receivedVersion: Int { header.dataVersion }

    /// The same header, and payloads of the same contract type with equal values.
    public static func == (a: DecodedEvent, b: DecodedEvent) -> Bool {
        func equal<Payload: ContractMessage>(_ payload: Payload) -> Bool { (b.payload as? Payload) == payload }
        return a.header == b.header && equal(a.payload)
    }
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
        let decodeDocument: @Sendable (ContractJSONDecoder) throws -> (EnvelopeHeader, any ContractMessage)
        /// Turns this version's payload into the next version's (identity for the newest).
        let upcast: @Sendable (any ContractMessage) -> any ContractMessage
        let isNewest: Bool
        let nextVersion: Int?
    }

    /// How a body becomes a contract.
    public enum Engine: Sendable {
        /// One strict pass over the bytes into a table of values (``JSONDocument``), then the
        /// contract types read from it (``ContractJSONDecoder``). The default.
        case contractJSON
        /// A strict scan for what Foundation does not check (``StrictJSON``), then Foundation's
        /// `JSONDecoder`: the reference the tests and the fuzzer compare the default against,
        /// and the fallback for a type the default does not handle.
        case foundation
    }

    /// The largest body accepted (256 KiB by default).
    public var sizeLimit: Int
    /// How bodies are decoded (``Engine/contractJSON`` by default).
    public var engine: Engine = .contractJSON
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
            decodeDocument: { decoder in
                let envelope = try EventEnvelope<M>(from: decoder)
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
            decodeDocument: { decoder in
                let envelope = try EventEnvelope<Old>(from: decoder)
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

    /// Decodes a message body: size limit, strict JSON (no duplicate keys), envelope, (type,
    /// version) lookup, payload, upcast to the newest version.
    /// - Throws: ``ContractError`` with a stable ``ContractError/reason``.
    public func decode(_ body: Data) throws(ContractError) -> DecodedEvent {
        switch engine {
        case .foundation: return try decodeWithFoundation(body)
        case .contractJSON:
            guard body.count <= sizeLimit else { throw .tooLarge(body.count, limit: sizeLimit) }
            let document = try JSONDocument.parse(body)
            // nil: a type the document decoder leaves to Foundation (none of the contracts has one).
            if let event = try decode(document) { return event }
            return try decodeWithFoundation(body)
        }
    }

    private func decode(_ document: JSONDocument) throws(ContractError) -> DecodedEvent? {
        let root = ContractJSONDecoder(document: document)
        do {
            let entry: Entry
            if let (type, version) = Self.envelopeContract(document), let known = entries[type]?[version] {
                entry = known  // the common case
            } else {
                // Read the envelope alone, for a precise error.
                entry = try self.entry(for: EnvelopeHeader(from: root))
            }
            let (header, payload) = try entry.decodeDocument(root)
            return try upcast(header: header, payload: payload, from: entry)
        } catch is ContractJSONDecoder.Unsupported {
            return nil
        } catch let error as ContractError {
            throw error
        } catch {
            throw Self.translate(error)
        }
    }

    /// The top-level `type` and `dataversion`, when they are a string and a plain integer.
    private static func envelopeContract(_ document: JSONDocument) -> (String, Int)? {
        guard document.nodes[0].kind == .object, let type = document.member("type", of: 0),
            document.nodes[type].kind == .string, let version = document.member("dataversion", of: 0),
            document.nodes[version].kind == .number, let number = Int(document.numberText(at: version))
        else { return nil }
        return (document.string(at: type), number)
    }

    /// ``Engine/foundation``: ``StrictJSON``, then `JSONDecoder`.
    private func decodeWithFoundation(_ body: Data) throws(ContractError) -> DecodedEvent {
        let summary = try StrictJSON.check(body, limit: sizeLimit)
        let decoder = ContractJSON.decoder()
        let entry: Entry
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
            entry = try self.entry(for: header)
        }
        let header: EnvelopeHeader
        let payload: any ContractMessage
        do {
            (header, payload) = try entry.decode(body, decoder)
        } catch {
            throw Self.translate(error)
        }
        return try upcast(header: header, payload: payload, from: entry)
    }

    /// The registered entry for an envelope's (type, version), or why there is none.
    private func entry(for header: EnvelopeHeader) throws(ContractError) -> Entry {
        guard header.specVersion == "1.0" else { throw .envelope("specversion must be \"1.0\"") }
        guard let versions = entries[header.type] else { throw .unknownType(header.type) }
        guard let known = versions[header.dataVersion] else {
            throw .unsupportedVersion(header.type, header.dataVersion, known: versions.keys.sorted())
        }
        return known
    }

    /// Checks the decoded envelope and upcasts its payload to the newest version.
    private func upcast(header: EnvelopeHeader, payload: any ContractMessage, from entry: Entry) throws(ContractError)
        -> DecodedEvent
    {
        guard header.specVersion == "1.0" else { throw .envelope("specversion must be \"1.0\"") }
        guard let versions = entries[header.type] else { throw .unknownType(header.type) }
        var payload = payload
        var entry = entry
        while !entry.isNewest, let next = entry.nextVersion, let nextEntry = versions[next] {
            payload = entry.upcast(payload)
            entry = nextEntry
        }
        return DecodedEvent(header: header, payload: payload)
    }

    /// What a JSON document must hold where a value of the Swift type `type` belongs, in the
    /// words of JSON (a publisher reads this; `Dictionary<String, Any>` means nothing to them).
    static func jsonKind(_ type: Any.Type) -> String {
        let name = String(describing: type)
        if name.hasPrefix("Dictionary<") { return "an object" }
        if name.hasPrefix("Array<") || name.hasPrefix("Set<") { return "an array" }
        if name == "String" || name == "Substring" || name == "Character" { return "a string" }
        if name == "Bool" { return "true or false" }
        let integers = ["Int", "Int8", "Int16", "Int32", "Int64", "UInt", "UInt8", "UInt16", "UInt32", "UInt64"]
        if integers.contains(name) { return "a whole number" }
        if ["Double", "Float", "Decimal", "CGFloat", "Float16"].contains(name) { return "a number" }
        if name == "Date" { return "a date" }
        return "a value of the field's kind"
    }

    /// Turns a `DecodingError` into a ``ContractError`` naming the field's JSON path.
    static func translate(_ error: any Error) -> ContractError {
        guard let error = error as? DecodingError else { return .malformed("undecodable") }
        func path(_ codingPath: [any CodingKey], _ last: (any CodingKey)? = nil) -> String {
            ContractJSONDecoder.pathText(codingPath + (last.map { [$0] } ?? []))
        }
        switch error {
        case .keyNotFound(let key, let context): return .missingField(path(context.codingPath, key))
        case .valueNotFound(let type, let context):
            return .wrongType(path(context.codingPath), expected: "\(jsonKind(type)), not null")
        case .typeMismatch(let type, let context): return .wrongType(path(context.codingPath), expected: jsonKind(type))
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
