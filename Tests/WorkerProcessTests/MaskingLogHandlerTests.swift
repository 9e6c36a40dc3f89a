import Contracts
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
        // A key made from data, a NIK in it; fields forged inside a value; text turned around.
        "k6471054107990003": "x", "correlation_id": "x level=critical role=intake",
        "app_id": "portal\u{202E}lanigiro\u{200B}\u{7F}\u{9B}31m",
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
        #expect(object["app_id"] == "portal\u{202E}lanigiro\u{200B}\u{7F}\u{9B}31m", "the value whole once read")
        #expect(object["correlation_id"] == "x level=critical role=intake")
        // Written escaped: no control, separator or invisible format character stands in the line.
        #expect(!text.dropLast().unicodeScalars.contains { Self.unsafe($0) }, "\(text)")
        #expect(text.contains("portal\\u202elanigiro\\u200b\\u007f\\u009b31m"), "\(text)")
        let ts = try #require(object["ts"])
        #expect(ts != "1970-01-01T00:00:00Z", "a metadata key cannot replace the time")
        #expect(ts.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "UTC to the millisecond: \(ts)")
        // Keys in the order of their bytes, as written.
        let keys = text.matches(of: /"([^"\\]+)":/).map { String($0.output.1) }.filter { object[$0] != nil }
        #expect(keys == object.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }, "\(keys)")
    }

    @Test func aTextRecordIsOneLineWithItsControlsShownAndItsValuesQuoted() throws {
        let text = Self.write(.text) { logger in
            logger.info("first\nsecond\r\u{2029}third", metadata: Self.hostile)
        }
        #expect(text.hasSuffix("\n"))
        let line = text.dropLast()
        #expect(!line.unicodeScalars.contains { Self.unsafe($0) }, "\(line)")
        #expect(line.contains("\"first\\u{a}second\\u{d}\\u{2029}third\""), "\(line)")
        #expect(line.contains("amqp.type=\"a\\u{0}b\\u{7}c\\u{1b}[31md\\u{2028}e\\u{85}f\\\\\""), "\(line)")
        #expect(line.contains("app_id=portal\\u{202e}lanigiro\\u{200b}\\u{7f}\\u{9b}31m"), "\(line)")
        // The publisher's "level=critical role=intake" stays inside its own quoted value: read
        // as key=value pairs, the line has the record's keys and no others.
        #expect(line.contains("correlation_id=\"x level=critical role=intake\""), "\(line)")
        let afterLabel = try #require(line.range(of: " jobs: "), "\(line)")
        let keys = Self.logfmtKeys(String(line[afterLabel.upperBound...]))
        #expect(keys.sorted() == Self.hostile.keys.map { PersonalData.mask($0) }.sorted(), "\(keys.sorted())")
        #expect(!line.contains("6471054107990003"), "\(line)")
    }

    /// The keys of the `key=value` pairs of a text line after its `label:`, quotes and
    /// backslash escapes honoured; the message (the first token) left out.
    static func logfmtKeys(_ text: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        for character in text {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "\"" {
                quoted.toggle()
            } else if character == " " && !quoted {
                if !current.isEmpty { tokens.append(current) }
                current = ""
            } else {
                current.append(character)
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens.dropFirst().map { String($0.prefix { $0 != "=" }) }
    }

    /// What may not stand in a log line as it is: controls, DEL, C1, line and paragraph
    /// separators, invisible format characters.
    static func unsafe(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
            || scalar.properties.generalCategory == .format
    }
}
