/// The age bands the programme's reports count by, around its age window (17 to 35 on the
/// reference date): a band, never an age or a birth date, leaves intake's store for a report.
public enum AgeBand: String, Sendable, CaseIterable {
    case under17 = "<17"
    case from17to19 = "17-19"
    case from20to24 = "20-24"
    case from25to29 = "25-29"
    case from30to35 = "30-35"
    case over35 = ">35"

    /// The band of an age in whole years.
    public static func of(age: Int) -> AgeBand {
        switch age {
        case ..<17: .under17
        case 17...19: .from17to19
        case 20...24: .from20to24
        case 25...29: .from25to29
        case 30...35: .from30to35
        default: .over35
        }
    }

    /// The band as a report names it, in Bahasa Indonesia.
    public var label: String {
        switch self {
        case .under17: "di bawah 17 tahun"
        case .from17to19: "17–19 tahun"
        case .from20to24: "20–24 tahun"
        case .from25to29: "25–29 tahun"
        case .from30to35: "30–35 tahun"
        case .over35: "di atas 35 tahun"
        }
    }
}
