import ContractKit
import Contracts
import Foundation
import Jobs
public import Logging
import Synchronization

/// A swift-log handler that writes one line per record to standard error, as a JSON object
/// (`ts`, `level`, `label`, `msg` and the metadata, keys in the order of their bytes) or as
/// text, with personal data masked in the message, the label and the metadata's keys and
/// values (`PersonalData.mask`: a metadata key that names a personal field of a contract masks
/// its whole value; any NIK- or phone-shaped number and any marked field inside quoted JSON is
/// masked wherever it appears): whatever a handler or a library logs, a NIK never reaches the
/// log in clear.
public struct MaskingLogHandler: LogHandler {
    /// How records are written.
    public enum Format: String, Sendable {
        case json, text
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: Format

    /// Where each line goes (with its line break): standard error, or a test's collector.
    private let write: @Sendable (String) -> Void

    /// - Parameter write: receives each line, with its line break; standard error by default.
    public init(
        label: String, level: Logger.Level, format: Format,
        write: @escaping @Sendable (String) -> Void = MaskingLogHandler.writeToStandardError
    ) {
        self.label = label
        self.logLevel = level
        self.format = format
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        // UTC, to the millisecond, written by hand: Foundation's formatters and its
        // JSONSerialization (whose sorted keys compare with the system locale's collation)
        // load ICU, megabytes of every worker's memory, for each line.
        let timestamp = UTCTimestamp.iso8601(Date(), milliseconds: true) ?? "\(Date().timeIntervalSince1970)"
        let message = PersonalData.mask(event.message.description)
        let label = PersonalData.mask(label)
        // Keys are masked too: a key made from data must not carry a NIK either.
        let fields = merged.map { (PersonalData.mask($0.key), PersonalData.mask($0.value.description, field: $0.key)) }
            .sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
        let line: String
        switch format {
        case .json:
            var object: [String: String] = ["ts": timestamp, "level": event.level.rawValue, "label": label, "msg": message]
            for (key, value) in fields where object[key] == nil { object[key] = value }
            line = Self.jsonObject(object)
        case .text:
            let rendered = fields.map { "\(Self.textValue($0.0))=\(Self.textValue($0.1))" }.joined(separator: " ")
            line =
                "\(timestamp) \(event.level) \(Self.textValue(label)): \(Self.textValue(message))"
                + (rendered.isEmpty ? "" : " " + rendered)
        }
        write(line + "\n")
    }

    /// One JSON object on one line, its keys in the order of their UTF-8 bytes; every control
    /// character (C0, DEL, C1), Unicode line break and invisible format character (direction
    /// overrides, zero-width characters) in a key or a value escaped as `\uXXXX`, so a value
    /// can neither end the line nor change how a terminal shows it.
    static func jsonObject(_ object: [String: String]) -> String {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        for (index, (key, value)) in object.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) })
            .enumerated()
        {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            JSONText.appendQuoted(key, to: &bytes)
            bytes.append(UInt8(ascii: ":"))
            JSONText.appendQuoted(value, to: &bytes)
        }
        bytes.append(UInt8(ascii: "}"))
        let text = String(decoding: bytes, as: UTF8.self)
        // C0 controls are escaped by the writer already; what is left is DEL or beyond ASCII,
        // and outside the strings there is only ASCII.
        guard bytes.contains(where: { $0 >= 0x7F }) else { return text }
        var escaped = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if Self.needsEscape(scalar) {
                let hex = String(scalar.value, radix: 16)
                if scalar.value <= 0xFFFF {
                    escaped.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).unicodeScalars)
                } else {
                    // Beyond the BMP (the tag characters): a surrogate pair, as JSON writes it.
                    let offset = scalar.value - 0x1_0000
                    for unit in [0xD800 + (offset >> 10), 0xDC00 + (offset & 0x3FF)] {
                        escaped.append(contentsOf: ("\\u" + String(unit, radix: 16)).unicodeScalars)
                    }
                }
            } else {
                escaped.append(scalar)
            }
        }
        return String(escaped)
    }

    /// A key, value or message in the text format: each control character, line break and
    /// invisible format character written as `\u{…}` (a backslash doubled), and in double
    /// quotes (a quote inside escaped) when it is empty or holds a space, `=` or `"`, so that a
    /// value a publisher chose can neither start a line nor add a `key=value` of its own.
    static func textValue(_ text: String) -> String {
        let quoted =
            text.isEmpty
            || text.unicodeScalars.contains { $0 == " " || $0 == "=" || $0 == "\"" || $0.properties.isWhitespace }
        guard quoted || text.unicodeScalars.contains(where: { Self.needsEscape($0) || $0 == "\\" }) else { return text }
        var escaped = String.UnicodeScalarView()
        if quoted { escaped.append("\"") }
        for scalar in text.unicodeScalars {
            if scalar == "\\" || (quoted && scalar == "\"") {
                escaped.append("\\")
                escaped.append(scalar)
            } else if Self.needsEscape(scalar) {
                escaped.append(contentsOf: "\\u{\(String(scalar.value, radix: 16))}".unicodeScalars)
            } else {
                escaped.append(scalar)
            }
        }
        if quoted { escaped.append("\"") }
        return String(escaped)
    }

    /// C0 and C1 controls, DEL, the line and paragraph separators and the format characters
    /// (`Cf`: direction overrides and isolates, zero-width characters, the soft hyphen, tags).
    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
            || scalar.properties.generalCategory == .format
    }

    /// Writes `line` to standard error, one line at a time whatever the threads.
    @Sendable public static func writeToStandardError(_ line: String) {
        output.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }

    private static let output = Mutex(())
}
