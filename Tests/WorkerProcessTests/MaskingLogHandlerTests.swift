import Foundation
import Logging
import Synchronization
import Testing
import WorkerHost

/// The workers' log lines, written as a publisher who controls a message's id, type and body
/// would like them to be: each record stays one line, its fields its own, and no NIK in clear.
struct MaskingLogHandlerTests {
    /// Logs one record through a handler in `format` and returns what it wrote.
    static func write(_ format: MaskingLogHandler.Format, _ body: (Logger) -> Void) -> String {
        let lines = Mutex<[String]>([])
        let handler = MaskingLogHandler(label: "jobs", level: .info, format: format) { line in
            lines.withLock { $0.append(line) }
        }
        body(Logger(label: "jobs", factory: { _ in handler }))
        return lines.withLock { $0.joined() }
    }

    static let hostile: Logger.Metadata = [
        "message_id": "id\"},\"level\":\"critical\n{\"msg\":\"forged",
        "amqp.type": "a\u{0}b\u{7}c\u{1B}[31md\u{2028}e\u{85}f\\",
        "msg": "not the message", "ts": "1970-01-01T00:00:00Z",
        "Zeta": "upper", "alpha": "lower", "nik": "6471054107990003",
        "note": "NIK 6471054107990003 dari penerbit",
    ]

    @Test func aJSONRecordIsOneLineOfJSONWithSortedKeysAndNoNIK() throws {
        let text = Self.write(.json) { logger in
            logger.warning("message refused: body had \"6471054107990003\"\nsecond line", metadata: Self.hostile)
        }
        #expect(text.hasSuffix("\n"))
        #expect(text.dropLast().allSatisfy { !$0.isNewline }, "one line: \(text)")
        #expect(!text.contains("6471054107990003"), "\(text)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String], "valid JSON: \(text)")
        #expect(object["level"] == "warning")
        #expect(object["label"] == "jobs")
        #expect(object["msg"]?.hasPrefix("message refused: body had") == true, "a metadata key cannot replace msg")
        #expect(object["message_id"] == "id\"},\"level\":\"critical\n{\"msg\":\"forged", "the value whole, as a string")
        #expect(object["amqp.type"] == "a\u{0}b\u{7}c\u{1B}[31md\u{2028}e\u{85}f\\")
        let ts = try #require(object["ts"])
        #expect(ts != "1970-01-01T00:00:00Z", "a metadata key cannot replace the time")
        #expect(ts.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "UTC to the millisecond: \(ts)")
        // Keys in the order of their bytes, as written.
        let keys = text.matches(of: /"([^"\\]+)":/).map { String($0.output.1) }.filter { object[$0] != nil }
        #expect(keys == object.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }, "\(keys)")
    }

    @Test func aTextRecordIsOneLineWithItsControlsShown() {
        let text = Self.write(.text) { logger in
            logger.info("first\nsecond\r\u{2029}third", metadata: Self.hostile)
        }
        #expect(text.hasSuffix("\n"))
        let line = text.dropLast()
        #expect(!line.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }, "\(line)")
        #expect(!line.unicodeScalars.contains { $0.value == 0x2028 || $0.value == 0x2029 })
        #expect(line.contains("first\\u{a}second\\u{d}\\u{2029}third"), "\(line)")
        #expect(line.contains("amqp.type=a\\u{0}b\\u{7}c\\u{1b}[31md\\u{2028}e\\u{85}f\\\\"), "\(line)")
        #expect(!line.contains("6471054107990003"))
    }
}
