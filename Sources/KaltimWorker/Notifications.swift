import ArgumentParser
import CommandOptions
import Contracts
import DeploymentSettings
import Foundation
import Jobs
import Logging
import Senders
import Topology
import WorkerHost
import Workers

struct Notifications: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the notification worker: tells job seekers about each step, in Bahasa Indonesia, never twice.",
        discussion: """
            Channels: WhatsApp and SMS through an HTTP gateway (--gateway-url; token in KALTIM_GATEWAY_TOKEN), \
            e-mail over SMTP (--smtp-url, --smtp-from; password in KALTIM_SMTP_PASSWORD), or, for a local run, \
            --notification-log FILE, which writes every message to a JSON-lines file instead.
            """)

    @OptionGroup var options: WorkerCommandOptions
    @OptionGroup var programme: ProgrammeOptions
    @Option(help: ArgumentHelp("Folder of the message templates.", valueName: "path"))
    var templates = InstallLayout.current.config("notifications")
    @Option(help: ArgumentHelp("Write every message to this JSON-lines file instead of sending it.", valueName: "path"))
    var notificationLog: String?
    @Option(help: ArgumentHelp("WhatsApp/SMS gateway endpoint (JSON POST).", valueName: "url")) var gatewayURL: String?
    @Option(help: ArgumentHelp("SMTP server, smtp://host:port or smtps://host:port.", valueName: "url")) var smtpURL: String?
    @Option(help: ArgumentHelp("Sender address of e-mails.", valueName: "address")) var smtpFrom =
        "noreply@disnakertrans.kaltimprov.go.id"
    @Option(help: ArgumentHelp("SMTP user name (password in KALTIM_SMTP_PASSWORD).", valueName: "name")) var smtpUser: String?
    @Flag(help: "Require STARTTLS on an smtp:// connection (the default; kept for existing configurations).")
    var smtpStarttls = false
    @Flag(
        help: "Development only: send e-mail over smtp:// without STARTTLS (a local relay), which exposes addresses and texts.")
    var allowInsecureSmtp = false
    @Flag(help: "Development only: allow an http:// gateway URL, which exposes the token, numbers and texts.")
    var allowInsecureGateway = false
    @Option(help: ArgumentHelp("CA bundle for the SMTP server's certificate.", valueName: "path")) var smtpCAFile: String?
    @Option(help: ArgumentHelp("Hours in which non-urgent messages wait, in WITA, or `off`.", valueName: "HH:MM-HH:MM"))
    var quietHours = "21:00-07:00"
    @Option(help: ArgumentHelp("Sends per second on each gateway channel (WhatsApp, SMS).", valueName: "n")) var gatewayRate =
        20.0
    @Option(help: ArgumentHelp("E-mails per second.", valueName: "n")) var smtpRate = 10.0
    @Option(
        help: ArgumentHelp(
            "Seconds a replica reserves a message it is sending, on the store's clock; another replica (or this one after a crash) sends it again only after that, with the same idempotency key. Longer than the slowest send.",
            valueName: "seconds"))
    var sendClaim = 120
    @Option(
        help: ArgumentHelp(
            "Base of the certificate verification link, followed by / and the code (default: $KALTIM_VERIFICATION_URL/verifikasi, else https://sertifikat.disnakertrans.kaltimprov.go.id/verifikasi).",
            valueName: "url"))
    var verificationURL: String?
    @Option(
        help: ArgumentHelp(
            "Days a sent or failed message keeps its values and the numbers and addresses it went to; 0 keeps them for ever.",
            valueName: "days"))
    var messageDataRetentionDays = 30
    @Option(
        help: ArgumentHelp(
            "Days a person's contact is kept after their last message (none waiting); 0 keeps contacts for ever.",
            valueName: "days"))
    var contactRetentionDays = 365
    @Option(
        help: ArgumentHelp(
            "Testing only: run the dispatcher's clock this many seconds ahead of the machine's, as a replica with a wrong clock would (its claims must still follow the store's clock).",
            valueName: "seconds", visibility: .hidden))
    var dispatcherClockAhead = 0

    func validate() throws {
        if let verificationURL, !DeploymentEnvironment.isWebAddress(verificationURL) || verificationURL.utf8.count > 200 {
            throw ValidationError("--verification-url is an http(s) address with a host and no query, at most 200 bytes")
        }
        guard (0...36_500).contains(messageDataRetentionDays) else {
            throw ValidationError("--message-data-retention-days is 0 (for ever) to 36500")
        }
        guard (0...86_400).contains(dispatcherClockAhead) else {
            throw ValidationError("--dispatcher-clock-ahead is 0 to 86400 seconds")
        }
        // A test's option: it moves quiet hours and the purges too, so it needs saying twice.
        guard dispatcherClockAhead == 0 || ProcessInfo.processInfo.environment["KALTIM_TESTING"] == "1" else {
            throw ValidationError("--dispatcher-clock-ahead is for tests only (with KALTIM_TESTING=1 in the environment)")
        }
        guard (0...36_500).contains(contactRetentionDays) else {
            throw ValidationError("--contact-retention-days is 0 (for ever) to 36500")
        }
        guard notificationLog != nil || gatewayURL != nil || smtpURL != nil else {
            throw ValidationError("configure a channel: --gateway-url, --smtp-url or --notification-log")
        }
        guard quietHours == "off" || QuietHours(quietHours) != nil else {
            throw ValidationError("--quiet-hours must look like 21:00-07:00, or be off")
        }
        for (name, url) in [("--gateway-url", gatewayURL), ("--smtp-url", smtpURL)] {
            if let url, URL(string: url)?.host == nil { throw ValidationError("\(name) is not a URL with a host: \(url)") }
        }
        // Transport: personal data (numbers, addresses, texts) and the gateway's token travel
        // encrypted unless a development flag says otherwise, by name.
        if let gatewayURL {
            switch URL(string: gatewayURL)?.scheme?.lowercased() {
            case "https": break
            case "http" where allowInsecureGateway: break
            case "http":
                throw ValidationError(
                    "--gateway-url must be https:// (or give --allow-insecure-gateway for a local test)")
            default: throw ValidationError("--gateway-url must be an https:// URL: \(gatewayURL)")
            }
        }
        if let smtpURL {
            switch URL(string: smtpURL)?.scheme?.lowercased() {
            case "smtps", "smtp": break
            default: throw ValidationError("--smtp-url must be smtps:// or smtp:// (with STARTTLS): \(smtpURL)")
            }
            if smtpStarttls && allowInsecureSmtp {
                throw ValidationError("--smtp-starttls and --allow-insecure-smtp exclude each other")
            }
        }
        guard gatewayRate > 0, smtpRate > 0, gatewayRate.isFinite, smtpRate.isFinite else {
            throw ValidationError("rates must be finite numbers above 0")
        }
        // The gateway's and the SMTP client's timeouts are 10 s: a shorter claim would let a
        // replica send a message whose first send may still succeed.
        guard (30...86_400).contains(sendClaim) else { throw ValidationError("--send-claim must be 30 to 86400 seconds") }
    }

    /// STARTTLS on smtp:// unless `--allow-insecure-smtp` (smtps:// is encrypted from the start).
    func requiresStartTLS(_ url: String) -> Bool {
        URL(string: url)?.scheme?.lowercased() == "smtp" && !allowInsecureSmtp
    }

    func run() async throws {

        PersonalData.restrictNewFiles()  // stores, logs, certificates and exports hold personal data
        let catalogue = try programme.load()
        let loaded: NotificationTemplates
        do {
            loaded = try NotificationTemplates(directory: templates)
        } catch {
            throw ValidationError("\(error)")
        }
        var senders: [NotificationChannel: any MessageSender] = [:]
        if let notificationLog {
            let file = try FileSender(path: notificationLog)
            for channel in [NotificationChannel.whatsApp, .sms, .email] { senders[channel] = file }
        } else {
            let environment = DeploymentEnvironment.current
            if let gatewayURL {
                let gateway = HTTPGatewaySender(url: gatewayURL, token: environment["KALTIM_GATEWAY_TOKEN"])
                senders[.whatsApp] = gateway
                senders[.sms] = gateway
            }
            if let smtpURL {
                if let missing = SMTPSender.libraryError {
                    throw ValidationError("--smtp-url needs libcurl (Debian: libcurl4): \(missing)")
                }
                senders[.email] = SMTPSender(
                    url: smtpURL, from: smtpFrom, username: smtpUser, password: environment["KALTIM_SMTP_PASSWORD"],
                    startTLS: requiresStartTLS(smtpURL), caFile: smtpCAFile)
            }
        }
        var dispatcherOptions = DispatcherOptions()
        dispatcherOptions.claim = .seconds(sendClaim)
        dispatcherOptions.messageDataRetention =
            messageDataRetentionDays == 0 ? nil : .seconds(messageDataRetentionDays * 86_400)
        dispatcherOptions.contactRetention = contactRetentionDays == 0 ? nil : .seconds(contactRetentionDays * 86_400)
        dispatcherOptions.quietHours = quietHours == "off" ? nil : QuietHours(quietHours)
        dispatcherOptions.rates = [
            .whatsApp: (gatewayRate, gatewayRate * 2), .sms: (gatewayRate, gatewayRate * 2), .email: (smtpRate, smtpRate * 2),
        ]
        let verificationBaseURL: String
        do {
            verificationBaseURL = try verificationURL ?? DeploymentEnvironment.current.verificationAddress() + "/verifikasi"
        } catch {
            throw ValidationError("\(error)")
        }
        let topology = try options.topology(role: .notifications)
        let ahead = Double(dispatcherClockAhead)
        // The dispatcher sends what a commit queued at once, woken by the worker.
        let doorbell = Doorbell()
        try await WorkerHost.run(
            role: .notifications,
            handler: NotificationHandler(
                templates: loaded, catalogue: catalogue, verificationBaseURL: verificationBaseURL),
            options: options,
            afterCommit: { committed in if !committed.isEmpty { doorbell.ring() } },
            services: { store, instance, logger, outbox in
                if let gatewayURL, URL(string: gatewayURL)?.scheme?.lowercased() == "http" {
                    logger.warning("the gateway is reached over plain http (--allow-insecure-gateway): development only")
                }
                if let smtpURL, URL(string: smtpURL)?.scheme?.lowercased() == "smtp", !requiresStartTLS(smtpURL) {
                    logger.warning("e-mail goes over smtp:// without STARTTLS (--allow-insecure-smtp): development only")
                }
                if ahead > 0 {
                    logger.warning(
                        "the dispatcher's clock runs ahead of the machine's (--dispatcher-clock-ahead): testing only",
                        metadata: ["seconds": "\(Int(ahead))"])
                }
                return [
                    NotificationDispatcher(
                        store: store, templates: loaded, senders: senders, options: dispatcherOptions,
                        exchange: topology.exchange, instance: instance, now: { Date().addingTimeInterval(ahead) },
                        doorbell: doorbell, outbox: outbox, logger: logger)
                ]
            })
    }
}
