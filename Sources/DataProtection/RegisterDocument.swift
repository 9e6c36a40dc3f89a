extension PersonalDataRegister {
    /// The register as Markdown tables, as docs/OPERATIONS.md carries it (a test compares them)
    /// and `kaltim-admin personal-data register` prints it.
    public static func markdown() -> String {
        var lines: [String] = []
        let header = [
            "| where | personal fields | linked to the person by | purpose | retention | who reads it |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        let tableHeader = [
            "| where | personal fields | linked to the person by | purpose | retention | who reads it | on erasure |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for role in [everyStore] + storeRoles {
            let rows = tables.filter { $0.holder == role }
            guard !rows.isEmpty else { continue }
            lines.append("")
            lines.append(role == everyStore ? "**Tables in every role's store**" : "**The \(role) store**")
            lines.append("")
            lines += tableHeader
            lines += rows.map { row($0) + " \($0.erasure.summary) |" }
        }
        lines.append("")
        lines.append("**Broker queues and streams** (derived from the contracts' personal fields)")
        lines.append("")
        lines += header
        lines += brokerEntries.map(row)
        lines.append("")
        lines.append("**Files**")
        lines.append("")
        lines += header
        lines += files.map(row)
        return lines.dropFirst().joined(separator: "\n") + "\n"
    }

    static func row(_ entry: RegisterEntry) -> String {
        let personal = entry.personal.isEmpty ? "none" : entry.personal.map { "`\($0)`" }.joined(separator: ", ")
        let keys = entry.keys.isEmpty ? "—" : entry.keys.map { "`\($0.field)` (\($0.key.rawValue))" }.joined(separator: ", ")
        let name = entry.kind == .file ? entry.name : "`\(entry.name)`"
        return "| \(name) | \(personal) | \(keys) | \(entry.purpose) | \(entry.retention) | \(entry.readers) |"
    }
}
