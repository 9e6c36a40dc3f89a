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
            // A new key is not looked up in the file (about one in 15,000 is, by chance).
            #expect(sender.fileSearches < 10, "\(sender.fileSearches) of 4,001 new keys looked up")
            let searches = sender.fileSearches
            _ = await sender.send(Self.message(keys[0]))
            #expect(sender.fileSearches == searches + 1, "a repeat is")
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
        #expect(restarted.fileSearches == keys.count + 1, "each found in the file")
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

    /// The filter that replaced the set of keys: every key inserted is found, a key never
    /// inserted almost never is (about one in 15,000 per layer), it costs a few bytes a key
    /// (a set took about 36), and it grows in layers from any first size without forgetting.
    @Test func theFilterForgetsNoKeyAndStaysSmall() {
        var seen = SeenKeys()
        let keys = (0..<100_000).map { NotificationDispatcher.idempotencyKey("n-\($0)", .sms) }
        for key in keys { seen.insert(key) }
        #expect(keys.allSatisfy { seen.mayContain($0) }, "no key inserted is ever reported new")
        let others = (0..<100_000).map { NotificationDispatcher.idempotencyKey("lain-\($0)", .sms) }
        let falsePositives = others.filter { seen.mayContain($0) }.count
        // About 7 expected; 100 would be a filter gone wrong, not bad luck.
        #expect(falsePositives < 100, "\(falsePositives) new keys looked seen")
        #expect(seen.layerCount == 2 && seen.byteCount <= 5 * keys.count, "\(seen.byteCount) bytes for 100,000 keys")

        var small = SeenKeys(firstCapacity: 10)
        for key in keys.prefix(5_000) { small.insert(key) }
        #expect(small.layerCount == 9 && small.count == 5_000, "10, 20, … 2,560 keys a layer")
        #expect(keys.prefix(5_000).allSatisfy { small.mayContain($0) }, "no layer forgets")
        #expect(others.prefix(5_000).filter { small.mayContain($0) }.count < 50)
    }

    /// A key the filter may have seen is looked for in the file, written as an attacker would
    /// lay it out: only a whole line whose own key it is counts; the key quoted inside a text,
    /// a longer key it begins, a line cut short by a crash do not; a key across the reader's
    /// megabyte boundary and keys with quotes, backslashes, slashes and non-ASCII letters do.
    @Test func aKeyCountsAsSentOnlyOnAWholeLineOfItsOwn() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("file-sender-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let url = URL(fileURLWithPath: path)
        func line(_ key: String, text: String = "Halo") throws -> String {
            struct Line: Encodable {
                let idempotencyKey: String
                let channel = "SMS"
                let recipient = "+6281250000001"
                let sentAt = "2025-07-07T00:00:00Z"
                let subject = ""
                let template = "pendaftaran_diterima"
                let text: String
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return String(decoding: try encoder.encode(Line(idempotencyKey: key, text: text)), as: UTF8.self) + "\n"
        }
        let straddling = "ntf-di-batas"
        let odd = #"kunci "aneh" \ a/b é"#
        let quoted = "ntf-dikutip"
        // A line longer than the 4 KiB steps its key is read back in.
        let first = try line(straddling, text: String(repeating: "panjang ", count: 1_500))
        // The last megabyte starts 1 byte into the first line's key field: fillers after it
        // make up the rest, the last one padded to the byte.
        let fieldStart = try #require(first.utf8.firstRange(of: #""idempotencyKey":"#.utf8)).lowerBound
        let boundary = first.utf8.distance(from: first.utf8.startIndex, to: fieldStart) + 1
        let accented = "ntf-kunci-\u{e9}"
        var tail = try line(odd) + line(accented) + line("ntf-panjang-sekali")
        tail += try line("lain", text: #"teks "idempotencyKey":"\#(quoted)" di dalamnya"#)
        let fillerTarget = (1 << 20) - (first.utf8.count - boundary)
        var index = 0
        while fillerTarget - tail.utf8.count > 2_000 {
            tail += try line("isi-\(index)", text: String(repeating: "x", count: 600))
            index += 1
        }
        let bare = try line("isi-akhir", text: "").utf8.count
        tail += try line("isi-akhir", text: String(repeating: "y", count: fillerTarget - tail.utf8.count - bare))
        #expect(tail.utf8.count == fillerTarget)
        try (first + tail).write(toFile: path, atomically: false, encoding: .utf8)

        #expect(try FileSender.fileHasLine(withKey: straddling, in: url), "found across the megabyte boundary")
        #expect(try FileSender.fileHasLine(withKey: odd, in: url) && FileSender.fileHasLine(withKey: accented, in: url))
        // The same letter in its decomposed form is the same key to Swift, and found as one.
        #expect(try FileSender.fileHasLine(withKey: "ntf-kunci-e\u{301}", in: url))
        #expect(try FileSender.fileHasLine(withKey: "isi-akhir", in: url) && FileSender.fileHasLine(withKey: "isi-0", in: url))
        #expect(try !FileSender.fileHasLine(withKey: quoted, in: url), "a key quoted in a text is not a line's key")
        #expect(try !FileSender.fileHasLine(withKey: "ntf-panjang", in: url), "nor the beginning of a longer key")
        #expect(try !FileSender.fileHasLine(withKey: "isi-", in: url))
        // A crash in the middle of a line: its key is all there, the line is not.
        let cut = "ntf-terpotong"
        let handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"channel":"SMS","idempotencyKey":"\#(cut)","recipient":"+62"#.utf8))
        try handle.close()
        #expect(try !FileSender.fileHasLine(withKey: cut, in: url), "a cut line does not count")
        // The sender, started on that file, writes the cut key and the quoted one, and no other.
        let sender = try FileSender(path: path)
        for key in [straddling, odd, "isi-0", "isi-akhir", cut, quoted] { _ = await sender.send(Self.message(key)) }
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        let written = lines.compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["idempotencyKey"] as? String
        }
        #expect(written.filter { [straddling, odd, "isi-0", "isi-akhir"].contains($0) }.count == 4, "none written again")
        #expect(Array(written.suffix(2)) == [cut, quoted], "\(written.suffix(3))")
        #expect(try FileSender.fileHasLine(withKey: cut, in: url), "now on a whole line of its own")
    }

    /// The key is looked up in the file the sender writes, not at its path: a log moved away
    /// while the worker runs still stops a repeat (the old lookup by path would have failed).
    @Test func aRepeatIsFoundInTheOpenFileEvenWhenItsPathMoved() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("file-sender-\(UUID().uuidString).jsonl").path
        let moved = path + ".moved"
        defer {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: moved)
        }
        let sender = try FileSender(path: path)
        let key = NotificationDispatcher.idempotencyKey("pindah", .sms)
        _ = await sender.send(Self.message(key))
        try FileManager.default.moveItem(atPath: path, toPath: moved)
        #expect(await sender.send(Self.message(key)) == .sent(providerMessageID: "file-" + key))
        let lines = try String(contentsOfFile: moved, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains(key))
    }
}
