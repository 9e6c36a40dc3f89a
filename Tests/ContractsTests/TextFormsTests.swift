import Foundation
import Testing

@testable import ContractKit

/// The hand-written times and hex give Foundation's texts, byte for byte, wherever they answer.
struct TextFormsTests {
    /// The formatter the certificates role created per call before (`CertificateHandler.timestamp`).
    func milliseconds(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// Edges (the epoch, leap days, the turn of centuries, half a millisecond either side, the
    /// last millisecond of 9999) and 20,000 random instants, whole and fractional.
    func instants() -> [Double] {
        var generator = SystemRandomNumberGenerator()
        var values: [Double] = [
            0, 0.0004, 0.0005, 0.0009, 0.9994, 0.9995, 0.9999, 59.9995, 86_399.9996, 951_782_400, 951_868_799.9995,
            1_750_000_000.123, 1_750_000_000.0005, 4_107_542_399.9995, 253_402_300_799, 253_402_300_799.999,
        ]
        for _ in 0..<20_000 {
            let seconds = Double(Int64.random(in: 0..<253_402_300_800, using: &generator))
            values.append(
                Bool.random(using: &generator) ? seconds : seconds + Double.random(in: 0..<1, using: &generator))
        }
        return values
    }

    @Test func millisecondTimesAreISO8601DateFormattersTexts() {
        var compared = 0
        for seconds in instants() {
            let date = Date(timeIntervalSince1970: seconds)
            guard let text = UTCTimestamp.iso8601(date, milliseconds: true) else {
                // Only a rounding past 9999-12-31T23:59:59.999 has no four-digit year.
                #expect(milliseconds(date).hasPrefix("10000-"), "\(seconds)")
                continue
            }
            #expect(text == milliseconds(date), "\(seconds)")
            compared += 1
        }
        #expect(compared >= 20_000)
    }

    @Test func wholeSecondTimesAreJSONEncodersTexts() throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        for seconds in instants() {
            let date = Date(timeIntervalSince1970: seconds)
            let reference = String(decoding: try encoder.encode([date]), as: UTF8.self).dropFirst(2).dropLast(2)
            #expect(UTCTimestamp.iso8601(date) == String(reference), "\(seconds)")
        }
    }

    @Test func timesOutsideTheFourDigitYearsAreRefused() {
        for seconds in [-0.001, -1, -86_400 * 365.0, 253_402_300_800, 1e15, .infinity, -.infinity, .nan] {
            #expect(UTCTimestamp.iso8601(Date(timeIntervalSince1970: seconds)) == nil, "\(seconds)")
            #expect(UTCTimestamp.iso8601(Date(timeIntervalSince1970: seconds), milliseconds: true) == nil, "\(seconds)")
        }
    }

    @Test func hexIsFormattedHex() {
        var generator = SystemRandomNumberGenerator()
        #expect(Hex.lowercase([UInt8]()) == "")
        #expect(Hex.lowercase([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
        for _ in 0..<2_000 {
            let bytes = (0..<Int.random(in: 0...40, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(Hex.lowercase(bytes) == bytes.map { String(format: "%02x", $0) }.joined())
        }
    }
}

/// The days by arithmetic give what a Gregorian `Calendar` in that fixed time zone gives, for
/// every instant tried from 1583 (Foundation's calendar is Julian before October 1582) to 9999.
struct CivilDayTests {
    func calendar(offset: Int) -> Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: offset)!
        return calendar
    }

    func instants() -> [Double] {
        var generator = SystemRandomNumberGenerator()
        // Midnights and the seconds either side of them, in UTC and in WITA, and leap days.
        var values: [Double] = [
            0, -1, 86_399, 86_400, -28_800, -28_801, 951_782_400, 951_868_799, 1_750_000_000, 4_107_542_399,
            -12_212_553_600, 253_402_271_999,
        ]
        for _ in 0..<20_000 {
            values.append(Double.random(in: -12_212_553_600..<253_402_271_999, using: &generator))
        }
        return values
    }

    @Test func daysAndMinutesAreTheCalendarsInUTCAndInWITA() {
        for offset in [0, CivilDay.wita] {
            let calendar = calendar(offset: offset)
            for seconds in instants() {
                let date = Date(timeIntervalSince1970: seconds)
                let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: date)
                let expected = String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
                #expect(CivilDay.text(date, offset: offset) == expected, "\(seconds) at \(offset)")
                #expect(CivilDay.minuteOfDay(date, offset: offset) == parts.hour! * 60 + parts.minute!, "\(seconds)")
                let days = Int(((seconds + Double(offset)) / 86_400).rounded(.down))
                #expect(CivilDay.days(expected) == days, "\(expected)")
                #expect(CivilDay.weekday(days: days) == parts.weekday, "\(expected)")
            }
        }
    }

    @Test func onlyDaysThatExistWrittenInFullAreDays() {
        for text in ["2024-02-29", "2000-02-29", "0001-01-01", "9999-12-31", "1970-01-01", "2025-12-31"] {
            #expect(CivilDay.days(text) != nil, "\(text)")
        }
        for text in [
            "2025-02-29", "1900-02-29", "2024-02-30", "2025-04-31", "2025-13-01", "2025-00-10", "2025-01-00", "0000-01-01",
            "2025-1-01", "2025-01-1", "25-01-01", "2025-01-01 ", " 2025-01-01", "2025/01/01", "+025-01-01", "-025-01-01",
            "2025-01-0\u{0661}", "\u{FF12}025-01-01", "2025-01-01T00:00:00Z", "", "20250101",
        ] {
            #expect(CivilDay.days(text) == nil, "\(text)")
        }
    }

    /// A day past its month's end, and a month past the year's, counts on, as
    /// `Calendar.date(from:)` does (the message templates' weekday of a day the plan wrote wrong).
    @Test func aDayPastTheMonthsEndCountsOn() {
        let calendar = calendar(offset: 0)
        for (year, month, day) in [
            (2025, 2, 30), (2024, 2, 30), (2025, 4, 31), (2025, 12, 32), (2025, 1, 0), (2025, 13, 1), (2025, 15, 1),
            (2025, 0, 1), (2025, -10, 1), (2025, 27, 40), (2024, -1, 31),
        ] {
            let date = calendar.date(from: DateComponents(year: year, month: month, day: day))!
            #expect(CivilDay.days(year: year, month: month, day: day) * 86_400 == Int(date.timeIntervalSince1970))
        }
    }

    @Test func timesOutsideTheYearsOneTo9999HaveNoDay() {
        for seconds in [-62_135_596_801.0, 253_402_300_800, 1e16, .infinity, -.infinity, .nan] {
            #expect(CivilDay.text(Date(timeIntervalSince1970: seconds)) == nil, "\(seconds)")
        }
    }
}
