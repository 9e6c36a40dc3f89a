import Contracts
import Foundation
import Synchronization

/// Appends each message as one JSON line to a file instead of sending it: the local run's
/// notification log, and a stand-in for any channel. Deduplicates on the idempotency key like
/// a gateway would, across restarts too: the keys already in the file are read at start, so a
/// process killed between a send and its record does not write the message twice.
public final class FileSender: MessageSender {
    public let path: String
    private let state = Mutex<(handle: FileHandle?, sent: Set<String>)>((nil, []))

    /// - Throws: when the file cannot be created.
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
        var sent = Set<String>()
        let existing = (try? Data(contentsOf: url)) ?? Data()
        for line in existing.split(separator: 0x0A) {
            if let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any],
                let key = object["idempotencyKey"] as? String
            {
                sent.insert(key)
            }
        }
        let handle = try FileHandle(forWritingTo: url)
        // A line cut short by a crash: start the next one on a line of its own.
        if let last = existing.last, last != 0x0A {
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
            guard !state.sent.contains(message.idempotencyKey) else {
                return .sent(providerMessageID: "file-" + message.idempotencyKey)
            }
            do {
                try state.handle?.write(contentsOf: data)
            } catch {
                return .transient(code: "FILE_WRITE_FAILED", detail: "\(error)", retryAfter: nil)
            }
            state.sent.insert(message.idempotencyKey)
            return .sent(providerMessageID: "file-" + message.idempotencyKey)
        }
    }
}
