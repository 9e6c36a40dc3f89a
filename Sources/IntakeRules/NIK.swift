public import Contracts

/// One result of an intake rule: what is wrong, how serious it is, and a text to show.
public struct IntakeFinding: Sendable, Equatable {
    /// What the finding does to the registration.
    public enum Severity: String, Sendable {
        /// The registration cannot proceed.
        case reject
        /// Staff must look at it; never an automatic rejection.
        case review
        /// Recorded only.
        case warning
    }

    /// How serious the finding is.
    public let severity: Severity
    /// Machine-readable, UPPER_SNAKE, e.g. "NIK_FORMAT".
    public let code: String
    /// Bahasa Indonesia text for the applicant/staff. MUST NEVER contain the NIK or any 16-digit number.
    public let message: String

    public init(severity: Severity, code: String, message: String) {
        self.severity = severity
        self.code = code
        self.message = message
    }
}

/// The result of the NIK rules N1–N8 (DOMAIN.md §2.4) for one registration.
///
/// NIK layout: `PP KK CC DD MM YY SSSS`: province, regency/city, district, day of birth (+40 for women),
/// month, two-digit year, serial. There is no check digit, so a well-formed NIK is not proof of identity.
public struct NIKCheck: Sendable, Equatable {
    /// The 16 digits after normalisation (spaces, dots, dashes removed), nil if N1 fails.
    public let normalised: String?
    /// `male` for day 01–31, `female` for day 41–71, nil otherwise.
    public let derivedSex: Sex?
    /// yyyy-MM-dd after the century choice of N7, nil if not derivable.
    ///
    /// When no century gives an age inside the window, this is the latest candidate not after the reference
    /// date (the usual "keep the date in the past" rule), so it is still shown even though N7 rejects.
    public let derivedBirthDate: String?
    /// In rule order (N1…N8); empty when the NIK passes every rule.
    public let findings: [IntakeFinding]

    /// Runs rules N1–N8 of DOMAIN.md §2.4.
    ///
    /// - N1 `NIK_FORMAT` (reject): 16 ASCII digits once whitespace, dots and dashes are removed. Nothing else
    ///   about the NIK is checked when this fails.
    /// - N2 `NIK_PROVINCE_UNKNOWN` (reject).
    /// - N3 `NIK_REGENCY_UNKNOWN` (warning), or `NIK_REGENCY_HISTORICAL` (warning) for a retired Kaltim code.
    /// - N4 `NIK_DISTRICT_UNKNOWN` (warning), checked only when the regency is a current one.
    /// - N5 `NIK_BIRTH_DATE_INVALID` (reject): day 01–31 or 41–71, and a real calendar date in 19YY or 20YY.
    /// - N6 `NIK_SERIAL_ZERO` (reject).
    /// - N7 `AGE_OUT_OF_RANGE` (reject, at most once): neither 19YY nor 20YY gives an age inside the window, or
    ///   the declared birth date does not.
    /// - N8 `NIK_DATA_MISMATCH` (review): derived sex or birth date differs from the declared one.
    ///
    /// - Parameters:
    ///   - raw: the NIK as typed.
    ///   - declaredBirthDate: yyyy-MM-dd, what the applicant declared (N8 compares; mismatch → review).
    ///   - declaredSex: what the applicant declared (N8 compares; mismatch → review).
    ///   - ageWindow: allowed age in whole years on `referenceDate`, e.g. 17...35.
    ///   - referenceDate: yyyy-MM-dd. Must be a valid date: an invalid one is a programming error and traps.
    ///   - regions: the Kemendagri table, normally `RegionCodes.kemendagri2025`.
    public static func check(
        _ raw: String,
        declaredBirthDate: String,
        declaredSex: Sex,
        ageWindow: ClosedRange<Int>,
        referenceDate: String,
        regions: RegionCodes
    ) -> NIKCheck {
        guard let reference = CalendarDate(iso: referenceDate) else {
            preconditionFailure("referenceDate must be a valid yyyy-MM-dd date")
        }
        let declared = CalendarDate(iso: declaredBirthDate)
        let declaredOutsideWindow = declared.map { !ageWindow.contains($0.age(on: reference)) } ?? false
        let ageFinding = IntakeFinding(
            severity: .reject,
            code: "AGE_OUT_OF_RANGE",
            message: "Usia pendaftar harus antara \(ageWindow.lowerBound) dan \(ageWindow.upperBound) tahun."
        )

        guard let nik = normalise(raw) else {
            let format = IntakeFinding(severity: .reject, code: "NIK_FORMAT", message: "NIK harus terdiri dari 16 angka.")
            let findings = declaredOutsideWindow ? [format, ageFinding] : [format]
            return NIKCheck(normalised: nil, derivedSex: nil, derivedBirthDate: nil, findings: findings)
        }
        let digits = Array(nik)
        func number(_ range: Range<Int>) -> Int { Int(String(digits[range])) ?? 0 }

        var findings = regionFindings(nik, regions: regions)

        // N5: sex from the day, then the date in each century.
        let encodedDay = number(6..<8)
        let sex: Sex? =
            switch encodedDay {
            case 1...31: .male
            case 41...71: .female
            default: nil
            }
        let day = sex == .female ? encodedDay - 40 : encodedDay
        let month = number(8..<10)
        let yy = number(10..<12)
        let candidates = sex == nil ? [] : [1900 + yy, 2000 + yy].compactMap { CalendarDate(year: $0, month: month, day: day) }
        if candidates.isEmpty {
            findings.append(
                IntakeFinding(
                    severity: .reject,
                    code: "NIK_BIRTH_DATE_INVALID",
                    message: "Tanggal lahir pada NIK tidak valid."
                )
            )
        }

        // N6
        if digits[12..<16].allSatisfy({ $0 == "0" }) {
            findings.append(
                IntakeFinding(
                    severity: .reject,
                    code: "NIK_SERIAL_ZERO",
                    message: "Nomor urut NIK (4 angka terakhir) tidak boleh 0000."
                )
            )
        }

        // N7: the century that puts the age inside the window.
        let fitting = candidates.filter { ageWindow.contains($0.age(on: reference)) }
        let birthDate =
            fitting.first(where: { $0.year == declared?.year }) ?? fitting.last
            ?? candidates.last(where: { $0 <= reference }) ?? candidates.first
        if (!candidates.isEmpty && fitting.isEmpty) || declaredOutsideWindow {
            findings.append(ageFinding)
        }

        // N8
        let sexDiffers = sex.map { $0 != declaredSex } ?? false
        let dateDiffers = birthDate.map { $0 != declared } ?? false
        if sexDiffers || dateDiffers {
            let what =
                switch (sexDiffers, dateDiffers) {
                case (true, true): "Jenis kelamin dan tanggal lahir"
                case (true, false): "Jenis kelamin"
                default: "Tanggal lahir"
                }
            findings.append(
                IntakeFinding(
                    severity: .review,
                    code: "NIK_DATA_MISMATCH",
                    message: "\(what) pada NIK berbeda dengan data yang diisi. Data akan diperiksa petugas."
                )
            )
        }

        return NIKCheck(normalised: nik, derivedSex: sex, derivedBirthDate: birthDate?.iso, findings: findings)
    }

    /// N1: removes whitespace, dots and dashes; returns the result if it is exactly 16 ASCII digits.
    private static func normalise(_ raw: String) -> String? {
        let kept = raw.filter { !($0.isWhitespace || $0 == "." || $0 == "-") }
        guard kept.count == 16, kept.allSatisfy({ $0.isASCII && $0.isWholeNumber }) else { return nil }
        return kept
    }

    /// N2–N4 on a normalised NIK.
    private static func regionFindings(_ nik: String, regions: RegionCodes) -> [IntakeFinding] {
        let province = String(nik.prefix(2))
        let regency = String(nik.prefix(4))
        let district = String(nik.prefix(6))
        guard regions.name(of: province) != nil else {
            return [
                IntakeFinding(
                    severity: .reject,
                    code: "NIK_PROVINCE_UNKNOWN",
                    message: "Kode provinsi pada NIK tidak dikenal."
                )
            ]
        }
        guard regions.name(of: regency) != nil else {
            if regions.isHistoricalRegency(regency) {
                return [
                    IntakeFinding(
                        severity: .warning,
                        code: "NIK_REGENCY_HISTORICAL",
                        message: "Kode kabupaten/kota pada NIK adalah kode lama sebelum pemekaran Kalimantan Utara."
                    )
                ]
            }
            return [
                IntakeFinding(
                    severity: .warning,
                    code: "NIK_REGENCY_UNKNOWN",
                    message: "Kode kabupaten/kota pada NIK tidak ada dalam daftar Kemendagri."
                )
            ]
        }
        guard regions.name(of: district) != nil else {
            return [
                IntakeFinding(
                    severity: .warning,
                    code: "NIK_DISTRICT_UNKNOWN",
                    message: "Kode kecamatan pada NIK tidak ada dalam daftar Kemendagri."
                )
            ]
        }
        return []
    }
}

extension NIKCheck {
    /// Completed years on `referenceDate` of someone born on `birthDate` (both exactly
    /// `yyyy-MM-dd`, real calendar dates); `nil` when either is not one.
    public static func age(of birthDate: String, on referenceDate: String) -> Int? {
        guard let birth = CalendarDate(iso: birthDate), let reference = CalendarDate(iso: referenceDate) else { return nil }
        return birth.age(on: reference)
    }

    /// A proleptic Gregorian calendar date without time or time zone.
    private struct CalendarDate: Comparable {
        let year: Int
        let month: Int
        let day: Int

        /// Nil unless the date exists (29 February only in leap years).
        init?(year: Int, month: Int, day: Int) {
            guard (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year) else { return nil }
            self.year = year
            self.month = month
            self.day = day
        }

        /// Parses exactly `yyyy-MM-dd`, ASCII digits only. Read as bytes: splitting into
        /// `Character`s and asking each `isWholeNumber` was 3 % of the intake role's samples in
        /// a perf profile.
        init?(iso: String) {
            // year, month, day: each field's value, its digits appended as they come.
            var fields = (0, 0, 0)
            var count = 0
            for byte in iso.utf8 {
                count += 1
                switch count {
                case 5, 8:
                    guard byte == UInt8(ascii: "-") else { return nil }
                case 1...10:
                    guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                    let digit = Int(byte - UInt8(ascii: "0"))
                    if count < 5 {
                        fields.0 = fields.0 * 10 + digit
                    } else if count < 8 {
                        fields.1 = fields.1 * 10 + digit
                    } else {
                        fields.2 = fields.2 * 10 + digit
                    }
                default: return nil
                }
            }
            guard count == 10 else { return nil }
            self.init(year: fields.0, month: fields.1, day: fields.2)
        }

        var iso: String {
            func padded(_ value: Int, _ width: Int) -> String {
                let text = String(value)
                return String(repeating: "0", count: max(0, width - text.count)) + text
            }
            return "\(padded(year, 4))-\(padded(month, 2))-\(padded(day, 2))"
        }

        /// Completed years on `date`. Someone born on 29 February turns a year older on 1 March in other years.
        func age(on date: CalendarDate) -> Int {
            let birthdayPassed = (date.month, date.day) >= (month, day)
            return date.year - year - (birthdayPassed ? 0 : 1)
        }

        static func < (lhs: CalendarDate, rhs: CalendarDate) -> Bool {
            (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
        }

        private static func daysIn(month: Int, year: Int) -> Int {
            switch month {
            case 2: isLeap(year) ? 29 : 28
            case 4, 6, 9, 11: 30
            default: 31
            }
        }

        private static func isLeap(_ year: Int) -> Bool {
            (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        }
    }
}
