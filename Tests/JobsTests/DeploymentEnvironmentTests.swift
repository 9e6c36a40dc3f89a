import DeploymentSettings
import Jobs
import Testing

/// The environment is read in one place, and what it holds is checked there: an option wins,
/// then the variable, then the local default; a value that is not a setting is an error that
/// names it, never a silent fallback.
struct DeploymentEnvironmentTests {
    @Test func anOptionWinsThenTheVariableThenTheLocalDefault() {
        let empty = DeploymentEnvironment([:])
        #expect(empty.brokerURL(option: nil) == DeploymentEnvironment.localBrokerURL)
        let set = DeploymentEnvironment([
            "KALTIM_BROKER_URL": "amqp://worker@broker:5672/", "KALTIM_ADMIN_URL": "amqp://admin@broker:5672/",
            "KALTIM_AUDIT_LOG": "/var/log/kaltim/audit.jsonl", "KALTIM_MANAGEMENT_URL": "",
        ])
        #expect(set.brokerURL(option: nil) == "amqp://worker@broker:5672/")
        #expect(set.brokerURL(option: "amqp://other/") == "amqp://other/")
        #expect(set.adminBrokerURL(option: nil) == "amqp://admin@broker:5672/")
        #expect(DeploymentEnvironment(["KALTIM_BROKER_URL": "amqp://b/"]).adminBrokerURL(option: nil) == "amqp://b/")
        #expect(empty.adminBrokerURL(option: nil) == nil)
        #expect(set.auditLogPath(option: nil) == "/var/log/kaltim/audit.jsonl")
        #expect(empty.auditLogPath(option: nil, layout: InstallLayout(environment: empty, isCheckout: true)) == "var/audit.jsonl")
        #expect(
            empty.auditLogPath(option: nil, layout: InstallLayout(environment: empty, isCheckout: false))
                == "/var/lib/kaltim/audit.jsonl")
        #expect(set.managementURL(option: nil) == nil, "an empty variable counts as unset")
    }

    @Test func theRetryQueueTypeIsCheckedNotGuessed() throws {
        #expect(try DeploymentEnvironment([:]).retryQueueType() == .classic)
        #expect(try DeploymentEnvironment(["KALTIM_RETRY_QUEUE_TYPE": "Quorum"]).retryQueueType() == .quorum)
        #expect(try DeploymentEnvironment(["KALTIM_RETRY_QUEUE_TYPE": "quorum\n"]).retryQueueType() == .quorum, "from a file")
        #expect(try DeploymentEnvironment(["KALTIM_RETRY_QUEUE_TYPE": "quorum"]).retryQueueType(option: "classic") == .classic)
        let bad = #expect(throws: DeploymentSettingError.self) {
            try DeploymentEnvironment(["KALTIM_RETRY_QUEUE_TYPE": "qourum"]).retryQueueType()
        }
        #expect(bad?.setting == "KALTIM_RETRY_QUEUE_TYPE")
        #expect(bad?.description == "KALTIM_RETRY_QUEUE_TYPE must be classic or quorum, not 'qourum'")
        let badOption = #expect(throws: DeploymentSettingError.self) {
            try DeploymentEnvironment([:]).retryQueueType(option: "stream")
        }
        #expect(badOption?.setting == "--retry-queue-type")
    }

    @Test func theVerificationAddressIsTheDeploymentsOrThePublicOneNeverAnythingElse() throws {
        #expect(try DeploymentEnvironment([:]).verificationAddress() == DeploymentEnvironment.publicVerificationAddress)
        #expect(
            try DeploymentEnvironment(["KALTIM_VERIFICATION_URL": "https://sertifikat.example.go.id///"]).verificationAddress()
                == "https://sertifikat.example.go.id", "without its trailing slashes: the paths follow it")
        #expect(
            try DeploymentEnvironment(["KALTIM_VERIFICATION_URL": "http://127.0.0.1:8090/kaltim"]).verificationAddress()
                == "http://127.0.0.1:8090/kaltim")
        // What an environment file could hold by mistake or by malice: each refused by name,
        // never put in a QR code or a message.
        for value in [
            "javascript:alert(1)", "sertifikat.example.go.id", "https://", "ftp://sertifikat.example.go.id",
            "https://sertifikat.example.go.id/?next=evil", "https://sertifikat.example.go.id/#x",
            "https://user:secret@sertifikat.example.go.id", "https://sertifikat.example.go.id/a b",
            "https://sertifikat.example.go.id/\n", "https://" + String(repeating: "a", count: 150) + ".go.id",
            // Characters Foundation's URL parser percent-encodes and a reader would not see: C1
            // next line, a right-to-left override, a zero-width space, a line separator, a no-break space.
            "https://sertifikat.example.go.id/\u{85}", "https://sertifikat.example.go.id/\u{202E}di.og",
            "https://sertifikat\u{200B}.example.go.id", "https://sertifikat.example.go.id/\u{2028}",
            "https://sertifikat.example.go.id/\u{A0}x", "https://sertifikat.example.go.id/\u{FE0F}",
            // A Braille blank, drawn as nothing; a Cyrillic "е" that reads as Latin.
            "https://sertifikat.example.go.id/\u{2800}", "https://sertifikat.\u{435}xample.go.id",
            "https://sertifikat\u{115F}.example.go.id", "https://sertifikat.example.go.id/\u{E000}",
        ] {
            let refused = #expect(throws: DeploymentSettingError.self, "\(value)") {
                try DeploymentEnvironment(["KALTIM_VERIFICATION_URL": value]).verificationAddress()
            }
            #expect(refused?.setting == "KALTIM_VERIFICATION_URL")
            #expect(refused?.description.contains("secret") != true, "no password repeated")
        }
    }

    /// A command's default files: the checkout's `config/` and `var/` only in a checkout, the
    /// installed folders anywhere else (never `var/` under `/`), and the deployment's folders
    /// when it names them.
    @Test func defaultFilesComeFromTheCheckoutOrTheInstallNeverFromWhereverTheCommandStarted() {
        let checkout = InstallLayout(environment: DeploymentEnvironment([:]), isCheckout: true)
        #expect(checkout.config("programme-2025.json") == "config/programme-2025.json")
        #expect(checkout.state("intake.sqlite") == "var/intake.sqlite")
        let installed = InstallLayout(environment: DeploymentEnvironment([:]), isCheckout: false)
        #expect(installed.config("notifications") == "/etc/kaltim/notifications")
        #expect(installed.state("console.sqlite") == "/var/lib/kaltim/console.sqlite")
        // systemd's StateDirectory= (several folders: the first), and the deployment's own.
        let unit = InstallLayout(
            environment: DeploymentEnvironment(["STATE_DIRECTORY": "/var/lib/kaltim-test:/var/lib/other"]), isCheckout: false)
        #expect(unit.state("audit.jsonl") == "/var/lib/kaltim-test/audit.jsonl")
        let named = InstallLayout(
            environment: DeploymentEnvironment([
                "KALTIM_CONFIG_DIR": "/opt/kaltim/etc/", "KALTIM_STATE_DIR": "/srv/kaltim", "STATE_DIRECTORY": "/x",
            ]), isCheckout: true)
        #expect(named.config("programme-2025.json") == "/opt/kaltim/etc/programme-2025.json")
        #expect(named.state("grading.sqlite") == "/srv/kaltim/grading.sqlite", "KALTIM_STATE_DIR wins")
        #expect(InstallLayout.checkoutMarker == "config/programme-2025.json")
    }
}
