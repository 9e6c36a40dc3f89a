import Admin
import Console
import Foundation
import Jobs
import Logging
import Programme
import ServiceLifecycle
import Stores
import TestSupport
import Testing
import Workers

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Behind an authenticating reverse proxy: the identity header names the user, the accounts
/// file gives the role, and nobody the file does not know gets in (no broker needed).
@Suite struct ConsoleProxyTests {
    @Test func theProxysIdentityHeaderNamesTheUserAndTheAccountsFileTheRole() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("proxy"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("console.sqlite").path)
        let catalogue = try ProgrammeCatalogue.load(
            path: BrokerEnvironment.repositoryRoot.appendingPathComponent("config/programme-2025.json").path)
        try await store.migrate(ProgressHandler(catalogue: catalogue).migrations)
        let hash = try PasswordHash.make("unused-behind-the-proxy", rounds: 210_000).encoded
        var configuration = ConsoleConfiguration(
            accounts: ConsoleAccounts(users: [.init(name: "rina", role: .viewer, passwordHash: hash)]),
            auditLog: AuditLog(path: directory.appendingPathComponent("audit.jsonl").path), catalogue: catalogue)
        configuration.port = 0
        configuration.trustedIdentityHeader = "X-Forwarded-User"
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let server = ConsoleServer(configuration: configuration, store: store, logger: Logger(label: "test"))
        let group = ServiceGroup(
            services: [server.application { port in portSink.yield(port) }], gracefulShutdownSignals: [],
            logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        var port = 0
        for await value in ports {
            port = value
            break
        }

        func get(_ path: String, user: String?) async throws -> (Int, String, [AnyHashable: Any]) {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            if let user { request.setValue(user, forHTTPHeaderField: "X-Forwarded-User") }
            let (data, response) = try await URLSession.shared.data(for: request)
            let http = try #require(response as? HTTPURLResponse)
            return (http.statusCode, String(decoding: data, as: UTF8.self), http.allHeaderFields)
        }

        let (anonymous, refusal, _) = try await get("/", user: nil)
        #expect(anonymous == 403 && refusal.contains("Pengguna tidak dikenal"))
        let (stranger, _, _) = try await get("/", user: "mallory")
        #expect(stranger == 403)
        let (status, page, headers) = try await get("/", user: "rina")
        #expect(status == 200 && page.contains("rina · pemantau"))
        // The page refreshes itself as an automatic request, which does not count as the user's.
        #expect(page.contains("content=\"5; url=/?auto-refresh=1\""))
        #expect(try await get("/?auto-refresh=1", user: "rina").0 == 200)
        #expect((headers["Content-Security-Policy"] as? String)?.contains("default-src 'none'") == true)
        // No sign-in page behind the proxy; the JSON view has the funnel.
        let (_, loginPage, _) = try await get("/login", user: "rina")
        #expect(!loginPage.contains("id=\"password\""))
        let (jsonStatus, json, _) = try await get("/progress.json", user: "rina")
        #expect(jsonStatus == 200 && json.contains("\"funnel\""))
        // The review queue page, in Bahasa Indonesia, empty on a fresh read model.
        let (reviewStatus, reviews, _) = try await get("/reviews", user: "rina")
        #expect(reviewStatus == 200 && reviews.contains("<html lang=\"id\">"))
        #expect(reviews.contains("Verifikasi pendaftaran") && reviews.contains("Tidak ada pendaftaran yang menunggu"))
        let (_, reviewsJSON, _) = try await get("/reviews.json", user: "rina")
        #expect(reviewsJSON.contains("\"count\":0"))
        #expect(try await get("/reviews", user: "mallory").0 == 403)

        await group.triggerGracefulShutdown()
        try await running.value
    }
}
