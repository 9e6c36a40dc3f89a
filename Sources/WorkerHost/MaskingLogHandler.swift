import ContractKit
import Contracts
import Foundation
import Jobs
public import Logging
import Synchronization

/// A swift-log handler that writes one line per record to standard error, as a JSON object
/// (`{"ts":…,"level":…,"label":…,"msg":…,<metadata>}`) or as text, with personal data masked in
/// the message and in metadata values (`PersonalData.mask`: a metadata key that names a personal
/// field of a contract masks its whole value; any NIK- or phone-shaped number and any marked
/// field inside quoted JSON is masked wherever it appears): whatever a handler or a library
/// logs, a NIK never reaches the log in clear.
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
        let fields = merged.map { ($0.key, PersonalData.mask($0.value.description, field: $0.key)) }.sorted { $0.0 < $1.0 }
        let line: String
        switch format {
        case .json:
            var object: [String: String] = ["ts": timestamp, "level": event.level.rawValue, "label": label, "msg": message]
            for (key, value) in fields where object[key] == nil { object[key] = value }
            line = Self.jsonObject(object)
        case .text:
            let rendered = fields.map { "\(Self.escapingControls($0.0))=\(Self.escapingControls($0.1))" }
                .joined(separator: " ")
            line =
                "\(timestamp) \(event.level) \(label): \(Self.escapingControls(message))"
                + (rendered.isEmpty ? "" : " " + rendered)
        }
        write(line + "\n")
    }

    /// One JSON object on one line, its keys in the order of their UTF-8 bytes; every control
    /// character and Unicode line break in a key or a value escaped, so a value cannot end the
    /// line.
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
        // U+0085, U+2028 and U+2029 may stand in a JSON string as they are, but a reader that
        // splits at every Unicode line break would cut the record there: escaped instead (their
        // UTF-8 bytes occur nowhere else).
        guard bytes.contains(0xC2) || bytes.contains(0xE2) else { return String(decoding: bytes, as: UTF8.self) }
        var escaped: [UInt8] = []
        escaped.reserveCapacity(bytes.count + 12)
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0xC2, index + 1 < bytes.count, bytes[index + 1] == 0x85 {
                escaped.append(contentsOf: Array("\\u0085".utf8))
                index += 2
            } else if bytes[index] == 0xE2, index + 2 < bytes.count, bytes[index + 1] == 0x80,
                bytes[index + 2] == 0xA8 || bytes[index + 2] == 0xA9
            {
                escaped.append(contentsOf: Array((bytes[index + 2] == 0xA8 ? "\\u2028" : "\\u2029").utf8))
                index += 3
            } else {
                escaped.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: escaped, as: UTF8.self)
    }

    /// `text` with each control character and line or paragraph separator written as `\u{…}`
    /// (and a backslash doubled), so that a value a publisher chose cannot start a line of
    /// its own in the text format.
    static func escapingControls(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { Self.needsEscape($0) || $0 == "\\" }) else { return text }
        var escaped = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar == "\\" {
                escaped.append(contentsOf: "\\\\".unicodeScalars)
            } else if Self.needsEscape(scalar) {
                escaped.append(contentsOf: "\\u{\(String(scalar.value, radix: 16))}".unicodeScalars)
            } else {
                escaped.append(scalar)
            }
        }
        return String(escaped)
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    /// Writes `line` to standard error, one line at a time whatever the threads.
    @Sendable public static func writeToStandardError(_ line: String) {
        output.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }

    private static let output = Mutex(())
}
