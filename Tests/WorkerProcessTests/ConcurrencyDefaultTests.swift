import ArgumentParser
import ContractKit
import Testing
import Topology
import WorkerHost

/// How many messages a worker process holds at once when `--concurrency` is not given.
struct ConcurrencyDefaultTests {
    @Test func intakeAndNotificationsHold256AndTheOthers64UnlessTold() throws {
        for role in WorkerRole.all {
            let options = try WorkerCommandOptions.parse([])
            #expect(
                options.concurrency(of: role) == (["intake", "notifications"].contains(role.name) ? 256 : 64), "\(role.name)")
            let told = try WorkerCommandOptions.parse(["--concurrency", "8"])
            #expect(told.concurrency(of: role) == 8, "\(role.name)")
        }
        for refused in ["0", "65536", "-1", "many"] {
            #expect(throws: (any Error).self, "\(refused)") {
                let options = try WorkerCommandOptions.parse(["--concurrency", refused])
                try options.validate()
            }
        }
    }
}
