// The web console: programme progress from the console's own read model, the roles' queues,
// and dead-letter handling through the same replay engine and audit log as `kaltim-admin`.
//
// Access: accounts with PBKDF2 password hashes (or a trusted reverse proxy's identity header),
// roles viewer, operator, admin, officer, blki (one BLKI) and lsp (one LSP), each page open to
// the roles whose work it is (`Accounts.swift`), in-memory sessions behind an HttpOnly SameSite=Strict cookie,
// a CSRF token on every state-changing form, and security headers on every response.
public import AMQP
public import Admin
public import ClientAddress
import ContractKit
import Contracts
import Foundation
import HTTPTypes
public import Hummingbird
public import Jobs
public import Logging
import NIOCore
public import Programme
import ReviewDesk
public import SubjectRights
import Topology

/// The console's request context: the peer's address, for the sign-in's limits per client.
public typealias ConsoleRequestContext = PeerRequestContext

/// How the console runs.
public struct ConsoleConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var accounts: ConsoleAccounts
    /// When set, a reverse proxy in front of the console authenticates users and names them in
    /// this header; the accounts file then only gives their roles. Only for a console that
    /// nothing but the proxy can reach.
    public var trustedIdentityHeader: String?
    /// A header a reverse proxy sets to the client's address (e.g. `X-Forwarded-For`), for the
    /// sign-in's limits per client.
    public var clientAddressHeader: String?
    /// The sign-in's limits per client by the peer's address, for a console its users reach
    /// directly. With neither this nor ``clientAddressHeader`` there is no limit per client:
    /// behind a proxy, a NAT or a container's port mapping every client would be one, and one
    /// client's failures would refuse everyone.
    public var limitSignInsPerPeer = false
    /// Cookies marked `Secure` and a `Strict-Transport-Security` header (behind HTTPS).
    public var secureCookies = false
    public var auditLog: AuditLog
    public var topologyPrefix = ""
    public var catalogue: ProgrammeCatalogue
    /// The broker with an admin's credentials (dead letters); nil disables those pages.
    public var adminBroker: AMQPConfiguration?
    public var management: ManagementAPI?
    /// Intake's store, read only, for the officers' case files (`--intake-store`); nil: the
    /// review desk shows the queue but no case file and takes no decision.
    public var intakeStore: (any MessageStore)?
    /// The certificates role's store, read only (`--certificates-store`), for finding an
    /// accepted participant by name (its `cert_holders`: the name their certificates carry);
    /// nil: the search is by registration number only.
    public var certificatesStore: (any MessageStore)?
    /// Searches by name one user may make in an hour.
    public var nameSearchesPerHour = 30
    /// Today in East Kalimantan (`YYYY-MM-DD`, WITA), for the desks' date checks (injectable
    /// for tests).
    public var today: @Sendable () -> String = { OfficerDecision.today() }
    /// Seconds a canary replay is watched before the rest follows.
    public var canaryWait: Duration = .seconds(10)
    /// Every role's store, for a data subject's export and erasure on *Hak subjek data*
    /// (`--subject-store`), opened for each request; nil: the page names the `kaltim-admin`
    /// commands instead.
    public var subjectStores: SubjectStores?

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
    let signIns: SignInGate
    let nameSearches = HourlyAllowance()
    let queueRates = QueueRateMeter()
    let desk: DeadLetterDesk
    let logger: Logger
    /// The roles whose queues and dead letters the console shows.
    let roles: [WorkerRole] = WorkerRole.all + [.console]

    public init(configuration: ConsoleConfiguration, store: any MessageStore, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        signIns = SignInGate(accounts: configuration.accounts)
        desk = DeadLetterDesk(configuration: configuration.adminBroker, prefix: configuration.topologyPrefix, logger: logger)
    }

    static let sessionCookie = "kaltim_session"
    static let loginCookie = "kaltim_login"
    /// Where a browser says a request comes from: `same-origin`, `same-site`, `cross-site`, or
    /// `none` (typed, a bookmark).
    static let fetchSite = HTTPField.Name("Sec-Fetch-Site")!

    /// The Hummingbird application (a service: run it in a `ServiceGroup`).
    public func application(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router(context: ConsoleRequestContext.self)
        router.add(middleware: SecurityHeaders(secure: configuration.secureCookies))
        router.get("/static/console.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=300"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: Assets.css)))
        }
        router.get("/health") { _, _ in Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n"))) }
        router.get("/login") { _, _ in loginPage(error: nil) }
        router.post("/login") { request, context in try await login(request, context) }
        router.post("/logout") { request, _ in try await logout(request) }
        router.get("/") { request, _ in try await guarded(request, .viewProgress) { session in try await progressPage(session) } }
        router.get("/progress.json") { request, _ in
            try await guarded(request, .viewProgress) { _ in
                let report = try await ProgressReport.read(from: store, catalogue: configuration.catalogue)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                encoder.dateEncodingStrategy = .iso8601
                return Response(
                    status: .ok, headers: [.contentType: "application/json"],
                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(report))))
            }
        }
        router.get("/laporan") { request, _ in
            try await guarded(request, .viewReports) { session in try await reportsPage(session, request: request) }
        }
        router.get("/laporan.csv") { request, _ in
            try await guarded(request, .viewReports) { session in try await reportCSV(session, request: request) }
        }
        router.get("/laporan/pendaftaran") { request, _ in
            try await guarded(request, .lookUpRegistration) { session in
                try await registrationLookup(session, request: request)
            }
        }
        router.get("/laporan/daftar-tunggu") { request, _ in
            try await guarded(request, .lookUpRegistration) { session in
                try await waitingListPage(session, request: request, csv: false)
            }
        }
        router.get("/laporan/daftar-tunggu.csv") { request, _ in
            try await guarded(request, .lookUpRegistration) { session in
                try await waitingListPage(session, request: request, csv: true)
            }
        }
        router.get("/laporan/kemnaker.csv") { request, _ in
            try await guarded(request, .lookUpRegistration) { session in try await kemnakerExport(session) }
        }
        router.post("/laporan/peserta") { request, _ in
            try await guardedForm(request, .lookUpRegistration) { session, form in try await participantNameSearch(session, form)
            }
        }
        router.get("/reviews") { request, _ in
            try await guarded(request, .viewReviewQueue) { session in try await reviewsPage(session) }
        }
        router.get("/reviews.json") { request, _ in
            try await guarded(request, .viewReviewQueue) { _ in
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                encoder.dateEncodingStrategy = .iso8601
                return Response(
                    status: .ok, headers: [.contentType: "application/json"],
                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(try await ReviewQueue.read(from: store))))
                )
            }
        }
        router.get("/reviews/case") { request, _ in
            try await guarded(request, .decideReviews) { session in
                let id = String(request.uri.queryParameters["id"] ?? "")
                return try await page(session, at: Self.path("/reviews/case", id: id)) { flash in
                    try await reviewCasePage(session, registrationID: id, reveal: false, flash: flash)
                }
            }
        }
        router.post("/reviews/case/reveal") { request, _ in
            try await guardedForm(request, .decideReviews) { session, form in try await revealCaseFile(session, form) }
        }
        router.post("/reviews/decide") { request, _ in
            try await guardedForm(request, .decideReviews) { session, form in try await decideReview(session, form) }
        }
        router.get("/blki") { request, _ in try await guarded(request, .runBLKIDesk) { session in try await blkiPage(session) } }
        router.get("/blki/class") { request, _ in
            try await guarded(request, .runBLKIDesk) { session in
                let id = String(request.uri.queryParameters["id"] ?? "")
                return try await page(session, at: Self.path("/blki/class", id: id)) { flash in
                    try await classPage(session, classID: id, flash: flash)
                }
            }
        }
        router.get("/blki/class.csv") { request, _ in
            try await guarded(request, .runBLKIDesk) { session in
                try await classRosterCSV(session, classID: String(request.uri.queryParameters["id"] ?? ""))
            }
        }
        router.get("/blki/class/daftar-hadir") { request, _ in
            try await guarded(request, .runBLKIDesk) { session in
                try await attendanceSheet(session, classID: String(request.uri.queryParameters["id"] ?? ""))
            }
        }
        router.post("/blki/record") { request, _ in
            try await guardedForm(request, .runBLKIDesk) { session, form in try await recordForClass(session, form) }
        }
        router.get("/lsp") { request, _ in try await guarded(request, .runLSPDesk) { session in try await lspPage(session) } }
        router.get("/queues") { request, _ in
            try await guarded(request, .viewOperations) { session in try await queuesPage(session) }
        }
        router.get("/dead-letters") { request, _ in
            try await guarded(request, .viewOperations) { session in
                try await page(session, at: "/dead-letters") { flash in
                    try await deadLettersPage(session, request: request, flash: flash)
                }
            }
        }
        router.get("/dead-letters/message") { request, _ in
            try await guarded(request, .viewOperations) { session in
                try await deadLetterPage(session, id: String(request.uri.queryParameters["id"] ?? ""), reveal: false)
            }
        }
        router.post("/dead-letters/reveal") { request, _ in
            try await guardedForm(request, .purgeAndReveal) { session, form in
                try await deadLetterPage(session, id: form.first("id") ?? "", reveal: true)
            }
        }
        router.post("/dead-letters/replay") { request, _ in
            try await guardedForm(request, .replay) { session, form in try await replay(session, form) }
        }
        router.post("/dead-letters/purge") { request, _ in
            try await guardedForm(request, .purgeAndReveal) { session, form in try await purge(session, form) }
        }
        router.get("/subjects") { request, _ in
            try await guarded(request, .subjectRights) { session in
                try await page(session, at: "/subjects") { flash in subjectRightsPage(session, flash: flash) }
            }
        }
        router.post("/subjects/correct") { request, _ in
            try await guardedForm(request, .subjectRights) { session, form in try await correctSubject(session, form) }
        }
        router.post("/subjects/withdraw-consent") { request, _ in
            try await guardedForm(request, .subjectRights) { session, form in try await withdrawSubjectConsent(session, form) }
        }
        router.post("/subjects/export") { request, _ in
            try await guardedForm(request, .subjectRights) { session, form in try await exportSubject(session, form) }
        }
        router.post("/subjects/erase") { request, _ in
            try await guardedForm(request, .subjectRights) { session, form in try await eraseSubject(session, form) }
        }
        router.get("/audit") { request, _ in try await guarded(request, .viewOperations) { session in try auditPage(session) } }

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
}
