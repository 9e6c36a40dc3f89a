import ContractKit
import Contracts
import DataProtection
import Foundation
import Jobs
import Senders
import Stores
import TestSupport
import Testing
import Workers

/// The breach notice (UU 27/2022 Art. 46) through the notification worker's own handler and
/// dispatcher, at night: everyone the exposed store links to is told once (a second run and a
/// resent notice change nothing), the notice is urgent so quiet hours do not hold it while the
/// ordinary messages wait for the morning, a person without an address is reported, and the
/// status counts delivery against the 3 × 24-hour deadline on the test's clock.
extension NotificationDeliveryTests {
    @Test func aBreachNoticeReachesEveryAffectedPersonOnceAtNightAndIsReportedAgainstTheDeadline() async throws {
        let gateway = try await TestGateway.start()
        let night = ISO8601DateFormatter().date(from: "2025-07-07T22:15:00+08:00")!
        let clock = Clock(night)
        let sender = HTTPGatewaySender(url: gateway.url, token: nil)
        let (kit, dispatcher) = try await Self.rig(senders: [.sms: sender, .whatsApp: sender], clock: clock)
        for index in 1...4 {
            _ = try await kit.deliver(Self.submitted(index, whatsApp: index == 2 ? "+628110000002" : nil))
            if index <= 3 { _ = try await kit.deliver(Self.accepted(index)) }
        }
        // Someone whose only address is an e-mail the deployment cannot send to is still told
        // (the request names the channel); someone with no contact at all is reported.
        _ = try await kit.deliver(Self.submitted(5, phone: "", email: "peserta5@contoh.id"))
        // Person 1 registered twice (a second registration with the same number): told once.
        var again = Self.submitted(1)
        again.id = "submitted-1-again"
        again.data.registrationID = "REG-6"
        _ = try await kit.deliver(again)

        let affected = try await BreachNotice.affected(in: [("notifications", kit.store)])
        #expect(affected.registrationIDs == ["REG-1", "REG-2", "REG-3", "REG-4", "REG-5", "REG-6"])
        #expect(affected.participantIDs == ["PST-1", "PST-2", "PST-3"])
        var withStranger = affected
        withStranger.participantIDs.insert("PST-404")
        let (recipients, unreachable) = try await BreachNotice.recipients(of: withStranger, contacts: kit.store)
        #expect(unreachable == ["PST-404"])
        #expect(recipients.map(\.registrationID) == ["REG-1", "REG-2", "REG-3", "REG-4", "REG-5"])
        #expect(recipients.first { $0.registrationID == "REG-2" }?.channel == .whatsApp)
        #expect(recipients.first { $0.registrationID == "REG-1" }?.channel == .sms)
        #expect(recipients.first { $0.registrationID == "REG-5" }?.channel == .email)
        // A window in which nothing was recorded affects nobody.
        let before = Date(timeIntervalSince1970: 0)...Date(timeIntervalSince1970: 1)
        #expect(try await BreachNotice.affected(in: [("notifications", kit.store)], window: before).registrationIDs.isEmpty)

        let incident = BreachIncident(
            id: "INSIDEN-2025-007", detectedAt: ISO8601DateFormatter().date(from: "2025-07-07T20:00:00+08:00")!,
            occurred: "7 Juli 2025 pukul 18.00 WITA", data: "nama dan nomor telepon",
            cause: "salinan cadangan basis data dapat diakses tanpa izin", steps: "akses ditutup dan kata sandi diganti",
            contact: "ppdp@disnakertrans.kaltimprov.go.id")
        for recipient in recipients { _ = try await kit.deliver(BreachNotice.request(for: recipient, incident: incident)) }
        // The command run again, and one notice resent under a new event id: nothing twice.
        for recipient in recipients {
            #expect(try await kit.deliver(BreachNotice.request(for: recipient, incident: incident)).duplicate)
        }
        var resent = BreachNotice.request(for: recipients[0], incident: incident)
        resent.id = "breach-resent-by-hand"
        _ = try await kit.deliver(resent)
        let rows = try await kit.query("SELECT urgent FROM notif_messages WHERE template = ?", [.text(BreachNotice.template)])
        #expect(rows.count == 5 && rows.allSatisfy { $0["urgent"] == .integer(1) })

        while await dispatcher.runOnce() > 0 {}
        let notices = gateway.requests.values.filter { $0.text.contains("kegagalan pelindungan data pribadi") }
        #expect(notices.count == 4, "the four with a phone, at 22:15 WITA")
        #expect(Set(notices.map(\.to)) == ["+6281250000001", "+628110000002", "+6281250000003", "+6281250000004"])
        #expect(notices.allSatisfy { $0.text.contains("salinan cadangan basis data") && $0.text.contains("ppdp@") })
        #expect(notices.contains { $0.text.contains("Yth. Peserta 3,") })
        #expect(gateway.requests.count == 4, "the ordinary messages wait for the morning")

        let status = try await BreachNotice.status(of: incident, notifications: kit.store, now: clock.date)
        #expect(status.total == 5 && status.sentInTime == 4 && status.failed == 1 && status.pending == 0, "\(status)")
        #expect(!status.allRecordedInTime, "the one without a channel is not told")
        var late = incident
        late.detectedAt = incident.detectedAt.addingTimeInterval(-4 * 86_400)
        let lateStatus = try await BreachNotice.status(of: late, notifications: kit.store, now: clock.date)
        #expect(lateStatus.sentLate == 4 && lateStatus.sentInTime == 0)
        #expect(
            try await BreachNotice.status(
                of: BreachIncident(
                    id: "INSIDEN-2025-008", detectedAt: night, occurred: "", data: "", cause: "", steps: "", contact: ""),
                notifications: kit.store, now: clock.date
            ).total == 0, "another incident's notices are its own")
        await gateway.stop()
    }

    @Test func incidentIDsCannotBecomeAPatternOrAnotherIncidentsPrefix() {
        for id in ["INSIDEN-2026-001", "A", "X-1"] { #expect(BreachIncident.isValidID(id), "\(id)") }
        for id in [
            "", "-A", "INSIDEN_1", "INSIDEN%", "A:B", "A B", String(repeating: "A", count: 65), "ÍNSIDEN", "insiden-1", "x-1",
        ] {
            #expect(!BreachIncident.isValidID(id), "\(id)")
        }
    }
}
