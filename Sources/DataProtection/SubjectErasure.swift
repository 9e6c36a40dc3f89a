import Foundation
public import Jobs

/// The erasure of one person (UU 27/2022 Art. 8 and 16(2)): in each role's store, in one write
/// transaction per store, every table's rule from the register (``Erasure``): rows that are only
/// the person's data deleted, the personal columns of the others cleared, published events that
/// name the person deleted; pseudonymous ids, codes and dates stay, so that counts, seats and the
/// certificate record stay consistent. Run it again to take what was not yet published.
public enum SubjectErasure {
    /// What one erasure changed.
    public struct Report: Sendable, Equatable, Encodable {
        public struct Change: Sendable, Equatable, Encodable {
            public var role: String
            public var table: String
            public var rows: Int
        }

        public var changes: [Change] = []
        /// Outbox rows that name the person but are not published yet: left, to be erased by a
        /// later run once the broker has them.
        public var unpublishedEvents = 0

        /// Rows deleted or changed in all.
        public var rowCount: Int { changes.reduce(0) { $0 + $1.rows } }
    }

    /// Applies the register's rules to the person `identifiers` name (found beforehand with
    /// ``SubjectExport/collect(from:start:)``, which follows every link).
    public static func erase(
        _ identifiers: SubjectIdentifiers, in stores: [(role: String, store: any MessageStore)]
    ) async throws -> Report {
        var report = Report()
        let quoted = identifiers.values(for: .mentionsAnyID).map { "\"\($0)\"" }
        for (role, store) in stores {
            // Which outbox rows name the person is decided by reading (JSON bodies), then they
            // are deleted by id in the same transaction as the rest.
            let events = quoted.isEmpty ? [] : try await SubjectExport.outboxRows(mentioning: quoted, in: store)
            let published = events.filter { $0["published_at"].map { $0 != .null } ?? false }.compactMap { $0["id"] }
            report.unpublishedEvents += events.count - published.count
            var present: [String] = []
            for entry in PersonalDataRegister.tables(of: role) where try await SubjectExport.exists(entry.name, in: store) {
                present.append(entry.name)
            }
            let tables = PersonalDataRegister.tables(of: role).filter { present.contains($0.name) }
            let changes = try await store.write { transaction in
                var changes: [Report.Change] = []
                for entry in tables {
                    var rows = 0
                    switch entry.erasure {
                    case .keep, .expiresWithinADay:
                        continue
                    case .publishedEvents:
                        for chunk in published.chunked(200) {
                            let condition = "id IN (\(placeholders(chunk.count))) AND published_at IS NOT NULL"
                            rows += Int(
                                try transaction.query("SELECT COUNT(*) AS n FROM \(entry.name) WHERE \(condition)", chunk)
                                    .first?["n"]?.integer ?? 0)
                            try transaction.execute("DELETE FROM \(entry.name) WHERE \(condition)", chunk)
                        }
                    case .deleteRows, .clear:
                        // One condition over every key, so that a row is counted and changed once.
                        var conditions: [String] = []
                        var values: [SQLValue] = []
                        for (field, key) in entry.keys where key != .mentionsAnyID {
                            let ids = identifiers.values(for: key).sorted()
                            guard !ids.isEmpty else { continue }
                            conditions.append("\(field) IN (\(placeholders(ids.count)))")
                            values += ids.map(SQLValue.text)
                        }
                        guard !conditions.isEmpty else { continue }
                        let condition = conditions.joined(separator: " OR ")
                        rows = Int(
                            try transaction.query("SELECT COUNT(*) AS n FROM \(entry.name) WHERE \(condition)", values)
                                .first?["n"]?.integer ?? 0)
                        guard rows > 0 else { continue }
                        if case .clear(let columns) = entry.erasure {
                            let assignments = columns.map { "\($0.column) = \($0.value)" }.joined(separator: ", ")
                            try transaction.execute("UPDATE \(entry.name) SET \(assignments) WHERE \(condition)", values)
                        } else {
                            try transaction.execute("DELETE FROM \(entry.name) WHERE \(condition)", values)
                        }
                    }
                    if rows > 0 { changes.append(.init(role: role, table: entry.name, rows: rows)) }
                }
                return changes
            }
            report.changes += changes
        }
        return report
    }

    static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ", ")
    }
}

extension Array {
    func chunked(_ size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min(count, $0 + size)]) }
    }
}
