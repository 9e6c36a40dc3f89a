import ContractKit
public import Foundation

/// The hours in which non-urgent messages wait (default 21:00–07:00 WITA).
public struct QuietHours: Sendable, Equatable, CustomStringConvertible {
    /// Minutes after midnight WITA.
    public let start: Int
    public let end: Int

    public init(start: Int, end: Int) {
        self.start = start
        self.end = end
    }

    public static let `default` = QuietHours(start: 21 * 60, end: 7 * 60)

    /// Parses `21:00-07:00`.
    public init?(_ text: String) {
        let times = text.split(separator: "-").map { $0.split(separator: ":").compactMap { Int($0) } }
        guard times.count == 2, times.allSatisfy({ $0.count == 2 && (0..<24).contains($0[0]) && (0..<60).contains($0[1]) })
        else { return nil }
        self.init(start: times[0][0] * 60 + times[0][1], end: times[1][0] * 60 + times[1][1])
    }

    public var description: String {
        String(format: "%02d:%02d-%02d:%02d WITA", start / 60, start % 60, end / 60, end % 60)
    }

    /// Whether `date` falls in the quiet hours.
    public func contains(_ date: Date) -> Bool {
        let minute = Self.minuteOfDay(date)
        return start <= end ? (start <= minute && minute < end) : (minute >= start || minute < end)
    }

    /// When the quiet hours that contain `date` end (`date` itself when it is not quiet).
    public func end(after date: Date) -> Date {
        guard contains(date) else { return date }
        let minute = Self.minuteOfDay(date)
        var wait = end - minute
        if wait <= 0 { wait += 24 * 60 }
        let startOfMinute = date.timeIntervalSince1970 - date.timeIntervalSince1970.truncatingRemainder(dividingBy: 60)
        return Date(timeIntervalSince1970: startOfMinute + Double(wait * 60))
    }

    static func minuteOfDay(_ date: Date) -> Int {
        CivilDay.minuteOfDay(date, offset: CivilDay.wita)
    }
}
