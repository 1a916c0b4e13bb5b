import ArgumentParser

/// The flags every Paystream daemon accepts (PRODUCT.md §6). Each falls back to an environment
/// variable, then to the config file, then to a default.
public struct DaemonOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("brokers"), help: "Kafka bootstrap servers, HOST:PORT,… (env PAYSTREAM_BROKERS).")
    public var brokers: String?

    @Option(name: .customLong("state-dir"), help: "Directory for the SQLite shards (env PAYSTREAM_STATE_DIR).")
    public var stateDir: String?

    @Option(name: .customLong("config"), help: "YAML configuration file (env PAYSTREAM_CONFIG).")
    public var config: String?

    @Option(name: .customLong("topic-prefix"), help: "Prefix for every topic name (env PAYSTREAM_TOPIC_PREFIX).")
    public var topicPrefix: String?

    @Option(name: .customLong("instance-id"), help: "This instance's name in logs and Kafka client ids (env PAYSTREAM_INSTANCE_ID; default: host name and PID).")
    public var instanceID: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (env PAYSTREAM_LOG_LEVEL).")
    public var logLevel: String?

    @Option(name: .customLong("log-format"), help: "logfmt or json (env PAYSTREAM_LOG_FORMAT).")
    public var logFormat: String?

    @Option(name: .customLong("connect-timeout"), help: "Seconds to wait for a broker at start before exiting non-zero (env PAYSTREAM_CONNECT_TIMEOUT).")
    public var connectTimeout: Double?

    @Option(name: .customLong("metrics-listen"),
            help: "HOST:PORT for /metrics, /livez and /readyz; empty: none (env PAYSTREAM_METRICS_LISTEN; default 127.0.0.1:0, a free port).")
    public var metricsListen: String?

    public init() {}
}
