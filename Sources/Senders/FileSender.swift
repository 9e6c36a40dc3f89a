import Contracts
import Foundation
import Synchronization

/// Appends each message as one JSON line to a file instead of sending it: the local run's
/// notification log, and a stand-in for any channel. Deduplicates on the idempotency key like
/// a gateway would, across restarts too: the keys already in the file are read at start, so a
/// process killed between a send and its record does not write the message twice.
///
/// Memory: the keys are kept as 16-byte digests (the dispatcher's keys are `ntf-` and 32 hex
/// digits), about 40 bytes each in the set instead of about 100 as strings, and the file is
/// read at start a megabyte at a time (a line is held whole only while it is read). The set still grows with the messages
/// written: a deployment's HTTP and SMTP senders keep none.
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

    /// - Throws: when the file cannot be created or read.
    public init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
            }
        }
        // Keys already sent; a line cut short by a crash has no complete key and is skipped.
        struct Keyed: Decodable { let idempotencyKey: String }
        var sent = Set<SentKey>()
        let decoder = JSONDecoder()
        var endsWithNewline = true
        let reader = try FileHandle(forReadingFrom: url)
        defer { try? reader.close() }
        var pending = Data()
        while let chunk = try reader.read(upToCount: 1 << 20), !chunk.isEmpty {
            endsWithNewline = chunk.last == 0x0A
            // Only the new chunk is searched, so a long line costs its length once.
            guard let lastNewline = chunk.lastIndex(of: 0x0A) else {
                pending.append(chunk)
                continue
            }
            pending.append(chunk[..<lastNewline])
            for line in pending.split(separator: 0x0A) {
                if let keyed = try? decoder.decode(Keyed.self, from: line) { sent.insert(SentKey(keyed.idempotencyKey)) }
            }
            pending = Data(chunk[(lastNewline + 1)...])
        }
        if let keyed = try? decoder.decode(Keyed.self, from: pending) { sent.insert(SentKey(keyed.idempotencyKey)) }
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
            sentAt: Date().formatted(.iso8601))
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
