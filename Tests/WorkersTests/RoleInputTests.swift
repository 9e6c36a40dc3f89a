import ContractKit
import Contracts
import Foundation
import Jobs
import Programme
import Stores
import TestSupport
import Testing
import Topology
import Workers

/// Each role's events are declared once, by its input enum: the queue's bindings come from it
/// and the handler switches over it. These tests hold the pieces together where the compiler
/// cannot.
@Suite(.timeLimit(.minutes(10)))
struct RoleInputTests {
    /// A handler paired with another role's input would compile; its bindings would then bring
    /// it events it cannot handle. The handler of each role takes exactly the role's bindings.
    @Test func eachHandlerTakesExactlyTheEventsItsRoleIsBoundTo() {
        #expect(IntakeHandler.Input.routes.eventTypes == WorkerRole.intake.consumes)
        #expect(SchedulingHandler.Input.routes.eventTypes == WorkerRole.scheduling.consumes)
        #expect(GradingHandler.Input.routes.eventTypes == WorkerRole.grading.consumes)
        #expect(CertificateHandler.Input.routes.eventTypes == WorkerRole.certificates.consumes)
        #expect(NotificationHandler.Input.routes.eventTypes == WorkerRole.notifications.consumes)
    }

    /// Every consumed type is a registered contract, each once.
    @Test func everyBoundEventTypeIsAContractAndIsBoundOnce() {
        let known = Set(ContractCatalogue.all.map { $0.eventType })
        for role in WorkerRole.all + [WorkerRole.console] {
            #expect(Set(role.consumes).isSubset(of: known), "\(role.name) binds a type no contract has")
            #expect(Set(role.consumes).count == role.consumes.count, "\(role.name) binds a type twice")
        }
    }

    /// A routing table that declares one type twice keeps the first declaration.
    @Test func aTypeDeclaredTwiceIsRoutedOnce() {
        enum Twice: RoleInput {
            case first(ClassOpenedV1)
            case second(ClassOpenedV1)
            static let routes = InputRoutes<Self>().on(ClassOpenedV1.self, Self.first).on(ClassOpenedV1.self, Self.second)
        }
        #expect(Twice.routes.eventTypes == [ClassOpenedV1.eventType])
    }

    /// An event the role does not take (a binding added by hand on the broker) is a permanent
    /// failure, dead-lettered with its code, and changes nothing in the role's store.
    @Test func anEventTheRoleDoesNotTakeIsAPermanentFailureThatWritesNothing() async throws {
        let catalogue = try ProgrammeCatalogue.load(path: repositoryFile("config/programme-2025.json"))
        let kit = try await HandlerTestKit(handler: SchedulingHandler(catalogue: catalogue), registry: .pipeline)
        let revoked = CertificateRevokedV1(certificateID: "CERT-1", participantID: "P1", reasonCode: "TEST")
        do {
            _ = try await kit.deliver(EventEnvelope(source: "/test", data: revoked))
            Issue.record("the scheduling handler accepted a certificate.revoked")
        } catch let failure as Failure {
            #expect(failure.kind == .permanent)
            #expect(failure.code == .unexpectedType)
            #expect(failure.message.contains(CertificateRevokedV1.eventType))
        }
        #expect(try await kit.query("SELECT COUNT(*) AS n FROM sched_applicants").first?["n"]?.integer == 0)
    }
}

/// The NIK key is never the public one by accident: intake and the imports refuse to start
/// without `--nik-key-file` or `--development-key`, and refuse both at once.
@Suite(.timeLimit(.minutes(10)))
struct NIKKeyOptionTests {
    @Test func intakeAndTheImportsRefuseToStartWithoutAKeyOrWithBoth() async throws {
        let binary = builtProductsDirectory.appendingPathComponent("kaltim-worker").path
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nik-key-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyFile = directory.appendingPathComponent("nik.key").path
        try Data(repeating: 0x41, count: 32).write(to: URL(fileURLWithPath: keyFile))
        let database = directory.appendingPathComponent("intake.sqlite").path
        let commands: [[String]] = [
            ["intake", "--database", database, "--no-http", "--broker-url", "amqp://guest:guest@127.0.0.1:1/"],
            ["import-registry", "--csv", keyFile, "--database", database],
            ["import-history", "--csv", keyFile, "--database", database],
        ]
        for command in commands {
            for keyArguments in [[], ["--nik-key-file", keyFile, "--development-key"]] {
                let child = try ChildProcess(binary, command + keyArguments)
                defer { unlink(child.outputPath) }
                let status = try await child.waitForExit(timeout: .seconds(120))
                #expect(status != 0, "\(command[0]) \(keyArguments) started")
                #expect(
                    child.output.contains("--nik-key-file"), "\(command[0]) \(keyArguments) says why: \(child.output)")
                #expect(!FileManager.default.fileExists(atPath: database), "nothing was written")
            }
        }
    }
}
