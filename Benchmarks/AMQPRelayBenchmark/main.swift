// The Swift side of the relay benchmark (scripts/bench.sh runs it beside the raw C relay in
// Benchmarks/c-relay): consume from queue A, publish each message to queue B with a publisher
// confirm, then ack it on A. Each message is handled by its own task, the way a worker
// handles messages, so the figure includes the layer's thread hops and continuations.
import AMQP
import Foundation
import Synchronization

/// Counts deliveries (stopping at the limit) and acks, from the connection threads.
final class RelayCounters: Sendable {
    private struct State {
        var limit = Int.max
        var received = 0
        var acked = 0
    }
    private let state = Mutex(State())
    func limit(_ count: Int) { state.withLock { $0.limit = count } }
    /// `nil` past the limit (leave the delivery unacked), else whether it is the first.
    func received() -> Bool? {
        state.withLock { s in
            guard s.received < s.limit else { return nil }
            s.received += 1
            return s.received == 1
        }
    }
    func acked() -> Int {
        state.withLock {
            $0.acked += 1
            return $0.acked
        }
    }
}

final class Counter: Sendable {
    private let value = Mutex(0)
    func increment() -> Int {
        value.withLock {
            $0 += 1
            return $0
        }
    }
}

let usage = """
    usage: amqp-relay-bench relay --url URL --source A --target B --count N [--prefetch P (50)]
                                  [--mode tasks|callbacks|handler (tasks)] [--connections 1|2 (2)]
      Relays N messages from queue A to queue B (default exchange, persistent, mandatory) and
      prints `swift-relay mode=M connections=C messages=N seconds=S rate=R`; the clock starts at
      the first delivery.
      tasks:     each delivery is handled by a task: await publish (confirmed), then await ack,
                 the shape of a worker's handler.
      callbacks: the consuming loop publishes with a confirm callback that acks the delivery.
      handler:   a delivery callback publishes with a confirm callback that acks the delivery:
                 no task at all, the shape of the C relay.
    """

func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("amqp-relay-bench: \(message)\n".utf8))
    if code == 64 { FileHandle.standardError.write(Data((usage + "\n").utf8)) }
    exit(code)
}

var arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.first == "relay" else { fail("expected the subcommand 'relay'", code: 64) }
arguments.removeFirst()
var options: [String: String] = [:]
while !arguments.isEmpty {
    let key = arguments.removeFirst()
    guard ["--url", "--source", "--target", "--count", "--prefetch", "--mode", "--connections"].contains(key) else {
        fail("unknown argument '\(key)'", code: 64)
    }
    guard !arguments.isEmpty else { fail("\(key) needs a value", code: 64) }
    options[key] = arguments.removeFirst()
}
guard let url = options["--url"], let source = options["--source"], let target = options["--target"] else {
    fail("--url, --source and --target are required", code: 64)
}
guard let count = Int(options["--count"] ?? ""), count > 0 else { fail("--count must be a positive number", code: 64) }
guard let prefetch = UInt16(options["--prefetch"] ?? "50"), prefetch > 0 else {
    fail("--prefetch must be 1...65535", code: 64)
}
let mode = options["--mode"] ?? "tasks"
guard ["tasks", "callbacks", "handler"].contains(mode) else { fail("--mode must be tasks, callbacks or handler", code: 64) }
guard let connections = Int(options["--connections"] ?? "2"), connections == 1 || connections == 2 else {
    fail("--connections must be 1 or 2", code: 64)
}

let configuration: AMQPConfiguration
do {
    configuration = try AMQPConfiguration(url: url)
} catch {
    fail("\(error)", code: 64)
}

do {
    let consuming = try await AMQPConnection.connect(configuration)
    let publishing = connections == 1 ? consuming : try await AMQPConnection.connect(configuration)
    _ = try await publishing.queueState(target)
    var started: ContinuousClock.Instant?
    var received = 0
    let consumer: AMQPConsumer
    if mode == "handler" {
        let (done, finished) = AsyncStream<ContinuousClock.Instant>.makeStream()
        let counters = RelayCounters()
        counters.limit(count)
        consumer = try await consuming.consume(queue: source, prefetch: prefetch) { delivery in
            guard let first = counters.received() else { return }
            if first { finished.yield(.now) }
            var properties = delivery.properties
            properties.deliveryMode = .persistent
            publishing.publish(delivery.body, routingKey: target, properties: properties, mandatory: true) { result in
                guard case .success = result else { fail("publish failed: \(result)", code: 1) }
                delivery.ack(onFailure: { fail("ack failed: \($0)", code: 1) })
                if counters.acked() == count { finished.yield(.now) }
            }
        }
        var instants: [ContinuousClock.Instant] = []
        for await instant in done {
            instants.append(instant)
            if instants.count == 2 { break }
        }
        started = instants[0]
        let seconds = (instants[1] - instants[0]).seconds
        let figures = String(format: "seconds=%.3f rate=%.0f", seconds, Double(count) / seconds)
        print("swift-relay mode=\(mode) connections=\(connections) messages=\(count) \(figures)")
        try await consumer.cancel()
        await consuming.close()
        if connections == 2 { await publishing.close() }
        exit(0)
    }
    consumer = try await consuming.consume(queue: source, prefetch: prefetch)
    if mode == "callbacks" {
        let (done, finished) = AsyncStream<Void>.makeStream()
        let acked = Counter()
        for try await delivery in consumer {
            if started == nil { started = .now }
            var properties = delivery.properties
            properties.deliveryMode = .persistent
            publishing.publish(delivery.body, routingKey: target, properties: properties, mandatory: true) { result in
                guard case .success = result else { fail("publish failed: \(result)", code: 1) }
                delivery.ack(onFailure: { fail("ack failed: \($0)", code: 1) })
                if acked.increment() == count { finished.yield() }
            }
            received += 1
            if received == count { break }
        }
        for await _ in done { break }
    } else {
        try await withThrowingDiscardingTaskGroup { group in
            for try await delivery in consumer {
                if started == nil { started = .now }
                group.addTask {
                    var properties = delivery.properties
                    properties.deliveryMode = .persistent
                    try await publishing.publish(delivery.body, routingKey: target, properties: properties, mandatory: true)
                    try await delivery.ack()
                }
                received += 1
                if received == count { break }
            }
        }
    }
    let seconds = (ContinuousClock.now - (started ?? .now)).seconds
    let figures = String(format: "seconds=%.3f rate=%.0f", seconds, Double(count) / seconds)
    print("swift-relay mode=\(mode) connections=\(connections) messages=\(count) \(figures)")
    try await consumer.cancel()
    await consuming.close()
    if connections == 2 { await publishing.close() }
} catch {
    fail("\(error)", code: 1)
}

extension Duration {
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}
