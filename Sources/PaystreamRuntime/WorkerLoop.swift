import Foundation
import GRDB
import Logging
import PaystreamDomain
import PaystreamKafka
import PaystreamStore
import ServiceLifecycle

/// The mutable side of a running worker. Used by one task only (the worker's `run`).
final class WorkerLoop<S: Stage> {
    let worker: StageWorker<S>
    let consumer: KafkaConsumer
    let producer: KafkaProducer
    private let replica: ReferenceReplica?
    let routing: ShardRouting
    var shards: [Int32: ShardStore] = [:]
    /// The stage's companion task on each open shard (`Stage.companion`).
    var companions: [Int32: Task<Void, Never>] = [:]
    /// What systemd has been told, and when (`WorkerLoop+Systemd`).
    var systemd = SystemdState()
    /// The offset after the last record decided (or the stored start), per owned topic-partition.
    var positions: [TopicPartition: Int64] = [:]
    /// What each shard's outbox and changelog have on their way and may send next
    /// (`OutboxPublisher`: the rules; the loop does the I/O).
    var publisher: OutboxPublisher
    /// When the loop last polled Kafka: pruning stops starting new work once `pollBudget` has
    /// passed, so the poll interval stays bounded.
    var lastPoll = ContinuousClock.now
    /// Publish rounds run since that poll.
    var roundsSincePoll = 0
    /// The producer's side of the outbox rounds on their way, by shard, in the order they were made.
    var outboxRounds: [Int32: [PublishRound]] = [:]
    /// The changelog rounds on their way, by shard, in the order they were made.
    var changelogRounds: [Int32: [ChangelogRound]] = [:]
    /// Reads the owned shards' changelogs back (with capture on): what confirms their records.
    var tail: ChangelogTail?
    /// Partitions another instance claimed while this one still had them (`fence`): their
    /// records are ignored until the group takes them away or gives them back.
    var fenced: Set<Int32> = []
    /// When each owned shard is snapshotted, the snapshots on their way, how they end, and the
    /// newest each shard started from or published (`WorkerLoop+Snapshots`).
    var snapshots: SnapshotSchedule
    var snapshotRuns: [Int32: SnapshotRun] = [:]
    var snapshotRunCount = 0
    let snapshotMailbox = SnapshotMailbox()
    /// Whether `<stage>.snapshots` exists (looked up once when the loop starts).
    var snapshotsAvailable = false
    var newestSnapshots: [Int32: SnapshotManifest] = [:]
    /// Warm copies of partitions this instance does not own (`WorkerSettings.standby`).
    var standby: StandbyReplicas?
    /// Held while the loop runs: a shared claim on the state folder, exclusive with standbys.
    var folderLock: StateFolderLock?
    var lastStandbyReport = ContinuousClock.now
    private var lastTick = ContinuousClock.now
    private var lastPrune = ContinuousClock.now - .seconds(3600)
    /// Set hourly: old inbox ids and sent outbox rows before this time are deleted, a chunk per
    /// shard per loop iteration, until none is left.
    private var pruneCutoff: Date?
    var logger: Logger { worker.logger }
    var stage: S { worker.stage }

    init(worker: StageWorker<S>, consumer: KafkaConsumer, producer: KafkaProducer, replica: ReferenceReplica?,
         routing: ShardRouting) {
        self.worker = worker
        self.consumer = consumer
        self.producer = producer
        self.replica = replica
        self.routing = routing
        publisher = OutboxPublisher(limits: .init(rowsPerRound: worker.settings.outboxBatch,
                                                  roundsInFlight: worker.settings.roundsInFlight,
                                                  deliveryFailureTimeout: worker.settings.deliveryFailureTimeout))
        snapshots = SnapshotSchedule(limits: .init(everyBytes: worker.settings.snapshotEveryBytes, every: worker.settings.snapshotEvery))
    }

    /// Poll, decide and commit, publish — pipelined: a batch's outbox goes to the broker while
    /// the loop polls and decides the next one; a shard's rounds are handed to the producer in the
    /// order they were made and settled in that order, so a shard's rows leave in order.
    func run() async throws {
        if worker.settings.changelog {
            folderLock = try StateFolderLock(stateDirectory: worker.stateDirectory, stage: stage.name,
                                             exclusive: worker.settings.standby != .none)
            let tail = try ChangelogTail(topic: changelogTopic, kafka: worker.kafka, delay: worker.settings.readBackDelay, logger: logger)
            try await checkSnapshotTopic(tail)
            tail.start(wake: { [consumer] in consumer.wake() })
            self.tail = tail
            if worker.settings.standby != .none {
                let standby = StandbyReplicas(rule: worker.settings.standby, stage: stage.name, stateDirectory: worker.stateDirectory,
                                              topic: changelogTopic, snapshots: snapshotsAvailable ? snapshotTopic : nil, schema: stage.schema, kafka: worker.kafka,
                                              synchronous: worker.settings.synchronous, logger: logger)
                standby.start()
                self.standby = standby
            }
        }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // A round that lands wakes the poll (`PublishRound`), so that it is settled at once.
            let poll = try await consumer.poll(maxRecords: worker.settings.maxBatchRecords, maxWait: worker.settings.maxBatchWait)
            lastPoll = .now
            roundsSincePoll = 0
            // The loop went round: the watchdog may be fed, /livez says so.
            worker.health.wentRound()
            worker.health.producer(healthy: !publisher.isFailing)
            tellSystemd()
            // Reference updates that arrived meanwhile count for this batch already.
            try await replica?.refresh()
            if !poll.records.isEmpty {
                worker.metrics.polled(poll.records.count)
                try await process(poll.records)
                if worker.settings.crashPoint == .afterCommitBeforePublish || worker.settings.crashPoint == .afterCommitBeforeChangelog {
                    throw SimulatedCrash()
                }
            }
            try await finishRoundsInFlight(wait: false)
            try await startRounds()
            if let rebalance = poll.rebalance { try await handle(rebalance) }
            try await tickIfDue()
            snapshotIfDue()
            reportStandby()
            await pruneIfDue()
            try await finishRoundsInFlight(wait: false)
            try await startRounds()
            try await storeWatermarks(all: false)
        }
    }

    /// Lets go of Kafka without publishing anything more, as a dying process would.
    func abandon() async {
        stopSnapshots(Array(shards.keys))
        outboxRounds = [:]
        changelogRounds = [:]
        await consumer.close()
        await replica?.close()
        await producer.close()
        await closeShards(Array(shards.keys))
        await tail?.stop()
        await standby?.stop()
    }

    func shutdown() async {
        worker.notify?.send(["STOPPING": "1", "STATUS": "stopping: finishing the batch, flushing the outbox"])
        // Companions first: what they write must be in the changelog before the shards close.
        await stopCompanions(Array(shards.keys))
        do { try await flushOutbox() } catch {
            logger.error("outbox not flushed at shutdown; unsent rows stay for the next owner", metadata: ["error": "\(error)"])
        }
        await abandon()
    }

    // MARK: - batches

    /// Decides a polled batch: each partition's records in its shard's transaction, the shards
    /// concurrently (each has its own SQLite writer, and a stage decides one shard without
    /// looking at another).
    private func process(_ records: [ConsumedRecord]) async throws {
        var byPartition: [Int32: [ConsumedRecord]] = [:]
        for record in records { byPartition[record.partition, default: []].append(record) }
        var work: [(Int32, [ConsumedRecord], ShardStore)] = []
        for (partition, batch) in byPartition.sorted(by: { $0.key < $1.key }) {
            guard let shard = shards[partition] else {
                // Records of a partition we no longer own are re-read by its new owner.
                if !fenced.contains(partition) {
                    logger.warning("records for an unassigned partition dropped", metadata: ["kafka.partition": "\(partition)"])
                }
                continue
            }
            work.append((partition, batch, shard))
        }
        let worker = self.worker, routing = self.routing
        // Each shard's transaction also stores the watermark and changelog position the loop
        // has not stored yet.
        let unstored = Dictionary(uniqueKeysWithValues: work.map { ($0.0, publisher.unstored($0.0)) })
        let outcomes = try await withThrowingTaskGroup(of: (Int32, BatchOutcome).self) { group in
            for (partition, batch, shard) in work {
                let (watermark, mark) = unstored[partition]!
                group.addTask {
                    (partition, try await Self.decide(batch, partition: partition, shard: shard, worker: worker, routing: routing,
                                                      watermark: watermark, changelog: mark))
                }
            }
            var outcomes: [(Int32, BatchOutcome)] = []
            for try await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        for (partition, outcome) in outcomes {
            publisher.stored(partition, watermark: unstored[partition]!.watermark, changelog: unstored[partition]!.changelog, now: .now)
            worker.statistics.addForwarded(outcome.forwarded)
            for (topic, count) in outcome.forwarded { worker.metrics.forwarded(count, topic: topic) }
            noteQueued(outcome.queued, partition: partition)
        }
        var byTopic: [String: Int] = [:]
        for record in records where shards[record.partition] != nil { byTopic[record.topic, default: 0] += 1 }
        for (topic, count) in byTopic { worker.metrics.consumed(count, topic: topic) }
        // Informational only (lag tools read group offsets); resumption uses the shards' offsets.
        var processed: [TopicPartition: Int64] = [:]
        for record in records where shards[record.partition] != nil {
            processed[record.topicPartition] = max(processed[record.topicPartition] ?? 0, record.offset + 1)
        }
        positions.merge(processed) { max($0, $1) }
        consumer.commitAsync(processed)
    }

    /// One partition's batch in its shard's transaction, retried; if it fails the same way on
    /// every attempt, once more record by record so that the record at fault is parked.
    /// The transaction also stores `watermark`, the outbox's published-through sequence the loop
    /// has not stored yet.
    private static func decide(_ batch: [ConsumedRecord], partition: Int32, shard: ShardStore, worker: StageWorker<S>,
                               routing: ShardRouting, watermark: Int64?, changelog: ChangelogMark?) async throws -> BatchOutcome {
        let started = ContinuousClock.now
        defer { worker.metrics.decided(batchOf: batch.count, in: .now - started) }
        do {
            return try await attempts("batch for partition \(partition)", worker: worker) {
                try await worker.decideBatch { savepoints in
                    try await shard.write { db in
                        // First: a republish in the batch copies only what the shard has as published.
                        try Self.store(watermark, changelog: changelog, db: db, now: worker.clock.now())
                        return try worker.applyBatch(batch, partition: partition, routing: routing, savepoints: savepoints, db: db)
                    }
                }
            }
        } catch where !StageWorker<S>.isEnvironmental(error) {
            // The same failure on every attempt: once more with each record on its own, so
            // the record that fails is parked as `stage_error` and the others commit.
            worker.logger.error("batch failed on every attempt; deciding its records one by one", metadata: [
                "kafka.partition": "\(partition)", "error": "\(error)"])
            return try await shard.write { db in
                try Self.store(watermark, changelog: changelog, db: db, now: worker.clock.now())
                return try worker.applyBatch(batch, partition: partition, routing: routing, isolating: true, db: db)
            }
        }
    }

    /// A committed transaction of `partition` queued `rows`: the shard has rows to publish, and
    /// the loop still knows all of them if it did (rows are only ever added at the outbox's end).
    private func noteQueued(_ rows: [OutboxMessage], partition: Int32) {
        publisher.queued(rows, partition: partition)
    }

    func withAttempts<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        try await Self.attempts(what, worker: worker, body)
    }

    static func attempts<T>(_ what: String, worker: StageWorker<S>, _ body: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await body()
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                guard attempt < worker.settings.batchAttempts else { throw error }
                worker.logger.warning("transaction failed; retrying", metadata: ["what": "\(what)", "attempt": "\(attempt)", "error": "\(error)"])
                try await Task.sleep(for: .milliseconds(50 << attempt))
                attempt += 1
            }
        }
    }

    // MARK: - rebalance

    private func handle(_ rebalance: Rebalance) async throws {
        switch rebalance {
        case .assigned(let partitions):
            fenced.subtract(partitions.map(\.partition))
            var starts: [TopicPartition: StartOffset] = [:]
            for partition in Set(partitions.map(\.partition)).sorted() {
                // A standby copy of it is let go first: the owner restores the log after it.
                await standby?.release(partition)
                let shard = try await openShard(partition, topicPartitions: partitions.filter { $0.partition == partition })
                let stored = try await shard.read { try RuntimeTables.nextOffsets($0) }
                for tp in partitions where tp.partition == partition {
                    starts[tp] = stored[tp.topic]?[partition].map(StartOffset.offset) ?? .beginning
                    positions[tp] = stored[tp.topic]?[partition] ?? 0
                }
            }
            try consumer.accept(assignment: starts)
            worker.metrics.rebalance("assigned")
            logger.info("partitions assigned", metadata: [
                "kafka.partitions": "\(Set(partitions.map(\.partition)).sorted())",
                "kafka.starts": "\(starts.sorted { $0.key < $1.key }.map { "\($0.key)@\($0.value)" }.joined(separator: " "))",
            ])
            // Joined, with reference data caught up before the join: ready (once), and a status.
            announceReady()
        case .revoked(let partitions, let lost):
            let owned = Set(partitions.map(\.partition))
            fenced.subtract(owned)
            if lost {
                // Another member may own them already: what this one stored stays in the shards
                // (its unsent rows are published by the next owner), nothing more is decided here.
                logger.warning("group membership lost; partitions taken away", metadata: ["kafka.partitions": "\(owned.sorted())"])
            }
            // The batch in hand was stored before we got here; flush its outbox, then let go.
            await stopCompanions(Array(owned))
            do { try await flushOutbox() } catch {
                logger.error("outbox not flushed before revocation; the next owner publishes the rest", metadata: ["error": "\(error)"])
            }
            await closeShards(Array(owned))
            for tp in positions.keys where owned.contains(tp.partition) {
                positions[tp] = nil
                worker.metrics.lag(0, of: tp)
            }
            try consumer.acknowledgeRevocation()
            standby?.resume(Array(owned))
            worker.metrics.rebalance(lost ? "lost" : "revoked")
            tellSystemd(statusNow: true)
            if !lost { logger.info("partitions revoked", metadata: ["kafka.partitions": "\(owned.sorted())"]) }
        }
    }

    /// Opens (or creates) the shard of `partition` and checks that it was made for this layout.
    /// A missing file for a partition the group has committed offsets for is refused: its state
    /// existed somewhere, and rebuilding it from an empty shard would forget payments.
    private func openShard(_ partition: Int32, topicPartitions: [TopicPartition]) async throws -> ShardStore {
        if let shard = shards[partition] { return shard }
        let path = ShardStore.path(stateDirectory: worker.stateDirectory, stage: stage.name, partition: partition)
        var nothingKept = !FileManager.default.fileExists(atPath: path)
        var restored: RestoreSummary?
        if worker.settings.changelog {
            // Missing here, or behind the log (another host owned the partition since): the
            // changelog has it. A new partition's log is empty, and so is its shard.
            restored = try await restoreShard(partition, path: path)
            nothingKept = restored!.isEmpty
        }
        if nothingKept {
            let committed = try await consumer.committedOffsets(topicPartitions)
            guard committed.isEmpty else {
                if worker.settings.changelog {
                    // Nothing to restore from: the empty file the restore opened goes again.
                    ShardStore.remove(path: path)
                }
                throw ShardLayoutError(description: """
                    shard file \(path) is missing and its changelog \(changelogTopic)[\(partition)] is empty, but group \(worker.groupID) has committed offsets for partition \(partition) \
                    (\(committed.sorted { $0.key < $1.key }.map { "\($0.key)@\($0.value)" }.joined(separator: " "))): the state of \
                    that partition was kept somewhere and would be rebuilt from nothing. Restore the file (it may be on the host \
                    that ran this partition before), or, to start the partition over on purpose, delete the group's committed \
                    offsets for it
                    """)
            }
        }
        // The partition is this instance's from its claim on: what an old owner still writes after
        // it counts for no one.
        var claimant: ChangelogClaimant?
        if let restored { claimant = try await claimShard(partition, path: path, restored: restored) }
        let shard = try ShardStore(path: path, partition: partition, synchronous: worker.settings.synchronous,
                                   schema: stage.schema, capture: worker.settings.changelog, claimant: claimant)
        do {
            let wanted = routing.identity(stage: stage.name, partition: partition)
            let now = worker.clock.now()
            let recorded = try await shard.write { try RuntimeTables.claim($0, wanted, now: now) }
            try routing.check(recorded, path: path, stage: stage.name)
            guard recorded.partition == partition else {
                throw ShardLayoutError(description: "shard \(path) holds \(recorded), not partition \(partition): it was renamed or copied by hand")
            }
        } catch {
            try? shard.close()
            throw error
        }
        let (stored, position) = try await shard.read { (try RuntimeTables.publishedThrough($0), try ChangelogTables.position($0)) }
        shards[partition] = shard
        // Unsent rows left by a crash, or by the previous owner, are published again; records a
        // crash left unsent (the shard's queue) go first, before any outbox row.
        publisher.open(partition, publishedThrough: stored, changelog: worker.settings.changelog
                       ? ChangelogGate(durableTxn: position.durableTxn, logNextOffset: position.logNextOffset) : nil, now: .now)
        collectChangelog(partition)
        // Its records count once read back under its claim, from just after the claim.
        if let claimant { tail?.follow(partition, owner: claimant, through: position.durableTxn, from: position.logNextOffset) }
        // Snapshots count the log from the newest snapshot (what the restore read after it).
        if worker.settings.changelog {
            snapshots.open(partition, bytes: restored?.bytes ?? 0, now: .now)
            if let snapshot = restored?.snapshot { newestSnapshots[partition] = snapshot }
        }
        if let companion = stage.companion {
            let clock = worker.clock
            var logger = worker.logger
            logger[metadataKey: "kafka.partition"] = "\(partition)"
            companions[partition] = Task { [logger] in await companion.run(shard: shard, partition: partition, clock: clock, logger: logger) }
        }
        return shard
    }

    /// Cancels the companions of these shards and waits for them to end.
    func stopCompanions(_ partitions: [Int32]) async {
        let stopping = partitions.compactMap { companions.removeValue(forKey: $0) }
        for task in stopping { task.cancel() }
        for task in stopping { await task.value }
    }

    func closeShards(_ partitions: [Int32]) async {
        // Companions first: none may touch a shard once it is closed (or owned elsewhere).
        await stopCompanions(partitions)
        stopSnapshots(partitions)
        for partition in partitions {
            guard let shard = shards.removeValue(forKey: partition) else { continue }
            publisher.close(partition)
            outboxRounds[partition] = nil
            changelogRounds[partition] = nil
            tail?.unfollow([partition])
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
                let (watermark, mark) = publisher.unstored(partition)
                let queued = try await withAttempts("tick for partition \(partition)") { [worker] in
                    try await shard.write { db in
                        let context = StageContext(db: db, partition: partition, now: worker.clock.now(), topics: worker.topics,
                                                   logger: worker.logger)
                        try Self.store(watermark, changelog: mark, db: db, now: context.now)
                        try worker.stage.tick(in: context)
                        return try context.written()
                    }
                }
                publisher.stored(partition, watermark: watermark, changelog: mark, now: .now)
                if queued.isEmpty { continue }
                noteQueued(queued, partition: partition)
            }
        }
        if now - lastPrune >= .seconds(3600) {
            lastPrune = now
            pruneCutoff = worker.clock.now().addingTimeInterval(-Double(worker.settings.inboxRetention.components.seconds))
        }
    }

    /// Deletes one chunk of old inbox ids and sent outbox rows per shard while a prune is due;
    /// a prune of many rows takes several loop iterations, with polls in between.
    private func pruneIfDue() async {
        guard let cutoff = pruneCutoff, ContinuousClock.now - lastPoll < worker.settings.pollBudget else { return }
        let chunk = worker.settings.pruneChunk
        var done = true
        for (partition, shard) in shards {
            do {
                let deleted = try await shard.write { db in
                    try RuntimeTables.pruneInbox(db, before: cutoff, limit: chunk)
                        + RuntimeTables.pruneSentOutbox(db, before: cutoff, limit: chunk)
                }
                if deleted > 0 { done = false }
            } catch {
                logger.warning("cannot prune the inbox and outbox; next hour then", metadata: [
                    "kafka.partition": "\(partition)", "error": "\(error)"])
            }
        }
        if done { pruneCutoff = nil }
    }
}
