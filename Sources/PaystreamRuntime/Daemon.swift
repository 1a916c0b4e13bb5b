import Foundation
import Logging
import PaystreamKafka
import ServiceLifecycle

/// What every daemon's `main` calls: resolve configuration, check the broker, run the stage
/// until SIGTERM/SIGINT. Returns the process exit code: 0 after a graceful stop, 1 on a runtime
/// failure (broker unreachable, missing topics, fatal Kafka error), 2 on bad configuration.
public enum Daemon {
    public static func run<Settings: Decodable & Sendable, S: Stage>(
        name: String, options: DaemonOptions, stageDefaults: Settings,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        makeStage: (DaemonConfiguration<Settings>) throws -> S
    ) async -> Int32 {
        let config: DaemonConfiguration<Settings>
        let stage: S
        do {
            config = try DaemonConfiguration<Settings>.resolve(daemon: name, options: options, environment: environment,
                                                               stageDefaults: stageDefaults)
            stage = try makeStage(config)
            try config.kafka.validate()
        } catch {
            FileHandle.standardError.write(Data("\(name): configuration error: \(error)\n".utf8))
            return 2
        }
        bootstrapLogging(level: config.logLevel, format: config.logFormat)
        var logger = Logger(label: name)
        logger[metadataKey: "instance"] = "\(config.instanceID)"

        do {
            try await checkTopics(config: config, stage: stage, logger: logger)
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)", "kafka.brokers": "\(config.brokers)"])
            return 1
        }

        let worker = StageWorker(stage: stage, kafka: config.kafka, groupID: config.groupID,
                                 stateDirectory: config.stateDirectory, topics: config.topics,
                                 settings: config.worker, logger: logger)
        let group = ServiceGroup(services: [worker], gracefulShutdownSignals: [.sigterm, .sigint],
                                 cancellationSignals: [], logger: logger)
        do {
            try await group.run()
            return 0
        } catch {
            logger.critical("stopped on error", metadata: ["error": "\(error)"])
            return 1
        }
    }

    /// Fails if no broker answers within the connect timeout, or an input or reference topic is
    /// missing, or the input topics are not co-partitioned (same partition count).
    static func checkTopics<Settings, S: Stage>(config: DaemonConfiguration<Settings>, stage: S, logger: Logger) async throws {
        let admin = try KafkaAdmin(configuration: config.kafka)
        defer { admin.close() }
        let counts: [String: Int32]
        do {
            counts = try await admin.topicPartitionCounts(timeout: config.connectTimeout)
        } catch {
            throw ConfigurationError("no Kafka broker reachable at \(config.brokers) within \(config.connectTimeout): \(error)")
        }
        let missing = stage.inputTopics.filter { counts[$0] == nil }
        guard missing.isEmpty else {
            throw ConfigurationError("topic(s) \(missing.joined(separator: ", ")) do not exist; create them with `paystream topics create`")
        }
        let referenceTopics = stage.referenceFeed?.referenceTopics ?? []
        let missingReference = referenceTopics.filter { counts[$0] == nil }
        guard missingReference.isEmpty else {
            throw ConfigurationError("reference topic(s) \(missingReference.joined(separator: ", ")) do not exist; create them with `paystream topics create`")
        }
        let partitionCounts = Set(stage.inputTopics.compactMap { counts[$0] })
        guard partitionCounts.count == 1 else {
            throw ConfigurationError("input topics \(stage.inputTopics.joined(separator: ", ")) must have the same partition count, have \(stage.inputTopics.map { "\($0)=\(counts[$0]!)" }.joined(separator: " "))")
        }
    }

    private static let loggingBootstrapped = LockedFlag()

    /// Bootstraps swift-log once per process (later calls do nothing).
    public static func bootstrapLogging(level: Logger.Level, format: LineLogHandler.Format) {
        guard loggingBootstrapped.setOnce() else { return }
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, level: level, format: format) }
    }
}

final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    /// Sets the flag; returns true only for the first caller.
    func setOnce() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if value { return false }
        value = true
        return true
    }
}
