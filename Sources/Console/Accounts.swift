import Contracts
import Crypto
import Foundation
import _CryptoExtras

/// Who a console user is at work. Each role sees only what its work needs (no role includes
/// another): operations staff the queues and dead letters, Disnakertrans officers the review
/// desk, a BLKI's administrators their own BLKI's classes.
public enum ConsoleRole: String, Codable, Sendable, CaseIterable {
    /// Sees progress, the review queue, queues, dead letters (masked) and the audit log.
    case viewer
    /// As a viewer, and replays dead letters (dry run, canary, one, a selection, a group).
    case `operator`
    /// As an operator, and purges dead letters and reveals their personal data (audited), and
    /// carries out the data subject's correction and withdrawal of consent.
    case admin
    /// A Disnakertrans officer (petugas verifikasi): progress, the review queue, the case files
    /// (personal data masked unless revealed, audited) and the decisions on them.
    case officer
    /// A BLKI administrator: progress and the classes of their own BLKI (the account's `centre`):
    /// rosters, daftar ulang, training results and withdrawals.
    case blki
    /// An LSP coordinator: progress, the reports, and their own LSP's assessments (the
    /// account's `lsp`, its BNSP licence): results by scheme and the submissions grading refused,
    /// with the reasons to correct.
    case lsp

    /// The role's name on the pages.
    public var label: String {
        switch self {
        case .viewer: "pemantau"
        case .operator: "operator"
        case .admin: "admin"
        case .officer: "petugas verifikasi"
        case .blki: "admin BLKI"
        case .lsp: "koordinator LSP"
        }
    }

    /// Whether the role may do `permission`.
    public func allows(_ permission: ConsolePermission) -> Bool {
        switch permission {
        case .viewProgress: true
        case .viewReports: true
        case .lookUpRegistration: self == .officer || self == .admin || self == .blki
        case .seeSmallFigures: self == .officer || self == .admin
        case .viewReviewQueue: self != .blki && self != .lsp
        case .viewOperations: self == .viewer || self == .operator || self == .admin
        case .replay: self == .operator || self == .admin
        case .purgeAndReveal: self == .admin
        case .decideReviews: self == .officer
        case .runBLKIDesk: self == .blki
        case .runLSPDesk: self == .lsp
        case .subjectRights: self == .admin
        }
    }

}

/// What a page or a form needs (``ConsoleRole/allows(_:)`` says who has it).
public enum ConsolePermission: String, Sendable, CaseIterable {
    /// The programme's progress (counts only).
    case viewProgress
    /// The reports (counts by group, a registration's progress by its number; no personal
    /// data; a BLKI administrator sees their own BLKI's).
    case viewReports
    /// The list of pending reviews (no personal data).
    case viewReviewQueue
    /// Queues, dead letters (masked) and the audit log.
    case viewOperations
    /// Replaying dead letters.
    case replay
    /// Purging dead letters and revealing their personal data.
    case purgeAndReveal
    /// Opening case files (audited when revealed) and deciding reviews.
    case decideReviews
    /// One registration's steps by its number (audited; a BLKI administrator's own BLKI's).
    case lookUpRegistration
    /// The reports' figures below 5 on profiles and tiers (others see `<5`).
    case seeSmallFigures
    /// A BLKI's classes: daftar ulang, training results, withdrawals.
    case runBLKIDesk
    /// An LSP's assessments: results and refused submissions (participant ids, no names).
    case runLSPDesk
    /// The data subject's rights: a correction, a withdrawal of consent.
    case subjectRights
}

/// The console's accounts: a JSON file of users, their roles and PBKDF2-SHA256 password hashes
/// (`kaltim-console hash-password` makes one). No password is ever stored or logged in clear.
///
/// ```json
/// {"users": [{"name": "siti", "role": "operator", "passwordHash": "pbkdf2-sha256$600000$…$…"}]}
/// ```
public struct ConsoleAccounts: Sendable {
    public struct User: Codable, Sendable, Equatable {
        public var name: String
        public var role: ConsoleRole
        public var passwordHash: String
        /// For a BLKI administrator: their BLKI (`BLKI_BALIKPAPAN`, `BLKI_BONTANG`); nobody else has one.
        public var centre: String?
        /// For an LSP coordinator: their LSP's BNSP licence (`BNSP-LSP-0123-ID`); nobody else has one.
        public var lsp: String?

        public init(name: String, role: ConsoleRole, passwordHash: String, centre: String? = nil, lsp: String? = nil) {
            self.name = name
            self.role = role
            self.passwordHash = passwordHash
            self.centre = centre
            self.lsp = lsp
        }
    }

    struct File: Codable {
        var users: [User]
    }

    public let users: [String: User]

    public init(users: [User]) {
        self.users = Dictionary(users.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Reads the accounts file; a malformed file or hash is an error that names the user.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConsoleError(.accounts, "cannot read the accounts file \(path)")
        }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch {
            throw ConsoleError(.accounts, "the accounts file \(path) is not valid: \(error)")
        }
        for user in file.users {
            if PasswordHash(encoded: user.passwordHash) == nil {
                throw ConsoleError(.accounts, "the password hash of user \(user.name) is not a pbkdf2-sha256 hash")
            }
            if user.role == .blki {
                guard let centre = user.centre, TrainingCentre(rawValue: centre) != nil else {
                    throw ConsoleError(
                        .accounts,
                        "user \(user.name) is a BLKI administrator: give their centre (\(TrainingCentre.allCases.map(\.rawValue).joined(separator: " or ")))"
                    )
                }
            } else if user.centre != nil {
                throw ConsoleError(.accounts, "user \(user.name) has a centre, which only a blki account has")
            }
            if user.role == .lsp {
                guard let licence = user.lsp, licence.wholeMatch(of: /[A-Za-z0-9][A-Za-z0-9.-]{0,63}/) != nil else {
                    throw ConsoleError(
                        .accounts,
                        "user \(user.name) is an LSP coordinator: give their LSP's licence (lsp, e.g. BNSP-LSP-0123-ID)")
                }
            } else if user.lsp != nil {
                throw ConsoleError(.accounts, "user \(user.name) has an lsp, which only an lsp account has")
            }
        }
        self.init(users: file.users)
    }

    /// The user when `password` is theirs. Takes as long for an unknown user as for a known one.
    public func authenticate(name: String, password: String) -> User? {
        let user = users[name]
        let hash = user.flatMap { PasswordHash(encoded: $0.passwordHash) } ?? PasswordHash.decoy
        let matches = hash.verify(password)
        guard let user, matches else { return nil }
        return user
    }
}

/// A PBKDF2-SHA256 password hash: `pbkdf2-sha256$<rounds>$<salt, base64>$<key, base64>`.
public struct PasswordHash: Sendable, Equatable {
    public static let defaultRounds = 600_000
    let rounds: Int
    let salt: Data
    let key: Data

    /// Hashes `password` with a fresh random salt.
    public static func make(_ password: String, rounds: Int = defaultRounds) throws -> PasswordHash {
        let salt = Data((0..<16).map { _ in UInt8.random(in: 0...255) })
        return PasswordHash(rounds: rounds, salt: salt, key: try derive(password, salt: salt, rounds: rounds))
    }

    init(rounds: Int, salt: Data, key: Data) {
        self.rounds = rounds
        self.salt = salt
        self.key = key
    }

    public init?(encoded: String) {
        let parts = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "pbkdf2-sha256", let rounds = Int(parts[1]), rounds >= 210_000,
            let salt = Data(base64Encoded: String(parts[2])), salt.count >= 16,
            let key = Data(base64Encoded: String(parts[3])), key.count == 32
        else { return nil }
        self.init(rounds: rounds, salt: salt, key: key)
    }

    public var encoded: String {
        "pbkdf2-sha256$\(rounds)$\(salt.base64EncodedString())$\(key.base64EncodedString())"
    }

    /// Whether `password` gives this hash (compared in constant time).
    public func verify(_ password: String) -> Bool {
        guard let candidate = try? Self.derive(password, salt: salt, rounds: rounds) else { return false }
        return constantTimeEquals(candidate, key)
    }

    /// Checked against when the user is unknown, so that the answer takes the same time.
    static let decoy = PasswordHash(rounds: defaultRounds, salt: Data(repeating: 7, count: 16), key: Data(count: 32))

    private static func derive(_ password: String, salt: Data, rounds: Int) throws -> Data {
        let key = try KDF.Insecure.PBKDF2.deriveKey(
            from: Array(password.utf8), salt: salt, using: .sha256, outputByteCount: 32, rounds: rounds)
        return key.withUnsafeBytes { Data($0) }
    }
}

/// A console error with a message for people.
public struct ConsoleError: Error, CustomStringConvertible {
    /// What went wrong, for a caller to switch on.
    public enum Code: String, Sendable {
        /// A setting the console needs is missing (the admin's broker URL).
        case notConfigured = "not-configured"
        /// The accounts file cannot be read or is not valid.
        case accounts
        /// A rebuild from the history stream could not finish.
        case rebuild
    }

    public let code: Code
    public let description: String
    public init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }
}
