import ContractKit
import Contracts
import Foundation
import Jobs
import Stores
import Testing

/// The handler test kit, with the test handler of WorkerTests: no broker involved.
struct HandlerTestKitTests {
    func registration(_ id: String, programme: String = "MEKANIK_SEPEDA_MOTOR") -> RegistrationSubmittedV1 {
        RegistrationSubmittedV1(
            registrationID: id, nik: "6471054107990003", fullName: "Siti Rahmawati", birthPlace: "Balikpapan",
            birthDate: "1999-07-01",
            sex: .female, phone: "+6281250001001", email: nil,
            domicile: Domicile(regionCode: "6471051001", address: "Jl. Contoh 1"),
            education: .smk, jobSeekerCardNumber: nil, preferredCentre: .balikpapan, programme: programme,
            apprenticeshipInterest: false,
            declaredTrainings: [], consent: Consent(given: true, givenAt: "2025-03-03T01:14:10Z", textVersion: "pdp-2025-01"))
    }

    @Test func aHandlerRunsInTheStoreTransactionAndADuplicateHasNoEffect() async throws {
        let kit = try await HandlerTestKit(handler: AcceptingHandler(exchange: "kaltim.events"), registry: .pipeline)
        let envelope = EventEnvelope(id: "m-1", source: "/test", data: registration("REG-K1"))
        let first = try await kit.deliver(envelope)
        #expect(!first.duplicate)
        #expect(first.events.map(\.type) == ["registration.accepted"])
        #expect(first.events.first?.routingKey == "registration.accepted")
        let again = try await kit.deliver(envelope)
        #expect(again.duplicate)
        #expect(again.events.isEmpty)
        #expect(try await kit.query("SELECT registration_id FROM accepted") == [["registration_id": "REG-K1"]])
    }

    @Test func failuresAndBadInputSurfaceAsTheWorkerWouldRouteThem() async throws {
        let kit = try await HandlerTestKit(handler: AcceptingHandler(exchange: "kaltim.events"), registry: .pipeline)
        await #expect(throws: Failure.permanent(.brokenInvariant, "programme BROKEN cannot be handled")) {
            _ = try await kit.deliver(EventEnvelope(source: "/test", data: registration("REG-K2", programme: "BROKEN")))
        }
        await #expect {
            _ = try await kit.deliver(body: Data(#"{"a":1,"a":2}"#.utf8))
        } throws: { ($0 as? ContractError)?.reason == "duplicate-json-key" }
        // A failed handler call left nothing behind: the same message can succeed later.
        #expect(try await kit.query("SELECT COUNT(*) AS n FROM accepted") == [["n": 0]])
    }
}
