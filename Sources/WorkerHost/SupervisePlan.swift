import Foundation

/// What `kaltim-worker supervise` runs: how many processes of each role, with which arguments,
/// and where their stores and logs go. Read from a JSON file by the supervisor and written by
/// the main job's chaos run, so both agree on its shape.
///
/// ```json
/// {"dataDirectory": "var", "logDirectory": "var/log", "common": ["--programme-file", "…"],
///  "roles": {"intake": {"replicas": 2, "arguments": ["--nik-key-file", "secrets/nik.key"]}}}
/// ```
public struct SupervisePlan: Codable, Sendable, Equatable {
    /// The processes of one role.
    public struct Role: Codable, Sendable, Equatable {
        /// Processes of the role (0…64).
        public var replicas: Int
        /// Arguments for the role's processes only.
        public var arguments: [String]?

        public init(replicas: Int, arguments: [String]? = nil) {
            self.replicas = replicas
            self.arguments = arguments
        }
    }

    /// Where each role's SQLite store goes (`<dataDirectory>/<role>.sqlite`); `var` when absent.
    public var dataDirectory: String?
    /// Where each process's log goes; `<dataDirectory>/log` when absent.
    public var logDirectory: String?
    /// Arguments for every process.
    public var common: [String]?
    /// Role name → its processes.
    public var roles: [String: Role]

    public init(dataDirectory: String? = nil, logDirectory: String? = nil, common: [String]? = nil, roles: [String: Role]) {
        self.dataDirectory = dataDirectory
        self.logDirectory = logDirectory
        self.common = common
        self.roles = roles
    }

    /// The problems of the plan for a supervisor that runs `knownRoles`: an unknown role, a
    /// replica count outside 0…64. Empty when the plan can run.
    public func problems(knownRoles: Set<String>) -> [String] {
        var problems: [String] = []
        for (role, settings) in roles.sorted(by: { $0.key < $1.key }) {
            if !knownRoles.contains(role) { problems.append("unknown role \(role)") }
            if !(0...64).contains(settings.replicas) { problems.append("\(role) replicas must be 0…64") }
        }
        return problems
    }

    /// Reads a plan file.
    /// - Throws: a description of what is wrong with the file, for the command line.
    public static func load(path: String) throws -> SupervisePlan {
        guard let data = FileManager.default.contents(atPath: path) else { throw PlanError("cannot read \(path)") }
        do {
            return try JSONDecoder().decode(SupervisePlan.self, from: data)
        } catch {
            throw PlanError("\(path) is not a valid plan: \(error)")
        }
    }

    /// A plan file that cannot be read or decoded.
    public struct PlanError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}
