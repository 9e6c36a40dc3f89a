import Contracts
public import Foundation
import Synchronization

/// Appends each message as one JSON line to a file instead of sending it: the local run's
/// notification log, and a stand-in for any channel. Deduplicates on the idempotency key like
/// a gateway would, across restarts too: the keys already in the file are read at start, so a
/// process killed between a send and its record does not write the message twice.
///
/// Memory: the keys are kept as 16-byte digests (the dispatcher's keys are `ntf-` and 32 hex
/// digits), about 40 bytes each in the set instead of about 100 as strings, and the file is
/// read at start a megabyte at a time (a line is held whole only while it is read). The set still grows with the messages
/// written, until ``forgetSent(before:)`` drops the lines past their retention (the dispatcher
/// calls it with the settled messages' data retention): a deployment's HTTP and SMTP senders
/// keep none.
public final class FileSender: MessageSender {
    public let path: String
    private let state = Mutex<(handle: FileHandle?, sent: Set<SentKey>)>((nil, []))

    /// An idempotency key as the set keeps it.
    enum SentKey: Hashable {
        case digest(UInt64, UInt64)
        case text(String)

        init(_ key: String) {
            let utf8 = Array(key.utf8)
            if utf8.count == 36, key.hasPrefix("ntf-"), let high = Self.hex(utf8[4..<20]), let low = Self.hex(utf8[20..<36]) {
                self = .digest(high, low)
            } else {
                self = .text(key)
            }
        }

        /// Sixteen lowercase hex digits as a number (nil for anything else: such a key is kept as text).
        private static func hex(_ digits: ArraySlice<UInt8>) -> UInt64? {
            var value: UInt64 = 0
            for digit in digits {
                switch digit {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): value = value << 4 | UInt64(digit - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): value = value << 4 | UInt64(digit - UInt8(ascii: "a") + 10)
                default: return nil
                }
            }
            return value
        }
    }

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
        var sent = Set<SentKey>()
        let decoder = JSONDecoder()
        let endsWithNewline = try Self.forEachLine(of: url) { line in
            if let keyed = try? decoder.decode(Keyed.self, from: line) { sent.insert(SentKey(keyed.idempotencyKey)) }
        }
        let handle = try FileHandle(forWritingTo: url)
        // A line cut short by a crash: start the next one on a line of its own.
        if !endsWithNewline {
            try handle.seekToEnd()
            try handle.write(contentsOf: Data([0x0A]))
        }
        try handle.seekToEnd()
        state.withLock {
            $0.handle = handle
            $0.sent = sent
        }
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
            let writer = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
            defer { if !replaced { try? writer.close() } }
            var kept = Set<SentKey>()
            var removed = 0
            var buffer = Data()
            try Self.forEachLine(of: url) { line in
                guard !line.isEmpty else { return }
                guard let keyed = isKept(line) else {
                    removed += 1
                    return
                }
                kept.insert(SentKey(keyed.idempotencyKey))
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
            state.sent = kept
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
            let key = SentKey(message.idempotencyKey)
            guard !state.sent.contains(key) else {
                return .sent(providerMessageID: "file-" + message.idempotencyKey)
            }
            let offset = try? state.handle?.offset()
            do {
                try state.handle?.write(contentsOf: data)
            } catch {
                // A line written in part (a full disk) is cut back, so the next one starts whole.
                if let offset { try? state.handle?.truncate(atOffset: offset) }
                return .transient(code: "FILE_WRITE_FAILED", detail: "\(error)", retryAfter: nil)
            }
            state.sent.insert(key)
            return .sent(providerMessageID: "file-" + message.idempotencyKey)
        }
    }
}
