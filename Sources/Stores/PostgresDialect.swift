/// The little that differs between the SQL handlers write (which SQLite runs as it is) and
/// what PostgreSQL accepts: placeholders, and column types in table definitions. Everything
/// else handlers must keep portable: `INSERT … ON CONFLICT …` rather than `INSERT OR …`,
/// aggregates repeated in `HAVING` rather than their aliases, no engine-specific functions.
enum PostgresDialect {
    /// `?` placeholders numbered `$1`, `$2`, … (outside quoted text and identifiers).
    static func placeholders(_ sql: String) -> String {
        guard sql.contains("?") else { return sql }
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var number = 0
        var quote: Character?
        for character in sql {
            if let open = quote {
                if character == open { quote = nil }
                out.append(character)
            } else if character == "'" || character == "\"" {
                quote = character
                out.append(character)
            } else if character == "?" {
                number += 1
                out += "$\(number)"
            } else {
                out.append(character)
            }
        }
        return out
    }

    /// A table or index definition in PostgreSQL's types: 64-bit `INTEGER` (`BIGINT`), `REAL`
    /// as `DOUBLE PRECISION` (PostgreSQL's `REAL` has 24 bits), `BLOB` as `BYTEA`, and an
    /// `INTEGER PRIMARY KEY AUTOINCREMENT` column as `BIGSERIAL PRIMARY KEY`.
    static func definition(_ statement: String) -> String {
        var text = statement.replacing(/(?i)\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b/, with: "BIGSERIAL PRIMARY KEY")
        text = text.replacing(/(?i)\bWITHOUT\s+ROWID\b/, with: "")
        text = text.replacing(/\bINTEGER\b/, with: "BIGINT")
        text = text.replacing(/\bREAL\b/, with: "DOUBLE PRECISION")
        text = text.replacing(/\bBLOB\b/, with: "BYTEA")
        return placeholders(text)
    }
}
