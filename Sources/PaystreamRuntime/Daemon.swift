import Foundation
import Synchronization
import Logging
import PaystreamKafka
import PaystreamStore
import ServiceLifecycle

/// What every daemon's `main` calls: resolve configuration, check the broker, run the stage
/// until SIGTERM/SIGINT. Returns the process exit code: 0 after a graceful stop, 1 on a runtime
/// failure (broker unreachable, missing topics, fatal Kafka error), 2 on bad configuration.
public enum Daemon {
    public static func run<Settings: Decodable & Sendable, S: Stage>(
        name: String, options: DaemonOptions, stageDefaults: Settings,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        makeStage: (DaemonConfiguration<Settings>) throws -> S,
        services: (DaemonConfiguration<Settings>, S, Logger) throws -> [any Service] = { _, _, _ in [] }
    ) async -> Int32 {
        // Before anything opens a database (the stage's reference store, the shards).
        let sqlitePrepared = SQLiteProcess.prepare()
        let config: DaemonConfiguration<Settings>
        let stage: S
        do {
            config = try DaemonConfiguration<Settings>.resolve(daemon: name, options: options, environment: environment,
                                                               stageDefaults: stageDefaults)
            stage = try makeStage(config)
            try config.worker.checkDurability(stage: name, keepsMoney: stage.keepsMoney)
            try config.kafka.validate()
        } catch {
            FileHandle.standardError.write(Data("\(name): configuration error: \(error)\n".utf8))
            return 2
        }
        bootstrapLogging(level: config.logLevel, format: config.logFormat)
        var logger = Logger(label: name)
        logger[metadataKey: "instance"] = "\(config.instanceID)"
        if !sqlitePrepared {
            logger.notice("SQLite was in use before the daemon started: its memory statistics stay on (slower, nothing else changes)")
        }
        if stage.keepsMoney && config.worker.synchronous != .full {
            logger.warning("UNSAFE: sqlite.synchronous below FULL for a stage that keeps money; a power loss can lose commits",
                           metadata: ["sqlite.synchronous": "\(config.worker.synchronous.rawValue)"])
        }

        do {
            try await checkTopics(config: config, stage: stage, logger: logger)
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)", "kafka.brokers": "\(config.brokers)"])
            return 1
        }

        // For local runs and demos only: the worker's clock moved by PAYSTREAM_CLOCK_OFFSET_SECONDS.
        var clock: any PaystreamClock = SystemClock()
        if let text = environment["PAYSTREAM_CLOCK_OFFSET_SECONDS"], !text.isEmpty {
            guard let offset = Double(text), offset.isFinite else {
                FileHandle.standardError.write(Data("\(name): configuration error: PAYSTREAM_CLOCK_OFFSET_SECONDS '\(text)' is not a number\n".utf8))
                return 2
            }
            clock = OffsetClock(offset: offset)
            logger.warning("the worker's clock is moved: for local runs and demos only, never in production",
                           metadata: ["clock.offset_seconds": "\(offset)"])
        }
        // Metrics and health: /metrics, /livez, /readyz on metrics.listen (loopback by default).
        let health = WorkerHealth()
        var server: HealthServer?
        if !config.metricsListen.isEmpty {
            PaystreamMetrics.bootstrap()
            do {
                server = try await HealthServer.start(listen: config.metricsListen, health: health)
                logger.info("metrics listening", metadata: ["metrics.address": "\(server!.address)",
                                                            "metrics.paths": "/metrics /livez /readyz"])
            } catch {
                logger.critical("cannot start", metadata: ["error": "\(error)"])
                return 1
            }
        }
        let worker = StageWorker(stage: stage, kafka: config.kafka, groupID: config.groupID,
                                 stateDirectory: config.stateDirectory, topics: config.topics,
                                 settings: config.worker, clock: clock, logger: logger,
                                 notify: SystemdNotify.fromEnvironment(environment), health: health)
        // The stage's own long-lived parts (the channel gateway's callback listener) run beside
        // the worker and stop with it.
        let others: [any Service]
        do {
            others = try services(config, stage, logger)
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            await server?.stop()
            return 1
        }
        let group = ServiceGroup(services: [worker] + others, gracefulShutdownSignals: [.sigterm, .sigint],
                                 cancellationSignals: [], logger: logger)
        do {
            try await group.run()
            await server?.stop()
            return 0
        } catch {
            logger.critical("stopped on error", metadata: ["error": "\(error)"])
            await server?.stop()
            return 1
        }
    }

    /// Fails if no broker answers within the connect timeout; if a topic the stage reads
    /// (inputs, their repartition topics, reference data) or writes (outputs, dead-letter topics)
    /// is missing; or if the topics it consumes are not co-partitioned (same partition count).
    static func checkTopics<Settings, S: Stage>(config: DaemonConfiguration<Settings>, stage: S, logger: Logger) async throws {
        let admin = try KafkaAdmin(configuration: config.kafka)
        defer { admin.close() }
        let counts: [String: Int32]
        do {
            counts = try await admin.topicPartitionCounts(timeout: config.connectTimeout)
        } catch {
            throw ConfigurationError("no Kafka broker reachable at \(config.brokers) within \(config.connectTimeout): \(error)")
        }
        let topics = config.topics
        // The same topology `paystream acl` grants access to (BrokerAccess).
        let topology = StageTopology(of: stage, topics: topics)
        let consumed = topology.consumed
        // A message a dead-letter or reference topic refuses stays in the outbox (logged); those
        // topics have no dead-letter topic of their own. Snapshot topics are checked when used.
        let written = topology.written(in: topics, changelog: config.worker.changelog)
            .filter { $0 != topics.snapshots(of: stage.name) && !consumed.contains($0) }
        for (what, names) in [("input", consumed), ("reference", topology.reference), ("output", written)] {
            let missing = names.filter { counts[$0] == nil }
            guard missing.isEmpty else {
                throw ConfigurationError("\(what) topic(s) \(missing.joined(separator: ", ")) do not exist; create them with `paystream topics create`")
            }
        }
        _ = try StageWorker<S>.partitionCount(of: consumed, in: counts)
    }

    private static let loggingBootstrapped = Mutex(false)

    /// Bootstraps swift-log once per process (later calls do nothing).
    public static func bootstrapLogging(level: Logger.Level, format: LineLogHandler.Format) {
        let first = loggingBootstrapped.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, level: level, format: format) }
    }
}
