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
        // At night the ordinary messages are held: person 1's acceptance, and those of a second
        // registration of the same participant (REG-9, another number).
        clock.set(ISO8601DateFormatter().date(from: "2025-07-07T22:15:00+08:00")!)
        _ = try await kit.deliver(Self.accepted(1))
        var second = Self.submitted(9)
        second.data.registrationID = "REG-9"
        _ = try await kit.deliver(second)
        var secondAccepted = Self.accepted(9)
        secondAccepted.data.participantID = "PST-1"
        _ = try await kit.deliver(secondAccepted)
        while await dispatcher.runOnce() > 0 {}
        #expect(gateway.requests.count == 1 && dispatcher.statistics.held == 3)
        // A notice the office asked for, to one chosen address.
        let requested = NotificationRequestedV1(
            notificationID: "office-1", participantID: "PST-1", registrationID: "REG-1", channel: .sms,
            recipient: "+6281299999999", template: "pemberitahuan_kegagalan_pdp",
            parameters: [
                "nama": "Peserta 1", "waktu_kejadian": "7 Juli 2025", "jenis_data": "nama", "uraian_singkat": "uji",
                "langkah": "uji", "kontak_ppdp": "ppdp@contoh.id",
            ])
        _ = try await kit.deliver(EventEnvelope(id: "requested-1", source: "/test", data: requested))

        _ = try await kit.deliver(
            Self.corrected("REG-1", id: "c-1", name: "Peserta Satu", phone: "0812 5000 0111", whatsApp: "+628110000111"))
        let contact = try #require(try await kit.query("SELECT * FROM notif_contacts WHERE registration_id = 'REG-1'").first)
        #expect(contact["name"] == .text("Peserta Satu") && contact["phone"] == .text("+6281250000111"))
        #expect(contact["whatsapp"] == .text("+628110000111"))
        let other = try #require(try await kit.query("SELECT * FROM notif_contacts WHERE registration_id = 'REG-9'").first)
        #expect(
            other["name"] == .text("Peserta 9") && other["phone"] == .text("+6281250000009"), "the other registration's stays")
        let sent = try await kit.query("SELECT routes, parameters FROM notif_messages WHERE state = 'sent'")
        #expect(sent.count == 1 && sent[0]["routes"]?.text?.contains("+6281250000001") == true, "what was sent stays")

        clock.set(ISO8601DateFormatter().date(from: "2025-07-08T07:00:00+08:00")!)
        while await dispatcher.runOnce() > 0 {}
        let requests = gateway.requests.values
        let corrected = requests.filter { $0.text.contains("Peserta Satu") }
        #expect(corrected.count == 1 && corrected.first?.to == "+628110000111" && corrected.first?.channel == "WHATSAPP")
        #expect(requests.filter { $0.to == "+6281250000009" }.count == 2, "REG-9's messages keep their number")
        #expect(requests.filter { $0.to == "+6281299999999" }.count == 1, "the requested notice keeps its address")
        #expect(requests.count == 5)

        for (bad, why) in [
            (Self.corrected("REG-1", id: "c-2"), "changes nothing"),
            (Self.corrected("REG-1", id: "c-8", name: "Siti\u{202E}nahk"), "control characters"),
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
        #expect(try await kit.query("SELECT name FROM notif_contacts").count == 2, "REG-1 and REG-9; none for REG-404")
        await gateway.stop()
    }

    /// An attacker (or a portal resending under new ids) sends the registration again with the
    /// old phone after the person corrected it: the correction stands, nothing is sent twice,
    /// and the second message goes to the dead letters with the code intake gives it.
    @Test func aRegistrationSentAgainUnderAnotherIdDoesNotUndoACorrection() async throws {
        let (kit, _) = try await Self.rig(senders: [:], clock: Clock(Self.noon()))
        _ = try await kit.deliver(Self.submitted(1))
        _ = try await kit.deliver(Self.corrected("REG-1", id: "c-1", name: "Peserta Satu", phone: "+6281250000111"))
        let messages = try await kit.query("SELECT notification_id FROM notif_messages").count
        #expect(try await kit.deliver(Self.submitted(1)).duplicate, "the same message again: the inbox knows it")
        for id in ["resent-1", "replayed-after-retention"] {
            var again = Self.submitted(1)
            again.id = id
            again.data.fullName = "Nama Lain"
            do {
                _ = try await kit.deliver(again)
                Issue.record("a second submission of REG-1 (\(id)) was taken")
            } catch let failure as Failure {
                #expect(failure.code == .registrationNumberReused && failure.kind == .permanent, "\(failure)")
                #expect("\(failure)".contains("registration.corrected"), "\(failure)")
            }
        }
        let contact = try #require(try await kit.query("SELECT * FROM notif_contacts WHERE registration_id = 'REG-1'").first)
        #expect(contact["name"] == .text("Peserta Satu") && contact["phone"] == .text("+6281250000111"))
        #expect(try await kit.query("SELECT notification_id FROM notif_messages").count == messages, "nothing queued twice")

        // The same message after the inbox forgot its id (retention): nothing changes.
        try await kit.store.write { try $0.execute("DELETE FROM jobs_inbox") }
        #expect(try await !kit.deliver(Self.submitted(1)).duplicate)
        let again = try #require(try await kit.query("SELECT * FROM notif_contacts WHERE registration_id = 'REG-1'").first)
        #expect(again["phone"] == .text("+6281250000111") && again["name"] == .text("Peserta Satu"), "the correction stands")
        #expect(try await kit.query("SELECT notification_id FROM notif_messages").count == messages)

        // Consent withdrawn (the contact deleted), then the number resent under a new id, dated
        // after the withdrawal: still refused, and no contact comes back.
        _ = try await kit.deliver(Self.submitted(2))
        _ = try await kit.deliver(ConsentTests.withdrawal("REG-2", at: "2025-03-04T00:00:00Z"))
        #expect(try await kit.query("SELECT 1 FROM notif_contacts WHERE registration_id = 'REG-2'").isEmpty)
        var resent = Self.submitted(2)
        resent.id = "resent-after-withdrawal"
        resent.time = ISO8601DateFormatter().date(from: "2025-03-05T00:00:00Z")!
        do {
            _ = try await kit.deliver(resent)
            Issue.record("a resend after the withdrawal was taken")
        } catch let failure as Failure {
            #expect(failure.code == .registrationNumberReused && failure.kind == .permanent, "\(failure)")
        }
        #expect(try await kit.query("SELECT 1 FROM notif_contacts WHERE registration_id = 'REG-2'").isEmpty)
    }
}
