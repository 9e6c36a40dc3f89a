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

    public init(label: String, level: Logger.Level, format: Format) {
        self.label = label
        self.logLevel = level
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let timestamp = Date().formatted(
            .iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
        let message = PersonalData.mask(event.message.description)
        let fields = merged.map { ($0.key, PersonalData.mask($0.value.description, field: $0.key)) }.sorted { $0.0 < $1.0 }
        let line: String
        switch format {
        case .json:
            var object: [String: String] = ["ts": timestamp, "level": event.level.rawValue, "label": label, "msg": message]
            for (key, value) in fields where object[key] == nil { object[key] = value }
            let data =
                (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            line = String(decoding: data, as: UTF8.self)
        case .text:
            let rendered = fields.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
            line = "\(timestamp) \(event.level) \(label): \(message)\(rendered.isEmpty ? "" : " " + rendered)"
        }
        Self.output.withLock { _ in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    private static let output = Mutex(())
}
