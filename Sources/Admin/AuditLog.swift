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

    /// Appends `entry` and flushes it to disk (and, when this created the file, its folder), so
    /// that an action that is done is never missing from the log after a power loss.
    /// - Throws: when the file cannot be written or flushed (the action is then reported as
    ///   unaudited).
    public func append(_ entry: Entry) throws {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var line = try encoder.encode(entry)
        line.append(0x0A)
        var fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o640)
        let created = fd >= 0
        if !created, errno == EEXIST { fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC) }
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path]) }
        defer { close(fd) }
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count else {
            // Cut short (a full disk): end the line, so that the next entry starts one of its
            // own; readers count the cut one as unreadable.
            if written > 0 { _ = write(fd, "\n", 1) }
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        guard fsync(fd) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        if created {
            let directory = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard directory >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: folder]) }
            defer { close(directory) }
            guard fsync(directory) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: folder]) }
        }
    }

    /// Every entry so far, oldest first, and how many lines are not entries (a line cut short
    /// by a full disk or a crash, or changed by hand): those are skipped, so that one bad line
    /// does not hide the whole log.
    /// - Throws: when the file exists but cannot be read.
    public func read() throws -> (entries: [Entry], unreadable: Int) {
        guard FileManager.default.fileExists(atPath: path) else { return ([], 0) }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let decoder = JSONDecoder()
        var entries: [Entry] = []
        var unreadable = 0
        for line in data.split(separator: 0x0A) {
            if let entry = try? decoder.decode(Entry.self, from: Data(line)) {
                entries.append(entry)
            } else {
                unreadable += 1
            }
        }
        return (entries, unreadable)
    }

    /// Every entry so far, oldest first (``read()`` without the count of unreadable lines).
    public func entries() throws -> [Entry] { try read().entries }
}
