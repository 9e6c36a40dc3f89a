import Contracts
import Foundation
import Senders
import Testing
import Workers

/// The file channel deduplicates on the idempotency key as a gateway would, across restarts:
/// the keys are read back from the file (a megabyte at a time), a line cut short by a crash is
/// skipped and the next line starts on its own, and keys of any form are honoured.
struct FileSenderTests {
    static func message(_ key: String, text: String = "Halo") -> OutgoingNotification {
        OutgoingNotification(
            idempotencyKey: key, channel: .sms, recipient: "+6281250000001", template: "pendaftaran_diterima", subject: "",
            text: text)
    }

    @Test func eachKeyIsWrittenOnceAcrossRestartsAndACutLineIsSkipped() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("file-sender-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        // Enough lines to span several of the reader's one-megabyte chunks.
        let keys = (0..<4_000).map { NotificationDispatcher.idempotencyKey("n-\($0)", .sms) }
        let long = String(repeating: "x", count: 600)
        do {
            let sender = try FileSender(path: path)
            for key in keys {
                #expect(await sender.send(Self.message(key, text: long)) == .sent(providerMessageID: "file-" + key))
            }
            _ = await sender.send(Self.message("kunci-lain"))
            _ = await sender.send(Self.message(keys[0]))
        }
        func lines() throws -> [Substring] {
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        }
        #expect(try lines().filter { !$0.isEmpty }.count == keys.count + 1, "a key sent again is not written again")
        // A crash in the middle of a line: the cut line is not a key, and the next line is whole.
        let cut = Self.message(NotificationDispatcher.idempotencyKey("cut", .sms))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"channel":"SMS","idempotencyKey":"\#(cut.idempotencyKey)","#.utf8))
        try handle.close()

        let restarted = try FileSender(path: path)
        // Every key again (lines across the reader's chunk boundaries among them): none written.
        for key in keys + ["kunci-lain"] { _ = await restarted.send(Self.message(key)) }
        // A key in the dispatcher's form but upper case is another key, kept as text.
        let upper = keys[0].uppercased().replacingOccurrences(of: "NTF-", with: "ntf-")
        #expect(await restarted.send(Self.message(upper)) == .sent(providerMessageID: "file-" + upper))
        #expect(await restarted.send(cut) == .sent(providerMessageID: "file-" + cut.idempotencyKey))
        let after = try lines().filter { !$0.isEmpty }
        #expect(after.count == keys.count + 4, "the upper-case key and the cut one, after the cut line")
        #expect(after.last?.contains(cut.idempotencyKey) == true && after.last?.hasPrefix("{") == true)
        let whole = after.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let written = whole.compactMap { $0["idempotencyKey"] as? String }
        #expect(Set(written).count == written.count, "no key twice")
    }

    /// The log holds the texts and the numbers they went to: lines older than the retention are
    /// deleted (the file replaced, with the log's permissions), their keys forgotten; the lines
    /// kept are still deduplicated, later lines go to the new file, and a second pass with
    /// nothing old leaves the file alone.
    @Test func linesPastTheirRetentionAreDeletedAndTheRestKept() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("file-sender-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let start = Date(timeIntervalSince1970: 1_751_860_800)
        let clock = NotificationDeliveryTests.Clock(start)
        let sender = try FileSender(path: path, now: { clock.date })
        let old = (0..<3).map { NotificationDispatcher.idempotencyKey("lama-\($0)", .sms) }
        let recent = (0..<2).map { NotificationDispatcher.idempotencyKey("baru-\($0)", .sms) }
        for key in old { _ = await sender.send(Self.message(key, text: "Halo Peserta Lama")) }
        clock.set(start.addingTimeInterval(40 * 86_400))
        for key in recent { _ = await sender.send(Self.message(key)) }
        func keys() throws -> [String] {
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["idempotencyKey"] as? String
            }
        }
        #expect(try keys() == old + recent)
        // Nothing older than the cutoff: nothing changes, not even the file.
        let inode = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int
        #expect(try await sender.forgetSent(before: start) == 0)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int == inode)

        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path)
        #expect(try await sender.forgetSent(before: start.addingTimeInterval(10 * 86_400)) == 3)
        #expect(try keys() == recent)
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains("Peserta Lama") == false)
        let permissions = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(permissions == 0o640, "the new file keeps the log's permissions")
        // The kept keys are still known; a new line goes to the new file.
        _ = await sender.send(Self.message(recent[0]))
        let later = NotificationDispatcher.idempotencyKey("nanti", .sms)
        _ = await sender.send(Self.message(later))
        #expect(try keys() == recent + [later])
        #expect(try await sender.forgetSent(before: start.addingTimeInterval(10 * 86_400)) == 0, "nothing twice")
        #expect(!FileManager.default.fileExists(atPath: path + ".purging"))
        // A link in the log's place is refused: replacing it would leave the real log whole.
        let link = path + ".link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        defer { try? FileManager.default.removeItem(atPath: link) }
        #expect(throws: (any Error).self) { try FileSender(path: link) }
        // And after a restart.
        let restarted = try FileSender(path: path, now: { clock.date })
        for key in recent + [later] { _ = await restarted.send(Self.message(key)) }
        #expect(try keys() == recent + [later])
    }
}
