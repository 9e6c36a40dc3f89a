import Contracts
public import DataProtection
import Foundation
public import Jobs
import Programme

/// Loads the CSV files the intake worker owns into its store: a Dukcapil registry extract and
/// the training history of earlier programmes. NIKs are turned into blind indexes on the way in
/// and never stored.
public enum IntakeImport {
    /// What an import did.
    public struct Summary: Sendable, Equatable {
        public var imported = 0
        /// Line numbers (1-based, header is line 1) and reasons of rows that were skipped.
        public var skipped: [(line: Int, reason: String)] = []
        /// Records of an earlier extract that this one no longer has, deleted (`replace`).
        public var removed = 0

        public static func == (a: Summary, b: Summary) -> Bool {
            a.imported == b.imported && a.skipped.map(\.line) == b.skipped.map(\.line)
        }
    }

    /// Imports a registry extract: header `nik,full_name,birth_date,region_code` (a `sex` column,
    /// as Dukcapil's extracts have, is allowed and not read), with
    /// - `nik`: 16 ASCII digits, optionally grouped by spaces, dots or dashes;
    /// - `full_name`: not empty;
    /// - `birth_date`: `yyyy-MM-dd`;
    /// - `region_code`: the domicile's 10-digit village code (Kemendagri), digits only; only its
    ///   province (the first two digits) is kept.
    ///
    /// A row with any other value is skipped with its line and the reason, never guessed at. A
    /// row for a NIK already present replaces it.
    ///
    /// With `replace` the extract is the whole registry: a record of an earlier extract that
    /// this one does not have is deleted (a person who moved away, or died, is not kept), but
    /// only when no row was skipped (a skipped row may be a record still valid), and at most
    /// `maximumRemoved` of them (default: a tenth of the records held): more is taken for a
    /// truncated extract or one read with another key, and nothing is imported
    /// (``ImportError``). An empty extract never replaces anything.
    public static func registry(
        csv: String, into store: any MessageStore, key: NIKKey, replace: Bool = false, maximumRemoved: Int? = nil
    ) async throws -> Summary {
        // A `sex` column, as Dukcapil's extracts have, is allowed and not read.
        let rows = try CSVTable(csv, required: ["nik", "full_name", "birth_date", "region_code"])
        var summary = Summary()
        var values: [[SQLValue]] = []
        for (line, row) in rows.records {
            guard let nik = nikDigits(row["nik", default: ""]) else {
                summary.skipped.append((line, "nik is not 16 digits (spaces, dots or dashes between them allowed)"))
                continue
            }
            let name = row["full_name", default: ""].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else {
                summary.skipped.append((line, "full_name is empty"))
                continue
            }
            guard ProgrammeCatalogue.day(row["birth_date", default: ""]) != nil else {
                summary.skipped.append((line, "birth_date is not yyyy-MM-dd"))
                continue
            }
            let region = row["region_code", default: ""]
            guard region.utf8.count == 10, region.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
            else {
                summary.skipped.append((line, "region_code is not a 10-digit village code"))
                continue
            }
            // The province is all the check needs (domicile in Kaltim).
            values.append([
                .text(key.blindIndex(nik)), .text(name), .text(row["birth_date", default: ""]), .text(String(region.prefix(2))),
            ])
        }
        let batch = values
        if replace && batch.isEmpty { throw ImportError("an empty extract replaces nothing: no row was imported") }
        let removeOthers = replace && summary.skipped.isEmpty
        try await store.migrate(RegistryExtract().migrations)
        summary.removed = try await store.write { transaction in
            for value in batch {
                try transaction.execute(
                    """
                    INSERT INTO intake_registry (nik_index, full_name, birth_date, region_code)
                    VALUES (?, ?, ?, ?)
                    ON CONFLICT (nik_index) DO UPDATE SET full_name = excluded.full_name, birth_date = excluded.birth_date,
                        sex = NULL, region_code = excluded.region_code
                    """, value)
            }
            guard removeOthers else { return 0 }
            let kept = Set(batch.compactMap { $0.first?.text })
            let held = try transaction.query("SELECT nik_index FROM intake_registry", []).compactMap { $0["nik_index"]?.text }
            let gone = held.filter { !kept.contains($0) }
            let limit = maximumRemoved ?? held.count / 10
            guard gone.count <= limit else {
                // Thrown inside the transaction: the upserts are rolled back too.
                throw ImportError(
                    "the extract would remove \(gone.count) of the records held (at most \(limit) allowed): a truncated extract, or one read with another NIK key? Nothing was imported; give --max-removed \(gone.count) if it is right"
                )
            }
            for start in stride(from: 0, to: gone.count, by: 500) {
                let slice = gone[start..<min(start + 500, gone.count)]
                try transaction.execute(
                    "DELETE FROM intake_registry WHERE nik_index IN (\(Array(repeating: "?", count: slice.count).joined(separator: ", ")))",
                    slice.map { .text($0) })
            }
            return gone.count
        }
        summary.imported = batch.count
        return summary
    }

    /// The 16 ASCII digits of a NIK written with optional spaces, dots or dashes between them;
    /// nil for anything else (other characters, other digit systems, another length).
    static func nikDigits(_ text: String) -> String? {
        var digits: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits.append(byte)
            case UInt8(ascii: " "), UInt8(ascii: "."), UInt8(ascii: "-"): continue
            default: return nil
            }
        }
        return digits.count == 16 ? String(decoding: digits, as: UTF8.self) : nil
    }

    /// Imports training history: header `nik,programme,year,outcome` (outcome LULUS,
    /// TIDAK_LULUS or TIDAK_SELESAI).
    public static func history(csv: String, into store: any MessageStore, key: NIKKey) async throws -> Summary {
        let rows = try CSVTable(csv, required: ["nik", "programme", "year", "outcome"])
        var summary = Summary()
        var values: [[SQLValue]] = []
        for (line, row) in rows.records {
            guard let nik = nikDigits(row["nik", default: ""]), let year = Int64(row["year", default: ""]),
                let outcome = DeclaredTraining.Outcome(rawValue: row["outcome", default: ""])
            else {
                summary.skipped.append((line, "needs a 16-digit nik, a year and an outcome LULUS/TIDAK_LULUS/TIDAK_SELESAI"))
                continue
            }
            let programme = row["programme", default: ""]
            values.append([
                .text(key.blindIndex(nik)), .text(programme), .integer(year), .text(outcome == .passed ? "passed" : "failed"),
                .text("import:\(programme):\(year)"),
            ])
        }
        let batch = values
        try await store.migrate(IntakeHandler.ownTables)
        try await store.write { transaction in
            for value in batch {
                try transaction.execute(
                    """
                    INSERT INTO intake_history (nik_index, programme, year, outcome, source, reference)
                    VALUES (?, ?, ?, ?, 'import', ?) ON CONFLICT DO NOTHING
                    """, value)
            }
        }
        summary.imported = batch.count
        return summary
    }
}

/// A CSV text with a header row (RFC 4180 quoting).
struct CSVTable {
    let records: [(line: Int, fields: [String: String])]

    init(_ text: String, required: [String]) throws {
        let rows = Self.parse(text)
        guard let header = rows.first?.map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) else {
            throw ProgrammeFileError(.invalid, "the CSV file is empty")
        }
        let missing = required.filter { !header.contains($0) }
        guard missing.isEmpty else {
            throw ProgrammeFileError(
                .invalid,
                "the CSV header lacks \(missing.joined(separator: ", ")) (expected \(required.joined(separator: ",")))")
        }
        records = rows.dropFirst().enumerated().compactMap { offset, fields in
            guard fields.contains(where: { !$0.isEmpty }) else { return nil }
            var record: [String: String] = [:]
            for (name, value) in zip(header, fields) { record[name] = value.trimmingCharacters(in: .whitespaces) }
            return (offset + 2, record)
        }
    }

    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var iterator = text.makeIterator()
        while let character = iterator.next() {
            if quoted {
                if character == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" {
                            field.append("\"")
                        } else {
                            quoted = false
                            if next == "," {
                                row.append(field)
                                field = ""
                            } else if next == "\n" || next == "\r\n" {
                                row.append(field)
                                rows.append(row)
                                (row, field) = ([], "")
                            } else {
                                field.append(next)
                            }
                        }
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(character)
                }
            } else if character == "\"" && field.isEmpty {
                quoted = true
            } else if character == "," {
                row.append(field)
                field = ""
            } else if character == "\n" || character == "\r\n" {
                row.append(field)
                rows.append(row)
                (row, field) = ([], "")
            } else {
                field.append(character)
            }
        }
        if !field.isEmpty || !row.isEmpty {
            row.append(field)
            rows.append(row)
        }
        return rows
    }
}

/// An import refused as a whole (nothing was written).
public struct ImportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
