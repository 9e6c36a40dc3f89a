// Signing in and out, sessions, the role each page needs, the CSRF check of every form.
import Admin
import ClientAddress
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

extension ConsoleServer {
    // MARK: Access

    /// The signed-in user of `request`, if any. A page's automatic refresh (`auto-refresh=1`
    /// in its address) does not count as the user's activity.
    func session(of request: Request) -> ConsoleSession? {
        let touch = !(request.method == .get && request.uri.queryParameters["auto-refresh"] == "1")
        if let header = configuration.trustedIdentityHeader {
            guard let name = HTTPField.Name(header).flatMap({ request.headers[$0] }), !name.isEmpty,
                let user = configuration.accounts.users[name]
            else { return nil }
            // One session per proxy identity, kept in the cookie for its CSRF token.
            if let id = request.cookies[Self.sessionCookie]?.value, let session = sessions.find(id, touch: touch),
                session.user == name
            {
                return session
            }
            return sessions.create(user)
        }
        guard let id = request.cookies[Self.sessionCookie]?.value else { return nil }
        return sessions.find(id, touch: touch)
    }

    /// Runs `body` for a user whose role allows `permission`; otherwise the login page or a refusal.
    func guarded(
        _ request: Request, _ permission: ConsolePermission, _ body: (ConsoleSession) async throws -> Response
    ) async throws
        -> Response
    {
        // Behind a proxy that names the user, the proxy's own sign-in rides along with a request
        // another site makes (a link, an image, a form): a request the browser says another site
        // made (Sec-Fetch-Site) gets the overview, not a page that looks someone up, exports or
        // writes the audit log in the user's name. A browser that says nothing, and a link
        // opened from outside the browser (`none`), are served (docs/OPERATIONS.md). The
        // console's own cookies are SameSite=Strict and never ride along: without a proxy there
        // is nothing to refuse.
        let foreign = request.headers[Self.fetchSite].map { $0 != "same-origin" && $0 != "none" } ?? false
        if configuration.trustedIdentityHeader != nil, foreign, request.uri.path != "/" {
            return Response(status: .seeOther, headers: [.location: "/"])
        }
        guard let session = session(of: request) else {
            if configuration.trustedIdentityHeader != nil {
                return html(
                    Page.frame(
                        title: "Tidak diizinkan", session: nil, body: Page.message("Pengguna tidak dikenal.", kind: "error")),
                    .forbidden)
            }
            return Response(status: .seeOther, headers: [.location: "/login"])
        }
        guard session.role.allows(permission) else { return refusal(session, needs: permission) }
        var response = try await body(session)
        // Not for another site's request: its session would replace the user's own in the browser.
        if configuration.trustedIdentityHeader != nil, !foreign {
            response.setCookie(cookie(Self.sessionCookie, session.id))
        }
        return response
    }

    /// As ``guarded(_:_:_:)`` for a form POST: the CSRF token must be the session's.
    func guardedForm(
        _ request: Request, _ permission: ConsolePermission, _ body: (ConsoleSession, Form) async throws -> Response
    ) async throws -> Response {
        let form = try await Form(request)
        return try await guarded(request, permission) { session in
            guard let token = form.first("csrf"), constantTimeEquals(token, session.csrfToken) else {
                return html(
                    Page.frame(
                        title: "Ditolak", session: session,
                        body: Page.message(
                            "Formulir ini kedaluwarsa atau palsu (token CSRF tidak ada atau salah). Muat ulang halaman lalu coba lagi.",
                            kind: "error")),
                    .forbidden)
            }
            return try await body(session, form)
        }
    }

    func refusal(_ session: ConsoleSession, needs permission: ConsolePermission) -> Response {
        logger.notice("console: refused", metadata: ["user": "\(session.user)", "needs": "\(permission.rawValue)"])
        let labels = ConsoleRole.allCases.filter { $0.allows(permission) }.map(\.label)
        let roles =
            labels.count > 2
            ? labels.dropLast().joined(separator: ", ") + ", atau " + labels[labels.count - 1]
            : labels.joined(separator: " atau ")
        return html(
            Page.frame(
                title: "Tidak diizinkan", session: session,
                body: Page.message(
                    "Ini memerlukan peran \(roles); Anda masuk sebagai \(session.role.label).", kind: "error")),
            .forbidden)
    }

    func loginPage(error: String?, status: HTTPResponse.Status = .ok) -> Response {
        if configuration.trustedIdentityHeader != nil { return Response(status: .seeOther, headers: [.location: "/"]) }
        let nonce = randomToken()
        var response = html(
            Page.frame(
                title: "Masuk", session: nil,
                body: (error.map { Page.message($0, kind: "error") } ?? "") + """
                    <form method="post" action="/login" class="login">
                    <input type="hidden" name="csrf" value="\(nonce)">
                    <label for="username">Nama pengguna</label>\
                    <input id="username" name="username" autocomplete="username" required>
                    <label for="password">Kata sandi</label>
                    <input id="password" name="password" type="password" autocomplete="current-password" required>
                    <p><button type="submit" id="sign-in">Masuk</button></p></form>
                    """), status)
        response.setCookie(cookie(Self.loginCookie, nonce))
        return response
    }

    /// The client of a request, for the sign-in's limits per client (``ClientAddress``): the
    /// reverse proxy's header when ``ConsoleConfiguration/clientAddressHeader`` names one, the
    /// peer with ``ConsoleConfiguration/limitSignInsPerPeer``; nil (no limit per client)
    /// otherwise.
    func client(_ request: Request, _ context: ConsoleRequestContext) -> String? {
        if let header = configuration.clientAddressHeader.flatMap({ HTTPField.Name($0) }) {
            return ClientAddress.key(peer: context.remoteAddress?.ipAddress, forwarded: request.headers[header])
        }
        return configuration.limitSignInsPerPeer ? ClientAddress.key(peer: context.remoteAddress?.ipAddress, forwarded: nil) : nil
    }

    func login(_ request: Request, _ context: ConsoleRequestContext) async throws -> Response {
        let form = try await Form(request)
        // Login CSRF: the form's token must match the cookie set with the form.
        guard let nonce = request.cookies[Self.loginCookie]?.value, let token = form.first("csrf"),
            constantTimeEquals(nonce, token)
        else { return loginPage(error: "Formulir masuk sudah kedaluwarsa; coba lagi.", status: .forbidden) }
        let name = form.first("username") ?? ""
        // A bounded number of password checks at once, whoever asks: the rest are refused now,
        // not queued behind a flood of sign-ins under made-up names.
        let client = client(request, context)
        guard signIns.reserveCheck(client: client) else {
            logger.notice("console: sign-in refused, every password check (or this client's share) is taken")
            return loginPage(
                error: "Terlalu banyak permintaan masuk saat ini; coba lagi sebentar lagi.", status: .serviceUnavailable)
        }
        defer { signIns.releaseCheck(client: client) }
        // A browser this user signed in from before: its failures are its own, not the user's.
        let account = configuration.accounts.users[name]?.passwordHash ?? ""
        let device = signIns.device(request.cookies[signIns.deviceCookieName(for: name)]?.value, for: name, account: account)
        guard signIns.begin(name, client: client, device: device) else {
            // Not audited: refused without a password check, as fast as anyone can ask; the
            // failures that locked the account are in the audit log already. A browser's lockout
            // and a user's read alike: telling them apart would tell someone at a shared computer
            // which names have a device cookie there.
            let error =
                if signIns.clientLockedOut(client) {
                    "Terlalu banyak percobaan masuk yang gagal dari alamat ini; tunggu satu menit."
                } else {
                    "Terlalu banyak percobaan masuk yang gagal; tunggu satu menit."
                }
            return loginPage(error: error, status: .tooManyRequests)
        }
        let user = await signIns.authenticate(
            name: name, password: form.first("password") ?? "", with: configuration.accounts, device: device)
        guard let user else {
            // Not the typed name: it is often a password typed into the wrong field.
            logger.notice("console: failed sign-in", metadata: ["known_user": "\(configuration.accounts.users[name] != nil)"])
            if configuration.accounts.users[name] != nil { auditFailedSignIn(name, knownBrowser: device != nil) }
            return loginPage(error: "Nama pengguna atau kata sandi salah.", status: .unauthorized)
        }
        let session = sessions.create(user)
        logger.info("console: signed in", metadata: ["user": "\(user.name)", "role": "\(user.role.rawValue)"])
        var response = Response(status: .seeOther, headers: [.location: "/"])
        response.setCookie(cookie(Self.sessionCookie, session.id))
        response.setCookie(cookie(Self.loginCookie, "", maxAge: 0))
        // A new device cookie at each sign-in: good for 180 days from it.
        response.setCookie(
            cookie(
                signIns.deviceCookieName(for: name), signIns.deviceCookie(for: name, account: account),
                maxAge: Int(SignInGate.deviceCookieLifetime)))
        // Device cookies no account's name is any more (the accounts file changed, which changes
        // every name): removed, so that a shared browser does not pile them up until its
        // requests outgrow a proxy's header limit.
        for stale in Self.cookieNames(in: request).filter({ $0.hasPrefix("kaltim_device_") })
        where !signIns.currentDeviceCookieNames.contains(stale) {
            response.setCookie(cookie(stale, "", maxAge: 0))
        }
        return response
    }

    /// The names of the cookies a request carries (at most 200 of them).
    static func cookieNames(in request: Request) -> [String] {
        request.headers[values: .cookie].flatMap { $0.split(separator: ";") }.prefix(200).map {
            String($0.prefix { $0 != "=" }.trimmingCharacters(in: .whitespaces))
        }
    }

    /// A wrong password for an account, in the audit log, and whether it came from a browser the
    /// user signed in from before (a device cookie). Bounded by the lockouts: at most five per
    /// account and minute, and five per such browser. A typed name that is no account is not
    /// written (it is often a password, and such attempts would be unbounded); the process log
    /// counts them.
    func auditFailedSignIn(_ name: String, knownBrowser: Bool) {
        do {
            try configuration.auditLog.append(
                .init(
                    who: name, action: "console-sign-in-failed", target: "console", count: 1,
                    details: ["reason": "wrong-password", "browser": knownBrowser ? "known" : "new"]))
        } catch {
            logger.error("console: cannot write the audit log", metadata: ["error": "\(error)"])
        }
    }

    func logout(_ request: Request) async throws -> Response {
        try await guardedForm(request, .viewProgress) { session, _ in
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

    /// Post/redirect/get: after a form that changed something, its outcome is kept for the
    /// session and the browser is sent (303) to the page it came from, which shows it once; a
    /// reload of that page sends nothing again.
    func redirect(_ session: ConsoleSession, to path: String, flash: HTML) -> Response {
        sessions.setFlash(session.id, path: path, flash)
        return Response(status: .seeOther, headers: [.location: path])
    }

    /// The page at `path` with the outcome of the form sent to it, shown once (see
    /// ``redirect(_:to:flash:)``); a page that cannot be shown (an error status, or a throw)
    /// leaves the outcome for the next time.
    func page(
        _ session: ConsoleSession, at path: String, _ render: (HTML) async throws -> Response
    ) async throws -> Response {
        let flash = sessions.takeFlash(session.id, path: path)
        do {
            let response = try await render(flash ?? .empty)
            if let flash, response.status != .ok { sessions.setFlash(session.id, path: path, flash) }
            return response
        } catch {
            if let flash { sessions.setFlash(session.id, path: path, flash) }
            throw error
        }
    }

    /// `path?id=value`, the value percent-encoded (all but ASCII letters, digits and `-._~`).
    static func path(_ path: String, id: String) -> String {
        var allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        allowed.insert(charactersIn: "-._~")
        return path + "?id=" + (id.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")
    }

    func html(_ page: HTML, _ status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: page.description)))
    }

    func csrfField(_ session: ConsoleSession) -> HTML {
        "<input type=\"hidden\" name=\"csrf\" value=\"\(session.csrfToken)\">"
    }
}
