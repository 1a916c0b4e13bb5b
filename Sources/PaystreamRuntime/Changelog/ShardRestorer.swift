import Foundation
import Logging
import PaystreamKafka
import PaystreamStore

/// What a restore did.
public struct RestoreSummary: Sendable, Equatable {
    /// Records applied, and their patchset bytes.
    public var records = 0
    public var bytes = 0
    /// Records of the log that were not applied: already in the file (sent twice), or after a
    /// gap (a round that failed and was sent again).
    public var skipped = 0
    /// The last record the file holds afterwards.
    public var lastTxn: Int64 = 0
    /// Whether the file had no tables before and none after (nothing to restore).
    public var isEmpty = false
    /// The newest claim in the log: the next owner claims a newer epoch.
    public var claimant = ChangelogClaimant.none
    /// The snapshot the file was started from (a missing file), and the time it took to fetch
    /// and check it (part of `seconds`); the records above are the tail after it.
    public var snapshot: SnapshotManifest?
    public var snapshotSeconds = 0.0
    /// Snapshots tried and refused (partial, corrupt, from a newer version) before that.
    public var refusedSnapshots = 0
    public var seconds = 0.0
}

/// Brings a shard file up to its stage's changelog before anyone decides on it: reads the
/// shard's changelog partition from where the file stands to the end of the log (the
/// end-of-partition rule of `KafkaPartitionReader`; no ListOffsets) and applies each record in
/// order (`ShardRestore`). A missing file starts from the newest snapshot that passes its checks
/// (`snapshots`, `<stage>.snapshots`), so only the log after it is read; without one, from the
/// start of the log. A file that made records Kafka never got while another owner wrote
/// different ones under the same numbers is set aside (`<file>.diverged-<time>-<n>`) and the shard
/// restored again (from a snapshot, or from the start of the log).
public struct ShardRestorer: Sendable {
    public let path: String
    public let partition: Int32
    public let topic: String
    public let schema: StageSchema
    public let kafka: KafkaConfiguration
    public let synchronous: SynchronousMode
    public let logger: Logger
    /// The stage's snapshot topic; nil: restores read the whole log.
    public var snapshots: String?
    /// Told of each step (records so far, offset reached): logs, metrics, /readyz, STATUS.
    public var progress: @Sendable (RestoreSummary) -> Void = { _ in }

    public init(path: String, partition: Int32, topic: String, schema: StageSchema, kafka: KafkaConfiguration,
                synchronous: SynchronousMode, logger: Logger) {
        self.path = path
        self.partition = partition
        self.topic = topic
        self.schema = schema
        self.kafka = kafka
        self.synchronous = synchronous
        self.logger = logger
    }

    public func run() async throws -> RestoreSummary {
        do {
            return try await restore()
        } catch let divergence as ChangelogDivergence {
            try setAside(divergence, reason: "diverged")
            return try await restore()
        } catch let behind as ChangelogBehind {
            try setAside(behind, reason: "behind")
            return try await restore()
        }
    }

    /// Moves the file out of the way (`<file>.<reason>-<time>-<n>`, kept for inspection).
    private func setAside(_ error: any Error, reason: String = "diverged") throws {
        let aside = try ShardStore.setAside(path: path, reason: reason)
        logger.warning(reason == "behind" ? "shard file is behind the start of its changelog; set aside, restoring from a snapshot"
                                          : "shard file diverged from its changelog; set aside, restoring from the log", metadata: [
            "kafka.partition": "\(partition)", "error": "\(error)", "shard.quarantined": "\(aside)"])
    }

    /// Takes the partition for `owner` once the file is restored (`restored`, what `run` said):
    /// publishes a claim one epoch past the newest in the log (`publish` returns once Kafka has
    /// it), then reads the log back through it, applying what came before it (the last records
    /// of an old owner still writing). Returns the claim, which the shard is opened under.
    /// Should those records clash with records the file made and Kafka never got, the file is
    /// set aside, restored again, and claimed again. Throws if another claim got the epoch first.
    public func claim(owner: String, restored: RestoreSummary,
                      publish: (ChangelogRecord) async throws -> Void) async throws -> ChangelogClaimant {
        var restored = restored
        for attempt in 1... {
            let claimant = ChangelogClaimant(epoch: restored.claimant.epoch + 1, owner: owner)
            do {
                let file = try ShardRestore(path: path, synchronous: synchronous, schema: schema)
                defer { try? file.close() }
                try await publish(.claim(claimant, lastTxn: file.position.lastTxn))
                try await ChangelogReader(topic: topic, partition: partition, kafka: kafka, logger: logger)
                    .read(from: file.position.logNextOffset) { records, nextOffset in try file.apply(records, logNextOffset: nextOffset) }
                guard file.position.claimant == claimant else {
                    throw ChangelogError("""
                        partition \(partition) was claimed by someone else while this instance claimed it (\(file.position.claimant), \
                        not \(claimant)): another instance owns it
                        """)
                }
                logger.info("partition claimed", metadata: [
                    "kafka.partition": "\(partition)", "changelog.epoch": "\(claimant.epoch)", "changelog.txn": "\(file.position.lastTxn)"])
                return claimant
            } catch let divergence as ChangelogDivergence where attempt < 3 {
                try setAside(divergence)
                restored = try await restore()
            }
        }
        preconditionFailure("unreachable")
    }

    private func restore() async throws -> RestoreSummary {
        let started = ContinuousClock.now
        var summary = RestoreSummary()
        if let snapshots, try ShardRestore.isMissing(path) {
            try await startFromSnapshot(topic: snapshots, &summary)
            summary.snapshotSeconds = (ContinuousClock.now - started).seconds
        }
        let file = try ShardRestore(path: path, synchronous: synchronous, schema: schema)
        defer { try? file.close() }
        let wasEmpty = try file.isEmpty()
        summary.lastTxn = file.position.lastTxn
        var batch: [ChangelogRecord] = []
        var batchBytes = 0
        var lastReport = ContinuousClock.now
        // Whether the log holds any transaction or schema record (claims alone restore nothing).
        var sawRecords = false
        func flush(through nextOffset: Int64) throws {
            guard !batch.isEmpty else { return }
            let applied = try file.apply(batch, logNextOffset: nextOffset)
            summary.records += applied
            summary.skipped += batch.count - applied
            summary.bytes += batchBytes
            summary.lastTxn = file.position.lastTxn
            batch = []
            batchBytes = 0
            if ContinuousClock.now - lastReport >= .seconds(1) {
                lastReport = .now
                summary.seconds = (ContinuousClock.now - started).seconds
                progress(summary)
            }
        }
        let start = file.position.logNextOffset
        let read = try await ChangelogReader(topic: topic, partition: partition, kafka: kafka, logger: logger)
            .read(from: start) { records, nextOffset in
                sawRecords = sawRecords || records.contains { $0.kind != .claim }
                batch += records
                batchBytes += records.reduce(0) { $0 + $1.patchset.count }
                if batch.count >= 1000 || batchBytes >= 8 << 20 { try flush(through: nextOffset) }
            } done: { nextOffset in
                try flush(through: nextOffset)
            }
        // Offsets are contiguous (no compaction, no transactions): a log whose first message comes
        // after where the file stands was truncated past it, and the file can never catch up.
        if let behind = ChangelogBehind(path: path, position: start, firstRead: read.firstOffset) { throw behind }
        summary.isEmpty = wasEmpty && summary.records == 0
        summary.claimant = file.position.claimant
        // Records the file made and Kafka never got stay its own only if no one claimed since.
        try file.checkPrefix()

        guard !(sawRecords && summary.lastTxn == 0) else {
            throw ChangelogError("""
                changelog \(topic)[\(partition)] does not start at the shard's first record (the shard was made before its \
                changelog existed, or the log lost its start): \(path) cannot be restored from it
                """)
        }
        summary.seconds = (ContinuousClock.now - started).seconds
        return summary
    }
}

extension ShardRestorer {
    /// Puts the newest snapshot that passes its checks in place of the missing file; a partial,
    /// corrupt or unknown one is logged and the next older tried; none: the file stays missing
    /// (the log is read from its start).
    private func startFromSnapshot(topic: String, _ summary: inout RestoreSummary) async throws {
        let store = SnapshotStore(topic: topic, partition: partition, kafka: kafka, logger: logger)
        guard let catalog = try await store.catalog() else { return }
        for entry in catalog.entries where !entry.isComplete {
            logger.warning("partial snapshot ignored", metadata: [
                "kafka.partition": "\(partition)", "snapshot.id": "\(entry.manifest.id)",
                "snapshot.chunks": "\(entry.chunkOffsets.compactMap { $0 }.count)/\(entry.chunkOffsets.count)"])
        }
        let known = ShardStore.migrations(schema).map(\.0)
        let copy = path + ".snapshot-in"
        defer { ShardSnapshot.removeFiles(at: copy) }
        for entry in catalog.usable {
            do {
                ShardSnapshot.removeFiles(at: copy)
                try await store.download(entry, into: copy)
                let target = path
                try await onThreadOfItsOwn(name: "paystream-snapshot-install") {
                    try ShardSnapshot.install(copy, manifest: entry.manifest, known: known, at: target)
                }
                summary.snapshot = entry.manifest
                logger.info("shard started from a snapshot", metadata: [
                    "kafka.partition": "\(partition)", "snapshot.id": "\(entry.manifest.id)", "changelog.txn": "\(entry.manifest.txn)",
                    "snapshot.bytes": "\(entry.manifest.size)"])
                return
            } catch let error as CancellationError {
                throw error
            } catch {
                summary.refusedSnapshots += 1
                logger.warning("snapshot refused; trying an older one, or the log", metadata: [
                    "kafka.partition": "\(partition)", "snapshot.id": "\(entry.manifest.id)", "error": "\(error)"])
            }
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Reads one changelog partition from an offset to the end of the log (the end-of-partition
/// rule of `KafkaPartitionReader`; no ListOffsets), handing over whole records as they complete,
/// each poll's with the offset after the last of them.
public struct ChangelogReader: Sendable {
    public let topic: String
    public let partition: Int32
    public let kafka: KafkaConfiguration
    public let logger: Logger
    /// Reading gives up when neither a record nor the end arrived for this long.
    public var stallTimeout: Duration = .seconds(60)

    public init(topic: String, partition: Int32, kafka: KafkaConfiguration, logger: Logger) {
        self.topic = topic
        self.partition = partition
        self.kafka = kafka
        self.logger = logger
    }

    /// Rebuilds a shard from this log alone into a new file at `path` (its folder created),
    /// applying records up to `through`: the records applied, the last record the file holds,
    /// and whether it holds nothing (an empty log).
    public func rebuild(into path: String, schema: StageSchema, through: Int64 = .max) async throws
        -> (applied: Int, lastTxn: Int64, isEmpty: Bool) {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let file = try ShardRestore(path: path, schema: schema)
        defer { try? file.close() }
        var applied = 0
        try await read(from: 0) { batch, next in applied += try file.apply(batch.filter { $0.txn <= through }, logNextOffset: next) }
        return (applied, file.position.lastTxn, try file.isEmpty())
    }

    /// Returns how many records were read, the log's end offset, and the offset of the first
    /// message read or, with none, the end reached (nil: neither yet; more than `start` when the
    /// log no longer holds `start`).
    @discardableResult
    public func read(from start: Int64, _ body: ([ChangelogRecord], Int64) throws -> Void,
                     done: (Int64) throws -> Void = { _ in }) async throws -> (records: Int, end: Int64, firstOffset: Int64?) {
        let reader = try KafkaPartitionReader(configuration: kafka.withDefaults(["fetch.wait.max.ms": "100"]), logger: logger)
        do {
            let counts = try await reader.topicPartitionCounts()
            guard let count = counts[topic], count > partition else {
                throw ChangelogError(counts[topic] == nil
                    ? "changelog topic \(topic) does not exist; create it with `paystream topics create`"
                    : "changelog topic \(topic) has \(counts[topic]!) partitions, fewer than the stage's inputs (partition \(partition) is wanted)")
            }
            let tp = TopicPartition(topic, partition)
            try reader.assign([tp: start > 0 ? .offset(start) : .beginning])
            var assembler = ChangelogAssembler()
            var nextOffset = start
            var total = 0
            var firstOffset: Int64?
            var progressAt = ContinuousClock.now
            while !reader.isCaughtUp {
                try Task.checkCancellation()
                let poll = try await reader.poll(maxRecords: 2000, maxWait: .milliseconds(500))
                if !poll.records.isEmpty || !poll.reachedEnd.isEmpty { progressAt = .now }
                guard ContinuousClock.now - progressAt < stallTimeout else {
                    throw ChangelogError("reading changelog \(topic)[\(partition)] made no progress for \(stallTimeout) (at offset \(nextOffset)): is the broker reachable?")
                }
                var records: [ChangelogRecord] = []
                // The first message read, or with none the end reached (offsets are contiguous).
                if firstOffset == nil { firstOffset = poll.records.first?.offset ?? poll.reachedEnd[tp] }
                for message in poll.records {
                    if let (record, next) = try assembler.add(message) {
                        records.append(record)
                        nextOffset = next
                    }
                }
                total += records.count
                if !records.isEmpty { try body(records, nextOffset) }
            }
            try done(nextOffset)
            let end = reader.positions[tp] ?? nextOffset
            await reader.close()
            return (total, end, firstOffset)
        } catch {
            await reader.close()
            throw error
        }
    }
}
