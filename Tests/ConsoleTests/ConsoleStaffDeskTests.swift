import Admin
import ContractKit
import Contracts
import DataProtection
import Foundation
import Jobs
import Logging
import Programme
import ReviewDesk
import ServiceLifecycle
import Stores
import Synchronization
import TestSupport
import Testing
import Topology
import Workers

@testable import Console

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The staff's desks in the console, tried as the staff and as someone who should not get in:
/// an officer opens a case file from intake's store (masked until revealed, the reveal audited)
/// and decides it, the decision reaching intake as an event the console's outbox publishes; a
/// BLKI administrator records daftar ulang, a training result and a withdrawal for their own
/// BLKI's classes only. No broker: the outbox rows are what the console's worker publishes.
@Suite struct ConsoleStaffDeskTests {
    static let registry = """
        nik,full_name,birth_date,sex,region_code
        6474015708999901,Siti Rahmawati,1999-08-17,P,6474011001
        """

    /// A console behind the test's "proxy" (the identity header names the user), with its own
    /// store and intake's store.
    final class Desk: Sendable {
        let directory: URL
        let console: HandlerTestKit
        let intake: HandlerTestKit
        let auditLog: AuditLog
        /// The desks' "today" (WITA), moved by the test.
        final class Today: Sendable {
            let value = Mutex("2025-07-01")
        }
        let today = Today()
        let port: Int
        let group: ServiceGroup
        let running: Task<Void, any Error>
        /// No cookie jar: each request carries exactly the session cookie the test gives it
        /// (a shared jar would mix the sessions of tests running at once on other ports).
        let http: URLSession = {
            let configuration = URLSessionConfiguration.ephemeral
            configuration.httpCookieStorage = nil
            configuration.httpShouldSetCookies = false
            return URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
        }()

        /// - Parameter configure: changes the console's configuration before it starts (with the
        ///   test's folder, and the console's and intake's stores).
        init(
            configure: (inout ConsoleConfiguration, _ directory: URL, _ console: HandlerTestKit, _ intake: HandlerTestKit)
                throws -> Void = { _, _, _, _ in }
        ) async throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("staff-desk"))
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let catalogue = try ProgrammeCatalogue.load(
                path: BrokerEnvironment.repositoryRoot.appendingPathComponent("config/programme-2025.json").path)
            console = try await HandlerTestKit(handler: ProgressHandler(catalogue: catalogue), registry: .pipeline)
            intake = try await HandlerTestKit(
                handler: IntakeHandler(catalogue: catalogue, nikKey: .development), registry: .pipeline)
            _ = try await IntakeImport.registry(csv: ConsoleStaffDeskTests.registry, into: intake.store, key: .development)
            let hash = try PasswordHash.make("unused-behind-the-proxy", rounds: 210_000).encoded
            auditLog = AuditLog(path: directory.appendingPathComponent("audit.jsonl").path)
            var configuration = ConsoleConfiguration(
                accounts: ConsoleAccounts(users: [
                    .init(name: "rina", role: .officer, passwordHash: hash),
                    .init(name: "vivi", role: .viewer, passwordHash: hash),
                    .init(name: "adi", role: .admin, passwordHash: hash),
                    .init(name: "budi", role: .blki, passwordHash: hash, centre: TrainingCentre.bontang.rawValue),
                    .init(name: "bella", role: .blki, passwordHash: hash, centre: TrainingCentre.balikpapan.rawValue),
                    .init(name: "lina", role: .lsp, passwordHash: hash, lsp: "BNSP-LSP-0123-ID"),
                    .init(name: "otto", role: .lsp, passwordHash: hash, lsp: "BNSP-LSP-0999-ID"),
                    .init(name: "opi", role: .operator, passwordHash: hash),
                ]),
                auditLog: auditLog, catalogue: catalogue)
            configuration.port = 0
            configuration.trustedIdentityHeader = "X-Forwarded-User"
            configuration.intakeStore = intake.store
            let today = today
            configuration.today = { today.value.withLock { $0 } }
            try configure(&configuration, directory, console, intake)
            let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
            let server = ConsoleServer(configuration: configuration, store: console.store, logger: Logger(label: "test"))
            let group = ServiceGroup(
                services: [server.application { port in portSink.yield(port) }], gracefulShutdownSignals: [],
                logger: Logger(label: "test"))
            self.group = group
            running = Task { try await group.run() }
            var bound = 0
            for await value in ports {
                bound = value
                break
            }
            port = bound
        }

        /// Seats `participant` in a Tata Graha class of `centre`, 7 July to `end` 2025 (daftar
        /// ulang 30 June to 2 July), as scheduling's `class.scheduled` reaches the console.
        func seat(_ participant: String, _ classID: String, _ centre: TrainingCentre, end: String = "2025-08-15")
            async throws
        {
            _ = try await console.deliver(
                EventEnvelope(
                    id: "seat-\(participant)", source: "/kaltim/scheduling", subject: participant,
                    data: ClassScheduledV2(
                        participantID: participant, classID: classID, centre: centre, programme: "TATA_GRAHA", cohort: 1,
                        startDate: "2025-07-07", endDate: end, seat: 1,
                        reRegistration: DateWindow(from: "2025-06-30", until: "2025-07-02"), replacing: false)))
        }

        func stop() async throws {
            await group.triggerGracefulShutdown()
            try await running.value
            try? FileManager.default.removeItem(at: directory)
        }

        /// One request as `user`; the session cookie of the user's earlier responses is sent back.
        func request(_ method: String, _ path: String, user: String, form: [String: [String]]? = nil, cookie: String? = nil)
            async throws -> (status: Int, body: String, cookie: String?)
        {
            let (status, body, cookie, _) = try await send(method, path, user: user, form: form, cookie: cookie)
            return (status, body, cookie)
        }

        /// As ``request(_:_:user:form:cookie:)``, with the `Location` of a redirect (followed by
        /// nobody: the test sees the 303).
        func send(_ method: String, _ path: String, user: String, form: [String: [String]]? = nil, cookie: String? = nil)
            async throws -> (status: Int, body: String, cookie: String?, location: String?)
        {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            request.httpMethod = method
            request.httpShouldHandleCookies = false
            request.setValue(user, forHTTPHeaderField: "X-Forwarded-User")
            if let cookie { request.setValue(cookie, forHTTPHeaderField: "Cookie") }
            if let form {
                request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
                var allowed = CharacterSet.alphanumerics
                allowed.insert(charactersIn: "-._~")
                request.httpBody = Data(
                    form.flatMap { key, values in
                        values.map {
                            "\(key)=\($0.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")"
                        }
                    }.joined(separator: "&").utf8)
            }
            let (data, response) = try await http.data(for: request)
            let http = try #require(response as? HTTPURLResponse)
            let setCookie = (http.value(forHTTPHeaderField: "Set-Cookie") ?? "").split(separator: ";").first.map(String.init)
            return (
                http.statusCode, String(decoding: data, as: UTF8.self), setCookie, http.value(forHTTPHeaderField: "Location")
            )
        }

        /// A page as `user`, and the session cookie and CSRF token to post its forms with.
        func page(_ path: String, user: String) async throws -> (status: Int, body: String, cookie: String, csrf: String) {
            let (status, body, cookie) = try await request("GET", path, user: user)
            let csrf = body.firstMatch(of: /name="csrf" value="([0-9a-f]{64})"/).map { String($0.1) } ?? ""
            return (status, body, cookie ?? "", csrf)
        }

        /// Posts a form as `user` with the session of a page just fetched. A form that changed
        /// something answers 303 to the page it came from (post/redirect/get): that page is
        /// fetched in the same session, as a browser would, and returned.
        func post(_ path: String, user: String, from page: String, _ fields: [String: [String]]) async throws -> (
            status: Int, body: String
        ) {
            let (_, _, cookie, csrf) = try await self.page(page, user: user)
            var fields = fields
            fields["csrf"] = [csrf]
            let (status, body, _, location) = try await send("POST", path, user: user, form: fields, cookie: cookie)
            guard status == 303, let location else { return (status, body) }
            let (after, shown, _) = try await request("GET", location, user: user, cookie: cookie)
            return (after, shown)
        }

        /// What the console's outbox holds: the events staff recorded, not yet published.
        func outbox() async throws -> [OutgoingEvent] {
            try await console.store.unpublished(limit: 100, createdBefore: Date().addingTimeInterval(3600)).map(\.event)
        }
    }

    static func submission(_ id: String, birthDate: String) -> RegistrationSubmittedV2 {
        RegistrationSubmittedV2(
            registrationID: id, nik: "6474015708999901", familyCardNumber: nil, fullName: "Siti Rahmawati", birthPlace: "Bontang",
            birthDate: birthDate, sex: .female, phone: "0812-5000-1001", whatsApp: nil, email: "siti@example.org",
            domicile: Domicile(regionCode: "6474011001", address: "Jl. Contoh 1"), education: .smk,
            employmentStatus: .unemployed, jobSeekerCardNumber: nil, preferredCentre: .bontang, programme: "TATA_GRAHA",
            secondChoiceProgramme: nil, apprenticeshipInterest: true, declaredTrainings: [],
            consent: Consent(given: true, givenAt: "2025-03-03T01:14:10Z", textVersion: "pdp-2025-01"))
    }

    @Test func anOfficerOpensACaseMaskedRevealsItAuditedAndHerApprovalReachesIntake() async throws {
        let desk = try await Desk()
        // A birth date one day off the registry's: intake sends it to review.
        let submitted = try await desk.intake.deliver(
            EventEnvelope(
                id: "sub-1", source: "/kaltim/registration-portal", data: Self.submission("REG-R1", birthDate: "1999-08-18")))
        #expect(submitted.events.first?.type == RegistrationReviewNeededV1.eventType)

        // The case file, masked: whether declared and recorded data agree, not the data.
        let masked = try await desk.page("/reviews/case?id=REG-R1", user: "rina")
        #expect(masked.status == 200 && masked.body.contains("<html lang=\"id\">"))
        #expect(masked.body.contains("************9901") && masked.body.contains("BERBEDA"))
        #expect(masked.body.contains("Tempat lahir (diisi): disamarkan"))
        for secret in ["Siti", "Rahmawati", "1999-08-18", "1999-08-17", "(diisi): Bontang", "6474015708999901", "0812"] {
            #expect(!masked.body.contains(secret), "\(secret) shown before the reveal")
        }
        // Nobody but an officer opens a case file, an admin neither.
        for user in ["vivi", "adi", "budi"] {
            #expect(try await desk.page("/reviews/case?id=REG-R1", user: user).status == 403, "\(user)")
        }
        #expect(try await desk.page("/reviews/case?id=REG-R1", user: "mallory").status == 403)

        // The reveal: refused without the session's CSRF token, audited before it shows.
        let (_, _, cookie, _) = try await desk.page("/reviews/case?id=REG-R1", user: "rina")
        let forged = try await desk.request(
            "POST", "/reviews/case/reveal", user: "rina", form: ["id": ["REG-R1"], "csrf": [String(repeating: "0", count: 64)]],
            cookie: cookie)
        #expect(forged.status == 403 && !forged.body.contains("Rahmawati"))
        #expect(try desk.auditLog.entries().isEmpty)
        let revealed = try await desk.post(
            "/reviews/case/reveal", user: "rina", from: "/reviews/case?id=REG-R1", ["id": ["REG-R1"]])
        #expect(revealed.status == 200 && revealed.body.contains("Siti Rahmawati") && revealed.body.contains("1999-08-18"))
        #expect(!revealed.body.contains("6474015708999901"), "intake keeps no NIK in clear to reveal")
        let reveal = try #require(try desk.auditLog.entries().first)
        #expect(reveal.action == "reveal-case-file" && reveal.target == "REG-R1" && reveal.who.hasPrefix("rina"))

        // Refused decisions publish nothing: an approval with a reason unverified, a text with
        // a NIK in it, a request for documents answered in the past, an unknown decision.
        let half = try await desk.post(
            "/reviews/decide", user: "rina", from: "/reviews/case?id=REG-R1",
            ["id": ["REG-R1"], "decision": ["approve"], "verified": ["NIK_DATA_MISMATCH"]])
        #expect(half.status == 422 && half.body.contains("belum: REGISTRY_BIRTH_DATE_MISMATCH."), "\(half.status)")
        let leaky = try await desk.post(
            "/reviews/decide", user: "rina", from: "/reviews/case?id=REG-R1",
            [
                "id": ["REG-R1"], "decision": ["reject"], "reason_code": ["DOKUMEN_TIDAK_SESUAI"],
                "reason_text": ["NIK 6474 0157 0899 9901 tidak cocok"],
            ])
        #expect(
            leaky.status == 422 && leaky.body.contains("tidak boleh memuat data pribadi"),
            "\(leaky.status) \(leaky.body.suffix(1500))")
        let past = try await desk.post(
            "/reviews/decide", user: "rina", from: "/reviews/case?id=REG-R1",
            [
                "id": ["REG-R1"], "decision": ["request-documents"], "reason_code": ["DOKUMEN_TIDAK_LENGKAP"],
                "respond_by": ["2020-01-01"],
            ])
        #expect(past.status == 422 && past.body.contains("sudah lewat"))
        for (hostile, status, text) in [
            (["id": ["REG-R1"], "decision": ["DISETUJUI"]], 422, "pilih keputusan"),
            (["id": ["REG-R1"], "decision": ["reject"], "reason_code": ["X"]], 422, "pilih alasan"),
            (["id": ["../../etc/passwd"], "decision": ["approve"]], 400, "nomor pendaftaran tidak sah"),
            (["id": ["REG-UNKNOWN"], "decision": ["approve"]], 404, "tidak sedang dalam verifikasi"),
        ] {
            let refused = try await desk.post("/reviews/decide", user: "rina", from: "/reviews/case?id=REG-R1", hostile)
            #expect(refused.status == status && refused.body.contains(text), "\(hostile): \(refused.status)")
        }
        #expect(try await desk.outbox().isEmpty)
        // Not an officer: refused whatever the form says.
        let byViewer = try await desk.post(
            "/reviews/decide", user: "vivi", from: "/", ["id": ["REG-R1"], "decision": ["approve"]])
        #expect(byViewer.status == 403)

        // The approval: recorded with the officer's name, once.
        let approval: [String: [String]] = [
            "id": ["REG-R1"], "decision": ["approve"], "verified": ["NIK_DATA_MISMATCH", "REGISTRY_BIRTH_DATE_MISMATCH"],
        ]
        // Two submissions at once (a double click, two officers): one is recorded, the other refused.
        async let first = desk.post("/reviews/decide", user: "rina", from: "/reviews/case?id=REG-R1", approval)
        async let second = desk.post("/reviews/decide", user: "rina", from: "/reviews/case?id=REG-R1", approval)
        let both = try await [first, second]
        #expect(both.map(\.status).sorted() == [200, 409], "\(both.map(\.status))")
        #expect(both.contains { $0.body.contains("dicatat atas nama rina") })
        let again = try await desk.post("/reviews/decide", user: "rina", from: "/reviews/case?id=REG-R1", approval)
        #expect(again.status == 409 && again.body.contains("sudah dikirim"))
        // Nor a request for documents after a final decision.
        let afterwards = try await desk.post(
            "/reviews/decide", user: "rina", from: "/reviews/case?id=REG-R1",
            ["id": ["REG-R1"], "decision": ["request-documents"], "reason_code": ["DOKUMEN_TIDAK_LENGKAP"]])
        #expect(afterwards.status == 409)
        let events = try await desk.outbox()
        #expect(events.count == 1 && events.first?.type == RegistrationReviewedV1.eventType)
        let event = try #require(events.first)
        let decision = try ContractJSON.decoder().decode(EventEnvelope<RegistrationReviewedV1>.self, from: event.body).data
        #expect(decision.decision == .approve && decision.officer == "rina" && decision.registrationID == "REG-R1")
        // One audit entry for the recorded decision (the refused twin has its own event id).
        let audited = try desk.auditLog.entries().filter { $0.details["event_id"] == event.messageID }
        #expect(audited.count == 1 && audited.first?.action == "registration.reviewed DISETUJUI")
        #expect(audited.first?.who.hasPrefix("rina") == true)

        // Intake carries it out: the applicant is accepted, the case file's personal data goes.
        let carried = try await desk.intake.deliver(body: event.body)
        #expect(carried.events.map(\.type) == [RegistrationAcceptedV2.eventType, ParticipantNamedV1.eventType])
        let decided = try #require(try await ReviewCase.read(from: desk.intake.store, pendingOnly: false).first)
        #expect(decided.state == "approved" && decided.officer == "rina" && decided.caseFile == nil)
        try await desk.stop()
    }

    /// The reports: counts by profile and tier from intake's store and the console's model, no
    /// personal data, small figures hidden from those who do not decide on applicants, a BLKI
    /// administrator's own BLKI only; a registration looked up by its number, audited.
    @Test func theReportsCountByProfileAndTierShowNoPersonalDataAndKeepABLKIToItsOwn() async throws {
        let desk = try await Desk()
        // Siti: the registry's, accepted at Bontang (25 on the reference date, SMK, Kota Bontang).
        // A man of 19 from Balikpapan whom the registry does not know: counted, named by nothing
        // personal.
        var second = Self.submission("REG-P2", birthDate: "2006-01-01")
        second.nik = "6471050101060001"
        second.fullName = "Budi Santoso"
        second.sex = .male
        second.education = .sma
        second.domicile = Domicile(regionCode: "6471051001", address: "Jl. Lain 2")
        second.preferredCentre = .balikpapan
        second.programme = "MEKANIK_SEPEDA_MOTOR"
        for (id, submission) in [("sub-p1", Self.submission("REG-P1", birthDate: "1999-08-17")), ("sub-p2", second)] {
            let decided = try await desk.intake.deliver(
                EventEnvelope(id: id, source: "/kaltim/registration-portal", data: submission))
            for event in decided.events where WorkerRole.console.consumes.contains(event.type) {
                _ = try await desk.console.deliver(body: event.body)
            }
        }
        let accepted = try await desk.console.query("SELECT COUNT(*) AS n FROM console_priorities")
        #expect(accepted.first?["n"]?.integer == 1, "Siti is accepted and has a tier")

        func report(_ dimension: String, as user: String = "rina") async throws -> String {
            let page = try await desk.page("/laporan?menurut=\(dimension)", user: user)
            #expect(page.status == 200 && page.body.contains("<html lang=\"id\">"))
            for leak in ["Siti", "Budi Santoso", "6474015708999901", "6471050101060001", "Jl. ", "1999-08-17", "2006-01-01"] {
                #expect(!page.body.contains(leak), "\(dimension): \(leak)")
            }
            return page.body
        }
        func row(_ body: String, _ label: String) -> [Int] {
            // The figures of the line labelled `label`: registered, accepted, rejected, waiting, scheduled, certified.
            guard let start = body.range(of: "<td>\(label)</td>") else { return [] }
            let rest = body[start.upperBound...]
            let line = rest[..<(rest.range(of: "</tr>")?.lowerBound ?? rest.endIndex)]
            return line.matches(of: /<td class="number[^"]*">([0-9.]+)<\/td>/).compactMap { Int($0.1) }
        }
        let sex = try await report("jenis-kelamin")
        #expect(row(sex, "Perempuan") == [1, 1, 0, 0, 0, 0])
        #expect(row(sex, "Laki-laki").prefix(2) == [1, 0], "registered, not accepted (the registry does not know him)")
        let age = try await report("umur")
        #expect(row(age, "25–29 tahun").first == 1 && row(age, "17–19 tahun").first == 1)
        let region = try await report("wilayah")
        #expect(row(region, "Kota Bontang (64.74)").first == 1 && row(region, "Kota Balikpapan (64.71)").first == 1)
        let education = try await report("pendidikan")
        #expect(row(education, "SMK").first == 1 && row(education, "SMA").first == 1)
        let tier = try await report("prioritas")
        #expect(row(tier, "1 · belum pernah ikut pelatihan") == [1, 1, 0, 0, 0, 0])
        #expect(row(tier, "tanpa tingkat prioritas tercatat").first == 1)

        // For those who do not decide on applicants, every figure about a profile or a tier is
        // rounded to a multiple of 5, and 1 to 4 is "<5": the total too.
        let hidden = try await report("jenis-kelamin", as: "vivi")
        #expect(hidden.contains("<td>Perempuan</td><td class=\"number\">&lt;5</td><td class=\"number\">&lt;5</td>"))
        #expect(hidden.contains("<tr class=\"total\"><th>Jumlah</th><th class=\"number\">&lt;5</th>"), "the total too")
        #expect(hidden.contains("dibulatkan ke kelipatan 5"))
        let waitingLists = try await report("program", as: "vivi")
        #expect(row(waitingLists, "BLKI Bontang · Tata Graha").first == 1, "BLKI and programme: every figure")

        // A BLKI administrator's reports hold their own BLKI only.
        let bontang = try await report("jenis-kelamin", as: "budi")
        #expect(bontang.contains("Perempuan") && !bontang.contains("Laki-laki"))
        let balikpapan = try await report("program", as: "bella")
        #expect(row(balikpapan, "BLKI Balikpapan · Mekanik Sepeda Motor").first == 1)
        #expect(!balikpapan.contains("BLKI Bontang ·"))

        // The CSV: the same figures, every field safe for a spreadsheet.
        let (status, csv, _) = try await desk.request("GET", "/laporan.csv?menurut=jenis-kelamin", user: "rina")
        #expect(status == 200)
        #expect(csv.hasPrefix("\u{FEFF}kelompok,kode,mendaftar,diterima,ditolak,daftar_tunggu,dijadwalkan,kompeten\r\n"))
        let (_, hiddenCSV, _) = try await desk.request("GET", "/laporan.csv?menurut=jenis-kelamin", user: "vivi")
        #expect(hiddenCSV.contains("Perempuan,P,<5,<5,"), "\(hiddenCSV)")
        #expect(csv.contains("Perempuan,P,1,1,0,0,0,0\r\n") && csv.contains("Laki-laki,L,1,0,"), "\(csv)")

        // One registration by its number; another BLKI's is not found; a hostile number is refused.
        let found = try await desk.page("/laporan/pendaftaran?nomor=REG-P1", user: "budi")
        #expect(found.status == 200 && found.body.contains("BLKI Bontang") && found.body.contains("WITA"))
        #expect(found.body.contains("(hanya untuk petugas verifikasi dan admin)"), "no tier for a BLKI administrator")
        #expect(!found.body.contains("Siti"))
        #expect(try await desk.page("/laporan/pendaftaran?nomor=REG-P1", user: "bella").status == 404)
        for user in ["vivi", "lina"] {
            #expect(try await desk.page("/laporan/pendaftaran?nomor=REG-P1", user: user).status == 403, "\(user)")
        }
        let lookups = try desk.auditLog.entries().filter { $0.action == "registration-lookup" }
        #expect(lookups.map(\.who) == ["budi (console)", "bella (console)"] && lookups.map(\.count) == [1, 0])
        let hostile = try await desk.page("/laporan/pendaftaran?nomor=%3Cscript%3Ealert(1)%3C/script%3E", user: "rina")
        #expect(hostile.status == 400 && !hostile.body.contains("<script>"))
        let unknown = try await desk.page("/laporan/pendaftaran?nomor=REG-NONE", user: "rina")
        #expect(unknown.status == 404 && unknown.body.contains("tidak ditemukan"))
        try await desk.stop()
    }

    @Test func anLSPCoordinatorSeesHerOwnLSPsResultsAndRefusedSubmissionsOnly() async throws {
        let desk = try await Desk()
        func graded(_ id: String, _ participant: String, lsp: String, _ outcome: AssessmentGradedV1.Outcome) -> AssessmentGradedV3
        {
            AssessmentGradedV3(
                assessmentID: id, participantID: participant, scheme: "SKEMA-TATA-GRAHA", outcome: outcome,
                notYetCompetentUnits: outcome == .competent ? [] : ["I.55HOT00.001.1"], lspLicence: lsp,
                assessedOn: "2025-08-20", attendancePercent: 95, trainingOutcome: nil, supersedes: nil,
                lspCertificateNumber: outcome == .competent ? "NO.55HOT 0001 2025" : nil, lspRegistrationNumber: nil,
                retakeOf: nil, attempt: 1, retakeAvailable: outcome == .notYetCompetent)
        }
        // Hers: one refused (a unit code the scheme lacks, <script> in the text the LSP sent), one
        // refused then corrected and graded, one BELUM KOMPETEN; another LSP's KOMPETEN.
        let refusal = RegistrationReason(code: "UNIT_NOT_IN_SCHEME", message: "Unit <script>x</script> tidak ada di skema.")
        /// Grading's refusal of a submission (event `id`) for the scheme SKEMA-TATA-GRAHA.
        func refuse(_ id: String, _ assessment: String, _ participant: String, lsp: String, _ reason: RegistrationReason)
            async throws
        {
            _ = try await desk.console.deliver(
                EventEnvelope(
                    id: id, source: "/kaltim/workers/grading",
                    data: AssessmentRejectedV1(
                        assessmentID: assessment, participantID: participant, lspLicence: lsp, scheme: "SKEMA-TATA-GRAHA",
                        reasons: [reason])))
        }
        try await refuse("rej-1", "ASM-1", "PST-2025-A", lsp: "BNSP-LSP-0123-ID", refusal)
        try await refuse("rej-2", "ASM-2", "PST-2025-B", lsp: "BNSP-LSP-0123-ID", refusal)
        for (id, data) in [
            ("g-2", graded("ASM-2", "PST-2025-B", lsp: "BNSP-LSP-0123-ID", .competent)),
            ("g-3", graded("ASM-3", "PST-2025-C", lsp: "BNSP-LSP-0123-ID", .notYetCompetent)),
            ("g-9", graded("ASM-9", "PST-2025-Z", lsp: "BNSP-LSP-0999-ID", .competent)),
        ] {
            _ = try await desk.console.deliver(EventEnvelope(id: id, source: "/kaltim/workers/grading", data: data))
        }
        // Grading refuses another LSP's appeal under the id of her graded ASM-3: the result stays hers.
        try await refuse(
            "rej-3", "ASM-3", "PST-2025-C", lsp: "BNSP-LSP-0999-ID",
            RegistrationReason(code: "APPEAL_LSP_MISMATCH", message: "Banding bukan dari LSP penguji."))
        // A refusal, then the corrected submission under a new id: the refusal leaves the list.
        try await refuse("rej-4", "ASM-4", "PST-2025-D", lsp: "BNSP-LSP-0123-ID", refusal)
        _ = try await desk.console.deliver(
            EventEnvelope(
                id: "g-5", source: "/kaltim/workers/grading",
                data: graded("ASM-5", "PST-2025-D", lsp: "BNSP-LSP-0123-ID", .competent)))
        let page = try await desk.page("/lsp", user: "lina")
        #expect(!page.body.contains("data-assessment=\"ASM-4\""), "corrected under ASM-5")
        #expect(page.body.contains("<td>ASM-3</td><td>PST-2025-C</td><td>SKEMA-TATA-GRAHA</td><td>BELUM KOMPETEN</td>"))
        #expect(page.status == 200 && page.body.contains("LSP Kompetensi Kaltim (sintetis) (BNSP-LSP-0123-ID)"))
        #expect(
            page.body.contains(
                "<tr><td>SKEMA-TATA-GRAHA</td><td class=\"number\">2</td><td class=\"number\">1</td><td class=\"number\">3</td></tr>"
            ))
        #expect(
            page.body.contains("data-assessment=\"ASM-1\"") && !page.body.contains("data-assessment=\"ASM-2\""),
            "ASM-2 was corrected")
        #expect(page.body.contains("Unit &lt;script&gt;x&lt;/script&gt; tidak ada di skema. (UNIT_NOT_IN_SCHEME)"))
        #expect(!page.body.contains("<script>"))
        #expect(page.body.contains("NO.55HOT 0001 2025") && page.body.contains("20 Agustus 2025"))
        #expect(!page.body.contains("ASM-9") && !page.body.contains("PST-2025-Z"), "another LSP's assessment")
        let other = try await desk.page("/lsp", user: "otto")
        #expect(other.status == 200 && other.body.contains("ASM-9") && !other.body.contains("ASM-1"))
        #expect(other.body.contains("APPEAL_LSP_MISMATCH"), "the refusal is on the desk of the LSP it refused")
        #expect(!page.body.contains("APPEAL_LSP_MISMATCH"), "and not on the graded assessment's LSP's")
        // Nobody else opens the desk; the coordinator opens no other desk.
        for user in ["vivi", "rina", "adi", "budi"] { #expect(try await desk.page("/lsp", user: user).status == 403, "\(user)") }
        for path in ["/reviews", "/blki", "/queues", "/dead-letters", "/subjects"] {
            #expect(try await desk.page(path, user: "lina").status == 403, "\(path)")
        }
        #expect(try await desk.page("/laporan", user: "lina").status == 200, "counts only")
        try await desk.stop()
    }

    @Test func anLSPAccountNeedsItsLicenceAndNoOtherAccountHasOne() throws {
        let hash = try PasswordHash.make("unused", rounds: 210_000).encoded
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("accounts"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (user, problem) in [
            ("{\"name\": \"l\", \"role\": \"lsp\", \"passwordHash\": \"\(hash)\"}", "give their LSP's licence"),
            ("{\"name\": \"l\", \"role\": \"lsp\", \"lsp\": \"<b>\", \"passwordHash\": \"\(hash)\"}", "give their LSP's licence"),
            (
                "{\"name\": \"v\", \"role\": \"viewer\", \"lsp\": \"BNSP-LSP-0123-ID\", \"passwordHash\": \"\(hash)\"}",
                "only an lsp account"
            ),
        ] {
            let path = directory.appendingPathComponent("accounts.json").path
            try Data("{\"users\": [\(user)]}".utf8).write(to: URL(fileURLWithPath: path))
            #expect {
                _ = try ConsoleAccounts(path: path)
            } throws: { error in
                "\(error)".contains(problem)
            }
        }
    }

    /// A line of the audit log cut short (a full disk, a crash) or changed by hand does not hide
    /// the log or the entry after it: the page shows every entry it can read and says how many
    /// lines it could not.
    @Test func aCutLineInTheAuditLogIsCountedAndTheEntriesAroundItShow() async throws {
        let desk = try await Desk()
        try desk.auditLog.append(.init(who: "adi", action: "subject-export", target: "REG-1", count: 1))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: desk.auditLog.path))
        try handle.seekToEnd()
        // Cut short without its newline: the next entry must still be a line of its own.
        try handle.write(contentsOf: Data(#"{"action":"purge","at":"2025-07-0"#.utf8))
        try handle.close()
        try desk.auditLog.append(.init(who: "adi", action: "replay-dead-letters", target: "kaltim.intake.dlq", count: 3))
        let read = try desk.auditLog.read()
        #expect(read.entries.map(\.action) == ["subject-export", "replay-dead-letters"])
        #expect(read.unreadable == 1)
        let page = try await desk.page("/audit", user: "adi")
        #expect(page.status == 200)
        #expect(page.body.contains("subject-export") && page.body.contains("replay-dead-letters"))
        #expect(page.body.contains("1 baris log audit tidak terbaca"), "\(page.body)")
    }

    /// The data subject's rights from the console: only an admin, a correction checked as the
    /// worker checks it and published with the number in +62 form (the values never in the
    /// audit log), a withdrawal of consent with the number typed twice, recorded once.
    @Test func anAdminCorrectsAndRecordsAWithdrawalOfConsentAndNobodyElseCan() async throws {
        let desk = try await Desk()
        // The console knows REG-1 (intake received it), and no REG-404.
        _ = try await desk.console.deliver(
            EventEnvelope(
                id: "received-1", source: "/kaltim/workers/intake", subject: "REG-1",
                data: RegistrationReceivedV1(
                    registrationID: "REG-1", centre: .bontang, programme: "TATA_GRAHA", submittedAt: Date())))
        for user in ["vivi", "rina", "budi"] {
            #expect(try await desk.page("/subjects", user: user).status == 403, "\(user)")
        }
        let page = try await desk.page("/subjects", user: "adi")
        #expect(
            page.status == 200 && page.body.contains("Penarikan persetujuan") && page.body.contains("kaltim-admin subject export")
        )
        // Someone else's forms: an officer posting with her own session is refused.
        let foreign = try await desk.post(
            "/subjects/withdraw-consent", user: "rina", from: "/reviews",
            ["registration": ["REG-1"], "confirm": ["REG-1"], "by": ["pendaftar"], "reference": ["PDP-1"]])
        #expect(foreign.status == 403)
        // A forged token.
        let (_, _, cookie, _) = try await desk.page("/subjects", user: "adi")
        let forged = try await desk.request(
            "POST", "/subjects/correct", user: "adi",
            form: [
                "csrf": [String(repeating: "0", count: 64)], "registration": ["REG-1"], "phone": ["081250000111"],
                "reference": ["PDP-1"],
            ], cookie: cookie)
        #expect(forged.status == 403)
        for (fields, why) in [
            (["registration": ["REG-1"], "reference": ["PDP-1"]], "isi sedikitnya satu kolom"),
            (["registration": ["REG-1"], "phone": ["12345"], "reference": ["PDP-1"]], "bukan nomor seluler"),
            (["registration": ["REG-1"], "email": ["bukan surel"], "reference": ["PDP-1"]], "e-mail tidak sah"),
            (["registration": ["REG-1"], "name": ["Siti\u{202E}nahk"], "reference": ["PDP-1"]], "nama harus satu baris"),
            (["registration": ["REG 1;"], "phone": ["081250000111"], "reference": ["PDP-1"]], "nomor pendaftaran"),
            (["registration": ["REG-1"], "phone": ["081250000111"], "reference": [" "]], "nomor permohonan"),
            (["registration": ["REG-404"], "phone": ["081250000111"], "reference": ["PDP-1"]], "tidak dikenal"),
        ] {
            let refused = try await desk.post("/subjects/correct", user: "adi", from: "/subjects", fields)
            #expect(refused.status == 422 && refused.body.contains(why), "\(why)")
        }
        #expect(try await desk.outbox().isEmpty, "nothing refused reaches the outbox")
        // Taken: 303 to the page, which shows the outcome once.
        let (_, _, adiCookie, adiCSRF) = try await desk.page("/subjects", user: "adi")
        let corrected = try await desk.send(
            "POST", "/subjects/correct", user: "adi",
            form: [
                "registration": ["REG-1"], "phone": ["0812-5000-0111"], "name": ["Siti Rahma"], "reference": ["PDP-2026-004"],
                "csrf": [adiCSRF],
            ], cookie: adiCookie)
        #expect(corrected.status == 303 && corrected.location == "/subjects", "\(corrected.status)")
        let shown = try await desk.request("GET", "/subjects", user: "adi", cookie: adiCookie)
        #expect(shown.status == 200 && shown.body.contains("untuk REG-1 dicatat atas nama adi dan dikirim"), "\(shown.body)")
        #expect(
            !(try await desk.request("GET", "/subjects", user: "adi", cookie: adiCookie).body.contains("dicatat atas nama adi")))
        let correction = try ContractJSON.decoder().decode(
            EventEnvelope<RegistrationCorrectedV1>.self, from: try #require(try await desk.outbox().first).body
        ).data
        #expect(correction.phone == "+6281250000111" && correction.fullName == "Siti Rahma" && correction.correctedBy == "adi")
        #expect(correction.whatsApp == nil && correction.email == nil && correction.reference == "PDP-2026-004")

        for (fields, why) in [
            (["registration": ["REG-1"], "confirm": ["REG-2"], "by": ["pendaftar"], "reference": ["PDP-1"]], "berbeda"),
            (["registration": ["REG-1"], "confirm": ["REG-1"], "by": ["tetangga"], "reference": ["PDP-1"]], "pilih siapa"),
            (
                ["registration": ["REG-1"], "confirm": ["REG-1"], "by": ["pendaftar"], "reference": ["PDP\u{0007}"]],
                "wajib diisi"
            ),
            (
                ["registration": ["REG-404"], "confirm": ["REG-404"], "by": ["pendaftar"], "reference": ["PDP-1"]],
                "tidak dikenal"
            ),
        ] {
            let refused = try await desk.post("/subjects/withdraw-consent", user: "adi", from: "/subjects", fields)
            #expect(refused.status == 422 && refused.body.contains(why), "\(why)")
        }
        let fields = ["registration": ["REG-1"], "confirm": ["REG-1"], "by": ["orang-tua-wali"], "reference": ["PDP-2026-011"]]
        let withdrawn = try await desk.post("/subjects/withdraw-consent", user: "adi", from: "/subjects", fields)
        #expect(withdrawn.status == 200 && withdrawn.body.contains("Penarikan persetujuan untuk REG-1 dicatat"))
        #expect(try await desk.post("/subjects/withdraw-consent", user: "adi", from: "/subjects", fields).status == 409)
        let events = try await desk.outbox()
        #expect(events.map(\.type) == [RegistrationCorrectedV1.eventType, ConsentWithdrawnV1.eventType])
        let withdrawal = try ContractJSON.decoder().decode(EventEnvelope<ConsentWithdrawnV1>.self, from: events[1].body).data
        #expect(withdrawal.withdrawnBy == .parentOrGuardian && withdrawal.recordedBy == "adi")
        let audit = try String(contentsOfFile: desk.auditLog.path, encoding: .utf8)
        #expect(audit.contains("registration.corrected") && audit.contains("consent.withdrawn"))
        #expect(audit.contains("PDP-2026-004") && audit.contains("PDP-2026-011") && audit.contains("orang-tua-wali"))
        #expect(!audit.contains("81250000111") && !audit.contains("Siti Rahma"), "the values are not audited")
        try await desk.stop()
    }

    @Test func aBLKIAdministratorRecordsForHerOwnBLKIsClassesOnly() async throws {
        let desk = try await Desk()
        let bontang = "BTG-2025-TATA_GRAHA-01"
        let balikpapan = "BPN-2025-TATA_GRAHA-01"
        try await desk.seat("PST-2025-000001", bontang, .bontang)
        try await desk.seat("PST-2025-000002", bontang, .bontang)
        try await desk.seat("PST-2025-000003", balikpapan, .balikpapan)

        let classes = try await desk.page("/blki", user: "budi")
        #expect(classes.status == 200 && classes.body.contains(bontang) && !classes.body.contains(balikpapan))
        #expect(classes.body.contains("<td>Tata Graha</td>"), "the programme's name, not its code")
        let roster = try await desk.page("/blki/class?id=\(bontang)", user: "budi")
        #expect(roster.status == 200 && roster.body.contains("PST-2025-000001") && roster.body.contains("30 Juni 2025"))
        // Another BLKI's class is not there for her, nor for anyone without a BLKI desk.
        #expect(try await desk.page("/blki/class?id=\(balikpapan)", user: "budi").status == 404)
        #expect(try await desk.page("/blki/class.csv?id=\(balikpapan)", user: "budi").status == 404)
        for user in ["vivi", "rina", "adi"] { #expect(try await desk.page("/blki", user: user).status == 403, "\(user)") }

        let from = "/blki/class?id=\(bontang)"
        func record(_ fields: [String: [String]], user: String = "budi") async throws -> (status: Int, body: String) {
            try await desk.post("/blki/record", user: user, from: user == "budi" ? from : "/blki", fields)
        }
        // Hostile and wrong records: refused, nothing published.
        let foreign = try await record(["participant": ["PST-2025-000003"], "class": [balikpapan], "action": ["attended"]])
        #expect(foreign.status == 404)
        let crossed = try await record(["participant": ["PST-2025-000003"], "class": [bontang], "action": ["attended"]])
        #expect(crossed.status == 404, "a participant of another class is not in this roster")
        let fromBalikpapan = try await record(
            ["participant": ["PST-2025-000001"], "class": [bontang], "action": ["attended"]], user: "bella")
        #expect(fromBalikpapan.status == 404)
        let p1: [String: [String]] = ["participant": ["PST-2025-000001"], "class": [bontang]]
        let p2: [String: [String]] = ["participant": ["PST-2025-000002"], "class": [bontang]]
        func with(_ base: [String: [String]], _ fields: [String: [String]]) -> [String: [String]] {
            base.merging(fields) { _, new in new }
        }
        // Today is 1 July 2025: the class starts on 7 July and ends on 15 August.
        for (fields, status, text) in [
            (with(p1, ["action": ["training"], "attendance": ["95"], "result": ["lulus"]]), 422, "belum daftar ulang"),
            (with(p1, ["action": ["delete"]]), 400, "catatan tidak dikenal"),
            (with(p2, ["action": ["withdraw"], "reason": ["resigned"], "on": ["2999-01-01"]]), 422, "setelah hari ini"),
            (with(p2, ["action": ["withdraw"], "reason": ["bored"]]), 422, "pilih alasan"),
            (with(p2, ["action": ["withdraw"], "reason": ["resigned"], "on": ["2025-02-30"]]), 422, "tanggal yang sah"),
            (with(p2, ["action": ["withdraw"], "reason": ["attendance"]]), 422, "setelah kelas dimulai"),
            (["participant": ["PST-2025-000001'--"], "class": [bontang], "action": ["attended"]], 404, "tidak duduk di kelas"),
        ] {
            let refused = try await record(fields)
            #expect(refused.status == status && refused.body.contains(text), "\(fields): \(refused.status)")
        }
        #expect(try await desk.outbox().isEmpty)

        // Daftar ulang, once.
        let attended = try await record(with(p1, ["action": ["attended"]]))
        #expect(attended.status == 200 && attended.body.contains("Dicatat atas nama budi"))
        // Until it comes back through the pipeline the roster says it was sent, and offers it no more.
        let sentRow = try #require(
            attended.body.firstMatch(of: /<tr class="seat" data-participant="PST-2025-000001">.*?<\/tr>/.dotMatchesNewlines())
        ).0
        #expect(sentRow.contains("daftar ulang dikirim: hadir") && !sentRow.contains("value=\"attended\""), "\(sentRow)")
        #expect(try await record(with(p1, ["action": ["absent"]])).status == 409)
        let reRegistration = try #require(try await desk.outbox().first)
        #expect(reRegistration.type == EnrolmentReRegisteredV1.eventType)
        let recorded = try ContractJSON.decoder().decode(EventEnvelope<EnrolmentReRegisteredV1>.self, from: reRegistration.body)
            .data
        #expect(recorded.attended && recorded.recordedBy == "budi" && recorded.participantID == "PST-2025-000001")
        // The read model takes the event back when it comes round (as the broker would bring it).
        #expect(try await desk.console.deliver(body: reRegistration.body).duplicate == false)
        #expect(try await desk.page(from, user: "budi").body.contains("daftar ulang dicatat: hadir"))
        // Before the class ends there is no training result.
        let early = try await record(with(p1, ["action": ["training"], "attendance": ["92,5"], "result": ["lulus"]]))
        #expect(early.status == 422 && early.body.contains("setelah kelas selesai"))

        // 20 August: the class is over. No daftar ulang any more (a missing participant is a
        // withdrawal), and a withdrawal dated before the start of the running class is the office's.
        desk.today.value.withLock { $0 = "2025-08-20" }
        let late = try await record(with(p2, ["action": ["absent"]]))
        #expect(late.status == 422 && late.body.contains("kelas sudah dimulai"))
        let backdated = try await record(with(p2, ["action": ["withdraw"], "reason": ["resigned"], "on": ["2025-07-01"]]))
        #expect(backdated.status == 422 && backdated.body.contains("Disnakertrans"))
        // The training result: at least 80 % for LULUS, once.
        let low = try await record(with(p1, ["action": ["training"], "attendance": ["79,9"], "result": ["lulus"]]))
        #expect(low.status == 422 && low.body.contains("80%"))
        // Post/redirect/get: the form answers 303 to its class page, which shows what was sent
        // once; reloading that page sends nothing again.
        let (_, _, cookie, csrf) = try await desk.page(from, user: "budi")
        let passed = try await desk.send(
            "POST", "/blki/record", user: "budi",
            form: with(p1, ["action": ["training"], "attendance": ["92,5"], "result": ["lulus"], "csrf": [csrf]]),
            cookie: cookie)
        #expect(passed.status == 303 && passed.location == from, "\(passed.status) \(passed.location ?? "-")")
        let shown = try await desk.request("GET", from, user: "budi", cookie: cookie)
        #expect(shown.status == 200 && shown.body.contains("Dicatat atas nama budi dan dikirim: hasil pelatihan"))
        let reloaded = try await desk.request("GET", from, user: "budi", cookie: cookie)
        #expect(reloaded.status == 200 && !reloaded.body.contains("Dicatat atas nama budi"), "the outcome is shown once")
        // A withdrawal of the other participant, dated today by default.
        let withdrawn = try await record(with(p2, ["action": ["withdraw"], "reason": ["attendance"]]))
        #expect(withdrawn.status == 200)
        // Once a withdrawal is sent, nothing else is taken for the seat (the page offers nothing).
        let afterWithdrawal = try await record(with(p2, ["action": ["training"], "attendance": ["85"], "result": ["lulus"]]))
        #expect(afterWithdrawal.status == 409 && afterWithdrawal.body.contains("pengunduran diri peserta ini sudah dikirim"))
        let types = try await desk.outbox().map(\.type)
        #expect(
            types == [
                EnrolmentReRegisteredV1.eventType, TrainingCompletedV1.eventType, EnrolmentWithdrawalRequestedV1.eventType,
            ])
        let request = try ContractJSON.decoder().decode(
            EventEnvelope<EnrolmentWithdrawalRequestedV1>.self, from: try #require(try await desk.outbox().last).body
        ).data
        #expect(request.on == "2025-08-20" && request.requestedBy == "budi" && request.classID == bontang)
        #expect(request.reason == .attendanceTooLow)
        let training = try ContractJSON.decoder().decode(
            EventEnvelope<TrainingCompletedV1>.self, from: try #require(try await desk.outbox().dropFirst().first).body)
        _ = try await desk.console.deliver(body: try #require(try await desk.outbox().dropFirst().first).body)
        #expect(training.data.attendancePercent == 92.5 && training.data.result == .passed)

        // The roster as a CSV daftar hadir.
        let (status, csv, _) = try await desk.request("GET", "/blki/class.csv?id=\(bontang)", user: "budi")
        #expect(status == 200 && csv.hasPrefix("kelas,no_peserta,status,daftar_ulang"))
        #expect(csv.contains("\r\n\(bontang),PST-2025-000001,dicatat LULUS pelatihan,hadir,92.5,LULUS\r\n"), "\(csv)")
        try await desk.stop()
    }

    /// A form's outcome waits for the page it was sent to: another page of the session (a
    /// second tab) does not take it, another session never sees it, and it is shown once.
    @Test func aFormsOutcomeIsKeptForItsOwnPageOnce() {
        let sessions = SessionStore()
        let user = ConsoleAccounts.User(name: "adi", role: .admin, passwordHash: "x")
        let first = sessions.create(user)
        let second = sessions.create(user)
        sessions.setFlash(first.id, path: "/subjects", Page.message("koreksi dicatat", kind: "ok"))
        #expect(sessions.takeFlash(first.id, path: "/dead-letters") == nil)
        #expect(sessions.takeFlash(second.id, path: "/subjects") == nil)
        #expect(sessions.takeFlash(first.id, path: "/subjects")?.description.contains("koreksi dicatat") == true)
        #expect(sessions.takeFlash(first.id, path: "/subjects") == nil, "once")
        // Bounded: a ninth page's outcome starts the table afresh.
        for index in 0..<9 { sessions.setFlash(first.id, path: "/p\(index)", Page.message("\(index)")) }
        #expect(sessions.takeFlash(first.id, path: "/p0") == nil && sessions.takeFlash(first.id, path: "/p8") != nil)
    }

    @Test(arguments: [
        "=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "a,b", "say \"hi\"", "plain",
    ])
    func aCSVFieldIsNeverAFormulaAndAlwaysOneField(value: String) {
        let field = ConsoleServer.csvField(value)
        #expect(!"=+-@".contains(field.first ?? " ") || field.hasPrefix("\""))
        if field.hasPrefix("\"") {
            #expect(
                field.hasSuffix("\"") && !field.dropFirst().dropLast().replacingOccurrences(of: "\"\"", with: "").contains("\""))
            #expect(!"=+-@".contains(field.dropFirst().first ?? " "))
        }
    }
}

/// Lets the test see a redirect instead of following it.
final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}
