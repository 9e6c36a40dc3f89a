import ContractKit
import Crypto
import Dispatch
import Foundation
import Synchronization

/// A signed-in user's session: a random id (the cookie) and a random CSRF token that every
/// state-changing form must carry.
public struct ConsoleSession: Sendable, Equatable {
    public let id: String
    public let user: String
    public let role: ConsoleRole
    /// A BLKI administrator's BLKI.
    public let centre: String?
    /// An LSP coordinator's LSP licence.
    public let lsp: String?
    public let csrfToken: String
    let created: ContinuousClock.Instant
    var lastSeen: ContinuousClock.Instant
    /// What the forms the user sent did, by the page each was sent on to, shown once there
    /// (post/redirect/get: reloading that page sends nothing again). At most a few are kept.
    var flashes: [String: HTML] = [:]
}

/// The sessions of one console process, in memory (a restart signs everyone out). A session
/// ends after `idleTimeout` without a request of its user, and after `lifetime` in any case. A
/// page's own periodic refresh is not the user's request: it does not keep the session alive.
final class SessionStore: Sendable {
    private let sessions = Mutex<[String: ConsoleSession]>([:])
    let idleTimeout: Duration
    let lifetime: Duration
    private let clock: @Sendable () -> ContinuousClock.Instant

    init(
        idleTimeout: Duration = .seconds(30 * 60), lifetime: Duration = .seconds(12 * 3600),
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.idleTimeout = idleTimeout
        self.lifetime = lifetime
        self.clock = clock
    }

    func create(_ user: ConsoleAccounts.User) -> ConsoleSession {
        let now = clock()
        let session = ConsoleSession(
            id: randomToken(), user: user.name, role: user.role, centre: user.centre, lsp: user.lsp, csrfToken: randomToken(),
            created: now,
            lastSeen: now)
        sessions.withLock { sessions in
            sessions = sessions.filter { !isExpired($0.value, now: now) }
            // Bounded per user: behind a proxy that names the user, every request without the
            // console's cookie (a script, a client that drops cookies) makes a session, and
            // they would pile up for the idle timeout. The least recently used one goes.
            let mine = sessions.values.filter { $0.user == user.name }
            if mine.count >= Self.maximumPerUser, let oldest = mine.min(by: { $0.lastSeen < $1.lastSeen }) {
                sessions[oldest.id] = nil
            }
            sessions[session.id] = session
        }
        return session
    }

    /// Sessions one user may hold at once (browsers, tabs after a sign-in elsewhere, scripts).
    static let maximumPerUser = 20

    /// The live session with this id, or nil. `touch`: the user asked (their idle clock
    /// restarts); false for a page's automatic refresh, which leaves it running.
    func find(_ id: String, touch: Bool = true) -> ConsoleSession? {
        let now = clock()
        return sessions.withLock { sessions in
            guard var session = sessions[id] else { return nil }
            guard !isExpired(session, now: now) else {
                sessions[id] = nil
                return nil
            }
            if touch {
                session.lastSeen = now
                sessions[id] = session
            }
            return session
        }
    }

    /// Keeps what a form did for the page at `path` in that session (another form sent to the
    /// same page replaces it; another tab's page does not take it).
    func setFlash(_ id: String, path: String, _ flash: HTML) {
        sessions.withLock { sessions in
            guard sessions[id] != nil else { return }
            if sessions[id]?.flashes.count ?? 0 >= 8, sessions[id]?.flashes[path] == nil {
                sessions[id]?.flashes.removeAll()
            }
            sessions[id]?.flashes[path] = flash
        }
    }

    /// What a form did for the page at `path`, once: the page that shows it takes it.
    func takeFlash(_ id: String, path: String) -> HTML? {
        sessions.withLock { sessions in sessions[id]?.flashes.removeValue(forKey: path) }
    }

    func remove(_ id: String) {
        _ = sessions.withLock { $0.removeValue(forKey: id) }
    }

    private func isExpired(_ session: ConsoleSession, now: ContinuousClock.Instant) -> Bool {
        now - session.lastSeen > idleTimeout || now - session.created > lifetime
    }
}

/// 32 random bytes from the system's generator, as hex.
func randomToken() -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
}

/// Compares two strings in time that does not depend on where they differ.
func constantTimeEquals(_ left: String, _ right: String) -> Bool {
    constantTimeEquals(Array(left.utf8), Array(right.utf8))
}

/// Compares two byte strings in time that does not depend on where they differ.
func constantTimeEquals(_ left: some Collection<UInt8>, _ right: some Collection<UInt8>) -> Bool {
    guard left.count == right.count else { return false }
    var difference: UInt8 = 0
    for (a, b) in zip(left, right) { difference |= a ^ b }
    return difference == 0
}

/// Where passwords are checked: one at a time on a queue of its own (a PBKDF2 check takes a
/// few hundred milliseconds of CPU and must not hold the threads that serve pages and run the
/// read model's worker), and a user with five failures in a row is refused for a minute.
///
/// An attempt counts as a failure from the moment it begins (``begin(_:client:device:)``) until
/// its password proves right: parallel attempts cannot all pass the check before the first
/// failure is recorded, so at most five guesses are ever under way or failed per user and
/// minute, and five more per browser the user signed in from (below).
///
/// At most ``maximumChecks`` checks are under way or waiting at once, and at most
/// ``checksPerClient`` of one client's (``reserveCheck(client:)``): an anonymous client sending
/// sign-ins under ever new names would otherwise queue PBKDF2 work without end, or take every
/// place and keep staff out. A client is also refused for a minute after
/// ``allowedFailuresPerClient`` failures, whatever the names (a guess at many accounts from one
/// address). Past a bound a sign-in is refused at once, without a check. The limits per client
/// apply only where the client is known (``ConsoleConfiguration/clientAddressHeader``,
/// ``ConsoleConfiguration/limitSignInsPerPeer``).
///
/// Anyone who knows a user's name could keep that user locked out by failing five times a
/// minute. A browser the user signed in from is spared that: a right password answers with a
/// device cookie (``deviceCookie(for:account:)``, OWASP's device cookies), and an attempt that
/// brings one for the name typed (``device(_:for:account:)``) counts its failures against that
/// browser, five a minute like a user's, not against the user. A cookie holds the time it was
/// given and is good for ``deviceCookieLifetime``; each sign-in gives a new one. It is signed
/// with the whole name, the account's stored password hash and a key derived from every
/// account's (a restart keeps the cookies; a change to the accounts file, a new password, ends them).
final class SignInGate: Sendable {
    private let queue = DispatchQueue(label: "kaltim-console.sign-in")
    /// Password checks under way or waiting: all of them, and by client.
    private let checks = Mutex<(total: Int, byClient: [String: Int])>((0, [:]))
    /// Password checks under way or waiting, at most.
    static let maximumChecks = 8
    /// One client's password checks under way or waiting, at most.
    static let checksPerClient = 2
    private let failures: FailureLedger
    private let clientFailures: FailureLedger
    /// Failures in a row of the browsers with a device cookie, by the cookie's nonce.
    private let deviceFailures: FailureLedger
    /// What device cookies are signed with (HMAC-SHA-256): derived from the accounts' stored
    /// password hashes (secret, salted), so a restart keeps every cookie and a change to the
    /// accounts file ends them all; drawn at random without accounts.
    private let deviceKey: [UInt8]
    /// The time a device cookie is given and checked at.
    private let now: @Sendable () -> Date
    /// How long a device cookie is good for after the sign-in that gave it.
    static let deviceCookieLifetime: TimeInterval = 180 * 86_400
    static let allowedFailures = 5
    /// Failed sign-ins in a row from one client, under any names, before it waits a minute.
    static let allowedFailuresPerClient = 20
    static let lockout: Duration = .seconds(60)
    static let tableLimit = 10_000
    /// The most UTF-8 bytes of a user name the gate keeps (a longer one is nobody's).
    static let longestName = 200

    /// - Parameters:
    ///   - clock: the time the lockouts are measured on (tests move it).
    ///   - now: the time device cookies are given and checked at.
    ///   - accounts: the accounts the device cookies' key is derived from.
    init(
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
        now: @escaping @Sendable () -> Date = { Date() }, accounts: ConsoleAccounts? = nil
    ) {
        failures = FailureLedger(clock: clock)
        clientFailures = FailureLedger(clock: clock)
        deviceFailures = FailureLedger(clock: clock)
        self.now = now
        if let accounts {
            var material = Data("kaltim-console device cookies".utf8)
            for user in accounts.users.values.sorted(by: { $0.name < $1.name }) {
                material.append(contentsOf: "\u{0}\(user.name.utf8.count):\(user.name)\u{0}\(user.passwordHash)".utf8)
            }
            deviceKey = Array(SHA256.hash(data: material))
        } else {
            deviceKey = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        }
        let key = deviceKey
        currentDeviceCookieNames = Set(accounts?.users.keys.map { Self.cookieName(for: $0, key: key) } ?? [])
    }

    /// The device cookies' names of the accounts the gate was made with.
    let currentDeviceCookieNames: Set<String>

    /// The name of `name`'s device cookie (one per user, so that every officer who signs in on
    /// a shared BLKI computer keeps their own): `kaltim_device_` and 16 hexadecimal digits of
    /// an HMAC of the name with the device key, so that the names of a browser's cookies do not
    /// tell whose they are to someone who can only guess names.
    func deviceCookieName(for name: String) -> String { Self.cookieName(for: name, key: deviceKey) }

    private static func cookieName(for name: String, key: [UInt8]) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Data(("cookie name\u{0}" + name).utf8), using: SymmetricKey(data: key))
        return "kaltim_device_" + Hex.lowercase(Array(code).prefix(8))
    }

    /// A device cookie's value for a browser `name` signed in from, now: a random nonce, the
    /// time (seconds since 1970) and their signature with the name and `account` (the account's
    /// stored password hash), `<32 hexadecimal digits>.<seconds>.<64 hexadecimal digits>`;
    /// neither the name nor the hash is in it.
    func deviceCookie(for name: String, account: String) -> String {
        let nonce = String(randomToken().prefix(32))
        let issued = String(Int(now().timeIntervalSince1970))
        return nonce + "." + issued + "." + signature(nonce, issued, name, account)
    }

    /// The browser a device cookie names (its nonce) when it was given for `name` and `account`
    /// with this key less than ``deviceCookieLifetime`` ago, else nil: any other value, one for
    /// another name or an older password, an expired one, one altered.
    func device(_ cookie: String?, for name: String, account: String) -> String? {
        guard let cookie, cookie.utf8.count <= 32 + 1 + 12 + 1 + 64 else { return nil }
        let parts = cookie.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].utf8.count == 32,
            parts[0].utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }),
            (1...12).contains(parts[1].utf8.count), parts[1].utf8.allSatisfy({ (48...57).contains($0) }),
            let issued = Double(parts[1])
        else { return nil }
        let age = now().timeIntervalSince1970 - issued
        guard age > -300, age < Self.deviceCookieLifetime else { return nil }
        let expected = signature(String(parts[0]), String(parts[1]), name, account)
        return constantTimeEquals(String(parts[2]), expected) ? String(parts[0]) : nil
    }

    /// The signature of `nonce` and `issued` for the user `name` and `account`, hexadecimal:
    /// the whole name, its length first, so that no two names or hashes sign alike.
    private func signature(_ nonce: String, _ issued: String, _ name: String, _ account: String) -> String {
        let message = Data((nonce + "." + issued + ".\(name.utf8.count):" + name + account).utf8)
        return Hex.lowercase(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: deviceKey)))
    }

    /// The name as the gate keys it: at most ``longestName`` bytes.
    static func key(_ name: String) -> String { String(decoding: name.utf8.prefix(longestName), as: UTF8.self) }

    /// Takes a place among the password checks under way or waiting: false when all
    /// ``maximumChecks`` are taken, or ``checksPerClient`` of a known `client`'s. Give it back
    /// with ``releaseCheck(client:)``.
    func reserveCheck(client: String?) -> Bool {
        checks.withLock { checks in
            let mine = client.map { checks.byClient[$0] ?? 0 } ?? 0
            guard checks.total < Self.maximumChecks, mine < Self.checksPerClient else { return false }
            checks.total += 1
            if let client { checks.byClient[client] = mine + 1 }
            return true
        }
    }

    /// Gives back a place ``reserveCheck(client:)`` took.
    func releaseCheck(client: String?) {
        checks.withLock { checks in
            checks.total -= 1
            guard let client else { return }
            let mine = (checks.byClient[client] ?? 1) - 1
            checks.byClient[client] = mine > 0 ? mine : nil
        }
    }

    /// Takes one of the user's attempts, or of the browser's (`device`, from
    /// ``device(_:for:account:)``), and one of a known client's: false when either has none left (an
    /// attempt refused for the user's or the browser's lockout does not count against the client).
    func begin(_ name: String, client: String?, device: String? = nil) -> Bool {
        let client = client.map { String($0.prefix(Self.longestName)) }
        if let client, clientFailures.isLockedOut(client, allowed: Self.allowedFailuresPerClient) { return false }
        if let device {
            guard deviceFailures.begin(device, allowed: Self.allowedFailures) else { return false }
        } else {
            guard failures.begin(Self.key(name), allowed: Self.allowedFailures) else { return false }
        }
        guard let client else { return true }
        return clientFailures.begin(client, allowed: Self.allowedFailuresPerClient)
    }

    /// Whether the browser `device` has used up its failures (for the page's wording).
    func deviceLockedOut(_ device: String) -> Bool { deviceFailures.isLockedOut(device, allowed: Self.allowedFailures) }

    /// Whether `client` has used up its failures (for the page's wording).
    func clientLockedOut(_ client: String?) -> Bool {
        guard let client else { return false }
        return clientFailures.isLockedOut(String(client.prefix(Self.longestName)), allowed: Self.allowedFailuresPerClient)
    }

    /// Checks the password of an attempt ``begin(_:client:device:)`` took; a right one clears the
    /// user's failures, not the client's: someone with an account of their own could otherwise
    /// sign in between guesses at others' and never be counted out. A client's failures are
    /// forgotten a ``lockout`` after its last.
    func authenticate(
        name: String, password: String, with accounts: ConsoleAccounts, device: String? = nil
    ) async -> ConsoleAccounts.User? {
        let user = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: accounts.authenticate(name: name, password: password)) }
        }
        if user != nil {
            if let device { deviceFailures.clear(device) } else { failures.clear(Self.key(name)) }
        }
        return user
    }

    /// Failures in a row by key (a user name, a client), each forgotten a ``SignInGate/lockout``
    /// after the last; at most ``SignInGate/tableLimit`` keys.
    private final class FailureLedger: Sendable {
        private let table = Mutex<[String: (count: Int, last: ContinuousClock.Instant)]>([:])
        private let clock: @Sendable () -> ContinuousClock.Instant

        init(clock: @escaping @Sendable () -> ContinuousClock.Instant) { self.clock = clock }

        /// Counts a failure for `key` unless it has `allowed` already: false, counting nothing.
        func begin(_ key: String, allowed: Int) -> Bool {
            table.withLock { table in
                let now = clock()
                if let record = table[key], now - record.last > SignInGate.lockout { table[key] = nil }
                let count = table[key]?.count ?? 0
                guard count < allowed else { return false }
                // Bounded: past 10,000 keys, those whose lockout has passed are forgotten, then
                // the least recent (keys are kept to 200 bytes: the table stays under a few MB).
                if table.count >= SignInGate.tableLimit {
                    table = table.filter { now - $0.value.last <= SignInGate.lockout }
                    if table.count >= SignInGate.tableLimit {
                        let keep = table.sorted { $0.value.last > $1.value.last }.prefix(SignInGate.tableLimit / 2)
                        table = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
                    }
                }
                table[key] = (count + 1, now)
                return true
            }
        }

        /// Whether `key` has `allowed` failures within the lockout.
        func isLockedOut(_ key: String, allowed: Int) -> Bool {
            table.withLock { table in
                guard let record = table[key] else { return false }
                return clock() - record.last <= SignInGate.lockout && record.count >= allowed
            }
        }

        func clear(_ key: String) { table.withLock { $0[key] = nil } }
    }
}

/// How many times each user did something in the last hour (in this process): a search by
/// name is allowed while the user's count is under the limit. At most 10,000 users are
/// tracked; when full, the oldest are dropped.
final class HourlyAllowance: Sendable {
    private let uses = Mutex<[String: [ContinuousClock.Instant]]>([:])

    /// Counts a use by `user` and says whether it is allowed.
    func allow(_ user: String, perHour limit: Int) -> Bool {
        let now = ContinuousClock.now
        return uses.withLock { uses in
            let recent = (uses[user] ?? []).filter { now - $0 < .seconds(3600) }
            guard recent.count < limit else {
                uses[user] = recent
                return false
            }
            if uses.count >= 10_000, uses[user] == nil {
                let stale = uses.filter { ($0.value.last.map { now - $0 >= .seconds(3600) }) ?? true }.keys
                for key in stale { uses[key] = nil }
                if uses.count >= 10_000, let any = uses.keys.first { uses[any] = nil }
            }
            uses[user] = recent + [now]
            return true
        }
    }
}
