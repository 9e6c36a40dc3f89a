import ContractKit
import Contracts
import Foundation
import Jobs
import Senders
import Stores
import TestSupport
import Testing
import Workers

/// The right to correction: `registration.corrected` changes the contact and the messages still
/// waiting (their addresses and the name they greet), not what was sent; a bad correction is
/// refused for good, one for a registration not seen yet waits.
extension NotificationDeliveryTests {
    static func corrected(
        _ registration: String, id: String, name: String? = nil, phone: String? = nil, whatsApp: String? = nil,
        email: String? = nil
    ) -> EventEnvelope<RegistrationCorrectedV1> {
        EventEnvelope(
            id: id, source: "/test",
            data: RegistrationCorrectedV1(
                registrationID: registration, fullName: name, phone: phone, whatsApp: whatsApp, email: email,
                correctedBy: "petugas-7", reference: "PDP-1"))
    }

    @Test func aCorrectionReachesTheContactAndTheWaitingMessagesButNotWhatWasSent() async throws {
        let gateway = try await TestGateway.start()
        let clock = Clock(Self.noon())
        let sender = HTTPGatewaySender(url: gateway.url, token: nil)
        let (kit, dispatcher) = try await Self.rig(senders: [.sms: sender, .whatsApp: sender], clock: clock)
        _ = try await kit.deliver(Self.submitted(1))
        while await dispatcher.runOnce() > 0 {}
        #expect(gateway.requests.values.map(\.to) == ["+6281250000001"])
        // At night the next message waits; the correction comes before it goes.
        clock.set(ISO8601DateFormatter().date(from: "2025-07-07T22:15:00+08:00")!)
        _ = try await kit.deliver(Self.accepted(1))
        _ = try await kit.deliver(
            Self.corrected("REG-1", id: "c-1", name: "Peserta Satu", phone: "0812 5000 0111", whatsApp: "+628110000111"))
        let contact = try #require(try await kit.query("SELECT * FROM notif_contacts WHERE registration_id = 'REG-1'").first)
        #expect(contact["name"] == .text("Peserta Satu") && contact["phone"] == .text("+6281250000111"))
        #expect(contact["whatsapp"] == .text("+628110000111"))
        let sent = try await kit.query("SELECT routes, parameters FROM notif_messages WHERE state = 'sent'")
        #expect(sent.count == 1 && sent[0]["routes"]?.text?.contains("+6281250000001") == true, "what was sent stays")
        clock.set(ISO8601DateFormatter().date(from: "2025-07-08T07:00:00+08:00")!)
        while await dispatcher.runOnce() > 0 {}
        let second = try #require(gateway.requests.values.last)
        #expect(gateway.requests.count == 2 && second.to == "+628110000111" && second.channel == "WHATSAPP")
        #expect(second.text.contains("Peserta Satu"), "\(second.text)")

        for (bad, why) in [
            (Self.corrected("REG-1", id: "c-2"), "changes nothing"),
            (Self.corrected("REG-1", id: "c-3", phone: "12345"), "not an Indonesian mobile number"),
            (Self.corrected("REG-1", id: "c-4", email: "bukan-surel"), "e-mail address is not valid"),
            (Self.corrected("REG-1", id: "c-5", name: " \n "), "name is empty"),
            (Self.corrected("REG-1", id: "c-6", name: String(repeating: "A", count: 201)), "over 200 characters"),
        ] {
            do {
                _ = try await kit.deliver(bad)
                Issue.record("taken: \(why)")
            } catch let failure as Failure {
                #expect(failure.code == .invalidCorrection && failure.kind == .permanent, "\(failure)")
                #expect("\(failure)".contains(why), "\(failure)")
            }
        }
        do {
            _ = try await kit.deliver(Self.corrected("REG-404", id: "c-7", phone: "+6281250000404"))
            Issue.record("a correction for an unknown registration was taken")
        } catch let failure as Failure {
            #expect(failure.code == .contactUnknown && failure.kind == .transient, "it waits for the registration")
        }
        #expect(try await kit.query("SELECT name FROM notif_contacts").count == 1)
        await gateway.stop()
    }
}
