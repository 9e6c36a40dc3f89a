public import AMQP
public import ArgumentParser
import DeploymentSettings

/// `--tls-ca`, `--tls-cert`, `--tls-key`: the files of an `amqps://` connection, for every
/// command that connects to the broker.
public struct TLSOptions: ParsableArguments, Sendable {
    @Option(help: ArgumentHelp("CA certificate (PEM) for amqps://.", valueName: "path"))
    public var tlsCA: String?

    @Option(help: ArgumentHelp("Client certificate (PEM) for amqps:// with client authentication.", valueName: "path"))
    public var tlsCert: String?

    @Option(help: ArgumentHelp("Client key (PEM) for --tls-cert.", valueName: "path"))
    public var tlsKey: String?

    public init() {}

    public func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
    }

    /// `configuration` with these files, when any is given; its URL's scheme decides whether
    /// TLS is used at all.
    public func apply(to configuration: inout AMQPConfiguration) {
        guard tlsCA != nil || tlsCert != nil else { return }
        var tls = configuration.tls ?? AMQPConfiguration.TLS()
        tls.caCertificatePath = tlsCA ?? tls.caCertificatePath
        tls.clientCertificatePath = tlsCert
        tls.clientKeyPath = tlsKey
        configuration.tls = tls
    }
}

/// `--broker-url` and the TLS files: the broker connection of a command that runs as a
/// pipeline principal (a worker, the office's commands, the main job). The administrators'
/// commands take `$KALTIM_ADMIN_URL` instead, with the same ``TLSOptions``.
public struct BrokerOptions: ParsableArguments, Sendable {
    @Option(
        name: .customLong("broker-url"),
        help: ArgumentHelp(
            "The broker: amqp://user:pass@host:port/vhost or amqps://…; the nodes of a cluster as a comma-separated list of such URLs, tried in turn (default: $KALTIM_BROKER_URL, else amqp://guest:guest@127.0.0.1:5672/)",
            valueName: "url"))
    public var url: String?

    @OptionGroup public var tls: TLSOptions

    public init() {}

    public func validate() throws {
        _ = try configuration(connectionName: nil)
    }

    /// `--broker-url`, else `$KALTIM_BROKER_URL`, else the local default.
    public var resolvedURL: String { DeploymentEnvironment.current.brokerURL(option: url) }

    /// The connection settings: the URL, the TLS files, and the name the broker shows for the
    /// connection (`nil`: the client's default, `<process>-<pid>`).
    /// - Throws: `ValidationError` naming `--broker-url` when the URL is not valid.
    public func configuration(connectionName: String?) throws -> AMQPConfiguration {
        var configuration: AMQPConfiguration
        do {
            configuration = try AMQPConfiguration(url: resolvedURL)
        } catch {
            throw ValidationError("--broker-url: \(error)")
        }
        tls.apply(to: &configuration)
        if let connectionName { configuration.connectionName = connectionName }
        return configuration
    }
}
