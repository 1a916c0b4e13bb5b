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
    let host = gethostname(&name, name.count) == 0 ? String(cString: name) : "unknown"
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

    /// Takes the records `partition`'s shard committed since the last look into its gate. Called
    /// before any outbox row of the shard is chosen, so that no committed transaction's rows
    /// pass the gate unseen.
    func collectChangelog(_ partition: Int32) {
        guard let shard = shards[partition], changelogs[partition] != nil else { return }
        let records = shard.takeCaptured()
        if !records.isEmpty { changelogs[partition]!.committed(records) }
    }

    /// Hands each shard's unsent changelog records to the producer (up to
    /// `WorkerSettings.roundsInFlight` rounds per shard), without waiting.
    func startChangelogRounds() throws {
        for partition in changelogs.keys.sorted() {
            collectChangelog(partition)
            guard changelogs[partition]!.hasUnsent, (changelogInFlight[partition]?.count ?? 0) < worker.settings.roundsInFlight
            else { continue }
            let (records, generation) = changelogs[partition]!.takeToSend(limit: worker.settings.changelogRoundRecords)
            let topic = changelogTopic, instance = changelogInstance
            let chunk = changelogChunkBytes
            let messages = records.flatMap {
                ChangelogWire.messages(for: $0, topic: topic, partition: partition, instance: instance, maxChunkBytes: chunk)
            }
            changelogInFlight[partition, default: []].append(
                ChangelogRound(partition: partition, payload: ChangelogBatch(records: records, generation: generation),
                               messages: messages, producer: producer, landed: { [consumer] in consumer.wake() }))
        }
    }

    /// Settles the changelog rounds whose answers are in (all of them when `wait`), each shard's
    /// in the order they were made: a round delivered whole confirms its records (the outbox
    /// rows they hold back may go); a failed one sends every unconfirmed record again.
    func finishChangelogRounds(wait: Bool) async throws {
        for partition in changelogInFlight.keys.sorted() {
            while let round = changelogInFlight[partition]?.first, wait || round.isDone {
                let results = await round.reports()
                changelogInFlight[partition]!.removeFirst()
                if changelogInFlight[partition]!.isEmpty { changelogInFlight[partition] = nil }
                guard changelogs[partition] != nil else { continue }
                let failures = results.compactMap { if case .failure(let error) = $0 { error } else { nil } }
                let nextOffset = results.compactMap { try? $0.get().offset }.max().map { $0 + 1 } ?? 0
                let settled = changelogs[partition]!.settle(round.payload.records, generation: round.payload.generation,
                                                            delivered: failures.isEmpty, nextOffset: nextOffset)
                switch settled {
                case .confirmed(let txn):
                    shards[partition]?.noteDurable(through: txn)
                    worker.metrics.changelogPublished(round.payload.records)
                    // (A round that released outbox rows: one of its records wrote some.)
                    if worker.settings.crashPoint == .afterChangelogBeforePublish,
                       round.payload.records.contains(where: { ($0.sequences["outbox"] ?? 0) > $0.outboxBefore }) {
                        throw SimulatedCrash()
                    }
                case .resend:
                    try noteDeliveryFailure(failures)
                case .stale:
                    break
                }
            }
        }
        try throwIfProducerFailed()
    }

    /// Publishes every changelog record the shards have committed and waits for Kafka to have
    /// them (revocation, shutdown). Returns false if a round failed.
    @discardableResult
    func flushChangelog() async throws -> Bool {
        while true {
            try startChangelogRounds()
            guard !changelogInFlight.isEmpty else { return true }
            let before = changelogs.mapValues(\.generation)
            try await finishChangelogRounds(wait: true)
            if changelogs.contains(where: { $0.value.generation != before[$0.key] }) { return false }
        }
    }

    /// What `partition`'s next transaction should store of its changelog position.
    func unstoredChangelog(_ partition: Int32) -> ChangelogMark? {
        changelogs[partition]?.unstored
    }

    func changelogStored(_ partition: Int32, _ mark: ChangelogMark?) {
        guard let mark, changelogs[partition] != nil else { return }
        changelogs[partition]!.stored(mark.txn)
    }

    /// Restores the shard file of `partition` from the changelog before it is opened (a file
    /// missing or behind the log); see `ShardRestorer`.
    func restoreShard(_ partition: Int32, path: String) async throws -> RestoreSummary {
        var restorer = ShardRestorer(path: path, partition: partition, topic: changelogTopic, schema: stage.schema,
                                     kafka: worker.kafka, synchronous: worker.settings.synchronous, logger: logger)
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
        if summary.records > 0 || summary.skipped > 0 {
            logger.info("shard restored from its changelog", metadata: [
                "kafka.partition": "\(partition)", "restore.records": "\(summary.records)", "restore.bytes": "\(summary.bytes)",
                "restore.skipped": "\(summary.skipped)", "changelog.txn": "\(summary.lastTxn)",
                "restore.seconds": "\(String(format: "%.3f", summary.seconds))"])
        }
        return summary
    }
}
