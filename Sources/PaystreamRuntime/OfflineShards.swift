import Foundation
import Logging
import PaystreamKafka
import PaystreamStore

/// A stage's shards driven by hand, without Kafka: records are handed in, decided exactly as a
/// running worker decides a polled batch (routing and forwarding, inbox marks, dead letters,
/// offsets, one transaction per partition's batch, the record-by-record pass that parks a
/// `stage_error`), timers run when asked, and the outbox is taken instead of published. The
/// stage harness in `PaystreamTesting` and the benchmarks stand on it.
public final class OfflineShards<S: Stage>: @unchecked Sendable {
    public let worker: StageWorker<S>
    public let partitionCount: Int32
    private let routing: ShardRouting
    private let lock = NSLock()
    private var shards: [Int32: ShardStore] = [:]
    /// Every changelog record each shard committed, as the worker would have published them.
    private var log: [Int32: [ChangelogRecord]] = [:]

    public init(stage: S, stateDirectory: String, topics: TopicNames, partitionCount: Int32,
                settings: WorkerSettings = WorkerSettings(), clock: any PaystreamClock, logger: Logger) {
        worker = StageWorker(stage: stage, kafka: KafkaConfiguration(bootstrapServers: "offline"), groupID: "offline.\(stage.name)",
                             stateDirectory: stateDirectory, topics: topics, settings: settings, clock: clock, logger: logger)
        self.partitionCount = partitionCount
        routing = ShardRouting(partitionCount: partitionCount, topics: topics, repartitions: stage.repartitionTopics(in: topics))
    }

    /// The shard of `partition`, opened (and its identity claimed) on first use.
    public func shard(_ partition: Int32) throws -> ShardStore {
        precondition(partition >= 0 && partition < partitionCount, "partition \(partition) of \(partitionCount)")
        if let shard = lock.withLock({ shards[partition] }) { return shard }
        let stage = worker.stage
        let shard = try ShardStore(path: ShardStore.path(stateDirectory: worker.stateDirectory, stage: stage.name, partition: partition),
                                   partition: partition, synchronous: worker.settings.synchronous, schema: stage.schema)
        let recorded = try shard.write { [routing, worker] db in
            try RuntimeTables.claim(db, routing.identity(stage: stage.name, partition: partition), now: worker.clock.now())
        }
        try routing.check(recorded, path: shard.path, stage: stage.name)
        lock.withLock { shards[partition] = shard }
        return shard
    }

    public var openPartitions: [Int32] { lock.withLock { shards.keys.sorted() } }

    /// Takes each open shard's new changelog records into the log and confirms them at once, as
    /// the worker's changelog rounds would (a companion waits for that before a side effect).
    public func publishChangelog() {
        let open = lock.withLock { shards }
        for (partition, shard) in open {
            let records = shard.takeCaptured()
            guard let last = records.last else { continue }
            lock.withLock { log[partition, default: []].append(contentsOf: records) }
            shard.noteDurable(through: last.txn)
        }
    }

    /// Every changelog record of `partition` so far, in order (`publishChangelog` first).
    public func changelog(_ partition: Int32) -> [ChangelogRecord] {
        publishChangelog()
        return lock.withLock { log[partition] ?? [] }
    }

    /// Decides one partition's records as one batch. Returns the records forwarded per topic.
    @discardableResult
    public func decide(_ records: [ConsumedRecord], partition: Int32) throws -> [String: Int] {
        let shard = try shard(partition)
        do {
            return try worker.decideBatch { savepoints in
                try shard.write { [worker, routing] db in
                    try worker.applyBatch(records, partition: partition, routing: routing, savepoints: savepoints, db: db).forwarded
                }
            }
        } catch where !StageWorker<S>.isEnvironmental(error) {
            return try shard.write { [worker, routing] db in
                try worker.applyBatch(records, partition: partition, routing: routing, isolating: true, db: db).forwarded
            }
        }
    }

    /// Runs the stage's timer once on every open shard.
    public func tick() throws {
        for partition in openPartitions {
            try shard(partition).write { [worker] db in
                let context = StageContext(db: db, partition: partition, now: worker.clock.now(), topics: worker.topics,
                                           logger: worker.logger)
                try worker.stage.tick(in: context)
                _ = try context.written()
            }
        }
    }

    /// Every unsent outbox row of every open shard, marked published: what the worker would
    /// publish now, in the order it would.
    public func takeOutbox() throws -> [(partition: Int32, message: OutboxMessage)] {
        defer { publishChangelog() }
        var taken: [(partition: Int32, message: OutboxMessage)] = []
        for partition in openPartitions {
            let now = worker.clock.now()
            let rows = try shard(partition).write { db in
                let rows = try RuntimeTables.unsent(db, limit: .max)
                if let last = rows.last { try RuntimeTables.storePublishedThrough(db, last.sequence, now: now) }
                return rows
            }
            taken += rows.map { (partition, $0) }
        }
        return taken
    }

    public func close() {
        let open = lock.withLock {
            defer { shards = [:] }
            return shards
        }
        for shard in open.values { try? shard.close() }
    }
}
