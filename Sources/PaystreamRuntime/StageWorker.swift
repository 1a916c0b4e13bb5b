import Foundation
import GRDB
import Logging
import PaystreamDomain
import PaystreamKafka
import PaystreamStore
import ServiceLifecycle

/// Runs a stage: poll a batch → decode → decide → ONE SQLite transaction per shard holding the
/// state change, the consumed offsets, the inbox ids and the outbox rows → publish the outbox →
/// mark rows sent on delivery. Shard *p* (one SQLite file) serves partition *p* of every input
/// topic; shards open on assignment and close on revocation, after their outbox is flushed.
///
/// Stops on graceful shutdown (SIGTERM/SIGINT through the service group) or task cancellation:
/// the batch in hand is finished, the outbox flushed, the group left, the producer flushed.
public struct StageWorker<S: Stage>: Service {
    public let stage: S
    public let kafka: KafkaConfiguration
    public let groupID: String
    public let stateDirectory: String
    public let topics: TopicNames
    public let settings: WorkerSettings
    public let clock: any PaystreamClock
    public let logger: Logger
    /// What the worker counted while it ran (forwarded records per topic).
    public let statistics = WorkerStatistics()
    /// systemd's notify socket, when the daemon runs under `Type=notify`.
    public let notify: SystemdNotify?
    /// What `/livez` and `/readyz` answer from.
    public let health: WorkerHealth
    let metrics: WorkerMetrics

    public init(stage: S, kafka: KafkaConfiguration, groupID: String, stateDirectory: String, topics: TopicNames,
                settings: WorkerSettings = WorkerSettings(), clock: any PaystreamClock = SystemClock(), logger: Logger,
                notify: SystemdNotify? = nil, health: WorkerHealth = WorkerHealth()) {
        self.notify = notify
        self.health = health
        metrics = WorkerMetrics(stage: stage.name)
        self.stage = stage
        self.kafka = kafka
        self.groupID = groupID
        self.stateDirectory = stateDirectory
        self.topics = topics
        self.settings = settings
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        try settings.checkDurability(stage: stage.name, keepsMoney: stage.keepsMoney)
        let producer = try KafkaProducer(configuration: kafka, logger: logger)
        var replica: ReferenceReplica?
        var consumer: KafkaConsumer?
        let routing: ShardRouting
        do {
            // Reference data first: no input is decided before every reference partition was
            // read to its end. The group is joined only then, so a long catch-up does not hold
            // partitions that another instance could be working on.
            if let feed = stage.referenceFeed {
                let opened = try await ReferenceReplica.open(
                    feed: feed, kafka: kafka, path: ReferenceStore.path(stateDirectory: stateDirectory, stage: stage.name),
                    synchronous: settings.synchronous, timeout: settings.referenceCatchUpTimeout, clock: clock, logger: logger)
                replica = opened
                guard try await opened.catchUp(stallTimeout: settings.referenceCatchUpTimeout) else {
                    await opened.close()
                    await producer.close()
                    logger.info("stopped before reference data caught up", metadata: ["stage": "\(stage.name)"])
                    return
                }
            }
            let joined = try KafkaConsumer(configuration: kafka, groupID: groupID, logger: logger)
            consumer = joined
            routing = ShardRouting(partitionCount: try Self.partitionCount(of: stage.consumedTopics(in: topics), in: try await joined.topicPartitionCounts()),
                                   topics: topics, repartitions: stage.repartitionTopics(in: topics))
            try routing.checkShardFiles(stateDirectory: stateDirectory, stage: stage.name)
            try joined.subscribe(stage.consumedTopics(in: topics))
        } catch {
            await consumer?.close()
            await replica?.close()
            await producer.close()
            throw error
        }
        let loop = WorkerLoop(worker: self, consumer: consumer!, producer: producer, replica: replica, routing: routing)
        logger.info("ready", metadata: ["stage": "\(stage.name)", "kafka.group": "\(groupID)",
                                        "kafka.topics": "\(stage.inputTopics.joined(separator: ","))",
                                        "kafka.partitions": "\(routing.partitionCount)"])
        do {
            try await loop.run()
        } catch let crash as SimulatedCrash {
            await loop.abandon()
            throw crash
        } catch let failure as ProducerFailure {
            // Flushing through the producer that failed would only wait out its timeouts: let go,
            // and leave the unsent rows to the restarted daemon.
            logger.critical("worker stopping: the producer cannot deliver", metadata: ["error": "\(failure)"])
            await loop.abandon()
            throw failure
        } catch is CancellationError {
            // Cancelled mid-step (tests stop workers this way): a stop like any other.
        } catch {
            logger.error("worker stopping on error", metadata: ["error": "\(error)"])
            await loop.shutdown()
            throw error
        }
        await loop.shutdown()
        logger.info("stopped", metadata: ["stage": "\(stage.name)"])
    }
}

extension StageWorker {

    /// The one partition count of `topics` (they must exist and be co-partitioned).
    static func partitionCount(of topics: [String], in counts: [String: Int32]) throws -> Int32 {
        let missing = topics.filter { counts[$0] == nil }
        guard missing.isEmpty else {
            throw ConfigurationError("topic(s) \(missing.joined(separator: ", ")) do not exist; create them with `paystream topics create`")
        }
        let distinct = Set(topics.map { counts[$0]! })
        guard distinct.count == 1, let count = distinct.first else {
            throw ConfigurationError("topics \(topics.joined(separator: ", ")) must have the same partition count, have \(topics.map { "\($0)=\(counts[$0]!)" }.joined(separator: " "))")
        }
        return count
    }
}
