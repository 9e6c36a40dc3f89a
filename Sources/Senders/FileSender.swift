import Contracts
public import Foundation
import Synchronization

/// Appends each message as one JSON line to a file instead of sending it: the local run's
/// notification log, and a stand-in for any channel. Deduplicates on the idempotency key like
/// a gateway would, across restarts too: the keys already in the file are read at start, so a
/// process killed between a send and its record does not write the message twice.
///
/// Memory: the keys written are kept in a growing Bloom filter (``SeenKeys``: 1.1 MB for
/// 300,000 keys), not a set (4.7 MB at the 95,000 messages of a 30,000-registration main job,
/// measured with heaptrack, and growing with every key).
/// A key the filter may have seen is looked up in the open file, from its end (a repeat is a
/// key just sent): it counts as sent only if a whole line carries it. The file is read a
/// megabyte at a time (a line is held whole only while it is read). ``forgetSent(before:)``
/// (the dispatcher calls it with the settled messages' data retention) builds the filter again
/// from the lines it keeps. The look-up holds the sender's lock: for a new key that looks seen
/// (about one in 15,000 per full layer of the filter) the whole file is read while other sends
/// wait. A deployment's HTTP and SMTP senders keep no keys.
public final class FileSender: MessageSender {
    public let path: String
    private let state = Mutex<(handle: FileHandle?, seen: SeenKeys, searches: Int)>(
        (nil, SeenKeys(firstCapacity: 1), 0))

    /// How many sends looked their key up in the file (a repeat, or a new key the filter took
    /// for one); an ordinary send does not.
    package var fileSearches: Int { state.withLock { $0.searches } }

    /// - Parameter now: the clock the lines' `sentAt` is taken from (tests move it).
    /// - Throws: when the file cannot be created or read.
    public init(path: String, now: @escaping @Sendable () -> Date = { Date() }) throws {
        self.path = path
        self.now = now
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
            }
        }
        // A regular file only: the retention replaces the file, which would leave a link's
        // target (the real log) untouched.
        guard (try FileManager.default.attributesOfItem(atPath: path))[.type] as? FileAttributeType == .typeRegular else {
            throw CocoaError(
                .fileReadUnsupportedScheme,
                userInfo: [
                    NSFilePathErrorKey: path, NSLocalizedDescriptionKey: "\(path) is not a regular file (a link is refused)",
                ])
        }
        // Keys already sent; a line cut short by a crash has no complete key and is skipped.
        var seen = SeenKeys()
        let decoder = JSONDecoder()
        let endsWithNewline = try Self.forEachLine(of: url) { line in
            if let keyed = try? decoder.decode(Keyed.self, from: line) { seen.insert(keyed.idempotencyKey) }
        }
        // Read and write: a key is looked up in the file this handle writes, wherever its path
        // may lead meanwhile.
        let handle = try FileHandle(forUpdating: url)
        // A line cut short by a crash: start the next one on a line of its own.
        if !endsWithNewline {
            try handle.seekToEnd()
            try handle.write(contentsOf: Data([0x0A]))
        }
        try handle.seekToEnd()
        state.withLock {
            $0.handle = handle
            $0.seen = seen
        }
    }

    /// Whether a whole line of the file at `url` carries `key` (see
    /// ``fileHasLine(withKey:descriptor:)``).
    package static func fileHasLine(withKey key: String, in url: URL) throws -> Bool {
        let reader = try FileHandle(forReadingFrom: url)
        defer { try? reader.close() }
        return try fileHasLine(withKey: key, descriptor: reader.fileDescriptor)
    }

    /// Whether a whole line of the open file carries `key`, read with `pread` (the writer's
    /// position is not moved). A key of the dispatcher's kind (printable ASCII without a quote,
    /// a backslash or a slash) is searched from the file's end (a repeat is a key just sent) a
    /// megabyte at a time as the writer encodes it, `"idempotencyKey":"…"` (inside a text every
    /// quote is escaped, so only the field matches), and each match's line must decode with
    /// that key (a line cut short by a crash does not). Any other key, whose bytes an encoder
    /// could write otherwise, is compared line by line, decoded.
    private static func fileHasLine(withKey key: String, descriptor: Int32) throws -> Bool {
        let isPlain = key.utf8.allSatisfy { (0x20...0x7E).contains($0) && $0 != 0x22 && $0 != 0x5C && $0 != 0x2F }
        guard isPlain else {
            var found = false
            let decoder = JSONDecoder()
            try forEachLine(descriptor: descriptor) { line in
                if !found, (try? decoder.decode(Keyed.self, from: line))?.idempotencyKey == key { found = true }
            }
            return found
        }
        let needle = Array(#""idempotencyKey":""#.utf8) + Array(key.utf8) + [0x22]
        let chunkSize = 1 << 20
        var end = try fileSize(descriptor)
        // The first bytes of what follows this chunk, so a match across chunks is found.
        var carried: [UInt8] = []
        while end > 0 {
            let start = max(end - chunkSize, 0)
            var window = try read(descriptor, at: start, count: end - start)
            window.append(contentsOf: carried)
            for offset in matches(of: needle, in: window).reversed()
            where try lineKey(at: start + offset, descriptor: descriptor) == key {
                return true
            }
            carried = Array(window.prefix(needle.count - 1))
            end = start
        }
        return false
    }

    /// The file's size.
    private static func fileSize(_ descriptor: Int32) throws -> Int {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return Int(status.st_size)
    }

    /// Up to `count` bytes from `offset` (fewer at the file's end), with `pread`.
    private static func read(_ descriptor: Int32, at offset: Int, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = bytes.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
            }
            if got < 0 && errno == EINTR { continue }
            guard got >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            if got == 0 { break }
            done += got
        }
        bytes.removeLast(count - done)
        return bytes
    }

    /// Where `needle` starts in `window`, in order: `memchr` to each place its first byte is,
    /// `memcmp` there.
    private static func matches(of needle: [UInt8], in window: [UInt8]) -> [Int] {
        guard let first = needle.first, window.count >= needle.count else { return [] }
        return window.withUnsafeBytes { haystack in
            needle.withUnsafeBytes { pattern in
                guard let base = haystack.baseAddress, let wanted = pattern.baseAddress else { return [] }
                var found: [Int] = []
                var from = 0
                let last = haystack.count - pattern.count
                while from <= last, let hit = memchr(base + from, Int32(first), last - from + 1) {
                    let index = base.distance(to: UnsafeRawPointer(hit))
                    if memcmp(base + index, wanted, pattern.count) == 0 { found.append(index) }
                    from = index + 1
                }
                return found
            }
        }
    }

    /// The key of the whole line around `offset`, if it decodes.
    private static func lineKey(at offset: Int, descriptor: Int32) throws -> String? {
        let step = 4_096
        var start = offset
        // Back to the byte after the previous newline (or the file's start).
        while start > 0 {
            let from = max(start - step, 0)
            let bytes = try read(descriptor, at: from, count: start - from)
            if let newline = bytes.lastIndex(of: 0x0A) {
                start = from + newline + 1
                break
            }
            start = from
        }
        // On to the next newline (or the file's end).
        var line: [UInt8] = []
        var at = start
        while true {
            let bytes = try read(descriptor, at: at, count: step)
            if let newline = bytes.firstIndex(of: 0x0A) {
                line.append(contentsOf: bytes[..<newline])
                break
            }
            line.append(contentsOf: bytes)
            if bytes.count < step { break }
            at += step
        }
        return (try? JSONDecoder().decode(Keyed.self, from: Data(line)))?.idempotencyKey
    }

    private let now: @Sendable () -> Date

    /// What is read back of a line: its key and when it was written.
    private struct Keyed: Decodable {
        let idempotencyKey: String
        let sentAt: String?
    }

    /// Calls `body` with each line of the file (without its newline), reading a megabyte at a
    /// time; only the new chunk is searched for a newline, so a long line costs its length once.
    /// Returns whether the file ends with a newline (or is empty).
    @discardableResult
    private static func forEachLine(of url: URL, _ body: (Data) throws -> Void) throws -> Bool {
        let reader = try FileHandle(forReadingFrom: url)
        defer { try? reader.close() }
        var endsWithNewline = true
        var pending = Data()
        while let chunk = try reader.read(upToCount: 1 << 20), !chunk.isEmpty {
            endsWithNewline = chunk.last == 0x0A
            guard let lastNewline = chunk.lastIndex(of: 0x0A) else {
                pending.append(chunk)
                continue
            }
            pending.append(chunk[..<lastNewline])
            for line in pending.split(separator: 0x0A) { try body(Data(line)) }
            pending = Data(chunk[(lastNewline + 1)...])
        }
        if !pending.isEmpty { try body(pending) }
        return endsWithNewline
    }

    /// Calls `body` with each line of the open file, read forward with `pread` a megabyte at
    /// a time.
    private static func forEachLine(descriptor: Int32, _ body: (Data) throws -> Void) throws {
        var offset = 0
        var pending: [UInt8] = []
        while true {
            let chunk = try read(descriptor, at: offset, count: 1 << 20)
            guard !chunk.isEmpty else { break }
            offset += chunk.count
            guard let lastNewline = chunk.lastIndex(of: 0x0A) else {
                pending.append(contentsOf: chunk)
                continue
            }
            pending.append(contentsOf: chunk[..<lastNewline])
            for line in pending.split(separator: 0x0A) { try body(Data(line)) }
            pending = Array(chunk[(lastNewline + 1)...])
        }
        if !pending.isEmpty { try body(Data(pending)) }
    }

    /// Deletes the lines written before `cutoff` (and any line cut short by a crash, which has
    /// no time) by writing the rest to a new file that replaces the log (flushed, then renamed,
    /// then the folder flushed), and forgets their keys. Lines are appended in time order, so
    /// when the first line is not older than `cutoff` nothing is read further. Sends wait
    /// meanwhile. On failure the log is left as it was. Only this process may rewrite the log
    /// while it runs (`kaltim-admin subject erase --notification-log` wants the worker stopped).
    public func forgetSent(before cutoff: Date) async throws -> Int {
        try state.withLock { state in
            let url = URL(fileURLWithPath: path)
            let decoder = JSONDecoder()
            func isKept(_ line: Data) -> Keyed? {
                guard let keyed = try? decoder.decode(Keyed.self, from: line),
                    let stamp = keyed.sentAt, let sentAt = try? Date(stamp, strategy: .iso8601)
                else { return nil }
                return sentAt >= cutoff ? keyed : nil
            }
            // The first line only: nothing older than the cutoff means nothing to do.
            var firstIsKept: Bool?
            do {
                let reader = try FileHandle(forReadingFrom: url)
                defer { try? reader.close() }
                if let chunk = try reader.read(upToCount: 1 << 20), let newline = chunk.firstIndex(of: 0x0A) {
                    firstIsKept = isKept(Data(chunk[..<newline])) != nil
                }
            }
            if firstIsKept == true { return 0 }

            let temporary = path + ".purging"
            try? FileManager.default.removeItem(atPath: temporary)
            // The new file keeps the log's permissions (0600 only if they cannot be read).
            let permissions =
                ((try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? NSNumber)
                .map { $0.intValue & 0o777 } ?? 0o600
            guard
                FileManager.default.createFile(atPath: temporary, contents: nil, attributes: [.posixPermissions: permissions])
            else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary]) }
            var replaced = false
            defer { if !replaced { try? FileManager.default.removeItem(atPath: temporary) } }
            let writer = try FileHandle(forUpdating: URL(fileURLWithPath: temporary))
            defer { if !replaced { try? writer.close() } }
            var kept = SeenKeys()
            var removed = 0
            var buffer = Data()
            try Self.forEachLine(of: url) { line in
                guard !line.isEmpty else { return }
                guard let keyed = isKept(line) else {
                    removed += 1
                    return
                }
                kept.insert(keyed.idempotencyKey)
                buffer.append(line)
                buffer.append(0x0A)
                if buffer.count >= 1 << 20 {
                    try writer.write(contentsOf: buffer)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            guard removed > 0 else { return 0 }
            try writer.write(contentsOf: buffer)
            try writer.synchronize()
            // The rename is the last step that can fail: before it the log is as it was.
            guard rename(temporary, path) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
            }
            replaced = true
            let folder = open(url.deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY)
            if folder >= 0 {
                _ = fsync(folder)
                close(folder)
            }
            // Later lines go to the new file (the writer is at its end); the old one is gone.
            try? state.handle?.close()
            state.handle = writer
            state.seen = kept
            return removed
        }
    }

    public func send(_ message: OutgoingNotification) async -> SendResult {
        struct Line: Encodable {
            let idempotencyKey: String
            let channel: String
            let recipient: String
            let template: String
            let subject: String
            let text: String
            let sentAt: String
        }
        let line = Line(
            idempotencyKey: message.idempotencyKey, channel: message.channel.rawValue, recipient: message.recipient,
            template: message.template, subject: message.subject, text: message.text,
            sentAt: now().formatted(.iso8601))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var data = try? encoder.encode(line) else {
            return .permanent(code: "ENCODING_FAILED", detail: "the message could not be encoded")
        }
        data.append(0x0A)
        return state.withLock { state -> SendResult in
            let key = message.idempotencyKey
            guard let handle = state.handle else {
                return .transient(code: "FILE_WRITE_FAILED", detail: "the log is not open", retryAfter: nil)
            }
            // A key the filter may have seen is looked up in the file; when the file cannot be
            // read, the message is not written blind (it may be there): it is tried again later.
            if state.seen.mayContain(key) {
                state.searches += 1
                do {
                    if try Self.fileHasLine(withKey: key, descriptor: handle.fileDescriptor) {
                        return .sent(providerMessageID: "file-" + key)
                    }
                } catch {
                    return .transient(code: "FILE_READ_FAILED", detail: "\(error)", retryAfter: nil)
                }
            }
            let offset = try? handle.offset()
            do {
                try handle.write(contentsOf: data)
            } catch {
                // A line written in part (a full disk) is cut back, so the next one starts whole.
                if let offset { try? handle.truncate(atOffset: offset) }
                return .transient(code: "FILE_WRITE_FAILED", detail: "\(error)", retryAfter: nil)
            }
            state.seen.insert(key)
            return .sent(providerMessageID: "file-" + key)
        }
    }
}
