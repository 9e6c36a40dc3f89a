import Foundation
import TestSupport
import Testing

/// Every input the fuzzer ever found (Tests/FuzzCorpus: crashers once fixed, and seeds) and
/// every contract fixture go through the fuzzed parsers again in an ordinary build
/// (`kaltim-fuzz FILE|FOLDER…`), so a fixed crash cannot come back unnoticed.
struct FuzzRegressionTests {
    static var binary: String { builtProductsDirectory.appendingPathComponent("kaltim-fuzz").path }

    @Test func everySavedInputRunsThroughTheParsersWithoutACrash() async throws {
        let corpus = repositoryFile("Tests/FuzzCorpus")
        let inputs = try FileManager.default.contentsOfDirectory(atPath: corpus)
        #expect(inputs.count >= 10)
        let fixtures = repositoryFile("Tests/ContractsTests/Fixtures")
        let fixtureCount = try FileManager.default.contentsOfDirectory(atPath: fixtures).count
        let process = try ChildProcess(Self.binary, [corpus, fixtures])
        #expect(try await process.waitForExit(timeout: .seconds(60)) == 0, "\(process.output)")
        #expect(process.output.contains("kaltim-fuzz: \(inputs.count + fixtureCount) inputs, no crash"), "\(process.output)")
    }

    @Test func withoutInputsItPrintsTheUsage() async throws {
        let process = try ChildProcess(Self.binary, [])
        #expect(try await process.waitForExit(timeout: .seconds(30)) == 64)
        #expect(process.output.contains("usage: kaltim-fuzz"))
    }
}
