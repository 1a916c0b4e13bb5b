import Foundation
import Logging
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamStore
import Yams

/// A daemon's configuration after file, environment and flags are combined (flags win over the
/// environment, the environment over the file, the file over defaults).
public struct DaemonConfiguration<StageSettings: Decodable & Sendable>: Sendable {
    public var brokers: String
    public var stateDirectory: String
    public var topicPrefix: String
    public var instanceID: String
    public var groupID: String
    public var connectTimeout: Duration
    public var logLevel: Logger.Level
    public var logFormat: LineLogHandler.Format
    public var worker: WorkerSettings
    /// librdkafka properties passed through unchanged (TLS, SASL, timeouts, fetch tuning).
    public var kafkaProperties: [String: String]
    /// The stage's own section (`stage:` in the file).
    public var stage: StageSettings
    /// The config file these settings came from, if any (relative paths in it start from its folder).
    public var configFile: String?
    /// Where `/metrics`, `/livez` and `/readyz` are served, HOST:PORT (port 0: a free one, logged);
    /// empty: nowhere.
    public var metricsListen: String = PaystreamMetricsDefaults.listen

    public var topics: TopicNames { TopicNames(prefix: topicPrefix) }

    public var kafka: KafkaConfiguration {
        var properties = kafkaProperties
        properties["client.id"] = properties["client.id"] ?? instanceID
        // Shard p serves partition p of every input topic: only range assignment keeps
        // co-partitioned topics together. The brokers come from --brokers / PAYSTREAM_BROKERS.
        properties["partition.assignment.strategy"] = "range"
        properties["bootstrap.servers"] = brokers
        return KafkaConfiguration(bootstrapServers: brokers, properties: properties)
    }
}

/// A configuration that cannot be used; the daemon prints it and exits 2.
public struct ConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The YAML file layout (documented in Config/README.md).
struct DaemonFile<StageSettings: Decodable>: Decodable {
    struct Batch: Decodable {
        var maxRecords: Int?
        var maxWaitMs: Int?
        enum CodingKeys: String, CodingKey { case maxRecords = "max_records", maxWaitMs = "max_wait_ms" }
    }
    struct Outbox: Decodable {
        var batch: Int?
        var deliveryFailureTimeoutMs: Int?
        enum CodingKeys: String, CodingKey { case batch, deliveryFailureTimeoutMs = "delivery_failure_timeout_ms" }
    }
    struct SQLite: Decodable {
        var synchronous: String?
        var allowUnsafeSynchronous: Bool?
        enum CodingKeys: String, CodingKey { case synchronous, allowUnsafeSynchronous = "allow_unsafe_synchronous" }
    }
    struct Input: Decodable {
        var maxRecordBytes: Int?
        enum CodingKeys: String, CodingKey { case maxRecordBytes = "max_record_bytes" }
    }
    struct Inbox: Decodable {
        var retentionHours: Int?
        enum CodingKeys: String, CodingKey { case retentionHours = "retention_hours" }
    }
    struct Snapshot: Decodable {
        var everyMb: Double?
        var everyHours: Double?
        enum CodingKeys: String, CodingKey { case everyMb = "every_mb", everyHours = "every_hours" }
    }
    struct Standby: Decodable {
        /// `all`, or a list of partition numbers.
        var partitions: StandbyPartitions?
    }
    enum StandbyPartitions: Decodable {
        case named(String)
        case list([Int32])
        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let list = try? container.decode([Int32].self) { self = .list(list) } else { self = .named(try container.decode(String.self)) }
        }
    }
    struct Log: Decodable { var level: String?; var format: String? }
    struct MetricsSection: Decodable { var listen: String? }
    struct Reference: Decodable {
        var catchUpTimeoutMs: Int?
        enum CodingKeys: String, CodingKey { case catchUpTimeoutMs = "catch_up_timeout_ms" }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case brokers, stateDir = "state_dir", topicPrefix = "topic_prefix", instanceId = "instance_id"
        case groupId = "group_id", connectTimeoutMs = "connect_timeout_ms", log, batch, outbox, sqlite, inbox, input, reference
        case snapshot, standby, metrics, kafka, stage
    }

    init() {}

    var brokers: String?
    var stateDir: String?
    var topicPrefix: String?
    var instanceId: String?
    var groupId: String?
    var connectTimeoutMs: Int?
    var log: Log?
    var batch: Batch?
    var outbox: Outbox?
    var sqlite: SQLite?
    var inbox: Inbox?
    var input: Input?
    var reference: Reference?
    var snapshot: Snapshot?
    var standby: Standby?
    var metrics: MetricsSection?
    var kafka: [String: String]?
    var stage: StageSettings?

    static var knownKeys: Set<String> { Set(CodingKeys.allCases.map(\.rawValue)) }
}

extension DaemonConfiguration {
    /// Combines defaults, the config file, `PAYSTREAM_*` variables and flags.
    /// - Parameter stageDefaults: used when the file has no `stage:` section.
    public static func resolve(daemon: String, options: DaemonOptions, environment: [String: String],
                               stageDefaults: StageSettings) throws -> DaemonConfiguration {
        let path = options.config ?? environment["PAYSTREAM_CONFIG"]
        var file = DaemonFile<StageSettings>()
        if let path {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError("cannot read config file \(path)")
            }
            file = try parse(text, path: path)
        }

        func pick(_ flag: String?, _ env: String, _ fromFile: String?) -> String? {
            flag ?? environment[env].flatMap { $0.isEmpty ? nil : $0 } ?? fromFile
        }
        guard let brokers = pick(options.brokers, "PAYSTREAM_BROKERS", file.brokers), !brokers.isEmpty else {
            throw ConfigurationError("no brokers: pass --brokers HOST:PORT, set PAYSTREAM_BROKERS, or set brokers in the config file")
        }
        for broker in brokers.split(separator: ",") {
            let parts = broker.split(separator: ":")
            guard parts.count == 2, !parts[0].isEmpty, let port = Int(parts[1]), (1...65535).contains(port) else {
                throw ConfigurationError("broker '\(broker)' is not HOST:PORT")
            }
        }
        let stateDirectory = pick(options.stateDir, "PAYSTREAM_STATE_DIR", file.stateDir) ?? "/var/lib/paystream"
        let prefix = options.topicPrefix ?? environment["PAYSTREAM_TOPIC_PREFIX"] ?? file.topicPrefix ?? ""
        let instanceID = pick(options.instanceID, "PAYSTREAM_INSTANCE_ID", file.instanceId)
            ?? "\(daemon)-\(ProcessInfo.processInfo.hostName)-\(getpid())"

        let levelName = pick(options.logLevel, "PAYSTREAM_LOG_LEVEL", file.log?.level) ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else {
            throw ConfigurationError("log level '\(levelName)' is not one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let formatName = pick(options.logFormat, "PAYSTREAM_LOG_FORMAT", file.log?.format) ?? "logfmt"
        guard let format = LineLogHandler.Format(rawValue: formatName) else {
            throw ConfigurationError("log format '\(formatName)' is not logfmt or json")
        }
        var timeoutSeconds = options.connectTimeout ?? file.connectTimeoutMs.map { Double($0) / 1000 } ?? 10
        if options.connectTimeout == nil, let env = environment["PAYSTREAM_CONNECT_TIMEOUT"] {
            guard let value = Double(env) else { throw ConfigurationError("PAYSTREAM_CONNECT_TIMEOUT '\(env)' is not a number of seconds") }
            timeoutSeconds = value
        }
        guard timeoutSeconds > 0 else { throw ConfigurationError("connect timeout must be positive") }

        var worker = WorkerSettings()
        if let n = file.batch?.maxRecords {
            guard n > 0 else { throw ConfigurationError("batch.max_records must be positive") }
            worker.maxBatchRecords = n
        }
        if let n = file.input?.maxRecordBytes {
            guard (1024...(16 << 20)).contains(n) else { throw ConfigurationError("input.max_record_bytes must be 1024 to 16777216") }
            worker.maxRecordBytes = n
        }
        if let ms = file.batch?.maxWaitMs {
            guard ms >= 0 else { throw ConfigurationError("batch.max_wait_ms must not be negative") }
            worker.maxBatchWait = .milliseconds(ms)
        }
        if let n = file.outbox?.batch {
            guard n > 0 else { throw ConfigurationError("outbox.batch must be positive") }
            worker.outboxBatch = n
        }
        if let ms = file.outbox?.deliveryFailureTimeoutMs {
            guard ms > 0 else { throw ConfigurationError("outbox.delivery_failure_timeout_ms must be positive") }
            worker.deliveryFailureTimeout = .milliseconds(ms)
        }
        let syncName = environment["PAYSTREAM_SQLITE_SYNCHRONOUS"] ?? file.sqlite?.synchronous ?? "FULL"
        guard let sync = SynchronousMode(rawValue: syncName.uppercased()) else {
            throw ConfigurationError("sqlite.synchronous '\(syncName)' is not FULL, NORMAL or OFF")
        }
        worker.synchronous = sync
        if let allow = environment["PAYSTREAM_SQLITE_ALLOW_UNSAFE_SYNCHRONOUS"] {
            guard let flag = Bool(allow.lowercased()) else {
                throw ConfigurationError("PAYSTREAM_SQLITE_ALLOW_UNSAFE_SYNCHRONOUS '\(allow)' is not true or false")
            }
            worker.allowUnsafeSynchronous = flag
        } else {
            worker.allowUnsafeSynchronous = file.sqlite?.allowUnsafeSynchronous ?? false
        }
        if let hours = file.inbox?.retentionHours {
            guard hours > 0 else { throw ConfigurationError("inbox.retention_hours must be positive") }
            worker.inboxRetention = .seconds(hours * 3600)
        }
        if let mb = file.snapshot?.everyMb {
            guard mb >= 0, mb.isFinite else { throw ConfigurationError("snapshot.every_mb must not be negative (0: never by size)") }
            worker.snapshotEveryBytes = Int(mb * 1_048_576)
        }
        if let hours = file.snapshot?.everyHours {
            guard hours >= 0, hours.isFinite else { throw ConfigurationError("snapshot.every_hours must not be negative (0: never by time)") }
            worker.snapshotEvery = .milliseconds(Int64(hours * 3_600_000))
        }
        switch file.standby?.partitions {
        case nil: break
        case .named("all"): worker.standby = .all
        case .named("none"): worker.standby = .none
        case .named(let other): throw ConfigurationError("standby.partitions '\(other)' is not all, none or a list of partition numbers")
        case .list(let list):
            guard list.allSatisfy({ $0 >= 0 }) else { throw ConfigurationError("standby.partitions must not hold negative numbers") }
            worker.standby = list.isEmpty ? .none : .partitions(Set(list))
        }
        if let ms = file.reference?.catchUpTimeoutMs {
            guard ms > 0 else { throw ConfigurationError("reference.catch_up_timeout_ms must be positive") }
            worker.referenceCatchUpTimeout = .milliseconds(ms)
        }

        // librdkafka properties: file first, then credentials (kafka_sasl.password in
        // $CREDENTIALS_DIRECTORY → sasl.password), then PAYSTREAM_KAFKA_SASL_PASSWORD → sasl.password.
        let kafka = (file.kafka ?? [:])
            .merging(try PaystreamRuntime.kafkaProperties(fromCredentials: environment["CREDENTIALS_DIRECTORY"])) { _, credential in credential }
            .merging(PaystreamRuntime.kafkaProperties(fromEnvironment: environment)) { _, env in env }
        let groupID = file.groupId ?? "\(prefix)paystream.\(daemon)"
        let metricsListen = options.metricsListen ?? environment["PAYSTREAM_METRICS_LISTEN"] ?? file.metrics?.listen
            ?? PaystreamMetricsDefaults.listen
        if !metricsListen.isEmpty {
            guard let colon = metricsListen.lastIndex(of: ":"), colon != metricsListen.startIndex,
                  let port = Int(metricsListen[metricsListen.index(after: colon)...]), (0...65535).contains(port) else {
                throw ConfigurationError("metrics.listen '\(metricsListen)' is not HOST:PORT (empty: no listener)")
            }
        }

        return DaemonConfiguration(
            brokers: brokers, stateDirectory: stateDirectory, topicPrefix: prefix, instanceID: instanceID,
            groupID: groupID, connectTimeout: .milliseconds(Int(timeoutSeconds * 1000)), logLevel: level,
            logFormat: format, worker: worker, kafkaProperties: kafka, stage: file.stage ?? stageDefaults,
            configFile: path, metricsListen: metricsListen)
    }

    static func parse(_ text: String, path: String) throws -> DaemonFile<StageSettings> {
        let node: Any?
        do { node = try Yams.load(yaml: text) } catch {
            throw ConfigurationError("\(path): not valid YAML: \(error)")
        }
        guard node == nil || node is [String: Any] else { throw ConfigurationError("\(path): expected a mapping of keys") }
        let keys = Set(((node as? [String: Any]) ?? [:]).keys)
        let unknown = keys.subtracting(DaemonFile<StageSettings>.knownKeys)
        guard unknown.isEmpty else {
            throw ConfigurationError("\(path): unknown key(s) \(unknown.sorted().joined(separator: ", ")); known: \(DaemonFile<StageSettings>.knownKeys.sorted().joined(separator: ", "))")
        }
        guard node != nil else { return DaemonFile() }
        do {
            let decoder = YAMLDecoder()
            return try decoder.decode(DaemonFile<StageSettings>.self, from: text, userInfo: [:])
        } catch let error as DecodingError {
            throw ConfigurationError("\(path): \(Wire.describe(error))")
        }
    }
}

/// librdkafka properties from `PAYSTREAM_KAFKA_<NAME>` variables: the name lowercased with `_`
/// turned into `.` (`PAYSTREAM_KAFKA_SASL_PASSWORD` → `sasl.password`).
public func kafkaProperties(fromEnvironment environment: [String: String]) -> [String: String] {
    var properties: [String: String] = [:]
    for (name, value) in environment where name.hasPrefix("PAYSTREAM_KAFKA_") {
        properties[name.dropFirst("PAYSTREAM_KAFKA_".count).lowercased().replacingOccurrences(of: "_", with: ".")] = value
    }
    return properties
}

/// librdkafka properties from systemd credentials: each file `kafka_<property>` in the credentials
/// folder (`LoadCredential=kafka:/etc/paystream/kafka` loads every file of that folder under
/// that prefix) is the property's value, its last newline dropped — for secrets such as
/// `sasl.password` or `ssl.key.password`, which then appear in no file of ours and no environment.
public func kafkaProperties(fromCredentials folder: String?) throws -> [String: String] {
    guard let folder, !folder.isEmpty,
          let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [:] }
    var properties: [String: String] = [:]
    for name in names where name.hasPrefix("kafka_") && name.count > "kafka_".count {
        let path = (folder as NSString).appendingPathComponent(name)
        guard var value = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError("credential \(path) is not readable UTF-8 text")
        }
        if value.hasSuffix("\n") { value.removeLast() }
        properties[String(name.dropFirst("kafka_".count))] = value
    }
    return properties
}

public enum PaystreamMetricsDefaults {
    /// Loopback, on a free port (logged at start and shown in systemd's status): several instances
    /// on one host never collide. Give each a fixed port to scrape it.
    public static let listen = "127.0.0.1:0"
}
