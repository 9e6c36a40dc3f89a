import Foundation

/// Kemendagri region codes (Kepmendagri 300.2.2-2138/2025 via cahyadsn/wilayah, MIT).
///
/// The table maps undotted codes to names: province (2 digits), regency/city (4), district/kecamatan (6)
/// and village (10). NIK and KK numbers use these codes, never the BPS ones (DOMAIN.md §3.1).
public struct RegionCodes: Sendable {
    /// Loaded once from the bundled CSV (Bundle.module, resource "kode-wilayah-kemendagri-2025.csv").
    ///
    /// A missing or unreadable resource is a packaging error, not bad input, and stops the process.
    public static let kemendagri2025: RegionCodes = {
        guard
            let url = Bundle.module.url(forResource: "kode-wilayah-kemendagri-2025", withExtension: "csv"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else {
            fatalError("The bundled resource kode-wilayah-kemendagri-2025.csv is missing or not UTF-8.")
        }
        return RegionCodes(csv: text)
    }()

    /// Retired Kaltim regency codes: the five Kalimantan Utara regencies before the 2012 split (DOMAIN.md §3.2).
    private static let historicalRegencies: Set<String> = ["6404", "6405", "6406", "6410", "6473"]

    /// Undotted code → name.
    private let names: [String: String]

    /// Builds from CSV text (same columns), for tests.
    ///
    /// Columns are found by the header names `code` and `name` (first and second column if there is no
    /// header). Codes may be dotted (`64.74.01`) or not. Rows whose code is not made of digits and dots,
    /// such as the header, are skipped. Quoted fields and CRLF line ends are accepted.
    public init(csv: String) {
        var names: [String: String] = [:]
        var codeColumn = 0
        var nameColumn = 1
        for (index, line) in csv.split(whereSeparator: \.isNewline).enumerated() {
            let fields = Self.fields(of: line)
            if index == 0, let code = fields.firstIndex(of: "code"), let name = fields.firstIndex(of: "name") {
                codeColumn = code
                nameColumn = name
                continue
            }
            guard fields.count > max(codeColumn, nameColumn) else { continue }
            let code = Self.undotted(fields[codeColumn])
            let name = fields[nameColumn]
            guard !code.isEmpty, code.allSatisfy({ $0.isASCII && $0.isWholeNumber }), !name.isEmpty else { continue }
            names[code] = name
        }
        self.names = names
    }

    /// Name of a province (2 digits), regency (4), district/kecamatan (6) or village (10), undotted digits,
    /// e.g. "6474", "647401"; nil if unknown. A dotted code ("64.74.01") is accepted too.
    public func name(of code: String) -> String? {
        names[Self.undotted(code)]
    }

    /// Retired Kaltim regency codes (6404, 6405, 6406, 6410, 6473) recognised as historical.
    public func isHistoricalRegency(_ code4: String) -> Bool {
        Self.historicalRegencies.contains(Self.undotted(code4))
    }

    private static func undotted(_ code: String) -> String {
        code.filter { $0 != "." }
    }

    /// Splits one CSV record into trimmed fields; double quotes group a field and `""` is a literal quote.
    private static func fields(of line: Substring) -> [String] {
        var fields: [String] = []
        var current = ""
        var inQuotes = false
        var previousWasQuote = false
        for character in line {
            if inQuotes {
                if character == "\"" {
                    inQuotes = false
                    previousWasQuote = true
                } else {
                    current.append(character)
                }
                continue
            }
            switch character {
            case "\"":
                if previousWasQuote { current.append("\"") }
                inQuotes = true
            case ",":
                fields.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            default:
                current.append(character)
            }
            previousWasQuote = false
        }
        fields.append(current.trimmingCharacters(in: .whitespaces))
        return fields
    }
}
