public import Foundation

/// The admin actions, appended one JSON object per line to a file: who, when, what, on what,
/// how many. Opened in append mode for each entry, so several admins (or tools) can share it.
public struct AuditLog: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    public struct Entry: Codable, Sendable, Equatable {
        public var at: String
        public var who: String
        public var action: String
        public var target: String
        public var filter: String?
        public var count: Int
        public var details: [String: String]

        public init(
            at: Date = Date(), who: String, action: String, target: String, filter: String? = nil, count: Int,
            details: [String: String] = [:]
        ) {
            self.at = at.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
            self.who = who
            self.action = action
            self.target = target
            self.filter = filter
            self.count = count
            self.details = details
        }
    }

    /// Appends `entry`.
    /// - Throws: when the file cannot be written (the action is then reported as unaudited).
    public func append(_ entry: Entry) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var line = try encoder.encode(entry)
        line.append(0x0A)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o640)
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path]) }
        defer { close(fd) }
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
    }

    /// Every entry so far.
    public func entries() throws -> [Entry] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return try data.split(separator: 0x0A).map { try JSONDecoder().decode(Entry.self, from: Data($0)) }
    }
}
