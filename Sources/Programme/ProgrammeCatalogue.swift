import ContractKit
public import Contracts
package import Foundation

/// The programme year's plan (`config/programme-2025.json`): centres with their quotas,
/// programmes with their sectors and number of classes, class size, dates, age window and the
/// apprenticeship places. Intake reads the programmes and the age window; scheduling reads the
/// quotas and the classes; the `open-classes` command publishes the planned classes.
public struct ProgrammeCatalogue: Codable, Sendable, Equatable {
    public struct AgeWindow: Codable, Sendable, Equatable {
        public var minimum: Int
        public var maximum: Int
    }

    public struct Company: Codable, Sendable, Equatable {
        public var name: String
        public var regionCode: String
        /// KBLI sector letters the company takes apprentices for.
        public var sectors: [String]
    }

    public struct Apprenticeships: Codable, Sendable, Equatable {
        public var places: Int
        public var months: Int
        public var companies: [Company]
    }

    /// The certification scheme (skema) a programme's participants are assessed on.
    public struct Scheme: Codable, Sendable, Equatable {
        public var code: String
        /// SKKNI unit codes; every one needs a result.
        public var units: [String]
        /// Validity of the competency certificate (3 years; 5 for construction).
        public var validityYears: Int
    }

    public struct Programme: Codable, Sendable, Equatable {
        public var code: String
        public var name: String
        /// KBLI category letter: B mining, C manufacturing, F construction, G trade and vehicle
        /// repair, I accommodation (tata graha).
        public var sector: String
        public var classes: Int
        public var trainingHours: Int
        public var weeks: Int
        public var scheme: Scheme
        /// The licences issued outside the programme that its participants may hold and the
        /// office records (``LicenceRecordedV1``): SKK Konstruksi for construction schemes,
        /// Lisensi K3 for equipment operators. `nil`: none.
        public var licences: [LicenceRecordedV1.Kind]?
    }

    public struct Centre: Codable, Sendable, Equatable {
        public var centre: TrainingCentre
        /// Short code used in class ids (BPN, BTG).
        public var code: String
        /// Places in the programme year (1,000 Balikpapan, 500 Bontang).
        public var quota: Int
        /// Where the BLKI is, as the selection message gives it (daftar ulang and training
        /// take place there); `nil` leaves the address out of the messages.
        public var address: String?
        public var programmes: [Programme]
        /// The official who signs the BLKI's training certificates; `nil` prints none.
        public var signatory: Signatory?
    }

    /// An official who signs certificates: printed under the place and date of issue.
    public struct Signatory: Codable, Sendable, Equatable {
        public var name: String
        /// e.g. `Kepala UPTD BLKI Bontang`.
        public var title: String
        /// The town the certificate is signed in, e.g. `Bontang`.
        public var place: String

        public init(name: String, title: String, place: String) {
            self.name = name
            self.title = title
            self.place = place
        }
    }

    /// Daftar ulang (re-registration) before a class starts: the days a selected participant
    /// comes to the BLKI with the original KTP-el and diploma.
    public struct ReRegistration: Codable, Sendable, Equatable {
        /// How many days before the class's first day the window opens.
        public var opensDaysBeforeStart: Int
        /// How many days it stays open (the window ends before the class starts).
        public var days: Int
        /// Office hours, `HH:MM`, WITA.
        public var start: String
        public var end: String
    }

    /// A licensed LSP (Lembaga Sertifikasi Profesi): the BNSP licence number its assessment
    /// results carry, and the name a job seeker knows it by.
    public struct LSP: Codable, Sendable, Equatable {
        public var licence: String
        public var name: String
    }

    /// Training hours on some days of the week, in the programme's time zone (WITA).
    public struct Session: Codable, Sendable, Equatable {
        /// ISO weekdays: 1 Monday … 7 Sunday.
        public var days: [Int]
        /// `HH:MM`, 24-hour clock.
        public var start: String
        public var end: String
    }

    public var year: Int
    public var referenceDate: String
    /// The time zone of every date and hour in the plan: `Asia/Makassar` (WITA, UTC+8), the
    /// zone of East Kalimantan. Class dates are local dates there.
    public var timeZone: String
    /// When classes meet, e.g. Monday–Thursday 08:00–16:00 and Friday 08:00–11:30.
    public var sessions: [Session]
    public var ageWindow: AgeWindow
    public var classSize: Int
    public var reserveSeats: Int
    public var firstClassStart: String
    public var cohortSpacingDays: Int
    public var apprenticeships: Apprenticeships
    public var centres: [Centre]
    /// The daftar ulang window of each class; `nil` when the plan has not set one (the
    /// selection message then says the BLKI will announce it).
    public var reRegistration: ReRegistration?
    /// The LSPs that assess the programme's participants; an LSP not listed is named by its
    /// licence number.
    public var lsps: [LSP]?
    /// The official of the provincial office (Disnakertrans) who signs the records of BNSP
    /// competency certificates; `nil` prints none.
    public var recordSignatory: Signatory?
    /// How many times an LSP may assess one unit of a candidate: the first assessment and the
    /// uji ulang after it (Permenaker 6/2025 Art. 33: up to 3 attempts per unit). `nil`: 3.
    public var assessmentAttemptsPerUnit: Int?

    /// The attempts per unit the plan allows (3 when it says nothing).
    public var attemptsPerUnit: Int { assessmentAttemptsPerUnit ?? 3 }

    /// Reads and checks a programme file.
    /// - Throws: ``ProgrammeFileError`` naming what is wrong.
    public static func load(path: String) throws -> ProgrammeCatalogue {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ProgrammeFileError(.unreadable, "cannot read the programme file \(path): \(error.localizedDescription)")
        }
        let catalogue: ProgrammeCatalogue
        do {
            catalogue = try JSONDecoder().decode(ProgrammeCatalogue.self, from: data)
        } catch {
            throw ProgrammeFileError(.invalid, "the programme file \(path) is not valid: \(error)")
        }
        try catalogue.validate()
        return catalogue
    }

    package func validate() throws {
        guard classSize > 0, reserveSeats >= 0, ageWindow.minimum <= ageWindow.maximum else {
            throw ProgrammeFileError(.invalid, "classSize must be positive and the age window ordered")
        }
        guard (1...10).contains(attemptsPerUnit) else {
            throw ProgrammeFileError(.invalid, "assessmentAttemptsPerUnit must be 1–10 (the first assessment counts)")
        }
        guard timeZone == "Asia/Makassar" else {
            throw ProgrammeFileError(.invalid, "timeZone must be Asia/Makassar (WITA): the BLKIs are in East Kalimantan")
        }
        guard !sessions.isEmpty else {
            throw ProgrammeFileError(.invalid, "sessions: at least one day of training hours is needed")
        }
        var seenDays: Set<Int> = []
        for session in sessions {
            guard !session.days.isEmpty, session.days.allSatisfy({ (1...7).contains($0) && seenDays.insert($0).inserted }) else {
                throw ProgrammeFileError(
                    .invalid, "sessions: days are ISO weekdays 1 (Monday) to 7 (Sunday), each in one session only")
            }
            guard let start = Self.minutes(session.start), let end = Self.minutes(session.end), start < end else {
                throw ProgrammeFileError(.invalid, "sessions: start and end are HH:MM times, start before end")
            }
        }
        guard Self.day(firstClassStart) != nil, Self.day(referenceDate) != nil else {
            throw ProgrammeFileError(.invalid, "firstClassStart and referenceDate must be yyyy-MM-dd dates")
        }
        if let window = reRegistration {
            guard window.days > 0, window.opensDaysBeforeStart > window.days,
                let start = Self.minutes(window.start), let end = Self.minutes(window.end), start < end
            else {
                throw ProgrammeFileError(
                    .invalid,
                    "reRegistration: a positive number of days that end at least a day before the class starts (that day "
                        + "onwards is the window of those called from the waiting list), and HH:MM office hours")
            }
        }
        for centre in centres {
            guard centre.quota > 0, !centre.programmes.isEmpty else {
                throw ProgrammeFileError(
                    .invalid, "\(centre.centre.rawValue): a positive quota and at least one programme are needed")
            }
            for programme in centre.programmes where programme.classes <= 0 || programme.weeks <= 0 {
                throw ProgrammeFileError(
                    .invalid, "\(centre.centre.rawValue) \(programme.code): classes and weeks must be positive")
            }
        }
    }

    /// The training hours in words, for participants: `Senin–Kamis 08.00–16.00 WITA, Jumat
    /// 08.00–11.30 WITA`.
    public var weeklyHours: String {
        let names = ["Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"]
        return sessions.map { session in
            let days = session.days.sorted()
            var runs: [String] = []
            var index = 0
            while index < days.count {
                var last = index
                while last + 1 < days.count && days[last + 1] == days[last] + 1 { last += 1 }
                runs.append(last == index ? names[days[index] - 1] : "\(names[days[index] - 1])–\(names[days[last] - 1])")
                index = last + 1
            }
            let hours =
                "\(session.start.replacingOccurrences(of: ":", with: "."))–\(session.end.replacingOccurrences(of: ":", with: "."))"
            return "\(runs.joined(separator: ", ")) \(hours) WITA"
        }.joined(separator: ", ")
    }

    /// When training begins on the day `date` (`yyyy-MM-dd`, a WITA date), as `08.00`; nil when
    /// no session falls on that weekday.
    public func startTime(on date: String) -> String? {
        guard let days = CivilDay.days(date) else { return nil }
        let weekday = (CivilDay.weekday(days: days) + 5) % 7 + 1  // Sunday 1 … → Monday 1 …
        return sessions.first { $0.days.contains(weekday) }.map { $0.start.replacingOccurrences(of: ":", with: ".") }
    }

    /// `HH:mm` (00:00 to 23:59, two digits each) as minutes since midnight; nil otherwise.
    package static func minutes(_ time: String) -> Int? {
        let bytes = Array(time.utf8)
        guard bytes.count == 5, bytes[2] == UInt8(ascii: ":"),
            bytes.enumerated().allSatisfy({ $0.offset == 2 || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0.element) })
        else { return nil }
        let digit = { (index: Int) in Int(bytes[index] - UInt8(ascii: "0")) }
        let hours = digit(0) * 10 + digit(1)
        let minutes = digit(3) * 10 + digit(4)
        return hours < 24 && minutes < 60 ? hours * 60 + minutes : nil
    }

    /// The programme `code` at `centre`, if the plan has it.
    public func programme(_ code: String, at centre: TrainingCentre) -> Programme? {
        centres.first { $0.centre == centre }?.programmes.first { $0.code == code }
    }

    public func centre(_ centre: TrainingCentre) -> Centre? { centres.first { $0.centre == centre } }

    /// The daftar ulang window of a class starting on `classStart` (`yyyy-MM-dd`): its first and
    /// last day, or `nil` when the plan sets none.
    public func reRegistrationWindow(classStart: String) -> (first: String, last: String)? {
        guard let window = reRegistration, let start = Self.day(classStart) else { return nil }
        let first = start.addingTimeInterval(-Double(window.opensDaysBeforeStart) * 86_400)
        return (Self.format(first), Self.format(first.addingTimeInterval(Double(window.days - 1) * 86_400)))
    }

    /// The daftar ulang window of someone called from the waiting list to a seat left by a
    /// participant who did not come: from the day after the regular window closes to the day
    /// before the class starts.
    public func replacementWindow(classStart: String) -> (first: String, last: String)? {
        guard let regular = reRegistrationWindow(classStart: classStart), let last = Self.day(regular.last),
            let start = Self.day(classStart)
        else { return nil }
        return (Self.format(last.addingTimeInterval(86_400)), Self.format(start.addingTimeInterval(-86_400)))
    }

    /// The last day to answer an offer of a seat at the other BLKI: the day before the daftar
    /// ulang window the seat comes with opens (the replacement window for a seat left by a
    /// no-show), or two days before the class starts when the plan sets no window.
    public func transferAnswerBy(classStart: String, replacing: Bool) -> String? {
        let window = replacing ? replacementWindow(classStart: classStart) : reRegistrationWindow(classStart: classStart)
        if let first = window.flatMap({ Self.day($0.first) }) { return Self.format(first.addingTimeInterval(-86_400)) }
        return Self.day(classStart).map { Self.format($0.addingTimeInterval(-2 * 86_400)) }
    }

    /// The name of the LSP with this BNSP licence number, if the plan lists it.
    public func lspName(licence: String) -> String? { lsps?.first { $0.licence == licence }?.name }

    /// The programme whose scheme is `code` (the same scheme at both BLKIs).
    public func programme(scheme code: String) -> Programme? {
        centres.lazy.flatMap(\.programmes).first { $0.scheme.code == code }
    }

    /// Every class of the plan, as the `class.opened` event that announces it, cohort after
    /// cohort: a programme's cohort n starts `cohortSpacingDays × (n − 1)` days after
    /// `firstClassStart` and ends on the Friday of its last week.
    public var plannedClasses: [ClassOpenedV1] {
        guard let first = Self.day(firstClassStart) else { return [] }
        var classes: [ClassOpenedV1] = []
        for centre in centres {
            for programme in centre.programmes {
                for cohort in 1...programme.classes {
                    let start = first.addingTimeInterval(Double((cohort - 1) * cohortSpacingDays) * 86_400)
                    let end = start.addingTimeInterval(Double(programme.weeks * 7 - 3) * 86_400)
                    classes.append(
                        ClassOpenedV1(
                            classID: String(format: "%@-%d-%@-%02d", centre.code, year, programme.code, cohort),
                            centre: centre.centre, programme: programme.code, cohort: cohort, capacity: classSize,
                            reserveSeats: reserveSeats, startDate: Self.format(start), endDate: Self.format(end),
                            trainingHours: programme.trainingHours))
                }
            }
        }
        return classes
    }

    /// Midnight UTC of a day written `yyyy-MM-dd` that exists; nil otherwise.
    package static func day(_ text: String) -> Date? {
        CivilDay.days(text).map { Date(timeIntervalSince1970: Double($0) * 86_400) }
    }

    /// `yyyy-MM-dd` of `date` in UTC (`0000-00-00` outside the years 1 to 9999).
    package static func format(_ date: Date) -> String {
        CivilDay.text(date) ?? "0000-00-00"
    }
}

/// An input file that cannot be used: the programme plan, the NIK key, an import's CSV.
public struct ProgrammeFileError: Error, CustomStringConvertible {
    /// What went wrong, for a caller to switch on.
    public enum Code: String, Sendable {
        /// The file cannot be read.
        case unreadable
        /// The file is read but its content is not valid (the description says where).
        case invalid
    }

    public let code: Code
    public let description: String
    package init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }
}
