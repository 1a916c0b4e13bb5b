import Foundation
import Logging
import PaystreamKafka
import PaystreamStore
import Synchronization

/// Snapshots ending beside the loop, taken in by it.
final class SnapshotMailbox: Sendable {
    struct Outcome: Sendable {
        let partition: Int32
        /// Which start of a snapshot this answers (a shard closed and opened again starts anew).
        let run: Int
        let result: Result<SnapshotManifest, any Error>
        let seconds: Double
        let cpuSeconds: Double
    }

    private let outcomes = Mutex<[Outcome]>([])

    func post(_ outcome: Outcome) { outcomes.withLock { $0.append(outcome) } }
    func take() -> [Outcome] { outcomes.withLock { all in defer { all = [] }; return all } }
}

/// A snapshot on its way (`SnapshotSchedule` says when).
struct SnapshotRun {
    let run: Int
    let task: Task<Void, Never>
}

extension WorkerLoop {
    var snapshotTopic: String { worker.topics.snapshots(of: stage.name) }

    /// Looks once whether the stage's snapshot topic exists: without it restores read the whole
    /// changelog and nothing is snapshotted (said once, at warning).
    func checkSnapshotTopic(_ tail: ChangelogTail) async throws {
        // Copies a killed process left behind (`p<N>.sqlite.snapshot-out-<n>`, `.snapshot-in`).
        let folder = "\(worker.stateDirectory)/\(stage.name)"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        where name.contains(".sqlite.snapshot-out-") || name.contains(".sqlite.snapshot-in") {
            try? FileManager.default.removeItem(atPath: "\(folder)/\(name)")
        }
        let counts = try await tail.topicPartitionCounts()
        let exists = counts[snapshotTopic] != nil
        snapshotsAvailable = exists
        if !exists {
            logger.warning("snapshot topic does not exist: restores read the whole changelog and shards are not snapshotted (create it with `paystream topics create`)",
                           metadata: ["kafka.topic": "\(snapshotTopic)"])
        }
    }

    /// Starts a snapshot of each shard that is due, beside the loop; takes in those that ended.
    func snapshotIfDue() {
        collectSnapshots()
        guard worker.settings.changelog, snapshotsAvailable else { return }
        for partition in snapshots.due(now: .now) {
            guard let shard = shards[partition] else { continue }
            snapshots.started(partition)
            snapshotRunCount += 1
            let run = snapshotRunCount
            let store = SnapshotStore(topic: snapshotTopic, partition: partition, kafka: worker.kafka, logger: logger)
            let mailbox = snapshotMailbox, producer = self.producer, chunk = changelogChunkBytes
            let task = Task {
                mailbox.post(await SnapshotTaker.outcome(shard, run: run, store: store, producer: producer, chunkBytes: chunk))
            }
            snapshotRuns[partition] = SnapshotRun(run: run, task: task)
        }
    }

    /// Takes in the snapshots that ended: the schedule starts counting again from a published
    /// one; a failed one is tried again later.
    func collectSnapshots() {
        for outcome in snapshotMailbox.take() where snapshotRuns[outcome.partition]?.run == outcome.run {
            snapshotRuns[outcome.partition] = nil
            let partition = outcome.partition
            switch outcome.result {
            case .success(let manifest):
                snapshots.finished(partition, published: true, now: .now)
                newestSnapshots[partition] = manifest
                worker.metrics.snapshotPublished(bytes: manifest.size, seconds: outcome.seconds, cpuSeconds: outcome.cpuSeconds)
                logger.info("snapshot published", metadata: [
                    "kafka.partition": "\(partition)", "snapshot.id": "\(manifest.id)", "changelog.txn": "\(manifest.txn)",
                    "snapshot.bytes": "\(manifest.size)", "snapshot.chunks": "\(manifest.chunks)",
                    "snapshot.seconds": "\(String(format: "%.3f", outcome.seconds))",
                    "snapshot.cpu_seconds": "\(String(format: "%.3f", outcome.cpuSeconds))"])
            case .failure(let error):
                snapshots.finished(partition, published: false, now: .now)
                worker.metrics.snapshotFailed()
                logger.warning("snapshot failed; trying again later", metadata: ["kafka.partition": "\(partition)", "error": "\(error)"])
            }
        }
        let now = Date()
        for (partition, manifest) in newestSnapshots where shards[partition] != nil {
            worker.metrics.snapshotAge(now.timeIntervalSince(manifest.createdAt), partition: partition)
        }
    }

    /// Standby copies' lag, in metrics, once a second.
    func reportStandby() {
        guard let standby, ContinuousClock.now - lastStandbyReport >= .seconds(1) else { return }
        lastStandbyReport = .now
        worker.metrics.standby(standby.status)
    }

    /// Stops the snapshots of shards being let go. Not waited for: a copy under way finishes on
    /// its thread and is thrown away.
    func stopSnapshots(_ partitions: [Int32]) {
        for partition in partitions {
            snapshotRuns.removeValue(forKey: partition)?.task.cancel()
            snapshots.close(partition)
            newestSnapshots[partition] = nil
            worker.metrics.snapshotAge(nil, partition: partition)
        }
    }
}

/// Takes and publishes one shard's snapshot, beside the worker loop.
enum SnapshotTaker {
    static func outcome(_ shard: ShardStore, run: Int, store: SnapshotStore, producer: KafkaProducer, chunkBytes: Int) async -> SnapshotMailbox.Outcome {
        let started = ContinuousClock.now
        do {
            let (manifest, cpu) = try await snapshot(shard, store: store, producer: producer, chunkBytes: chunkBytes)
            return .init(partition: shard.partition, run: run, result: .success(manifest), seconds: (ContinuousClock.now - started).seconds,
                         cpuSeconds: cpu)
        } catch {
            return .init(partition: shard.partition, run: run, result: .failure(error), seconds: (ContinuousClock.now - started).seconds,
                         cpuSeconds: 0)
        }
    }

    /// Copies `shard` (`VACUUM INTO`, on a thread of its own), waits until the last record the
    /// copy holds is confirmed in the log (read back under this owner's claim: the copy is then a
    /// prefix of the log, whatever happens to this owner later), and publishes it. Returns it
    /// with the CPU seconds the copy and its checksum took.
    private static func snapshot(_ shard: ShardStore, store: SnapshotStore, producer: KafkaProducer, chunkBytes: Int) async throws -> (SnapshotManifest, Double) {
        // (A name per run: a cancelled run's copy may still be finishing on its thread.)
        let copy = shard.path + ".snapshot-out-\(UInt32.random(in: 0...UInt32.max))"
        defer { ShardSnapshot.removeFiles(at: copy) }
        let (taken, cpu) = try await onThreadOfItsOwn(name: "paystream-snapshot") {
            let before = threadCPUSeconds()
            let taken = try ShardSnapshot.take(from: shard.path, into: copy)
            return (taken, threadCPUSeconds() - before)
        }
        while shard.durableTxn < taken.position.lastTxn {
            try await Task.sleep(for: .milliseconds(20))
        }
        let position = taken.position
        let manifest = SnapshotManifest(
            id: "\(shard.partition)-\(position.lastTxn)-\(position.claimant.epoch)-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))",
            partition: shard.partition, txn: position.lastTxn, logNextOffset: position.logNextOffset,
            epoch: position.claimant.epoch, owner: position.claimant.owner, migrations: taken.migrations,
            size: taken.size, sha256: taken.sha256, chunks: max(1, Int((taken.size + Int64(chunkBytes) - 1) / Int64(chunkBytes))),
            createdAt: Date(), instance: changelogInstance)
        try await store.publish(copy, manifest: manifest, producer: producer, chunkBytes: chunkBytes)
        return (manifest, cpu)
    }
}

/// CPU time of the calling thread, in seconds.
func threadCPUSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}
