public import Contracts
import Foundation
public import Jobs

/// What the civil registry (Dukcapil) knows of a resident.
public struct CivilRecord: Sendable, Equatable {
    public var fullName: String
    /// yyyy-MM-dd.
    public var birthDate: String
    public var sex: Sex?
    /// The Kemendagri code of the registered domicile (village, 10 digits, or district, 6).
    public var regionCode: String

    public init(fullName: String, birthDate: String, sex: Sex?, regionCode: String) {
        self.fullName = fullName
        self.birthDate = birthDate
        self.sex = sex
        self.regionCode = regionCode
    }

    /// Domicile in Kalimantan Timur (province 64) according to the registry record.
    public var livesInKaltim: Bool { regionCode.filter(\.isNumber).hasPrefix("64") }
}

/// The civil-registry check behind the intake worker. ``RegistryExtract`` answers from an
/// imported Dukcapil extract in the worker's own store; a live Dukcapil web-service adapter
/// (PKS access, DOMAIN.md §6.4) can implement the same protocol.
public protocol CivilRegistry: Sendable {
    /// Table definitions the registry needs in the worker's store (may be empty).
    var migrations: [String] { get }
    /// The record of the person with this NIK blind index, or `nil` when the registry has none.
    /// - Throws: a transient ``Jobs/Failure`` when the registry cannot be asked right now.
    func record(nikIndex: String, in transaction: any StoreTransaction) throws -> CivilRecord?
}

/// The registry extract held in the intake worker's store (`intake_registry`), keyed by the NIK
/// blind index: no NIK is stored in clear. Loaded by `kaltim-worker import-registry`.
public struct RegistryExtract: CivilRegistry {
    public init() {}

    public var migrations: [String] {
        [
            """
            CREATE TABLE IF NOT EXISTS intake_registry (
                nik_index TEXT PRIMARY KEY, full_name TEXT NOT NULL, birth_date TEXT NOT NULL, sex TEXT,
                region_code TEXT NOT NULL)
            """
        ]
    }

    public func record(nikIndex: String, in transaction: any StoreTransaction) throws -> CivilRecord? {
        guard
            let row = try transaction.query(
                "SELECT full_name, birth_date, sex, region_code FROM intake_registry WHERE nik_index = ?", [.text(nikIndex)]
            ).first
        else { return nil }
        return CivilRecord(
            fullName: row["full_name"]?.text ?? "", birthDate: row["birth_date"]?.text ?? "",
            sex: row["sex"]?.text.flatMap(Sex.init(rawValue:)), regionCode: row["region_code"]?.text ?? "")
    }
}
