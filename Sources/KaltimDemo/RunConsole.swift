// The console of a main-job run (`scripts/run.sh --console`): started on the run's topology
// before the first registration, left running at the end with its address and demo accounts.
import CommandOptions
import Foundation
import WorkerHost

/// The web console started for one run of the main job.
struct RunConsole {
    /// One demo account: who would sign in as it, and its password (made for this run).
    struct Account {
        let name: String
        let role: String
        let centre: String?
        var lsp: String? = nil
        let password: String
        let who: String
    }

    let pid: pid_t
    let address: String
    let accounts: [Account]
    let accountsFile: String
    let log: String
    /// The certificate verification service started beside it (`kaltim-console verification`).
    var verification: Verification?

    /// The run's verification service: its process, address and log.
    struct Verification {
        let pid: pid_t
        let address: String
        let log: String
    }

    /// The accounts of a run: one per kind of user the console serves.
    static func demoAccounts() -> [Account] {
        func password() -> String {
            let letters = Array("abcdefghjkmnpqrstuvwxyz23456789")
            var generator = SystemRandomNumberGenerator()
            return String((0..<14).map { _ in letters.randomElement(using: &generator)! })
        }
        return [
            Account(name: "admin", role: "admin", centre: nil, password: password(), who: "admin (semua halaman operasi)"),
            Account(
                name: "operator", role: "operator", centre: nil, password: password(), who: "operator (antrean, pesan gagal)"),
            Account(name: "pemantau", role: "viewer", centre: nil, password: password(), who: "pemantau (hanya melihat)"),
            Account(name: "petugas", role: "officer", centre: nil, password: password(), who: "petugas verifikasi Disnakertrans"),
            Account(
                name: "blki-balikpapan", role: "blki", centre: "BLKI_BALIKPAPAN", password: password(),
                who: "admin BLKI Balikpapan"),
            Account(name: "blki-bontang", role: "blki", centre: "BLKI_BONTANG", password: password(), who: "admin BLKI Bontang"),
            // The LSP the run's assessments come from (ProgrammeRun+Publishing).
            Account(
                name: "lsp", role: "lsp", centre: nil, lsp: "BNSP-LSP-0123-ID", password: password(),
                who: "koordinator LSP (BNSP-LSP-0123-ID)"),
        ]
    }

    /// Writes the accounts file (password hashes made by `kaltim-console hash-password`),
    /// starts `kaltim-console serve` on the run's topology and waits until it listens.
    static func start(_ run: ProgrammeRun, binary: String, port: Int) async throws -> RunConsole {
        let accounts = demoAccounts()
        var users: [[String: String]] = []
        for account in accounts {
            var user = ["name": account.name, "role": account.role, "passwordHash": try hash(account.password, with: binary)]
            if let centre = account.centre { user["centre"] = centre }
            if let lsp = account.lsp { user["lsp"] = lsp }
            users.append(user)
        }
        let accountsFile = run.path("console-accounts.json")
        try JSONSerialization.data(withJSONObject: ["users": users], options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: accountsFile))
        var arguments = [
            "serve", "--broker-url", run.url, "--admin-url", run.url, "--accounts", accountsFile, "--audit-log",
            run.path("var/audit.jsonl"), "--console-port", String(port), "--topology-prefix", run.prefix,
            "--programme-file", run.options.programme.programmeFile, "--allow-any-publisher", "--no-http",
        ]
        if let postgres = run.options.postgres {
            arguments += [
                "--database", postgres, "--store-schema", run.schemaPrefix + "console", "--intake-store", postgres,
                "--intake-store-schema", run.schemaPrefix + "intake", "--certificates-store", postgres,
                "--certificates-store-schema", run.schemaPrefix + "certificates",
            ]
        } else {
            arguments += [
                "--database", run.path("var/console.sqlite"), "--intake-store", run.path("var/intake.sqlite"),
                "--certificates-store", run.path("var/certificates.sqlite"),
            ]
        }
        let log = run.path("logs/console.log")
        // The run's topology stays with the console; the next run.sh deletes it by this prefix.
        try "\(run.prefix)\n".write(toFile: run.path("console.prefix"), atomically: true, encoding: .utf8)
        let (pid, address) = try await launch(
            binary, arguments, what: "the console", listening: "console listening", pidFile: run.path("console.pid"),
            log: log)
        return RunConsole(pid: pid, address: address, accounts: accounts, accountsFile: accountsFile, log: log)
    }

    /// Starts `kaltim-console verification` on the run's certificates SQLite store (the
    /// development key signs the run's certificates) at `port`, which the workers' QR codes
    /// and links already name, and waits until it listens.
    static func startVerification(_ run: ProgrammeRun, binary: String, port: Int) async throws -> Verification {
        let arguments = [
            "verification", "--development-key", "--programme-file", run.options.programme.programmeFile, "--port",
            String(port), "--database", run.path("var/certificates.sqlite"),
        ]
        let log = run.path("logs/verification.log")
        let (pid, address) = try await launch(
            binary, arguments, what: "the verification service", listening: "verification service listening",
            pidFile: run.path("verification.pid"), log: log)
        return Verification(pid: pid, address: address, log: log)
    }

    /// Starts a kaltim-console process, writes its pid file and waits (up to 2 minutes) until
    /// its log says `listening`; a process that did not come up is not left behind.
    static func launch(
        _ binary: String, _ arguments: [String], what: String, listening: String, pidFile: String, log: String
    ) async throws -> (pid: pid_t, address: String) {
        let pid = try ProcessSpawner.spawn(binary, arguments, log: log, truncate: true)
        try "\(pid)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        let deadline = ContinuousClock.now + .seconds(120)
        while true {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            // The console logs JSON ({"msg":"console listening",…,"listen":"127.0.0.1:8080",…}),
            // the verification service text (… listen=127.0.0.1:8090 [Verification] … listening).
            if let line = text.split(separator: "\n").first(where: { $0.contains(listening) }),
                let start = line.firstRange(of: "\"listen\":\"") ?? line.firstRange(of: "listen=")
            {
                return (pid, "http://" + line[start.upperBound...].prefix { $0 != "\"" && $0 != " " })
            }
            if ProcessSpawner.exitStatus(of: pid) != nil {
                unlink(pidFile)
                throw FleetError("\(what) exited at start (is its port taken?); see \(log)")
            }
            guard ContinuousClock.now < deadline else {
                ProcessSpawner.stop([pid], within: .seconds(10))
                unlink(pidFile)
                throw FleetError("\(what) did not start; see \(log)")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// The hash of `password` for the accounts file, from the console's own command.
    static func hash(_ password: String, with binary: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["hash-password"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data((password + "\n").utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let hash = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0, !hash.isEmpty else {
            throw FleetError("kaltim-console hash-password failed (status \(process.terminationStatus))")
        }
        return hash
    }

    /// The demo accounts, one line each.
    var accountLines: [String] {
        accounts.map { "    \($0.name.padding(toLength: 16, withPad: " ", startingAt: 0)) \($0.password)   \($0.who)" }
    }

    /// Writes the accounts with their passwords to `console-accounts.txt`, created readable by
    /// its owner only (never, even for a moment, by the group), and prints them: the console
    /// can be opened while the run goes on.
    func announce(root: String) throws {
        let file = root + "/console-accounts.txt"
        unlink(file)
        let descriptor = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw FleetError("cannot create \(file): \(String(cString: strerror(errno)))") }
        let text = "Konsol: \(address)\nAkun demo (dibuat untuk run ini):\n" + accountLines.joined(separator: "\n") + "\n"
        let written = text.utf8CString.withUnsafeBufferPointer { write(descriptor, $0.baseAddress, $0.count - 1) }
        close(descriptor)
        guard written == text.utf8.count else { throw FleetError("cannot write \(file)") }
        print(
            (["  console: \(address) (pid \(pid)); demo accounts (also in \(file)):"] + accountLines)
                .joined(separator: "\n"))
        if let verification {
            print("  certificate verification: \(verification.address) (pid \(verification.pid))")
        }
    }

    /// What the person who ran the job needs at the end: the console is still running.
    func printInstructions(root: String) {
        var lines = [
            "", "Konsol tetap berjalan: \(address)  (pid \(pid); hentikan dengan: kill \(pid))",
            "  Topologi run ini dibiarkan di broker agar konsol dapat membaca antreannya; broker juga tetap berjalan",
            "  (hentikan dengan: scripts/broker.sh stop). Run berikutnya menghentikan konsol ini dan menghapus antreannya.",
            "  Akun demo (dibuat untuk run ini; juga di \(root)/console-accounts.txt):",
        ]
        lines += accountLines
        lines.append("  Log konsol: \(log)")
        if let verification {
            lines += [
                "Layanan verifikasi sertifikat tetap berjalan: \(verification.address)  (pid \(verification.pid); hentikan dengan: kill \(verification.pid))",
                "  Kode QR pada sertifikat run ini dan tautan dalam pesannya menuju ke sana. Log: \(verification.log)",
            ]
        }
        print(lines.joined(separator: "\n"))
    }
}
