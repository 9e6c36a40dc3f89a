import AMQP
import Foundation
import TestSupport
import Testing

/// Parts of the AMQP layer that need no broker.
struct ConfigurationTests {
    /// The resolver takes a host in ASCII only: punycode stays punycode (before, it was turned
    /// into Unicode, which no resolver finds), a percent-encoded one is refused with a word on
    /// how to write it.
    @Test func theHostIsKeptAsWrittenInASCII() throws {
        #expect(try AMQPConfiguration(url: "amqp://u:p@xn--bcher-kva.example:5672/").host == "xn--bcher-kva.example")
        #expect(try AMQPConfiguration(url: "amqp://u:p@Broker.Local/").host == "Broker.Local")
        // Foundation writes a host typed in Unicode in punycode itself.
        #expect(try AMQPConfiguration(url: "amqp://u:p@b\u{00FC}cher.example/").host == "xn--bcher-kva.example")
        for url in ["amqp://u:p@b%C3%BCcher.example/", "amqp://u:p@bad%20host/"] {
            do {
                _ = try AMQPConfiguration(url: url)
                Issue.record("\(url) was taken")
            } catch let error as AMQPError {
                #expect(error.code == .invalidConfiguration, "\(url)")
            }
        }
    }

    @Test func parsesAnAMQPURL() throws {
        let configuration = try AMQPConfiguration(
            url: "amqp://intake:s3cret@broker.local:5673/kaltim%2Fprod?heartbeat=15&connection_timeout=2500")
        #expect(configuration.host == "broker.local")
        #expect(configuration.port == 5673)
        #expect(configuration.username == "intake")
        #expect(configuration.password == "s3cret")
        #expect(configuration.virtualHost == "kaltim/prod")
        #expect(configuration.heartbeat == .seconds(15))
        #expect(configuration.connectTimeout == .milliseconds(2500))
        #expect(configuration.tls == nil)
    }

    @Test func aListOfURLsNamesTheNodesOfOneCluster() throws {
        let configuration = try AMQPConfiguration(
            url: "amqp://intake:s3cret@node1:5672/kaltim,amqp://intake:s3cret@node2:5673/kaltim,amqp://intake:s3cret@node3/kaltim"
        )
        #expect(configuration.endpoints.map(\.description) == ["node1:5672", "node2:5673", "node3:5672"])
        #expect(configuration.username == "intake" && configuration.virtualHost == "kaltim")
        #expect(configuration.description == "amqp://intake:****@node1:5672,node2:5673,node3:5672/kaltim")
        #expect(!configuration.description.contains("s3cret"))
        // A comma inside one URL (a percent-encoded password here) is not a separator.
        #expect(try AMQPConfiguration(url: "amqp://u:a%2Cb@node1/").endpoints.count == 1)
        // The nodes of one cluster share everything but the address.
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "amqp://a:x@node1/,amqp://b:x@node2/") }
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "amqp://a:x@node1/one,amqp://a:x@node2/two") }
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "amqp://a:x@node1/,amqps://a:x@node2/") }
    }

    /// `frame_max` from a URL is held to 4 KiB–1 MiB: a larger one no longer reaches the login
    /// (an `Int32` conversion that trapped past 2^31) nor sizes the connection thread's stack.
    @Test func frameMaxIsBounded() throws {
        #expect(try AMQPConfiguration(url: "amqp://localhost?frame_max=65536").frameMax == 65_536)
        #expect(try AMQPConfiguration(url: "amqp://localhost?frame_max=1048576").frameMax == AMQPConfiguration.frameMaxLimit)
        for bad in ["4095", "1048577", "99999999999", "-1", "9223372036854775808", "0x1000"] {
            #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "amqp://localhost?frame_max=\(bad)") }
        }
    }

    @Test func defaultsFollowTheScheme() throws {
        let plain = try AMQPConfiguration(url: "amqp://localhost")
        #expect(plain.port == 5672)
        #expect(plain.virtualHost == "/")
        #expect(try AMQPConfiguration(url: "amqp://localhost/%2f").virtualHost == "/")
        let tls = try AMQPConfiguration(url: "amqps://localhost?cacertfile=/etc/ca.pem&certfile=/etc/c.pem&keyfile=/etc/k.pem")
        #expect(tls.port == 5671)
        #expect(tls.tls?.caCertificatePath == "/etc/ca.pem")
        #expect(tls.tls?.clientCertificatePath == "/etc/c.pem")
        #expect(tls.tls?.clientKeyPath == "/etc/k.pem")
        #expect(tls.tls?.verifyPeer == true)
    }

    @Test(arguments: [
        "http://localhost", "amqp://localhost:70000", "amqp://localhost?heartbeat=-1", "amqp://localhost?bogus=1",
        "amqp://localhost?cacertfile=/x.pem", "amqps://localhost?verify=maybe", "not a url",
    ])
    func rejectsABadURLWithAClearError(url: String) {
        #expect {
            try AMQPConfiguration(url: url)
        } throws: { error in
            (error as? AMQPError)?.code == .invalidConfiguration
        }
    }

    @Test func descriptionNeverShowsThePassword() throws {
        let configuration = try AMQPConfiguration(url: "amqp://user:topsecret@localhost/")
        #expect(!configuration.description.contains("topsecret"))
        #expect(!"\(configuration)".contains("topsecret"))
    }
}

struct ReconnectPolicyTests {
    @Test func backoffGrowsExponentiallyUpToTheCap() {
        let policy = ReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(2), multiplier: 2)
        #expect(policy.ceiling(forAttempt: 1) == .milliseconds(100))
        #expect(policy.ceiling(forAttempt: 2) == .milliseconds(200))
        #expect(policy.ceiling(forAttempt: 4) == .milliseconds(800))
        #expect(policy.ceiling(forAttempt: 10) == .seconds(2))
        #expect(policy.ceiling(forAttempt: 1000) == .seconds(2))
    }

    @Test func jitterStaysWithinHalfToFullCeilingAndVaries() {
        let policy = ReconnectPolicy(initialDelay: .seconds(1), maximumDelay: .seconds(8))
        var generator = SystemRandomNumberGenerator()
        var seen = Set<Duration>()
        for attempt in 1...6 {
            for _ in 0..<50 {
                let delay = policy.delay(forAttempt: attempt, using: &generator)
                let ceiling = policy.ceiling(forAttempt: attempt)
                #expect(delay >= ceiling / 2 && delay <= ceiling)
                seen.insert(delay)
            }
        }
        #expect(seen.count > 100, "jitter spreads the delays")
    }
}

struct ErrorTests {
    @Test func classifiesRetryableErrors() {
        #expect(AMQPError(.connectionLost, "x").isRetryable)
        #expect(AMQPError(.connectionLost, "x").isConnectionFatal)
        #expect(!AMQPError(.channelClosed, "x", replyCode: 404).isRetryable)
        #expect(!AMQPError(.channelClosed, "x", replyCode: 406).isConnectionFatal)
        #expect(AMQPError(.channelClosed, "x", replyCode: 541).isRetryable)
        #expect(!AMQPError(.publishReturned, "x", replyCode: 312).isRetryable)
    }
}

/// The property list as it travels on the wire: what the fuzzer feeds, checked on its seeds.
struct WirePropertiesTests {
    func seed(_ name: String) throws -> Data {
        try Data(contentsOf: BrokerEnvironment.repositoryRoot.appendingPathComponent("Tests/FuzzCorpus/\(name)"))
    }

    @Test func theFuzzersPropertySeedsDecodeThroughLibrabbitmq() throws {
        let forged = try seed("seed-properties-forged-attempt")
        let properties = try AMQPProperties(wireEncoded: forged)
        #expect(properties.contentType == "application/json")
        #expect(properties.type == "registration.submitted" && properties.userID == "kaltim-portal")
        #expect(properties.messageID == "m-1" && properties.deliveryMode == AMQPProperties.DeliveryMode.persistent)
        #expect(properties.headers?["x-attempt"]?.intValue == .max)
        #expect(properties.headers?["x-published-by"]?.stringValue == "kaltim-office")
        let everyType = try AMQPProperties(wireEncoded: try seed("seed-properties-every-type"))
        #expect(everyType.headers?.count == 8)
        #expect(everyType.headers?["h"] == AMQPFieldValue.table(["x-attempt": .int64(-5)]))
    }

    /// Headers as a hostile publisher may nest them: an array in an array, `levels` deep, around
    /// one integer, in a property list with only the headers flag.
    static func nestedHeaders(levels: Int) -> Data {
        func bigEndian(_ value: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(value).bigEndian) { Array($0) } }
        var value: [UInt8] = [UInt8(ascii: "I")] + bigEndian(7)
        for _ in 0..<levels { value = [UInt8(ascii: "A")] + bigEndian(value.count) + value }
        let entry = [UInt8(1), UInt8(ascii: "d")] + value
        return Data([0x20, 0x00] + bigEndian(entry.count) + entry)
    }

    /// The conversion stops at `maximumNesting` levels: deeper is `.void` (before, 2,000 levels
    /// overflowed a 1 MiB stack, the connection thread's then, in the Swift conversion of a debug
    /// build; deeper
    /// still, librabbitmq's own decoder needs more: `HostileHeaderTests`, on the broker).
    @Test func headersNestedBeyondTheLimitAreCutNotFollowed() async throws {
        func depth(_ value: AMQPFieldValue?) -> Int {
            var levels = 0
            var value = value
            while case .array(let inner) = value {
                levels += 1
                value = inner.first
            }
            return levels
        }
        for levels in [1, AMQPFieldValue.maximumNesting - 1, AMQPFieldValue.maximumNesting, 2_000] {
            // On a thread with the connection thread's stack before this change (1 MiB).
            let headers = await withCheckedContinuation { continuation in
                let thread = Thread {
                    continuation.resume(returning: try? AMQPProperties(wireEncoded: Self.nestedHeaders(levels: levels)).headers)
                }
                thread.stackSize = 1 << 20
                thread.start()
            }
            let value = try #require(headers?["d"], "\(levels) levels decode")
            // The headers table is the first level; each array one more.
            let kept = min(levels, AMQPFieldValue.maximumNesting - 1)
            #expect(depth(value) == kept, "\(levels) levels")
            var innermost = value
            for _ in 0..<kept { if case .array(let inner) = innermost { innermost = inner[0] } }
            #expect(innermost == (levels == kept ? .int32(7) : .void), "\(levels) levels")
        }
    }

    @Test func aPropertyListRoundTripsAndGarbageIsAnError() throws {
        let properties = AMQPProperties(
            contentType: "application/json", headers: ["x-attempt": .int64(.min), "t": .table(["a": .array([.bool(true)])])],
            deliveryMode: .persistent, messageID: "m-2", type: "registration.submitted", userID: "kaltim-portal")
        let decoded = try AMQPProperties(wireEncoded: try properties.wireEncoded())
        #expect(decoded.headers == properties.headers && decoded.messageID == "m-2" && decoded.userID == "kaltim-portal")
        // The largest timestamp on the wire reads back as 2^64 s, and is written back saturated.
        var edge = AMQPProperties(headers: ["t": .timestamp(Date(timeIntervalSince1970: 18_446_744_073_709_551_616))])
        edge.timestamp = Date(timeIntervalSince1970: 1e30)
        let wire = try edge.wireEncoded()
        #expect(try AMQPProperties(wireEncoded: wire).timestamp == Date(timeIntervalSince1970: Double(UInt64.max)))
        for date in [Date(timeIntervalSince1970: -5), Date(timeIntervalSince1970: .nan), Date(timeIntervalSince1970: .infinity)] {
            _ = try AMQPProperties(timestamp: date).wireEncoded()
        }
        for garbage in [Data(), Data([0xFF]), Data([0x20, 0x00, 0xFF, 0xFF, 0xFF, 0xFF])] {
            #expect(throws: AMQPError.self) { try AMQPProperties(wireEncoded: garbage) }
        }
    }
}
