public import Foundation
import Jobs

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

    /// Appends `entry` and flushes it to disk, with the folder's entry for the file when the file
    /// was empty (and the folder's own when this made the folder), so that an action that is done
    /// is never missing from the log after a power loss.
    /// - Throws: when the file cannot be written or flushed (the action is then reported as
    ///   unaudited).
    public func append(_ entry: Entry) throws {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        let madeFolder = !FileManager.default.fileExists(atPath: folder.path)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var line = try encoder.encode(entry)
        line.append(0x0A)
        let fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)  // read: the last byte
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path]) }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: path]) }
        let wasEmpty = status.st_size == 0
        if !wasEmpty {
            // A line an earlier writer left unended (a full disk, a crash) is ended first, so
            // that this entry is a line of its own and only the cut one is unreadable.
            var last: UInt8 = 0
            if pread(fd, &last, 1, off_t(status.st_size - 1)) == 1, last != 0x0A { line.insert(0x0A, at: 0) }
        }
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        guard fsync(fd) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        // Every writer that finds the file empty flushes the folder, not only the one that
        // created it: another may have created it and not flushed yet.
        if wasEmpty { try DiskFlush.flush(folder.path) }
        if madeFolder { try DiskFlush.flush(folder.deletingLastPathComponent().path) }
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
