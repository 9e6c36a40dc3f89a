import Admin
import Console
import Crypto
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
    /// A console on a free port with one viewer account and an empty read model in `directory`,
    /// its configuration changed by `configure`: the port, the service group and its task.
    static func start(
        in directory: URL, user: String, password: String, configure: (inout ConsoleConfiguration) -> Void
    ) async throws -> (Int, ServiceGroup, Task<Void, any Error>) {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: directory.appendingPathComponent("console.sqlite").path)
        let catalogue = try ProgrammeCatalogue.load(
            path: BrokerEnvironment.repositoryRoot.appendingPathComponent("config/programme-2025.json").path)
        try await store.migrate(ProgressHandler(catalogue: catalogue).migrations)
        let hash = try PasswordHash.make(password, rounds: 210_000).encoded
        var configuration = ConsoleConfiguration(
            accounts: ConsoleAccounts(users: [.init(name: user, role: .viewer, passwordHash: hash)]),
            auditLog: AuditLog(path: directory.appendingPathComponent("audit.jsonl").path), catalogue: catalogue)
        configuration.port = 0
        configure(&configuration)
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
        return (port, group, running)
    }

    /// The sign-in form as a browser gets it: a POST to send it to, the form's cookie
    /// (`name=value`) and its CSRF token.
    static func signInForm(port: Int, session: URLSession) async throws -> (URLRequest, String, Substring) {
        let (form, response) = try await session.data(from: URL(string: "http://127.0.0.1:\(port)/login")!)
        let cookie = try #require((response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Set-Cookie"))
        let nonce = try #require(
            String(decoding: form, as: UTF8.self).firstMatch(of: /name="csrf" value="([^"]+)"/)?.output.1)
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/login")!)
        request.httpMethod = "POST"
        return (request, String(cookie.prefix { $0 != ";" }), nonce)
    }

    @Test func theProxysIdentityHeaderNamesTheUserAndTheAccountsFileTheRole() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("proxy"))
        defer { try? FileManager.default.removeItem(at: directory) }
        let (port, group, running) = try await Self.start(
            in: directory, user: "rina", password: "unused-behind-the-proxy"
        ) { $0.trustedIdentityHeader = "X-Forwarded-User" }

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

    /// Behind the proxy, the proxy's sign-in rides along with requests other sites make: a link
    /// or an image on another site that looks up a registration in an officer's name gets the
    /// overview instead, and nothing is written to the audit log in that name. The officer's own
    /// requests, and a browser's that says nothing of where they come from, are served.
    @Test func anotherSitesRequestLooksNothingUpInTheUsersName() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("cross-site"))
        defer { try? FileManager.default.removeItem(at: directory) }
        let hash = try PasswordHash.make("unused", rounds: 210_000).encoded
        let (port, group, running) = try await Self.start(in: directory, user: "rina", password: "unused") {
            $0.trustedIdentityHeader = "X-Forwarded-User"
            $0.accounts = ConsoleAccounts(users: [.init(name: "rina", role: .officer, passwordHash: hash)])
        }
        let session = URLSession(configuration: .ephemeral, delegate: NoRedirects(), delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        let audit = directory.appendingPathComponent("audit.jsonl")
        func lookUp(_ number: String, from site: String?) async throws -> (status: Int, location: String?) {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/laporan/pendaftaran?nomor=\(number)")!)
            request.setValue("rina", forHTTPHeaderField: "X-Forwarded-User")
            if let site { request.setValue(site, forHTTPHeaderField: "Sec-Fetch-Site") }
            let (_, response) = try await session.data(for: request)
            let http = try #require(response as? HTTPURLResponse)
            return (http.statusCode, http.value(forHTTPHeaderField: "Location"))
        }
        func audited() -> String { (try? String(contentsOf: audit, encoding: .utf8)) ?? "" }
        for site in ["cross-site", "same-site", "CROSS-SITE", "something-new"] {
            let refused = try await lookUp("REG-\(site.count)", from: site)
            #expect(refused.status == 303 && refused.location == "/", "\(site)")
        }
        #expect(!audited().contains("registration-lookup"), "\(audited())")
        // Looked up (and not found: the read model is empty).
        #expect(try await lookUp("REG-OWN", from: "same-origin").status == 404)
        #expect(try await lookUp("REG-TYPED", from: "none").status == 404)
        #expect(try await lookUp("REG-OLD", from: nil).status == 404)
        for number in ["REG-OWN", "REG-TYPED", "REG-OLD"] { #expect(audited().contains(number), "\(number)") }
        // The overview itself is served to a link from anywhere, without a session cookie that
        // would replace the officer's own in the browser.
        var home = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/")!)
        home.setValue("rina", forHTTPHeaderField: "X-Forwarded-User")
        home.setValue("cross-site", forHTTPHeaderField: "Sec-Fetch-Site")
        let overview = try #require(try await session.data(for: home).1 as? HTTPURLResponse)
        #expect(overview.statusCode == 200 && overview.value(forHTTPHeaderField: "Set-Cookie") == nil)
        home.setValue("same-origin", forHTTPHeaderField: "Sec-Fetch-Site")
        let own = try #require(try await session.data(for: home).1 as? HTTPURLResponse)
        #expect(own.value(forHTTPHeaderField: "Set-Cookie")?.contains("kaltim_session=") == true)

        await group.triggerGracefulShutdown()
        try await running.value
    }

    /// One client guessing at many accounts through the proxy (its address in the last entry of
    /// X-Forwarded-For, whatever the client wrote before it): after twenty failures it is
    /// refused, even with a right password, while staff at another address sign in.
    @Test func oneClientGuessingAtManyAccountsIsRefusedAndOthersSignIn() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("sign-in"))
        defer { try? FileManager.default.removeItem(at: directory) }
        let (port, group, running) = try await Self.start(in: directory, user: "siti", password: "benar-sekali") {
            $0.clientAddressHeader = "X-Forwarded-For"
        }
        // No cookie jar (a shared one would mix in the cookies of tests running at once on other
        // ports) and no redirect followed.
        let sessionConfiguration = URLSessionConfiguration.ephemeral
        sessionConfiguration.httpCookieStorage = nil
        sessionConfiguration.httpShouldSetCookies = false
        let session = URLSession(configuration: sessionConfiguration, delegate: NoRedirects(), delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        /// Signs in as `user` from `forwarded`: the status and the page.
        func signIn(_ user: String, _ password: String, forwarded: String) async throws -> (Int, String) {
            let (form, cookie, nonce) = try await Self.signInForm(port: port, session: session)
            var request = form
            request.setValue(cookie, forHTTPHeaderField: "Cookie")
            request.setValue(forwarded, forHTTPHeaderField: "X-Forwarded-For")
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data("csrf=\(nonce)&username=\(user)&password=\(password)".utf8)
            let (data, answer) = try await session.data(for: request)
            return ((answer as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
        }
        for index in 0..<20 {
            // A different made-up name each time, and a first entry the client wrote itself.
            let (status, _) = try await signIn("tamu\(index)", "salah", forwarded: "198.51.100.\(index), 203.0.113.9")
            #expect(status == 401, "attempt \(index)")
        }
        let (refused, page) = try await signIn("siti", "benar-sekali", forwarded: "203.0.113.9")
        #expect(refused == 429 && page.contains("dari alamat ini"), "\(refused)")
        let (other, _) = try await signIn("siti", "benar-sekali", forwarded: "198.51.100.4")
        #expect(other == 303, "staff at another address sign in")

        await group.triggerGracefulShutdown()
        try await running.value
    }

    /// The first 16 hexadecimal digits of the SHA-256 of `user`: what anyone could compute
    /// from a name, which a device cookie's name must not be.
    static func nameDigest(_ user: String) -> String {
        SHA256.hash(data: Data(user.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// Signs `user` in from a browser holding the cookies `jar`: the status, the page and the
    /// device cookies the console gave (name: value). Checks each one's attributes.
    static func signIn(
        port: Int, session: URLSession, user: String, password: String, jar: [String: String]
    ) async throws -> (status: Int, page: String, given: [String: String], expired: Set<String>) {
        let (form, cookie, nonce) = try await signInForm(port: port, session: session)
        var request = form
        let cookies = [cookie] + jar.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        request.setValue(cookies.joined(separator: "; "), forHTTPHeaderField: "Cookie")
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data("csrf=\(nonce)&username=\(user)&password=\(password)".utf8)
        let (data, answer) = try await session.data(for: request)
        let http = answer as? HTTPURLResponse
        let header = http?.value(forHTTPHeaderField: "Set-Cookie") ?? ""
        var given: [String: String] = [:]
        for match in header.matches(of: /(kaltim_device[0-9a-z_]*)=([0-9a-f.]+)/) {
            given[String(match.output.1)] = String(match.output.2)
            // Not for scripts, not sent along with another site's requests, kept half a year.
            let attributes = header[match.range.lowerBound...]
                .components(separatedBy: ", kaltim_")[0].components(separatedBy: "; ").dropFirst()
            #expect(Set(attributes) == ["Max-Age=15552000", "Path=/", "HttpOnly", "SameSite=Strict"], "\(header)")
        }
        // One cookie per user, named by a keyed digest: not the name's own digest, which anyone
        // seeing a shared browser's cookies could match against staff names.
        #expect(given.keys.allSatisfy { $0.wholeMatch(of: /kaltim_device_[0-9a-f]{16}/) != nil }, "\(header)")
        #expect(!given.keys.contains("kaltim_device_" + nameDigest(user)), "\(header)")
        let expired = Set(header.matches(of: /(kaltim_device_[0-9a-z]+)=;[^,]*Max-Age=0/).map { String($0.output.1) })
        return (http?.statusCode ?? 0, String(decoding: data, as: UTF8.self), given, expired)
    }

    /// Two officers sign in on one BLKI computer; someone who knows both names keeps failing
    /// for both. Each officer's own device cookie still lets them in from that computer: the
    /// second sign-in did not replace the first's cookie.
    @Test func officersSharingABrowserEachKeepTheirDeviceCookie() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("shared"))
        defer { try? FileManager.default.removeItem(at: directory) }
        let budi = try PasswordHash.make("kata-sandi-budi", rounds: 210_000).encoded
        let (port, group, running) = try await Self.start(in: directory, user: "siti", password: "benar-sekali") {
            configuration in
            var users = Array(configuration.accounts.users.values)
            users.append(.init(name: "budi", role: .viewer, passwordHash: budi))
            configuration.accounts = ConsoleAccounts(users: users)
        }
        let sessionConfiguration = URLSessionConfiguration.ephemeral
        sessionConfiguration.httpCookieStorage = nil
        sessionConfiguration.httpShouldSetCookies = false
        let session = URLSession(configuration: sessionConfiguration, delegate: NoRedirects(), delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        let passwords = ["siti": "benar-sekali", "budi": "kata-sandi-budi"]
        // The shared computer's browser keeps every cookie it is given.
        var jar: [String: String] = [:]
        for user in ["siti", "budi"] {
            let (status, _, given, _) = try await Self.signIn(
                port: port, session: session, user: user, password: passwords[user]!, jar: jar)
            #expect(status == 303 && given.count == 1, "\(user): \(status)")
            jar.merge(given) { _, new in new }
        }
        #expect(jar.count == 2, "one device cookie for each officer: \(jar.keys.sorted())")
        for user in ["siti", "budi"] {
            for attempt in 0..<5 {
                let (status, _, _, _) = try await Self.signIn(
                    port: port, session: session, user: user, password: "tebakan-\(attempt)", jar: [:])
                #expect(status == 401, "\(user), attempt \(attempt)")
            }
            let stranger = try await Self.signIn(
                port: port, session: session, user: user, password: passwords[user]!, jar: [:])
            #expect(stranger.status == 429, "\(user) is locked out elsewhere")
        }
        for user in ["siti", "budi"] {
            let (status, _, _, _) = try await Self.signIn(
                port: port, session: session, user: user, password: passwords[user]!, jar: jar)
            #expect(status == 303, "\(user) signs in on the shared computer")
        }
        // A cookie left from an older accounts file (no account's name now) is removed at the
        // next sign-in; the officers' own are kept.
        var old = jar
        old["kaltim_device_0123456789abcdef"] = "00000000000000000000000000000000.1.00"
        let cleared = try await Self.signIn(
            port: port, session: session, user: "siti", password: passwords["siti"]!, jar: old)
        #expect(cleared.status == 303)
        #expect(cleared.expired == ["kaltim_device_0123456789abcdef"], "\(cleared.expired)")

        await group.triggerGracefulShutdown()
        try await running.value
    }

    /// Someone who knows siti's user name fails five times a minute from anywhere: the account
    /// is refused to every browser but the one siti signed in from before, whose device cookie
    /// the console gave with that sign-in.
    @Test func aUserNameKnownToAnAttackerDoesNotKeepItsOwnerOut() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("device"))
        defer { try? FileManager.default.removeItem(at: directory) }
        let (port, group, running) = try await Self.start(in: directory, user: "siti", password: "benar-sekali") { _ in }
        let sessionConfiguration = URLSessionConfiguration.ephemeral
        sessionConfiguration.httpCookieStorage = nil
        sessionConfiguration.httpShouldSetCookies = false
        let session = URLSession(configuration: sessionConfiguration, delegate: NoRedirects(), delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        /// Signs in with `device` as the browser's device cookie: the status, the page and the
        /// device cookie the console gave, if it gave one.
        var cookieName = ""
        func signIn(_ password: String, device: String?) async throws -> (status: Int, page: String, device: String?) {
            let jar = device.map { [cookieName: $0] } ?? [:]
            let (status, page, given, _) = try await Self.signIn(
                port: port, session: session, user: "siti", password: password, jar: jar)
            if let name = given.first?.key { cookieName = name }
            return (status, page, given.first?.value)
        }
        let first = try await signIn("benar-sekali", device: nil)
        let device = try #require(first.device, "a right password gives the browser a device cookie")
        #expect(first.status == 303)
        for attempt in 0..<5 {
            let (status, _, given) = try await signIn("tebakan-\(attempt)", device: nil)
            #expect(status == 401 && given == nil, "attempt \(attempt)")
        }
        let stranger = try await signIn("benar-sekali", device: nil)
        #expect(stranger.status == 429 && stranger.page.contains("percobaan masuk yang gagal; tunggu"), "\(stranger.status)")
        let owner = try await signIn("benar-sekali", device: device)
        #expect(owner.status == 303, "siti's own browser signs in")
        #expect(owner.device != nil && owner.device != device, "with a new cookie for the next half year")
        let altered = String(device.dropLast()) + (device.last == "0" ? "1" : "0")
        #expect(try await signIn("benar-sekali", device: altered).status == 429, "an altered cookie is no device cookie")
        // The browser's own failures: five, then that browser waits too, told so.
        for attempt in 0..<5 { #expect(try await signIn("salah-\(attempt)", device: device).status == 401) }
        let waiting = try await signIn("benar-sekali", device: device)
        // In the same words as the account's lockout: a shared computer's visitor cannot tell
        // from them whose device cookie it holds.
        #expect(waiting.status == 429 && waiting.page.contains("percobaan masuk yang gagal; tunggu"), "\(waiting.status)")
        #expect(!waiting.page.contains("peramban"))
        // Each failure is in the audit log, with whether it came from a browser siti used before.
        let audit = try String(contentsOf: directory.appendingPathComponent("audit.jsonl"), encoding: .utf8)
        let failures = audit.split(separator: "\n").filter { $0.contains("console-sign-in-failed") }
        #expect(failures.filter { $0.contains("\"browser\":\"new\"") }.count == 5, "\(audit)")
        #expect(failures.filter { $0.contains("\"browser\":\"known\"") }.count == 5, "\(audit)")

        await group.triggerGracefulShutdown()
        try await running.value
    }
}
