public import Foundation
public import Jobs

/// The identifiers of one person, as far as they are known: where an export starts, and what it
/// learns as it reads (a registration gives the participant id, a participant id the
/// certificate and assessment ids). Never the NIK in clear: its blind index.
public struct SubjectIdentifiers: Sendable, Equatable, Encodable {
    public var nikIndexes: Set<String> = []
    public var registrationIDs: Set<String> = []
    public var participantIDs: Set<String> = []
    public var certificateIDs: Set<String> = []
    public var assessmentIDs: Set<String> = []

    public init(
        nikIndexes: Set<String> = [], registrationIDs: Set<String> = [], participantIDs: Set<String> = [],
        certificateIDs: Set<String> = [], assessmentIDs: Set<String> = []
    ) {
        self.nikIndexes = nikIndexes
        self.registrationIDs = registrationIDs
        self.participantIDs = participantIDs
        self.certificateIDs = certificateIDs
        self.assessmentIDs = assessmentIDs
    }

    private enum CodingKeys: String, CodingKey {
        case nikIndexes, registrationIDs, participantIDs, certificateIDs, assessmentIDs
    }

    /// Sorted arrays: the same person gives the same document.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(nikIndexes.sorted(), forKey: .nikIndexes)
        try container.encode(registrationIDs.sorted(), forKey: .registrationIDs)
        try container.encode(participantIDs.sorted(), forKey: .participantIDs)
        try container.encode(certificateIDs.sorted(), forKey: .certificateIDs)
        try container.encode(assessmentIDs.sorted(), forKey: .assessmentIDs)
    }

    /// The values a column of this key may hold for the person.
    func values(for key: SubjectKey) -> Set<String> {
        switch key {
        case .nikIndex: nikIndexes
        case .registrationID: registrationIDs
        case .participantID: participantIDs
        case .certificateID: certificateIDs
        case .assessmentID: assessmentIDs
        case .personID: registrationIDs.union(participantIDs)
        case .mentionsAnyID: registrationIDs.union(participantIDs).union(certificateIDs).union(assessmentIDs)
        }
    }

    /// Adds a value found in a column of this key; says whether it was new. An empty value is
    /// nobody's.
    mutating func learn(_ value: String, as key: SubjectKey) -> Bool {
        guard !value.isEmpty else { return false }
        return switch key {
        case .nikIndex: nikIndexes.insert(value).inserted
        case .registrationID: registrationIDs.insert(value).inserted
        case .participantID: participantIDs.insert(value).inserted
        case .certificateID: certificateIDs.insert(value).inserted
        case .assessmentID: assessmentIDs.insert(value).inserted
        // A mixed or free column is matched against, never learnt from.
        case .personID, .mentionsAnyID: false
        }
    }
}

/// A value of an exported row, as JSON: a blob is given as text when it is UTF-8 (the stores'
/// JSON documents), else as base64.
public enum ExportValue: Sendable, Equatable, Encodable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case base64(String)

    init(_ value: SQLValue) {
        switch value {
        case .null: self = .null
        case .integer(let number): self = .integer(number)
        // JSON has no NaN or infinity: such a value (possible in PostgreSQL) travels as text.
        case .real(let number): self = number.isFinite ? .real(number) : .text("\(number)")
        case .text(let text): self = .text(text)
        case .blob(let data):
            if let text = String(data: data, encoding: .utf8) {
                self = .text(text)
            } else {
                self = .base64(data.base64EncodedString())
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .integer(let number): try container.encode(number)
        case .real(let number): try container.encode(number)
        case .text(let text): try container.encode(text)
        case .base64(let text): try container.encode(["base64": text])
        }
    }
}

/// Everything held about one person in the stores it was given, as one JSON document (the
/// data subject's right of access, UU 27/2022 Art. 7 and 32): per store and table the rows
/// about the person, with the register's purpose and retention of each table.
public struct SubjectExport: Sendable, Encodable {
    public struct Table: Sendable, Encodable {
        public var table: String
        public var purpose: String
        public var retention: String
        public var rows: [[String: ExportValue]]
    }

    public struct Store: Sendable, Encodable {
        public var role: String
        public var tables: [Table]
        /// Tables of the register this store does not have (an older version, another role).
        public var missingTables: [String]
    }

    /// The person's identifiers found (the NIK only as its blind index).
    public var identifiers: SubjectIdentifiers
    public var stores: [Store]
    /// Registrations made with the person's NIK that intake did not accept (a duplicate, a name
    /// the registry does not know for that NIK, …): possibly someone else's, so not followed.
    /// Their intake rows are in the export; give them with `--registration` once checked.
    public var notFollowed: [String]
    /// The dead letters that name the person (`--dead-letters`), `nil` when not searched: which
    /// queue holds each and why it failed; the body stays in the queue (it may hold the NIK in
    /// clear, which an export never carries).
    public var deadLetters: [DeadLetterRecord]?

    /// A dead letter naming the person.
    public struct DeadLetterRecord: Sendable, Encodable, Equatable {
        public var queue: String
        public var messageID: String
        public var contractType: String?
        public var failureCode: String
        public var firstFailure: Date?
        /// `person` (an id or the NIK) or `address-only` (one of their addresses, which someone
        /// else may share).
        public var matchedBy: MessageMatcher.Match

        public init(
            queue: String, messageID: String, contractType: String?, failureCode: String, firstFailure: Date?,
            matchedBy: MessageMatcher.Match
        ) {
            self.queue = queue
            self.messageID = messageID
            self.contractType = contractType
            self.failureCode = failureCode
            self.firstFailure = firstFailure
            self.matchedBy = matchedBy
        }
    }

    /// How many rows the export holds.
    public var rowCount: Int { stores.reduce(0) { $0 + $1.tables.reduce(0) { $0 + $1.rows.count } } }

    /// Reads every table the register lists for each store, starting from `start` and following
    /// the identifiers the rows name (registration → participant → certificate, assessment) until
    /// nothing new is learnt; then the outbox rows whose event names one of them.
    /// - Parameter stores: role name → that role's store (opened for reading).
    public static func collect(
        from stores: [(role: String, store: any MessageStore)], start: SubjectIdentifiers
    ) async throws -> SubjectExport {
        var identifiers = start
        var found: [String: [String: [String: [String: ExportValue]]]] = [:]  // role → table → row key → row
        var missing: [String: Set<String>] = [:]
        var notFollowed: Set<String> = []
        var learnt = true
        var round = 0
        // Each round follows one more link; a person has a handful of registrations, so the
        // bound is never the reason it stops.
        while learnt && round < 32 {
            learnt = false
            round += 1
            for (role, store) in stores {
                for entry in PersonalDataRegister.tables(of: role) {
                    for (field, key) in entry.keys where key != .mentionsAnyID {
                        let values = identifiers.values(for: key).sorted()
                        guard !values.isEmpty, missing[role]?.contains(entry.name) != true else { continue }
                        let rows: [[String: SQLValue]]
                        do {
                            rows = try await select(entry.name, where: field, in: values, from: store)
                        } catch {
                            guard try await !exists(entry.name, in: store) else { throw error }
                            missing[role, default: []].insert(entry.name)
                            continue
                        }
                        for row in rows {
                            let exported = row.mapValues(ExportValue.init)
                            found[role, default: [:]][entry.name, default: [:]][rowKey(exported)] = exported
                            // Found through the NIK's blind index on a row intake did not accept:
                            // perhaps another person using that NIK. Nothing is learnt from it.
                            if key == .nikIndex, let trust = entry.trustedWhen, row[trust.column]?.text != trust.value {
                                for (column, columnKey) in entry.keys where columnKey == .registrationID {
                                    if let value = row[column]?.text, !identifiers.registrationIDs.contains(value) {
                                        notFollowed.insert(value)
                                    }
                                }
                                continue
                            }
                            for (column, columnKey) in entry.keys {
                                // The blind index is learnt only from a trusted row.
                                if columnKey == .nikIndex, let trust = entry.trustedWhen, row[trust.column]?.text != trust.value {
                                    continue
                                }
                                if let value = row[column]?.text, identifiers.learn(value, as: columnKey) { learnt = true }
                            }
                        }
                    }
                }
            }
        }
        let mentioned = identifiers.values(for: .mentionsAnyID).map { "\"\($0)\"" }
        if !mentioned.isEmpty {
            for (role, store) in stores {
                for row in try await outboxRows(mentioning: mentioned, in: store) {
                    let exported = row.mapValues(ExportValue.init)
                    found[role, default: [:]]["jobs_outbox", default: [:]][rowKey(exported)] = exported
                }
            }
        }
        let sections = stores.map { role, _ in
            Store(
                role: role,
                tables: PersonalDataRegister.tables(of: role).compactMap { entry in
                    guard let rows = found[role]?[entry.name], !rows.isEmpty else { return nil }
                    return Table(
                        table: entry.name, purpose: entry.purpose, retention: entry.retention,
                        rows: rows.keys.sorted().compactMap { rows[$0] })
                },
                missingTables: (missing[role] ?? []).sorted())
        }
        return SubjectExport(
            identifiers: identifiers, stores: sections,
            notFollowed: notFollowed.subtracting(identifiers.registrationIDs).sorted(),
            deadLetters: nil)
    }

    /// The document: sorted keys, pretty-printed.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(self)
    }

    static func rowKey(_ row: [String: ExportValue]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(row)).map { String(decoding: $0, as: UTF8.self) } ?? "\(row)"
    }

    static func select(_ table: String, where column: String, in values: [String], from store: any MessageStore)
        async throws -> [[String: SQLValue]]
    {
        var rows: [[String: SQLValue]] = []
        var start = 0
        while start < values.count {
            let chunk = Array(values[start..<min(values.count, start + 200)])
            start += chunk.count
            let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
            rows += try await store.read(
                "SELECT * FROM \(table) WHERE \(column) IN (\(placeholders))", chunk.map(SQLValue.text))
        }
        return rows
    }

    /// Whether the store has `table` (SQLite or PostgreSQL: an empty select succeeds).
    static func exists(_ table: String, in store: any MessageStore) async throws -> Bool {
        do {
            _ = try await store.read("SELECT * FROM \(table) WHERE 1 = 0", [])
            return true
        } catch {
            return false
        }
    }

    /// The outbox rows whose event body holds one of `needles` (quoted identifiers), read in
    /// batches of 1,000 in id order.
    static func outboxRows(mentioning needles: [String], in store: any MessageStore) async throws -> [[String: SQLValue]] {
        guard try await exists("jobs_outbox", in: store) else { return [] }
        let patterns = needles.map { Data($0.utf8) }
        var matches: [[String: SQLValue]] = []
        var after: Int64 = 0
        while true {
            let rows = try await store.read(
                "SELECT * FROM jobs_outbox WHERE id > ? ORDER BY id LIMIT 1000", [.integer(after)])
            guard let last = rows.last?["id"]?.integer else { return matches }
            after = last
            for row in rows {
                let body: Data
                switch row["body"] {
                case .blob(let data): body = data
                case .text(let text): body = Data(text.utf8)
                default: continue
                }
                if patterns.contains(where: { body.range(of: $0) != nil }) { matches.append(row) }
            }
        }
    }
}

extension SubjectExport {
    /// The person's addresses (phone, WhatsApp, e-mail) from the contacts found.
    public var addresses: Set<String> {
        var addresses: Set<String> = []
        for store in stores {
            for table in store.tables where table.table == "notif_contacts" {
                for row in table.rows {
                    for column in ["phone", "whatsapp", "email"] {
                        if case .text(let value)? = row[column], !value.isEmpty { addresses.insert(value) }
                    }
                }
            }
        }
        return addresses
    }
}
