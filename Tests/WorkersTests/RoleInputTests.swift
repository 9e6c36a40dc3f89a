import ContractKit
import Contracts
import Foundation
import Jobs
import Programme
import Stores
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
