internal import CSMTP
import ContractKit
import Foundation

/// E-mail over SMTP with libcurl: plain SMTP to a local relay, or STARTTLS (required when
/// enabled) with optional credentials. The blocking libcurl call runs on a thread of its own,
/// never on the Swift concurrency pool, and is bounded by `timeout`.
///
/// The idempotency key becomes the Message-ID, so a receiving system can recognise a repeat.
/// SMTP itself cannot deduplicate: if the process dies after the server accepted a message and
/// before the success was recorded, that one message may go out again (the dispatcher records
/// each success right after the send to keep that window small).
public struct SMTPSender: MessageSender {
    /// `smtp://host:port` (or `smtps://host:port` for implicit TLS).
    public let url: String
    public let from: String
    public let username: String?
    public let password: String?
    public let startTLS: Bool
    public let caFile: String?
    public let timeout: Duration

    public init(
        url: String, from: String, username: String? = nil, password: String? = nil, startTLS: Bool = false,
        caFile: String? = nil, timeout: Duration = .seconds(20)
    ) {
        Self.initialise
        self.url = url
        self.from = from
        self.username = username
        self.password = password
        self.startTLS = startTLS
        self.caFile = caFile
        self.timeout = timeout
    }

    private static let initialise: Void = { _ = kaltim_smtp_global_init() }()

    /// Why mail cannot be sent from this process (libcurl, loaded by the first sender, is
    /// missing or incomplete), or nil when it can.
    public static var libraryError: String? {
        kaltim_smtp_global_init().map { String(cString: $0) }
    }

    /// Whether `address` may go into `RCPT TO:<…>` and a `To:` header as it is: one `@`, at
    /// most 254 bytes, and nothing that ends a line, a command or an address (controls, spaces,
    /// line and paragraph separators, `<`, `>`, `"`, a backslash, `,`, `;`). libcurl writes the address
    /// into the SMTP command unchecked, so a CR LF in it would be a command of the sender's.
    public static func isSafeRecipient(_ address: String) -> Bool {
        guard address.utf8.count <= 254, address.utf8.filter({ $0 == UInt8(ascii: "@") }).count == 1 else { return false }
        return !address.unicodeScalars.contains {
            $0.properties.generalCategory == .control || $0.properties.isWhitespace || "<>\"\\,;".unicodeScalars.contains($0)
                || $0 == "\u{2028}" || $0 == "\u{2029}" || $0 == "\u{85}"
        }
    }

    public func send(_ message: OutgoingNotification) async -> SendResult {
        // The handler stores only valid addresses; this refuses what still could end a command.
        guard Self.isSafeRecipient(message.recipient) else {
            return .permanent(code: "SMTP_BAD_RECIPIENT", detail: "the address cannot be written into an SMTP command")
        }
        let payload = Self.rfc5322(message, from: from, date: Date())
        let messageID = Self.messageID(message.idempotencyKey)
        let sender = self
        return await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: sender.sendBlocking(message.recipient, payload: payload, messageID: messageID))
            }
            thread.name = "smtp-send"
            thread.start()
        }
    }

    private func sendBlocking(_ recipient: String, payload: Data, messageID: String) -> SendResult {
        let seconds = max(1, Int(timeout.components.seconds))
        let result = withOptionalCString(username) { user in
            withOptionalCString(password) { pass in
                withOptionalCString(caFile) { ca in
                    "<\(recipient)>".withCString { rcpt in
                        var recipients: [UnsafePointer<CChar>?] = [rcpt]
                        return recipients.withUnsafeMutableBufferPointer { list in
                            payload.withUnsafeBytes { bytes in
                                kaltim_smtp_send(
                                    url, user, pass, startTLS ? 1 : 0, ca, "<\(from)>", list.baseAddress, 1,
                                    bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count, seconds)
                            }
                        }
                    }
                }
            }
        }
        if result.curl_code == 0 {
            return .sent(providerMessageID: messageID)
        }
        let detail = withUnsafeBytes(of: result.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if result.curl_code == KALTIM_SMTP_NO_LIBCURL {
            // The worker refuses to start without it (SMTPSender.libraryError): configuration, not chance.
            return .permanent(code: "SMTP_NO_LIBCURL", detail: detail)
        }
        let smtp = Int(result.smtp_code)
        // The server's refusal when there is one (4xx, 5xx), else libcurl's code.
        let code = smtp >= 400 ? "SMTP_\(smtp)" : "SMTP_CURL_\(result.curl_code)"
        // Configuration, not chance: 67 login denied, 64 STARTTLS not offered, 60 and 77 the
        // server's certificate not trusted or the CA file unreadable. 5xx: the server refused.
        if (500..<600).contains(smtp) || [67, 64, 60, 77].contains(result.curl_code) {
            return .permanent(code: code, detail: detail)
        }
        return .transient(code: code, detail: detail, retryAfter: nil)
    }

    /// `date` as RFC 5322 writes it, in WITA: `Mon, 08 Dec 2025 09:06:09 +0800`, by arithmetic
    /// (``CivilDay``); a `DateFormatter` in a named time zone loads ICU, for every e-mail. A time
    /// outside the years 1 to 9999 (a broken clock) is written as the epoch.
    static func dateHeader(_ date: Date) -> String { dateHeader(secondsSince1970: date.timeIntervalSince1970) }

    /// ``dateHeader(_:)`` of a time given in seconds since 1970.
    package static func dateHeader(secondsSince1970 time: Double) -> String {
        // To the millisecond first, as the formatter did (…59.9996 is the next second).
        let seconds = ((time + Double(CivilDay.wita)) * 1_000).rounded(.toNearestOrAwayFromZero) / 1_000
        let whole = seconds.isFinite && abs(seconds) < 2.6e11 ? Int(seconds.rounded(.down)) : CivilDay.wita
        var days = Int((Double(whole) / 86_400).rounded(.down))
        var (year, month, day) = CivilDay.civil(days: days)
        var second = whole - days * 86_400
        if !(1...9_999).contains(year) {
            // A clock outside the years RFC 5322 writes: the epoch, in WITA.
            (days, second) = (0, CivilDay.wita)
            (year, month, day) = CivilDay.civil(days: 0)
        }
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let weekday = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][CivilDay.weekday(days: days) - 1]
        let monthName = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][month - 1]
        let yearText = String(repeating: "0", count: max(0, 4 - String(year).count)) + String(year)
        return
            "\(weekday), \(two(day)) \(monthName) \(yearText) \(two(second / 3_600)):\(two(second / 60 % 60)):\(two(second % 60)) +0800"
    }

    /// The Message-ID derived from the idempotency key.
    static func messageID(_ key: String) -> String {
        "<\(key.filter { $0.isLetter || $0.isNumber || "-._".contains($0) })@notifications.kaltim>"
    }

    /// The most Unicode scalars of a subject that are sent; a longer one is cut, with "…".
    static let maximumSubjectCharacters = 200

    /// The subject as RFC 2047 encoded words of at most 68 characters, each on a line of its
    /// own (folded with CRLF and a space), cut to ``maximumSubjectCharacters``, control
    /// characters sent as spaces. A registration number of any length reaches a subject before
    /// intake has checked it; as one encoded word, a long one made a header line longer than
    /// the 998 characters RFC 5322 allows, which servers refuse or cut.
    package static func encodedSubject(_ subject: String) -> String {
        var text = String(
            String.UnicodeScalarView(
                subject.unicodeScalars.map { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) ? " " : $0 }))
        // Counted in Unicode scalars: one letter with thousands of combining marks is one
        // character, and would pass a count of characters.
        if text.unicodeScalars.count > maximumSubjectCharacters {
            text = String(String.UnicodeScalarView(text.unicodeScalars.prefix(maximumSubjectCharacters - 1))) + "…"
        }
        var words: [[UInt8]] = []
        var chunk: [UInt8] = []
        // 42 bytes encode to 56 base64 characters: with `=?UTF-8?B?` and `?=`, 68 a word, and
        // the first line, after `Subject: `, 77 (RFC 5322 asks for at most 78).
        for scalar in text.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            if chunk.count + bytes.count > 42 {
                words.append(chunk)
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty || words.isEmpty { words.append(chunk) }
        return words.map { "=?UTF-8?B?\(Data($0).base64EncodedString())?=" }.joined(separator: "\r\n ")
    }

    /// The message in RFC 5322 form: UTF-8 subject (RFC 2047) and a base64 body, CRLF lines.
    static func rfc5322(_ message: OutgoingNotification, from: String, date: Date) -> Data {
        let subject = encodedSubject(message.subject)
        let body = Data(
            message.text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r\n").utf8
        )
        .base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
        let lines = [
            "Date: \(dateHeader(date))",
            "From: <\(from)>",
            "To: <\(message.recipient)>",
            "Subject: \(subject)",
            "Message-ID: \(messageID(message.idempotencyKey))",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=UTF-8",
            "Content-Transfer-Encoding: base64",
            "",
            body,
            "",
        ]
        return Data(lines.joined(separator: "\r\n").utf8)
    }
}

private func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}
