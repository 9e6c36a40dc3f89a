public import Foundation

/// Times as the pipeline writes them: ISO 8601 in UTC, written digit by digit. Foundation's
/// formatters cost far more per call: a new `ISO8601DateFormatter` took 57 µs a call in a
/// release build here, and was 46 % of the certificates role's samples in a perf profile while
/// it stored the holders' names.
public enum UTCTimestamp {
    /// `yyyy-MM-ddTHH:mm:ssZ`, or with `milliseconds` `yyyy-MM-ddTHH:mm:ss.SSSZ`, in UTC, for the
    /// years 1970 to 9999; nil outside them. Seconds are cut (as `JSONEncoder`'s `.iso8601`);
    /// milliseconds are rounded to the nearest (as `ISO8601DateFormatter` with
    /// `.withFractionalSeconds`), which may carry into the next second.
    public static func iso8601(_ date: Date, milliseconds: Bool = false) -> String? {
        let interval = date.timeIntervalSince1970
        guard interval >= 0, interval < 253_402_300_800 else { return nil }
        let totalMilliseconds: Int64
        if milliseconds {
            totalMilliseconds = Int64((interval * 1_000).rounded(.toNearestOrAwayFromZero))
            // A rounding up past the last millisecond of 9999 has no four-digit year.
            guard totalMilliseconds < 253_402_300_800_000 else { return nil }
        } else {
            totalMilliseconds = Int64(interval.rounded(.down)) * 1_000
        }
        let seconds = totalMilliseconds / 1_000
        let days = seconds / 86_400
        let secondOfDay = seconds % 86_400
        let (year, month, day) = CivilDay.civil(days: Int(days))
        var text = [UInt8](repeating: UInt8(ascii: "0"), count: milliseconds ? 24 : 20)
        func put(_ value: Int64, at end: Int, width: Int) {
            var value = value
            for position in stride(from: end - 1, through: end - width, by: -1) {
                text[position] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
        }
        put(Int64(year), at: 4, width: 4)
        put(Int64(month), at: 7, width: 2)
        put(Int64(day), at: 10, width: 2)
        put(secondOfDay / 3_600, at: 13, width: 2)
        put(secondOfDay / 60 % 60, at: 16, width: 2)
        put(secondOfDay % 60, at: 19, width: 2)
        for (position, separator) in [(4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":")] as [(Int, Unicode.Scalar)] {
            text[position] = UInt8(ascii: separator)
        }
        if milliseconds {
            text[19] = UInt8(ascii: ".")
            put(totalMilliseconds % 1_000, at: 23, width: 3)
        }
        text[text.count - 1] = UInt8(ascii: "Z")
        return String(decoding: text, as: UTF8.self)
    }
}

/// Days of the proleptic Gregorian calendar by arithmetic (H. Hinnant's algorithms): what a
/// `Calendar` in a fixed time zone answers from 15 October 1582 on (it is Julian before),
/// without one. A `Calendar` loads ICU (megabytes of a
/// worker's memory) and costs microseconds a call; the workers ask on every message.
public enum CivilDay {
    /// WITA, the time of Kalimantan Timur: UTC+8, no daylight saving (since 1945).
    public static let wita = 8 * 3_600

    /// `yyyy-MM-dd` of `date` at `offset` seconds east of UTC, for the years 1 to 9999; nil
    /// outside them (and for a time that is not a number).
    public static func text(_ date: Date, offset: Int = 0) -> String? {
        let seconds = date.timeIntervalSince1970 + Double(offset)
        guard seconds.isFinite, abs(seconds) < 1e15 else { return nil }
        let (year, month, day) = civil(days: Int((seconds / 86_400).rounded(.down)))
        guard (1...9_999).contains(year) else { return nil }
        var text = [UInt8](repeating: UInt8(ascii: "-"), count: 10)
        for (value, end, width) in [(year, 4, 4), (month, 7, 2), (day, 10, 2)] {
            var value = value
            for position in stride(from: end - 1, through: end - width, by: -1) {
                text[position] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The days since 1970-01-01 of `text` when it is a day that exists, written `yyyy-MM-dd`
    /// (four digits, two, two; the years 1 to 9999); nil otherwise.
    public static func days(_ text: String) -> Int? {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for index in range {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else { return nil }
                value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), year >= 1,
            (1...12).contains(month), day >= 1, day <= length(ofMonth: month, in: year)
        else { return nil }
        return days(year: year, month: month, day: day)
    }

    /// The days since 1970-01-01 of a year, month and day; a day past the month's end, or a
    /// month past the year's (or before it), counts on, as `Calendar.date(from:)` does.
    public static func days(year: Int, month: Int, day: Int) -> Int {
        // The month into 1...12, the years it spans into the year (floor division).
        let carried = month >= 1 ? (month - 1) / 12 : -((12 - month) / 12)
        let year = year + carried
        let month = month - carried * 12
        let shifted = month <= 2 ? year - 1 : year
        let era = (shifted >= 0 ? shifted : shifted - 399) / 400
        let yearOfEra = shifted - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The year, month and day of a day since 1970-01-01.
    public static func civil(days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// The weekday of a day since 1970-01-01 as `Calendar`'s `.weekday`: 1 Sunday … 7 Saturday.
    public static func weekday(days: Int) -> Int {
        ((days + 4) % 7 + 7) % 7 + 1
    }

    /// The minutes since midnight of `date` at `offset` seconds east of UTC (0 to 1,439).
    public static func minuteOfDay(_ date: Date, offset: Int = 0) -> Int {
        let seconds = date.timeIntervalSince1970 + Double(offset)
        guard seconds.isFinite else { return 0 }
        let intoDay = seconds - (seconds / 86_400).rounded(.down) * 86_400
        return min(1_439, max(0, Int(intoDay / 60)))
    }

    static func length(ofMonth month: Int, in year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

/// Bytes as lowercase hexadecimal digits, two per byte. `String(format: "%02x")` per byte took
/// 25 µs for a 32-byte digest in a release build here; the NIK's blind index, which did that,
/// was 9 % of the intake role's samples in a perf profile.
public enum Hex {
    /// `[0xab, 0x01]` → `"ab01"`.
    public static func lowercase<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The sixteen digits, `0`–`9` then `a`–`f`, as UTF-8 bytes (also the envelope writer's
    /// `\u00xx` escapes and its UUIDs).
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)
}

/// JSON text written by hand, as the contracts are encoded.
public enum JSONText {
    /// Appends `text` as a JSON string literal: `"` and `\` escaped, control characters as
    /// `\b \t \n \f \r` or `\u00xx`, everything else (`/`, non-ASCII) as it is, in UTF-8:
    /// what `JSONEncoder` with `.withoutEscapingSlashes` writes.
    public static func appendQuoted(_ text: String, to json: inout [UInt8]) {
        EnvelopeWriter.appendString(text, to: &json)
    }
}
