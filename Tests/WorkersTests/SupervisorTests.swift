import AMQP
import ContractKit
import Contracts
import Foundation
import Jobs
import TestSupport
import Testing
import Topology

/// `kaltim-worker supervise` runs the plan's processes, starts a killed one again, and stops
/// everything on SIGTERM.
@Suite(
    .enabled(if: BrokerEnvironment.enabled, "needs rabbitmq-server: run the tests through scripts/test.sh"),
    .serialized, .timeLimit(.minutes(10))
)
struct SupervisorTests {
    @Test func aKilledWorkerIsStartedAgainAndSIGTERMStopsEverything() async throws {
        let url = try #require(BrokerEnvironment.url)
        let prefix = uniqueName() + "."
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(prefix + "supervise").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let plan = """
            {"dataDirectory": "\(directory)/var", "logDirectory": "\(directory)/log",
             "common": ["--topology-prefix", "\(prefix)", "--allow-any-publisher", "--programme-file", "\(repositoryFile("config/programme-2025.json"))"],
             "roles": {"grading": {"replicas": 2}, "scheduling": {"replicas": 1}}}
            """
        try plan.write(toFile: directory + "/plan.json", atomically: true, encoding: .utf8)
        let supervisor = try ChildProcess(
            builtProductsDirectory.appendingPathComponent("kaltim-worker").path,
            ["supervise", "--plan", directory + "/plan.json", "--stop-timeout", "20"],
            environment: ["KALTIM_BROKER_URL": url])
        defer { Task { await supervisor.terminate() } }

        let names = ["grading-1", "grading-2", "scheduling-1"]
        @Sendable func pid(_ name: String) -> pid_t? {
            (try? String(contentsOfFile: "\(directory)/log/\(name).pid", encoding: .utf8))
                .flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        @Sendable func starts(_ name: String) -> Int {
            let log = (try? String(contentsOfFile: "\(directory)/log/\(name).log", encoding: .utf8)) ?? ""
            return log.components(separatedBy: "\"msg\":\"worker started\"").count - 1
        }
        try await waitUntil(timeout: .seconds(90), "every process of the plan started") {
            names.allSatisfy { starts($0) == 1 }
        }
        let first = try #require(pid("grading-1"))
        let others = names.dropFirst().compactMap(pid)
        kill(first, SIGKILL)
        try await waitUntil(timeout: .seconds(60), "grading-1 started again") {
            starts("grading-1") == 2 && pid("grading-1") != first
        }
        #expect(supervisor.output.contains("grading-1 (pid \(first)) exited with status 137"), "\(supervisor.output)")
        #expect(names.dropFirst().compactMap(pid) == others, "the others were left alone")

        let all = names.compactMap(pid)
        supervisor.signal(SIGTERM)
        #expect(try await supervisor.waitForExit(timeout: .seconds(60)) == 0, "\(supervisor.output)")
        for pid in all { #expect(kill(pid, 0) != 0, "process \(pid) is gone") }
        for name in names {
            let log = (try? String(contentsOfFile: "\(directory)/log/\(name).log", encoding: .utf8)) ?? ""
            #expect(log.contains("\"msg\":\"worker exited\""), "\(name) drained and exited cleanly")
        }

        let connection = try await BrokerEnvironment.connect()
        for role in [WorkerRole.grading, .scheduling] { await RoleTopology(role: role, prefix: prefix).delete(on: connection) }
        await connection.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
