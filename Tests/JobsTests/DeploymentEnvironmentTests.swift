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
}
