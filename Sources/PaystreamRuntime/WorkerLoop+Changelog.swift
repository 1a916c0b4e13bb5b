import Foundation
import GRDB
import Logging
import PaystreamKafka
import PaystreamStore

/// The changelog records of a round, and the gate generation the round was made in.
struct ChangelogBatch: Sendable {
    let records: [ChangelogRecord]
    let generation: Int
}

/// This process as `changelog-instance` names it: the host name (`gethostname`, no name
/// resolution) and the process id, taken once.
let changelogInstance: String = {
    var name = [CChar](repeating: 0, count: 256)
    let host = gethostname(&name, name.count) == 0 ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "unknown"
    return "\(host)/\(ProcessInfo.processInfo.processIdentifier)"
}()

/// A round of changelog records.
typealias ChangelogRound = ProducerRound<ChangelogBatch>

extension WorkerLoop {
    var changelogTopic: String { worker.topics.changelog(of: stage.name) }

    /// A changelog chunk stays well below the producer's `message.max.bytes` (headers and the
    /// batch's framing take the rest), and at most `ChangelogWire.maxChunkBytes`.
    var changelogChunkBytes: Int {
        let limit = worker.kafka.properties["message.max.bytes"].flatMap(Int.init) ?? 1_000_000
        return max(4096, min(ChangelogWire.maxChunkBytes, limit / 2))
    }

    /// Takes the records `partition`'s shard committed since the last look into its gate.
    func collectChangelog(_ partition: Int32) {
        guard let shard = shards[partition] else { return }
        publisher.committed(shard.takeCaptured(), partition: partition)
    }

    /// Hands each shard's unsent changelog records to the producer (up to
    /// `WorkerSettings.roundsInFlight` rounds per shard), without waiting.
    func startChangelogRounds() throws {
        let topic = changelogTopic, instance = changelogInstance, chunk = changelogChunkBytes
        for partition in shards.keys.sorted() {
            collectChangelog(partition)
            guard let batch = publisher.nextChangelogRound(partition, limit: worker.settings.changelogRoundRecords) else { continue }
            let messages = batch.records.flatMap {
                ChangelogWire.messages(for: $0, topic: topic, partition: partition, instance: instance, maxChunkBytes: chunk)
            }
            changelogRounds[partition, default: []].append(
                ChangelogRound(partition: partition, payload: batch, messages: messages, producer: producer,
                               landed: { [consumer] in consumer.wake() }))
        }
    }

    /// Settles the changelog rounds whose answers are in (all of them when `wait`), each shard's
    /// in the order they were made: a round delivered whole waits for its records to be read
    /// back; a failed one sends every unconfirmed record again. Takes in what was read back first.
    func finishChangelogRounds(wait: Bool) async throws {
        try await drainTail()
        for partition in changelogRounds.keys.sorted() {
            while let round = changelogRounds[partition]?.first, wait || round.isDone {
                let results = await round.reports()
                changelogRounds[partition]!.removeFirst()
                if changelogRounds[partition]!.isEmpty { changelogRounds[partition] = nil }
                let failures = results.compactMap { if case .failure(let error) = $0 { error } else { nil } }
                switch publisher.settleChangelog(round.payload, partition: partition, delivered: failures.isEmpty) {
                case .delivered:
                    worker.metrics.changelogPublished(round.payload.records)
                    snapshots.published(round.payload.records.reduce(0) { $0 + $1.patchset.count }, partition: partition)
                case .resend:
                    try noteDeliveryFailure(failures)
                case .stale, nil:
                    break
                }
            }
        }
        try throwIfProducerFailed()
    }

    /// Takes in what the tail read back: records confirmed (their outbox rows may go, the
    /// companion's side effects too), or a newer claim by someone else (the shard is let go).
    func drainTail() async throws {
        guard let tail else { return }
        for event in try tail.drain() {
            switch event {
            case .readBack(let partition, let txn, let nextOffset):
                guard let record = publisher.readBack(txn, nextOffset: nextOffset, partition: partition) else { continue }
                shards[partition]?.noteDurable(through: txn)
                // (A record that released outbox rows: it wrote some.)
                if worker.settings.crashPoint == .afterChangelogBeforePublish, (record.sequences["outbox"] ?? 0) > record.outboxBefore {
                    throw SimulatedCrash()
                }
            case .fenced(let partition, let claimant):
                await fence(partition, by: claimant)
            }
        }
    }

    /// Someone else claimed `partition` after this instance: it is not the owner any more
    /// (cut off from the group and not told yet). Nothing more of the shard leaves: its rounds
    /// on their way are dropped, its companion stopped, and the file is set aside
    /// (`<file>.fenced-<time>-<n>`, kept for inspection); records of the partition are ignored
    /// until the group takes it away.
    func fence(_ partition: Int32, by claimant: ChangelogClaimant) async {
        guard shards[partition] != nil else { return }
        logger.warning("partition claimed by another instance; this one was cut off: shard let go", metadata: [
            "kafka.partition": "\(partition)", "changelog.claimant": "\(claimant)"])
        // Nothing more of it leaves: what is on its way is dropped, and the companion has ended
        // before the file is closed and set aside.
        publisher.close(partition)
        outboxRounds[partition] = nil
        changelogRounds[partition] = nil
        await stopCompanions([partition])
        stopSnapshots([partition])
        guard let shard = shards.removeValue(forKey: partition) else { return }
        tail?.unfollow([partition])
        fenced.insert(partition)
        for tp in positions.keys where tp.partition == partition { positions[tp] = nil }
        try? shard.close()
        _ = try? ShardStore.setAside(path: shard.path, reason: "fenced")
        worker.metrics.fenced()
        // Not this instance's: a standby copy again, if the rule names it.
        standby?.resume([partition])
    }

    /// Publishes every changelog record the shards have committed and waits for it to be read
    /// back (revocation, shutdown). Returns false if a round failed or the records were not read
    /// back within `WorkerSettings.changelogFlushTimeout`.
    @discardableResult
    func flushChangelog() async throws -> Bool {
        let deadline = ContinuousClock.now + worker.settings.changelogFlushTimeout
        while true {
            try startChangelogRounds()
            if changelogRounds.isEmpty {
                try await drainTail()
                if publisher.changelogSettled { return true }
                guard ContinuousClock.now < deadline else { return false }
                // (A cancelled task, a test stopping its workers, still waits for its records.)
                if Task.isCancelled { usleep(2_000) } else { try? await Task.sleep(for: .milliseconds(2)) }
                continue
            }
            let before = publisher.changelogGenerations
            try await finishChangelogRounds(wait: true)
            if publisher.changelogGenerations.contains(where: { $0.value != before[$0.key] }) { return false }
        }
    }

    func restorer(_ partition: Int32, path: String) -> ShardRestorer {
        var restorer = ShardRestorer(path: path, partition: partition, topic: changelogTopic, schema: stage.schema,
                                     kafka: worker.kafka, synchronous: worker.settings.synchronous, logger: logger)
        restorer.snapshots = snapshotsAvailable ? snapshotTopic : nil
        return restorer
    }

    /// Claims `partition` for this instance once its shard is restored (`ShardRestorer.claim`):
    /// the claim goes out on the worker's producer, ahead of every record of the shard.
    func claimShard(_ partition: Int32, path: String, restored: RestoreSummary) async throws -> ChangelogClaimant {
        let topic = changelogTopic, chunk = changelogChunkBytes, producer = self.producer
        let owner = "\(changelogInstance) \(consumer.memberID)"
        let claimant = try await restorer(partition, path: path).claim(owner: owner, restored: restored) { record in
            let messages = ChangelogWire.messages(for: record, topic: topic, partition: partition, instance: changelogInstance,
                                                  maxChunkBytes: chunk)
            for result in await producer.send(messages) { _ = try result.get() }
        }
        worker.metrics.claimed()
        return claimant
    }

    /// Restores the shard file of `partition` from the changelog before it is opened (a file
    /// missing or behind the log); see `ShardRestorer`.
    func restoreShard(_ partition: Int32, path: String) async throws -> RestoreSummary {
        var restorer = restorer(partition, path: path)
        let health = worker.health, notify = worker.notify, stageName = stage.name
        restorer.progress = { summary in
            health.restoring(partition: partition, summary)
            notify?.send(["STATUS": "\(stageName): restoring partition \(partition) from its changelog: \(summary.records) records"])
        }
        logger.info("restoring shard from its changelog", metadata: ["kafka.partition": "\(partition)", "shard.path": "\(path)"])
        health.restoring(partition: partition, RestoreSummary())
        worker.metrics.restoring(1)
        defer {
            health.restored(partition: partition)
            worker.metrics.restoring(0)
        }
        let summary = try await restorer.run()
        worker.metrics.restored(summary)
        worker.statistics.noteRestore(summary, partition: partition)
        if summary.records > 0 || summary.skipped > 0 || summary.snapshot != nil {
            logger.info("shard restored from its changelog", metadata: [
                "kafka.partition": "\(partition)", "restore.records": "\(summary.records)", "restore.bytes": "\(summary.bytes)",
                "restore.skipped": "\(summary.skipped)", "changelog.txn": "\(summary.lastTxn)",
                "restore.snapshot": "\(summary.snapshot.map { "\($0.id) (record \($0.txn), \($0.size) bytes)" } ?? "none")",
                "restore.snapshot_seconds": "\(String(format: "%.3f", summary.snapshotSeconds))",
                "restore.seconds": "\(String(format: "%.3f", summary.seconds))"])
        }
        return summary
    }
}
