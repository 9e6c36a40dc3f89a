// The web console: programme progress from the console's own read model, the roles' queues,
// and dead-letter handling through the same replay engine and audit log as `kaltim-admin`.
//
// Access: accounts with PBKDF2 password hashes (or a trusted reverse proxy's identity header),
// roles viewer < operator < admin, in-memory sessions behind an HttpOnly SameSite=Strict cookie,
// a CSRF token on every state-changing form, and security headers on every response.
public import AMQP
public import Admin
import ContractKit
import Contracts
import Foundation
import HTTPTypes
public import Hummingbird
public import Jobs
public import Logging
import NIOCore
public import Programme
import Topology

/// How the console runs.
public struct ConsoleConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var accounts: ConsoleAccounts
    /// When set, a reverse proxy in front of the console authenticates users and names them in
    /// this header; the accounts file then only gives their roles. Only for a console that
    /// nothing but the proxy can reach.
    public var trustedIdentityHeader: String?
    /// Cookies marked `Secure` and a `Strict-Transport-Security` header (behind HTTPS).
    public var secureCookies = false
    public var auditLog: AuditLog
    public var topologyPrefix = ""
    public var catalogue: ProgrammeCatalogue
    /// The broker with an admin's credentials (dead letters); nil disables those pages.
    public var adminBroker: AMQPConfiguration?
    public var management: ManagementAPI?
    /// Seconds a canary replay is watched before the rest follows.
    public var canaryWait: Duration = .seconds(10)

    public init(accounts: ConsoleAccounts, auditLog: AuditLog, catalogue: ProgrammeCatalogue) {
        self.accounts = accounts
        self.auditLog = auditLog
        self.catalogue = catalogue
    }
}

/// The console's HTTP side.
public struct ConsoleServer: Sendable {
    let configuration: ConsoleConfiguration
    let store: any MessageStore
    let sessions = SessionStore()
    let signIns = SignInGate()
    let desk: DeadLetterDesk
    let logger: Logger
    /// The roles whose queues and dead letters the console shows.
    let roles: [WorkerRole] = WorkerRole.all + [.console]

    public init(configuration: ConsoleConfiguration, store: any MessageStore, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        desk = DeadLetterDesk(configuration: configuration.adminBroker, prefix: configuration.topologyPrefix, logger: logger)
    }

    static let sessionCookie = "kaltim_session"
    static let loginCookie = "kaltim_login"

    /// The Hummingbird application (a service: run it in a `ServiceGroup`).
    public func application(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: SecurityHeaders(secure: configuration.secureCookies))
        router.get("/static/console.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=300"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: Assets.css)))
        }
        router.get("/health") { _, _ in Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n"))) }
        router.get("/login") { _, _ in loginPage(error: nil) }
        router.post("/login") { request, _ in try await login(request) }
        router.post("/logout") { request, _ in try await logout(request) }
        router.get("/") { request, _ in try await guarded(request, .viewer) { session in try await progressPage(session) } }
        router.get("/progress.json") { request, _ in
            try await guarded(request, .viewer) { _ in
                let report = try await ProgressReport.read(from: store, catalogue: configuration.catalogue)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                encoder.dateEncodingStrategy = .iso8601
                return Response(
                    status: .ok, headers: [.contentType: "application/json"],
                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(report))))
            }
        }
        router.get("/queues") { request, _ in try await guarded(request, .viewer) { session in try await queuesPage(session) } }
        router.get("/dead-letters") { request, _ in
            try await guarded(request, .viewer) { session in try await deadLettersPage(session, request: request) }
        }
        router.get("/dead-letters/message") { request, _ in
            try await guarded(request, .viewer) { session in
                try await deadLetterPage(session, id: String(request.uri.queryParameters["id"] ?? ""), reveal: false)
            }
        }
        router.post("/dead-letters/reveal") { request, _ in
            try await guardedForm(request, .admin) { session, form in
                try await deadLetterPage(session, id: form.first("id") ?? "", reveal: true)
            }
        }
        router.post("/dead-letters/replay") { request, _ in
            try await guardedForm(request, .operator) { session, form in try await replay(session, form) }
        }
        router.post("/dead-letters/purge") { request, _ in
            try await guardedForm(request, .admin) { session, form in try await purge(session, form) }
        }
        router.get("/audit") { request, _ in try await guarded(request, .viewer) { session in try auditPage(session) } }

        var httpLogger = logger
        httpLogger.logLevel = max(logger.logLevel, .warning)
        let host = configuration.host
        let port = configuration.port
        let logger = logger
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                logger.info("console listening", metadata: ["listen": "\(host):\(bound)"])
                await onServerRunning(bound)
            },
            logger: httpLogger)
    }

    // MARK: Access

    /// The signed-in user of `request`, if any.
    func session(of request: Request) -> ConsoleSession? {
        if let header = configuration.trustedIdentityHeader {
            guard let name = HTTPField.Name(header).flatMap({ request.headers[$0] }), !name.isEmpty,
                let user = configuration.accounts.users[name]
            else { return nil }
            // One session per proxy identity, kept in the cookie for its CSRF token.
            if let id = request.cookies[Self.sessionCookie]?.value, let session = sessions.find(id), session.user == name {
                return session
            }
            return sessions.create(user: user.name, role: user.role)
        }
        guard let id = request.cookies[Self.sessionCookie]?.value else { return nil }
        return sessions.find(id)
    }

    /// Runs `body` for a user of at least `role`; otherwise the login page or a refusal.
    func guarded(_ request: Request, _ role: ConsoleRole, _ body: (ConsoleSession) async throws -> Response) async throws
        -> Response
    {
        guard let session = session(of: request) else {
            if configuration.trustedIdentityHeader != nil {
                return html(
                    Page.frame(title: "Not allowed", session: nil, body: Page.message("Unknown user.", kind: "error")), .forbidden
                )
            }
            return Response(status: .seeOther, headers: [.location: "/login"])
        }
        guard session.role >= role else { return refusal(session, needs: role) }
        var response = try await body(session)
        if configuration.trustedIdentityHeader != nil { response.setCookie(cookie(Self.sessionCookie, session.id)) }
        return response
    }

    /// As ``guarded(_:_:_:)`` for a form POST: the CSRF token must be the session's.
    func guardedForm(
        _ request: Request, _ role: ConsoleRole, _ body: (ConsoleSession, Form) async throws -> Response
    ) async throws -> Response {
        let form = try await Form(request)
        return try await guarded(request, role) { session in
            guard let token = form.first("csrf"), constantTimeEquals(token, session.csrfToken) else {
                return html(
                    Page.frame(
                        title: "Refused", session: session,
                        body: Page.message(
                            "The form was stale or forged (CSRF token missing or wrong). Reload and try again.", kind: "error")),
                    .forbidden)
            }
            return try await body(session, form)
        }
    }

    func refusal(_ session: ConsoleSession, needs role: ConsoleRole) -> Response {
        logger.notice("console: refused", metadata: ["user": "\(session.user)", "needs": "\(role.rawValue)"])
        return html(
            Page.frame(
                title: "Not allowed", session: session,
                body: Page.message("This needs the \(role.rawValue) role; you are \(session.role.rawValue).", kind: "error")),
            .forbidden)
    }

    func loginPage(error: String?, status: HTTPResponse.Status = .ok) -> Response {
        if configuration.trustedIdentityHeader != nil { return Response(status: .seeOther, headers: [.location: "/"]) }
        let nonce = randomToken()
        var response = html(
            Page.frame(
                title: "Sign in", session: nil,
                body: (error.map { Page.message($0, kind: "error") } ?? "") + """
                    <form method="post" action="/login" class="login">
                    <input type="hidden" name="csrf" value="\(nonce)">
                    <label for="username">User</label><input id="username" name="username" autocomplete="username" required>
                    <label for="password">Password</label>
                    <input id="password" name="password" type="password" autocomplete="current-password" required>
                    <p><button type="submit" id="sign-in">Sign in</button></p></form>
                    """), status)
        response.setCookie(cookie(Self.loginCookie, nonce))
        return response
    }

    func login(_ request: Request) async throws -> Response {
        let form = try await Form(request)
        // Login CSRF: the form's token must match the cookie set with the form.
        guard let nonce = request.cookies[Self.loginCookie]?.value, let token = form.first("csrf"),
            constantTimeEquals(nonce, token)
        else { return loginPage(error: "The sign-in form was stale; try again.", status: .forbidden) }
        let name = form.first("username") ?? ""
        guard !signIns.isLockedOut(name) else {
            return loginPage(
                error: "Too many failed sign-ins for this user; wait a minute.", status: .tooManyRequests)
        }
        let user = await signIns.authenticate(name: name, password: form.first("password") ?? "", with: configuration.accounts)
        guard let user else {
            // Not the typed name: it is often a password typed into the wrong field.
            logger.notice("console: failed sign-in", metadata: ["known_user": "\(configuration.accounts.users[name] != nil)"])
            return loginPage(error: "Wrong user or password.", status: .unauthorized)
        }
        let session = sessions.create(user: user.name, role: user.role)
        logger.info("console: signed in", metadata: ["user": "\(user.name)", "role": "\(user.role.rawValue)"])
        var response = Response(status: .seeOther, headers: [.location: "/"])
        response.setCookie(cookie(Self.sessionCookie, session.id))
        response.setCookie(cookie(Self.loginCookie, "", maxAge: 0))
        return response
    }

    func logout(_ request: Request) async throws -> Response {
        try await guardedForm(request, .viewer) { session, _ in
            sessions.remove(session.id)
            var response = Response(status: .seeOther, headers: [.location: "/login"])
            response.setCookie(cookie(Self.sessionCookie, "", maxAge: 0))
            return response
        }
    }

    func cookie(_ name: String, _ value: String, maxAge: Int? = nil) -> Cookie {
        Cookie(
            name: name, value: value, maxAge: maxAge, path: "/", secure: configuration.secureCookies, httpOnly: true,
            sameSite: .strict)
    }

    func html(_ text: String, _ status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    func csrfField(_ session: ConsoleSession) -> String {
        "<input type=\"hidden\" name=\"csrf\" value=\"\(h(session.csrfToken))\">"
    }

    // MARK: Progress

    func progressPage(_ session: ConsoleSession) async throws -> Response {
        let report = try await ProgressReport.read(from: store, catalogue: configuration.catalogue)
        var body = "<div class=\"cards\">"
        for stage in report.funnel {
            body += "<div class=\"card\" id=\"count-\(stage.key)\"><span>\(h(stage.label))</span><b>\(stage.count)</b></div>"
        }
        body += """
            <div class="card" id="count-rejected"><span>Rejected</span><b>\(report.rejected)</b></div>
            <div class="card" id="count-waitlisted"><span>Waiting list</span><b>\(report.waitlisted)</b></div></div>
            <h2>Funnel</h2>\(Chart.funnel(report.funnel))
            <h2>Per BLKI: certified against the 2025 target</h2>
            \(Chart.targets(report.centres, id: "centre-chart", acceptedLabel: "accepted", doneLabel: "certified"))
            <h2>Apprenticeships placed against the \(report.apprenticeships.target) places</h2>
            \(Chart.targets([report.apprenticeships], id: "apprenticeship-chart", acceptedLabel: "accepted", doneLabel: "placed"))
            <h2>Per sector (KBLI): certified against the planned seats</h2>
            \(Chart.targets(report.sectors, id: "sector-chart", acceptedLabel: "accepted", doneLabel: "certified"))
            <h2>Table</h2><table id="targets"><tr><th>Group</th><th>Accepted</th><th>Certified / placed</th><th>Target</th></tr>
            """
        for line in report.centres + [report.apprenticeships] + report.sectors {
            body += """
                <tr><td>\(h(line.label))</td><td class="number">\(line.accepted)</td>\
                <td class="number">\(line.certified)</td><td class="number">\(line.target)</td></tr>
                """
        }
        body += """
            </table><p class="muted">From the console's own read model (queue \(h(RoleTopology(role: .console, prefix: configuration.topologyPrefix).queue))); \
            refreshed every 5 s. Certified = a competency certificate, not revoked; notified = told after it.</p>
            """
        return html(Page.frame(title: "Programme progress", session: session, active: "progress", refreshSeconds: 5, body: body))
    }

    // MARK: Queues

    func queuesPage(_ session: ConsoleSession) async throws -> Response {
        let rows: [QueueStatusRow]
        do {
            rows = try await desk.status(roles: roles, management: configuration.management)
        } catch {
            return html(
                Page.frame(
                    title: "Queues", session: session, active: "queues",
                    body: Page.message("The broker cannot be read: \(error)", kind: "error")))
        }
        func rate(_ value: Double?) -> String { value.map { String(format: "%.1f", $0) } ?? "–" }
        var body = """
            <table id="queues"><tr><th>Role</th><th>Queue</th><th>Ready</th><th>Unacked</th><th>Consumers</th>\
            <th>In/s</th><th>Ack/s</th><th>Retry tiers</th><th>Dead letters</th><th>Oldest dead letter</th></tr>
            """
        for row in rows {
            let tiers = row.retryTiers.map { (name: $0.key.replacingOccurrences(of: "retry.", with: ""), depth: $0.value) }
                .sorted { Self.delaySeconds($0.name) < Self.delaySeconds($1.name) }
                .map { "\($0.name): \($0.depth)" }.joined(separator: " · ")
            body += """
                <tr data-role="\(h(row.role))"><td>\(h(row.role))</td><td>\(h(row.queue))</td>\
                <td class="number">\(row.ready)</td><td class="number">\(row.unacknowledged.map(String.init) ?? "–")</td>\
                <td class="number">\(row.consumers)</td><td class="number">\(rate(row.publishRate))</td>\
                <td class="number">\(rate(row.ackRate))</td><td class="tiers">\(h(tiers))</td>\
                <td class="number dead">\(row.deadLetters)</td>\
                <td>\(row.oldestDeadLetterAgeSeconds.map { Self.age($0) } ?? "–")</td></tr>
                """
        }
        body += """
            </table><p class="muted">Depths from the broker; unacked and rates from the management API\
            \(configuration.management == nil ? " (not configured)" : ""). The oldest unprocessed message of a role \
            queue is the workers' gauge jobs_oldest_unprocessed_age_seconds.</p>
            """
        return html(Page.frame(title: "Queues", session: session, active: "queues", refreshSeconds: 5, body: body))
    }

    /// `5s`, `30s`, `5m`, `2h` → seconds, to order the retry tiers.
    static func delaySeconds(_ text: String) -> Double {
        let number = Double(text.prefix { $0.isNumber || $0 == "." }) ?? 0
        switch text.last {
        case "m": return number * 60
        case "h": return number * 3600
        default: return number
        }
    }

    static func age(_ seconds: Double) -> String {
        switch seconds {
        case ..<90: String(format: "%.0f s", seconds)
        case ..<5400: String(format: "%.0f min", seconds / 60)
        case ..<172_800: String(format: "%.1f h", seconds / 3600)
        default: String(format: "%.1f d", seconds / 86400)
        }
    }

    // MARK: Dead letters

    func deadLettersPage(_ session: ConsoleSession, request: Request) async throws -> Response {
        let grouping = DeadLetterGrouping(rawValue: String(request.uri.queryParameters["group"] ?? "")) ?? .fingerprint
        let letters: [DeadLetterSummary]
        do {
            letters = try await desk.list(roles: roles)
        } catch {
            return html(
                Page.frame(
                    title: "Dead letters", session: session, active: "dead-letters",
                    body: Page.message("\(error)", kind: "error")))
        }
        let mayReplay = session.role >= .operator
        let disabled = mayReplay ? "" : " disabled title=\"needs the operator role\""
        var body = "<p>Group by: "
        for option in DeadLetterGrouping.allCases {
            body +=
                option == grouping
                ? "<b>\(option.label)</b> " : "<a href=\"/dead-letters?group=\(option.rawValue)\">\(option.label)</a> "
        }
        body += "</p>"
        if letters.isEmpty { body += Page.message("No dead letters.", kind: "ok") }
        let groups = Dictionary(grouping: letters) { grouping.key(of: $0) }.sorted { $0.value.count > $1.value.count }
        body += """
            <h2>Groups</h2><table id="groups"><tr><th>\(grouping.label)</th><th>Messages</th><th>Roles</th>\
            <th>Example failure</th><th>Last failure</th><th></th></tr>
            """
        for (key, members) in groups {
            let last = members.compactMap(\.lastFailure).max()
            body += """
                <tr class="group"><td><code>\(h(key))</code></td><td class="number">\(members.count)</td>\
                <td>\(h(Set(members.map(\.role)).sorted().joined(separator: ", ")))</td>\
                <td>\(h(members[0].failureText))</td><td>\(h(last?.formatted(.iso8601) ?? "–"))</td><td>\
                <form method="post" action="/dead-letters/replay" class="inline">\(csrfField(session))\
                \(grouping.hiddenFields(of: members[0]))\
                <button name="action" value="dry-run"\(disabled)>Dry run</button> \
                <button name="action" value="replay"\(disabled)>Replay group</button></form></td></tr>
                """
        }
        body += """
            </table><h2>Messages</h2>
            <form method="post" action="/dead-letters/replay" id="selection">\(csrfField(session))
            <table id="letters"><tr><th></th><th>Message</th><th>Role</th><th>Code</th><th>Contract</th>\
            <th>Attempts</th><th>Last failure</th><th>Replays</th></tr>
            """
        for letter in letters {
            body += """
                <tr class="letter" data-message-id="\(h(letter.messageID))">\
                <td><input type="checkbox" name="id" value="\(h(letter.messageID))" aria-label="select \(h(letter.messageID))"></td>\
                <td><a href="/dead-letters/message?id=\(q(letter.messageID))">\(h(letter.messageID))</a></td>\
                <td>\(h(letter.role))</td><td><code>\(h(letter.code))</code></td>\
                <td>\(h(letter.contractType ?? "?")) v\(letter.contractVersion.map(String.init) ?? "?")</td>\
                <td class="number">\(letter.attempts)</td><td>\(h(letter.lastFailure?.formatted(.iso8601) ?? "–"))</td>\
                <td class="number">\(letter.replayCount)</td></tr>
                """
        }
        body += """
            </table><fieldset><legend>Selected messages</legend>
            <label>Canary: replay first <input type="number" name="canary" value="0" min="0" max="1000" id="canary"> \
            and stop if any comes back</label>
            <button name="action" value="dry-run" id="dry-run-selected"\(disabled)>Dry run</button>
            <button name="action" value="replay" id="replay-selected"\(disabled)>Replay selected</button></fieldset></form>
            """
        if session.role >= .admin {
            body += "<h2>Purge</h2><form method=\"post\" action=\"/dead-letters/purge\" id=\"purge\">\(csrfField(session))"
            body += "<label>Role <select name=\"role\">"
            for role in roles { body += "<option value=\"\(h(role.name))\">\(h(role.name))</option>" }
            body += """
                </select></label> <label>Type the dead-letter queue's name to confirm \
                <input name="confirm" autocomplete="off"></label> <button type="submit">Purge</button></form>
                """
        }
        return html(Page.frame(title: "Dead letters", session: session, active: "dead-letters", body: body))
    }

    func deadLetterPage(_ session: ConsoleSession, id: String, reveal: Bool) async throws -> Response {
        guard let letter = try await desk.find(messageID: id, roles: roles, reveal: reveal) else {
            return html(
                Page.frame(
                    title: "Dead letter", session: session, active: "dead-letters",
                    body: Page.message("No dead letter with message id \(id) (replayed or purged?).", kind: "error")),
                .notFound)
        }
        if reveal {
            try configuration.auditLog.append(
                AuditLog.Entry(
                    who: who(session), action: "reveal", target: letter.queue, count: 1,
                    details: ["message_id": letter.messageID, "via": "console"]))
        }
        let fields: [(String, String)] = [
            ("Message id", letter.messageID), ("Queue", letter.queue), ("Role", letter.role), ("Code", letter.code),
            ("Kind", letter.kind), ("Fingerprint", letter.fingerprint),
            ("Contract", "\(letter.contractType ?? "?") v\(letter.contractVersion.map(String.init) ?? "?")"),
            ("Attempts", "\(letter.attempts)"), ("First failure", letter.firstFailure?.formatted(.iso8601) ?? "–"),
            ("Last failure", letter.lastFailure?.formatted(.iso8601) ?? "–"),
            ("Failed in", letter.originalQueue ?? letter.originalRoutingKey ?? "–"), ("Replays", "\(letter.replayCount)"),
            ("Failure", letter.failureText),
        ]
        var body = "<table id=\"record\">"
        for (name, value) in fields { body += "<tr><th>\(h(name))</th><td>\(h(value))</td></tr>" }
        body += """
            </table><h2>Body \(reveal ? "(personal data revealed; audited)" : "(personal data masked)")</h2>
            <pre id="body">\(h(letter.body))</pre>
            <form method="post" action="/dead-letters/replay" class="inline">\(csrfField(session))\
            <input type="hidden" name="id" value="\(h(letter.messageID))">\
            <button name="action" value="dry-run"\(session.role >= .operator ? "" : " disabled")>Dry run</button> \
            <button name="action" value="replay" id="replay-one"\(session.role >= .operator ? "" : " disabled")>Replay</button></form>
            """
        if session.role >= .admin && !reveal {
            body += """
                 <form method="post" action="/dead-letters/reveal" class="inline">\(csrfField(session))\
                <input type="hidden" name="id" value="\(h(letter.messageID))">\
                <button type="submit" id="reveal">Reveal personal data (audited)</button></form>
                """
        }
        return html(Page.frame(title: "Dead letter", session: session, active: "dead-letters", body: body))
    }

    func replay(_ session: ConsoleSession, _ form: Form) async throws -> Response {
        var filter = DeadLetterFilter()
        filter.messageIDs = Set(form.all("id"))
        filter.fingerprints = Set(form.all("fingerprint"))
        filter.codes = Set(form.all("code"))
        if let type = form.first("type"), !type.isEmpty { filter.contractType = type }
        if let version = form.first("version"), !version.isEmpty {
            guard let number = Int(version), number > 0 else {
                return html(
                    Page.frame(
                        title: "Replay", session: session, active: "dead-letters",
                        body: Page.message("The contract version must be a positive number.", kind: "error")), .badRequest)
            }
            filter.contractVersion = number
        }
        let dryRun = form.first("action") != "replay"
        let canary = max(0, min(1000, Int(form.first("canary") ?? "0") ?? 0))
        guard !(filter.messageIDs.isEmpty && filter.fingerprints.isEmpty && filter.codes.isEmpty && filter.contractType == nil)
        else {
            return html(
                Page.frame(
                    title: "Replay", session: session, active: "dead-letters",
                    body: Page.message("Select messages or a group first.", kind: "error")), .badRequest)
        }
        let report = try await desk.replay(
            roles: roles, filter: filter, canary: canary, canaryWait: configuration.canaryWait, dryRun: dryRun,
            by: who(session))
        try configuration.auditLog.append(
            AuditLog.Entry(
                who: who(session), action: dryRun ? "replay-dry-run" : "replay",
                target: roles.map(\.name).joined(separator: ","), filter: filter.description,
                count: dryRun ? report.selected : report.replayed,
                details: [
                    "replay_id": report.replayID, "selected": "\(report.selected)", "failed": "\(report.failed)",
                    "canaries_failed": "\(report.canariesFailed)", "via": "console",
                ]))
        var body: String
        if dryRun {
            body = Page.message("Dry run: \(report.selected) dead letter(s) would be replayed. Nothing was moved.")
            body += "<table id=\"dry-run\"><tr><th>Message</th><th>Role</th><th>Code</th><th>Back to</th></tr>"
            for letter in report.letters {
                body += """
                    <tr><td>\(h(letter.messageID))</td><td>\(h(letter.role))</td><td>\(h(letter.code))</td>\
                    <td>\(h(letter.originalQueue ?? letter.originalRoutingKey ?? "–"))</td></tr>
                    """
            }
            body += "</table>"
            if report.selected > 0 {
                // The confirmation replays exactly what was previewed (by message id), not the
                // filter again (which could take letters that arrived since).
                body += "<form method=\"post\" action=\"/dead-letters/replay\">\(csrfField(session))"
                for id in Set(report.letters.map(\.messageID)).sorted() {
                    body += "<input type=\"hidden\" name=\"id\" value=\"\(h(id))\">"
                }
                body += "<input type=\"hidden\" name=\"canary\" value=\"\(canary)\">"
                body +=
                    "<button name=\"action\" value=\"replay\" id=\"confirm-replay\">Replay these \(report.selected)</button></form>"
            }
        } else if report.stoppedAfterCanary {
            body = Page.message(
                "Stopped: \(report.canariesFailed) canary message(s) came back to the dead letters; \(report.replayed) replayed, the rest left in place.",
                kind: "error")
        } else {
            body = Page.message(
                "Replay \(report.replayID): \(report.replayed) of \(report.selected) replayed, \(report.failed) left in the dead letters.",
                kind: report.failed == 0 ? "ok" : "error")
        }
        body += "<p><a href=\"/dead-letters\">Back to the dead letters</a> · <a href=\"/audit\">Audit log</a></p>"
        return html(
            Page.frame(title: dryRun ? "Replay: dry run" : "Replay", session: session, active: "dead-letters", body: body))
    }

    func purge(_ session: ConsoleSession, _ form: Form) async throws -> Response {
        guard let name = form.first("role"), let role = roles.first(where: { $0.name == name }) else {
            return html(
                Page.frame(title: "Purge", session: session, body: Page.message("Unknown role.", kind: "error")), .badRequest)
        }
        let queue = RoleTopology(role: role, prefix: configuration.topologyPrefix).deadLetterQueue
        guard form.first("confirm") == queue else {
            return html(
                Page.frame(
                    title: "Purge", session: session, active: "dead-letters",
                    body: Page.message("Not purged: type \(queue) to confirm.", kind: "error")), .badRequest)
        }
        let purged = try await desk.purge(queue)
        try configuration.auditLog.append(
            AuditLog.Entry(who: who(session), action: "purge", target: queue, count: purged, details: ["via": "console"]))
        return html(
            Page.frame(
                title: "Purge", session: session, active: "dead-letters",
                body: Page.message("Purged \(purged) dead letter(s) from \(queue).", kind: "ok")))
    }

    func who(_ session: ConsoleSession) -> String { "\(session.user) (console)" }

    // MARK: Audit

    func auditPage(_ session: ConsoleSession) throws -> Response {
        let entries = (try? configuration.auditLog.entries()) ?? []
        var body = """
            <table id="audit"><tr><th>When</th><th>Who</th><th>Action</th><th>Target</th><th>Filter</th>\
            <th>Count</th><th>Details</th></tr>
            """
        for entry in entries.reversed().prefix(500) {
            let details = entry.details.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            body += """
                <tr class="entry"><td>\(h(entry.at))</td><td>\(h(entry.who))</td><td>\(h(entry.action))</td>\
                <td>\(h(entry.target))</td><td>\(h(entry.filter ?? ""))</td><td class="number">\(entry.count)</td>\
                <td>\(h(details))</td></tr>
                """
        }
        body += "</table><p class=\"muted\">\(h(configuration.auditLog.path)) — shared with kaltim-admin; newest first.</p>"
        return html(Page.frame(title: "Audit log", session: session, active: "audit", body: body))
    }
}

/// How the dead-letter page groups.
enum DeadLetterGrouping: String, CaseIterable {
    case fingerprint, code, type

    var label: String {
        switch self {
        case .fingerprint: "Fingerprint"
        case .code: "Error code"
        case .type: "Contract type and version"
        }
    }

    /// The replay form's fields that select a group of this kind (a letter of the group given).
    func hiddenFields(of letter: DeadLetterSummary) -> String {
        func field(_ name: String, _ value: String) -> String {
            "<input type=\"hidden\" name=\"\(name)\" value=\"\(h(value))\">"
        }
        switch self {
        case .fingerprint: return field("fingerprint", letter.fingerprint)
        case .code: return field("code", letter.code)
        case .type:
            // A letter whose contract could not be read has no type: select those by message id.
            guard let type = letter.contractType else { return field("id", letter.messageID) }
            return field("type", type) + (letter.contractVersion.map { field("version", String($0)) } ?? "")
        }
    }

    func key(of letter: DeadLetterSummary) -> String {
        switch self {
        case .fingerprint: letter.fingerprint
        case .code: letter.code
        case .type: "\(letter.contractType ?? "?") v\(letter.contractVersion.map(String.init) ?? "?")"
        }
    }
}

/// Security headers on every response.
struct SecurityHeaders<Context: RequestContext>: RouterMiddleware {
    let secure: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var response = try await next(request, context)
        response.headers[.contentSecurityPolicy] =
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        if secure { response.headers[.strictTransportSecurity] = "max-age=31536000" }
        return response
    }
}

/// An `application/x-www-form-urlencoded` body (at most 64 KiB).
struct Form: Sendable {
    let fields: [String: [String]]

    init(_ request: Request) async throws {
        let buffer = try await request.body.collect(upTo: 64 * 1024)
        self.init(String(buffer: buffer))
    }

    init(_ text: String) {
        var fields: [String: [String]] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String {
                String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            fields[decode(parts[0]), default: []].append(parts.count > 1 ? decode(parts[1]) : "")
        }
        self.fields = fields
    }

    func first(_ name: String) -> String? { fields[name]?.first }
    func all(_ name: String) -> [String] { (fields[name] ?? []).filter { !$0.isEmpty } }
}
