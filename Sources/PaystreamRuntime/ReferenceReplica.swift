import Foundation
import Logging
import Metrics
import PaystreamKafka
import PaystreamStore

/// Keeps a stage's reference data current: loads `reference.sqlite`, reads every partition of
/// the feed's topics from where the file left off until each reports its end, then applies new
/// records whenever the worker asks (`refresh`, before each batch). Every record the feed accepts
/// is written to the file together with the progress, in one transaction per poll.
///
/// Used by one task only (the worker's `run`).
final class ReferenceReplica {
    /// How long a fetch of the caught-up replica waits for new records, in milliseconds as
    /// librdkafka's `fetch.wait.max.ms` takes it (a broker holds an empty fetch that long):
    /// reference changes are rare, and each fetch costs the broker CPU, so the replica follows
    /// the feed with one fetch in this long instead of one per `fetch.wait.max.ms` (10 ms in the
    /// shipped configurations, for the input). A change reaches the decisions within about this much.
    static let followFetchWaitMilliseconds = 500

    private let feed: any ReferenceFeed
    private var reader: KafkaPartitionReader
    private let kafka: KafkaConfiguration
    private let store: ReferenceStore
    private let clock: any PaystreamClock
    private let logger: Logger
    private var recordsRead: [String: Int] = [:]
    private var skipped = 0

    private init(feed: any ReferenceFeed, reader: KafkaPartitionReader, kafka: KafkaConfiguration, store: ReferenceStore,
                 clock: any PaystreamClock, logger: Logger) {
        self.feed = feed
        self.reader = reader
        self.kafka = kafka
        self.store = store
        self.clock = clock
        self.logger = logger
    }

    /// Opens the file, applies what it holds, and assigns every partition of the feed's topics
    /// from the stored progress (the beginning where there is none). Fails if a topic is missing
    /// or no broker answers within `timeout`.
    static func open(feed: any ReferenceFeed, kafka: KafkaConfiguration, path: String, synchronous: SynchronousMode,
                     timeout: Duration, clock: any PaystreamClock, logger: Logger) async throws -> ReferenceReplica {
        let store = try ReferenceStore(path: path, synchronous: synchronous)
        let reader: KafkaPartitionReader
        do {
            reader = try KafkaPartitionReader(configuration: kafka, logger: logger)
        } catch {
            try? store.close()
            throw error
        }
        let replica = ReferenceReplica(feed: feed, reader: reader, kafka: kafka, store: store, clock: clock, logger: logger)
        do {
            try await replica.loadAndAssign(timeout: timeout)
        } catch {
            await replica.close()
            throw error
        }
        return replica
    }

    private func loadAndAssign(timeout: Duration) async throws {
        let topics = feed.referenceTopics
        var loaded = 0
        for stored in try await store.values(topics: topics) {
            guard let value = stored.value else { continue }  // deleted
            let entry = ReferenceEntry(topic: stored.topic, key: stored.key, value: value,
                                       partition: stored.partition, offset: stored.offset)
            do {
                try feed.apply(entry)
                loaded += 1
            } catch {
                Counter(label: "paystream_reference_refused_total", dimensions: [("topic", stored.topic)]).increment()
                logger.warning("stored reference value no longer accepted; skipped", metadata: [
                    "kafka.topic": "\(stored.topic)", "kafka.partition": "\(stored.partition)",
                    "kafka.offset": "\(stored.offset)", "reference.key": "\(stored.key)", "error": "\(error.reason)",
                ])
            }
        }
        var starts: [TopicPartition: StartOffset] = [:]
        for (topic, partitions) in try await store.progress() where topics.contains(topic) {
            for (partition, next) in partitions { starts[TopicPartition(topic, partition)] = .offset(next) }
        }
        do {
            try await reader.assignAll(topics, starts: starts, timeout: timeout)
        } catch let error as KafkaError where error.isRetriable {
            throw ReferenceCatchUpError("no Kafka broker answered for the reference topics \(topics.joined(separator: ", ")) within \(timeout): \(error)")
        }
        logger.info("reference data loaded from file; catching up", metadata: [
            "reference.file": "\(store.path)", "reference.loaded": "\(loaded)",
            "kafka.starts": "\(starts.isEmpty ? "beginning" : starts.sorted { $0.key < $1.key }.map { "\($0.key)@\($0.value)" }.joined(separator: " "))",
        ])
    }

    /// Reads until every partition has reported its end. Gives up (throws) when no partition
    /// made progress for `stallTimeout`; returns false if the task was cancelled or the service
    /// is shutting down first.
    func catchUp(stallTimeout: Duration, progressEvery: Duration = .seconds(5)) async throws -> Bool {
        let started = ContinuousClock.now
        var lastProgress = started
        var lastLog = started
        while !reader.isCaughtUp {
            if Task.isCancelled || Task.isShuttingDownGracefully { return false }
            let poll = try await reader.poll(maxRecords: 1000, maxWait: .milliseconds(100))
            let now = ContinuousClock.now
            if !poll.records.isEmpty || !poll.reachedEnd.isEmpty {
                lastProgress = now
                try await absorb(poll)
            } else if now - lastProgress >= stallTimeout {
                let behind = reader.partitionsBehind.map(\.description).joined(separator: ", ")
                throw ReferenceCatchUpError("reference data not caught up: no progress for \(stallTimeout) on \(behind) (is the broker reachable?)")
            }
            if now - lastLog >= progressEvery {
                lastLog = now
                logger.info("reference catch-up in progress", metadata: [
                    "reference.records_read": "\(recordsRead.values.reduce(0, +))",
                    "reference.partitions_behind": "\(reader.partitionsBehind.count)",
                ])
            }
        }
        let elapsed = ContinuousClock.now - started
        let keys = try await store.keyCounts(topics: feed.referenceTopics)
        logger.info("reference data caught up", metadata: [
            "reference.keys": "\(feed.referenceTopics.map { "\($0)=\(keys[$0] ?? 0)" }.joined(separator: ","))",
            "reference.records_read": "\(feed.referenceTopics.map { "\($0)=\(recordsRead[$0] ?? 0)" }.joined(separator: ","))",
            "reference.skipped": "\(skipped)",
            "duration_ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
        ])
        try await follow()
        return true
    }

    /// `followFetchWaitMilliseconds`, or the operator's `fetch.wait.max.ms` if that is longer.
    static func followWaitMilliseconds(configured: String?) -> Int {
        max(configured.flatMap { Int($0) } ?? 0, followFetchWaitMilliseconds)
    }

    /// Goes on from where the catch-up ended with a reader whose fetches wait
    /// `followFetchWaitMilliseconds` (a larger `fetch.wait.max.ms` the operator set stays).
    private func follow() async throws {
        let wait = Self.followWaitMilliseconds(configured: kafka.properties["fetch.wait.max.ms"])
        let follower = try KafkaPartitionReader(configuration: kafka.forcing(["fetch.wait.max.ms": "\(wait)"]), logger: logger)
        var progress: [TopicPartition: Int64] = [:]
        for (topic, partitions) in try await store.progress() {
            for (partition, next) in partitions { progress[TopicPartition(topic, partition)] = next }
        }
        do {
            try follower.assign(Dictionary(uniqueKeysWithValues: reader.assignment.map { tp in
                (tp, progress[tp].map(StartOffset.offset) ?? .beginning)
            }))
        } catch {
            await follower.close()
            throw error
        }
        let caughtUp = reader
        reader = follower
        await caughtUp.close()
        logger.info("reference data followed", metadata: ["kafka.fetch_wait_ms": "\(wait)"])
    }

    /// Applies whatever new reference records are ready, without waiting.
    func refresh() async throws {
        let poll = try await reader.poll(maxRecords: 1000, maxWait: .zero)
        guard !poll.records.isEmpty || !poll.reachedEnd.isEmpty else { return }
        try await absorb(poll)
        if !poll.records.isEmpty {
            logger.debug("reference data updated", metadata: ["reference.records": "\(poll.records.count)"])
        }
    }

    /// Hands each record to the feed and stores the accepted ones with the progress.
    private func absorb(_ poll: PartitionReadPoll) async throws {
        var accepted: [StoredReferenceValue] = []
        var progress: [String: [Int32: Int64]] = [:]
        for record in poll.records {
            recordsRead[record.topic, default: 0] += 1
            progress[record.topic, default: [:]][record.partition] = record.offset + 1
            guard let key = record.keyString, !key.isEmpty else {
                skip(record, key: nil, reason: "record has no key")
                continue
            }
            let entry = ReferenceEntry(topic: record.topic, key: key, value: record.value.isEmpty ? nil : Data(record.value),
                                       partition: record.partition, offset: record.offset)
            do {
                try feed.apply(entry)
            } catch {
                skip(record, key: key, reason: error.reason)
                continue
            }
            accepted.append(StoredReferenceValue(topic: record.topic, key: key, value: entry.value,
                                                 partition: record.partition, offset: record.offset))
        }
        for (tp, end) in poll.reachedEnd {
            progress[tp.topic, default: [:]][tp.partition] = max(progress[tp.topic]?[tp.partition] ?? 0, end)
        }
        try await store.save(accepted, progress: progress, now: clock.now())
    }

    private func skip(_ record: ConsumedRecord, key: String?, reason: String) {
        skipped += 1
        Counter(label: "paystream_reference_refused_total", dimensions: [("topic", record.topic)]).increment()
        logger.warning("reference record skipped; the key keeps its previous value", metadata: [
            "kafka.topic": "\(record.topic)", "kafka.partition": "\(record.partition)", "kafka.offset": "\(record.offset)",
            "reference.key": "\(key ?? "")", "error": "\(reason)",
        ])
    }

    func close() async {
        await reader.close()
        do { try store.close() } catch {
            logger.warning("cannot close the reference store", metadata: ["error": "\(error)"])
        }
    }
}
