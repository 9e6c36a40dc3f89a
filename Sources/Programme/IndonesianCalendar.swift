import ContractKit
import Foundation

/// Dates in Bahasa Indonesia, in WITA (Asia/Makassar, UTC+8, no daylight saving): the way
/// messages to job seekers in Kalimantan Timur write them.
public enum IndonesianCalendar {
    package static let months = [
        "Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober", "November",
        "Desember",
    ]
    package static let weekdays = ["Minggu", "Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu"]

    /// `2025-07-07` → `7 Juli 2025`; text that is not a date is returned as it is.
    public static func date(_ isoDay: String) -> String {
        guard let (year, month, day) = parts(isoDay) else { return isoDay }
        return "\(day) \(months[month - 1]) \(year)"
    }

    /// `2025-07-07` → `Senin`.
    public static func weekday(_ isoDay: String) -> String {
        guard let (year, month, day) = parts(isoDay) else { return "" }
        return weekdays[CivilDay.weekday(days: CivilDay.days(year: year, month: month, day: day)) - 1]
    }

    private static func parts(_ isoDay: String) -> (Int, Int, Int)? {
        let numbers = isoDay.prefix(10).split(separator: "-").compactMap { Int($0) }
        guard numbers.count == 3, (1...12).contains(numbers[1]), (1...31).contains(numbers[2]) else { return nil }
        return (numbers[0], numbers[1], numbers[2])
    }
}
