import ContractKit
import Contracts
import Foundation
import Jobs
import Senders
import Stores
import TestSupport
import Testing
import Workers

/// Contacts are kept while the person is in the programme and deleted a year after their last
/// message (on the test's clock): not while a message waits, not while messages keep coming,
/// and nothing else is deleted.
extension NotificationDeliveryTests {
    @Test func contactsGoAYearAfterTheLastMessageButNotWhileOneWaitsOrMessagesKeepComing() async throws {
        let gateway = try await TestGateway.start()
        let clock = Clock(Self.noon())
        let sender = HTTPGatewaySender(url: gateway.url, token: nil)
        let (kit, dispatcher) = try await Self.rig(senders: [.sms: sender], clock: clock)
        for index in 1...3 { _ = try await kit.deliver(Self.submitted(index)) }
        while await dispatcher.runOnce() > 0 {}
        #expect(gateway.accepted.count == 3)
        clock.set(Date())  // the stores' times are the real clock's
        #expect(await dispatcher.purgeContacts() == 0, "a contact just written stays")

        // A year and a month later: person 2 has a message waiting, person 3 got one a day ago.
        let later = Date().addingTimeInterval(395 * 86_400)
        clock.set(later)
        try await kit.store.write { transaction in
            try transaction.execute(
                "UPDATE notif_messages SET state = 'pending', next_attempt_at = ? WHERE registration_id = 'REG-2'",
                [.real(later.addingTimeInterval(86_400).timeIntervalSince1970)])
            try transaction.execute(
                """
                INSERT INTO notif_messages (notification_id, event_id, event_type, template, parameters, routes, urgent,
                    registration_id, correlation_id, state, created_at, event_time, next_attempt_at)
                VALUES ('recent-3', 'e3', 'class.scheduled', 'lulus_seleksi', '{}', '[]', 0, 'REG-3', 'c3', 'sent', ?, ?, ?)
                """,
                [
                    .real(later.addingTimeInterval(-86_400).timeIntervalSince1970),
                    .real(later.timeIntervalSince1970), .real(0),
                ])
        }
        #expect(await dispatcher.purgeContacts() == 1)
        let left = try await kit.query("SELECT registration_id FROM notif_contacts ORDER BY registration_id")
        #expect(left.compactMap { $0["registration_id"]?.text } == ["REG-2", "REG-3"])
        #expect(try await kit.query("SELECT COUNT(*) AS n FROM notif_messages").first?["n"]?.integer == 4, "messages stay")
        #expect(await dispatcher.purgeContacts() == 0, "nothing twice")
        await gateway.stop()
    }
}
