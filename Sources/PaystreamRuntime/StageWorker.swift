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

    public init(stage: S, kafka: KafkaConfiguration, groupID: String, stateDirectory: String, topics: TopicNames,
                settings: WorkerSettings = WorkerSettings(), clock: any PaystreamClock = SystemClock(), logger: Logger) {
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
        let producer = try KafkaProducer(configuration: kafka, logger: logger)
        var replica: ReferenceReplica?
        let consumer: KafkaConsumer
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
            consumer = try KafkaConsumer(configuration: kafka, groupID: groupID, logger: logger)
            try consumer.subscribe(stage.inputTopics)
        } catch {
            await replica?.close()
            await producer.close()
            throw error
        }
        let loop = WorkerLoop(worker: self, consumer: consumer, producer: producer, replica: replica)
        logger.info("ready", metadata: ["stage": "\(stage.name)", "kafka.group": "\(groupID)",
                                        "kafka.topics": "\(stage.inputTopics.joined(separator: ","))"])
        do {
            try await loop.run()
        } catch let crash as SimulatedCrash {
            await loop.abandon()
            throw crash
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
    /// The batch's transaction: each record in order, then the offsets.
    func applyBatch(_ batch: [ConsumedRecord], partition: Int32, db: Database) throws {
        let stored = try RuntimeTables.nextOffsets(db)
        var next: [String: Int64] = [:]
        let now = clock.now()
        let context = StageContext(db: db, partition: partition, now: now, topics: topics, logger: logger)
        for record in batch {
            // Already stored: re-delivered after a seek race or a restart; its effects are in.
            if let done = next[record.topic] ?? stored[record.topic]?[partition], record.offset < done { continue }
            next[record.topic] = record.offset + 1
            let input: S.Input
            do {
                input = try stage.decode(record)
            } catch {
                try deadLetter(record, error, context: context)
                continue
            }
            if let id = stage.messageID(of: input) {
                let first = try RuntimeTables.markProcessed(db, messageID: id, topic: record.topic, partition: partition,
                                                            offset: record.offset, now: now)
                guard first else {
                    logger.debug("duplicate input skipped", metadata: ["message.id": "\(id)", "kafka.offset": "\(record.offset)"])
                    continue
                }
            }
            do {
                try db.inSavepoint {
                    try stage.apply(input, record: record, in: context)
                    return .commit
                }
            } catch let error as DeadLetter {
                try deadLetter(record, error, context: context)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                // A record that breaks a table constraint would fail every retry and every
                // restart: park it (its writes were rolled back) instead of stopping the stage.
                try deadLetter(record, DeadLetter(code: "constraint_violation", message: "\(error)"), context: context)
            }
        }
        for (topic, offset) in next {
            try RuntimeTables.storeNextOffset(db, topic: topic, partition: partition, nextOffset: offset, now: now)
        }
    }

    func deadLetter(_ record: ConsumedRecord, _ reason: DeadLetter, context: StageContext) throws {
        logger.warning("dead letter", metadata: [
            "kafka.topic": "\(record.topic)", "kafka.partition": "\(record.partition)",
            "kafka.offset": "\(record.offset)", "error.code": "\(reason.code)", "error.message": "\(reason.message)",
        ])
        let letter = DeadLetterMessage(
            errorCode: reason.code, errorMessage: reason.message, sourceTopic: record.topic,
            sourcePartition: record.partition, sourceOffset: record.offset, originalKey: record.keyString,
            originalValueBase64: Data(record.value).base64EncodedString(), failedAt: context.timestamp)
        try context.emit(letter, topic: topics.deadLetter(of: record.topic), key: record.keyString,
                         eventID: "dlq:\(record.topic):\(record.partition):\(record.offset)")
    }
}

/// The mutable side of a running worker. Used by one task only (the worker's `run`).
final class WorkerLoop<S: Stage> {
    private let worker: StageWorker<S>
    private let consumer: KafkaConsumer
    private let producer: KafkaProducer
    private let replica: ReferenceReplica?
    private var shards: [Int32: ShardStore] = [:]
    /// Shards that may have unsent outbox rows.
    private var pendingPublish: Set<Int32> = []
    private var lastTick = ContinuousClock.now
    private var lastInboxPrune = ContinuousClock.now - .seconds(3600)
    private var logger: Logger { worker.logger }
    private var stage: S { worker.stage }

    init(worker: StageWorker<S>, consumer: KafkaConsumer, producer: KafkaProducer, replica: ReferenceReplica?) {
        self.worker = worker
        self.consumer = consumer
        self.producer = producer
        self.replica = replica
    }

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let poll = try await consumer.poll(maxRecords: worker.settings.maxBatchRecords,
                                               maxWait: worker.settings.maxBatchWait)
            // Reference updates that arrived meanwhile count for this batch already.
            try await replica?.refresh()
            if !poll.records.isEmpty {
                try await process(poll.records)
                if worker.settings.crashPoint == .afterCommitBeforePublish { throw SimulatedCrash() }
            }
            await publishPending()
            if let rebalance = poll.rebalance { try await handle(rebalance) }
            try await tickIfDue()
            if !pendingPublish.isEmpty { await publishPending() }
        }
    }

    /// Lets go of Kafka without publishing anything more, as a dying process would.
    func abandon() async {
        await consumer.close()
        await replica?.close()
        await producer.close()
        closeShards(Array(shards.keys))
    }

    func shutdown() async {
        // Every owned shard: a batch interrupted by cancellation may have committed without
        // being marked for publication.
        pendingPublish.formUnion(shards.keys)
        await publishPending()
        await abandon()
    }

    // MARK: - batches

    private func process(_ records: [ConsumedRecord]) async throws {
        var byPartition: [Int32: [ConsumedRecord]] = [:]
        for record in records { byPartition[record.partition, default: []].append(record) }
        for (partition, batch) in byPartition.sorted(by: { $0.key < $1.key }) {
            guard let shard = shards[partition] else {
                // Records of a partition we no longer own are re-read by its new owner.
                logger.warning("records for an unassigned partition dropped", metadata: ["kafka.partition": "\(partition)"])
                continue
            }
            try await withAttempts("batch for partition \(partition)") { [worker] in
                try await shard.write { db in try worker.applyBatch(batch, partition: partition, db: db) }
            }
            pendingPublish.insert(partition)
        }
        // Informational only (lag tools read group offsets); resumption uses the shards' offsets.
        var processed: [TopicPartition: Int64] = [:]
        for record in records where shards[record.partition] != nil {
            processed[record.topicPartition] = max(processed[record.topicPartition] ?? 0, record.offset + 1)
        }
        consumer.commitAsync(processed)
    }

    private func withAttempts(_ what: String, _ body: () async throws -> Void) async throws {
        var attempt = 1
        while true {
            do {
                return try await body()
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                guard attempt < worker.settings.batchAttempts else { throw error }
                logger.warning("transaction failed; retrying", metadata: ["what": "\(what)", "attempt": "\(attempt)", "error": "\(error)"])
                try await Task.sleep(for: .milliseconds(50 << attempt))
                attempt += 1
            }
        }
    }

    // MARK: - outbox

    private static func unsentRows(_ shard: ShardStore, limit: Int) throws -> [OutboxMessage] {
        try shard.read { try RuntimeTables.unsent($0, limit: limit) }
    }

    private static func markSent(_ shard: ShardStore, _ sequences: [Int64], now: Date) throws {
        try shard.write { try RuntimeTables.markSent($0, sequences: sequences, now: now) }
    }

    /// Publishes every unsent outbox row of the shards that may have some, and marks the
    /// delivered ones sent. Rows that fail stay unsent and are tried again next round.
    private func publishPending() async {
        while !pendingPublish.isEmpty {
            var batches: [(Int32, [OutboxMessage])] = []
            for partition in pendingPublish.sorted() {
                guard let shard = shards[partition] else { pendingPublish.remove(partition); continue }
                do {
                    let limit = worker.settings.outboxBatch
                    // A cancelled task (a test stopping its workers) makes GRDB's async calls throw;
                    // the rows of the batch in hand must still go out, so use the blocking ones.
                    let rows = Task.isCancelled ? try Self.unsentRows(shard, limit: limit)
                        : try await shard.read { try RuntimeTables.unsent($0, limit: limit) }
                    if rows.isEmpty { pendingPublish.remove(partition) } else { batches.append((partition, rows)) }
                } catch {
                    logger.error("cannot read outbox", metadata: ["kafka.partition": "\(partition)", "error": "\(error)"])
                    return
                }
            }
            guard !batches.isEmpty else { return }
            let messages = batches.flatMap { $0.1 }.map { row in
                OutgoingMessage(topic: row.topic, key: row.key.map { Array($0.utf8) }, value: Array(row.value),
                                headers: row.headers.sorted { $0.key < $1.key }.map { KafkaHeader(key: $0.key, string: $0.value) })
            }
            let results = await producer.send(messages)
            var index = 0
            var failures = 0
            for (partition, rows) in batches {
                var delivered: [Int64] = []
                for row in rows {
                    if case .success = results[index] { delivered.append(row.sequence) } else { failures += 1 }
                    index += 1
                }
                do {
                    let now = worker.clock.now()
                    let sent = delivered
                    if let shard = shards[partition] {
                        if Task.isCancelled { try Self.markSent(shard, sent, now: now) }
                        else { try await shard.write { try RuntimeTables.markSent($0, sequences: sent, now: now) } }
                    }
                } catch {
                    logger.error("cannot mark outbox rows sent", metadata: ["kafka.partition": "\(partition)", "error": "\(error)"])
                }
            }
            if failures > 0 {
                let firstError = results.compactMap { if case .failure(let e) = $0 { e } else { nil } }.first
                logger.warning("outbox publish incomplete; will retry", metadata: [
                    "failed": "\(failures)", "error": "\(firstError.map { "\($0)" } ?? "")"])
                return
            }
        }
    }

    // MARK: - rebalance

    private func handle(_ rebalance: Rebalance) async throws {
        switch rebalance {
        case .assigned(let partitions):
            var starts: [TopicPartition: StartOffset] = [:]
            for partition in Set(partitions.map(\.partition)).sorted() {
                let shard = try openShard(partition)
                let stored = try await shard.read { try RuntimeTables.nextOffsets($0) }
                for tp in partitions where tp.partition == partition {
                    starts[tp] = stored[tp.topic]?[partition].map(StartOffset.offset) ?? .beginning
                }
                // Unsent rows left by a crash, or by the previous owner: publish them again.
                pendingPublish.insert(partition)
            }
            try consumer.accept(assignment: starts)
            logger.info("partitions assigned", metadata: [
                "kafka.partitions": "\(Set(partitions.map(\.partition)).sorted())",
                "kafka.starts": "\(starts.sorted { $0.key < $1.key }.map { "\($0.key)@\($0.value)" }.joined(separator: " "))",
            ])
        case .revoked(let partitions):
            // The batch in hand was stored before we got here; flush its outbox, then let go.
            await publishPending()
            let owned = Set(partitions.map(\.partition))
            closeShards(Array(owned))
            try consumer.acknowledgeRevocation()
            logger.info("partitions revoked", metadata: ["kafka.partitions": "\(owned.sorted())"])
        }
    }

    private func openShard(_ partition: Int32) throws -> ShardStore {
        if let shard = shards[partition] { return shard }
        let path = ShardStore.path(stateDirectory: worker.stateDirectory, stage: stage.name, partition: partition)
        let shard = try ShardStore(path: path, partition: partition, synchronous: worker.settings.synchronous,
                                   schema: stage.schema)
        shards[partition] = shard
        return shard
    }

    private func closeShards(_ partitions: [Int32]) {
        for partition in partitions {
            guard let shard = shards.removeValue(forKey: partition) else { continue }
            pendingPublish.remove(partition)
            do { try shard.close() } catch {
                logger.warning("cannot close shard", metadata: ["kafka.partition": "\(partition)", "error": "\(error)"])
            }
        }
    }

    // MARK: - timer

    private func tickIfDue() async throws {
        let now = ContinuousClock.now
        if let interval = stage.tickInterval, now - lastTick >= interval {
            lastTick = now
            for (partition, shard) in shards.sorted(by: { $0.key < $1.key }) {
                try await withAttempts("tick for partition \(partition)") { [worker] in
                    try await shard.write { db in
                        let context = StageContext(db: db, partition: partition, now: worker.clock.now(), topics: worker.topics,
                                                   logger: worker.logger)
                        try worker.stage.tick(in: context)
                    }
                }
                pendingPublish.insert(partition)
            }
        }
        if now - lastInboxPrune >= .seconds(3600) {
            lastInboxPrune = now
            let cutoff = worker.clock.now().addingTimeInterval(-Double(worker.settings.inboxRetention.components.seconds))
            for shard in shards.values {
                _ = try? await shard.write { db in
                    try RuntimeTables.pruneInbox(db, before: cutoff)
                    try RuntimeTables.pruneSentOutbox(db, before: cutoff)
                }
            }
        }
    }
}
