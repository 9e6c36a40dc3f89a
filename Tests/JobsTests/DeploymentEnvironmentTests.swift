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
        #expect(empty.auditLogPath(option: nil) == "var/audit.jsonl")
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
        ] {
            let refused = #expect(throws: DeploymentSettingError.self, "\(value)") {
                try DeploymentEnvironment(["KALTIM_VERIFICATION_URL": value]).verificationAddress()
            }
            #expect(refused?.setting == "KALTIM_VERIFICATION_URL")
            #expect(refused?.description.contains("secret") != true, "no password repeated")
        }
    }
}
