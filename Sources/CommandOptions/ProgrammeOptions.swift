public import ArgumentParser
import DeploymentSettings
public import Programme

/// `--programme-file`: the programme plan (centres, quotas, programmes, classes), for every
/// command that reads it.
public struct ProgrammeOptions: ParsableArguments, Sendable {
    /// Its default is the install layout's (``InstallLayout``): `config/programme-2025.json` in
    /// a checkout of the project, else `/etc/kaltim/programme-2025.json`.
    @Option(help: ArgumentHelp("The programme plan (centres, quotas, programmes, classes).", valueName: "path"))
    public var programmeFile = InstallLayout.current.config("programme-2025.json")

    public init() {}

    /// The plan, loaded and validated.
    /// - Throws: `ValidationError` with the plan's problem.
    public func load() throws -> ProgrammeCatalogue {
        do {
            return try ProgrammeCatalogue.load(path: programmeFile)
        } catch {
            throw ValidationError("\(error)")
        }
    }
}
