import Foundation
import GRDB
import Logging
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamStore

/// The producer cannot deliver: it raised a fatal error, or deliveries kept failing for longer
/// than `WorkerSettings.deliveryFailureTimeout`. The worker stops and the daemon exits 1, so that
/// systemd restarts it with a fresh producer; unsent rows stay in the outbox.
public struct ProducerFailure: Error, CustomStringConvertible {
    public let description: String
}

/// Messages of one shard on their way to the broker, handed to the producer when the round is
/// made, and the producer's answers once they are all in (`landed` is called then: the worker
/// wakes its poll, so that the round is settled at once). `payload` is what the round carries
/// for the loop: outbox rows (`PublishRound`) or changelog records (`ChangelogRound`).
final class ProducerRound<Payload: Sendable>: @unchecked Sendable {
    let partition: Int32
    let payload: Payload
    private let lock = NSLock()
    private var results: [Result<DeliveryReport, KafkaError>]?
    private var waiter: CheckedContinuation<[Result<DeliveryReport, KafkaError>], Never>?

    init(partition: Int32, payload: Payload, messages: [OutgoingMessage], producer: KafkaProducer,
         landed: @escaping @Sendable () -> Void) {
        self.partition = partition
        self.payload = payload
        producer.produce(messages) { [self] results in
            let waiter = lock.withLock {
                self.results = results
                defer { self.waiter = nil }
                return self.waiter
            }
            waiter?.resume(returning: results)
            landed()
        }
    }

    /// Whether every answer is in (`reports()` then returns without waiting).
    var isDone: Bool { lock.withLock { results != nil } }

    /// The delivery reports, in the order of the messages.
    func reports() async -> [Result<DeliveryReport, KafkaError>] {
        await withCheckedContinuation { continuation in
            let ready: [Result<DeliveryReport, KafkaError>]? = lock.withLock {
                if let results { return results }
                waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// A round of outbox rows (`OutboxPublisher.makeRound`).
typealias PublishRound = ProducerRound<OutboxRound>

extension WorkerLoop {
    /// Stores a watermark (and how far Kafka has the changelog) in a batch's or a tick's
    /// transaction, before the stage decides (a republish copies what the shard has as published).
    static func store(_ watermark: Int64?, changelog: ChangelogMark?, db: Database, now: Date) throws {
        if let watermark { try RuntimeTables.storePublishedThrough(db, watermark, now: now) }
        if let changelog { try ChangelogTables.markDurable(db, through: changelog.txn, nextOffset: changelog.nextOffset) }
    }

    /// Writes the watermarks no transaction has carried for a while (`all`: every one not
    /// stored, before shards are let go), each in a transaction of its shard.
    func storeWatermarks(all: Bool) async throws {
        for (partition, watermark, changelog) in publisher.idle(now: .now, all: all) {
            guard let shard = shards[partition] else { continue }
            let now = worker.clock.now()
            try await Self.write(shard) { try Self.store(watermark, changelog: changelog, db: $0, now: now) }
            publisher.stored(partition, watermark: watermark, changelog: changelog, now: .now)
        }
    }

    /// Publishes every unsent outbox row of the shards that may have some and waits for it
    /// (revocation, shutdown): the rounds on their way first, then rounds of at most
    /// `outbox.batch` rows per shard until nothing is pending, or until a round fails (its rows
    /// stay unsent for the next owner or the next start).
    func flushOutbox() async throws {
        // Rounds already on their way are settled first: a shard's rows go out in order.
        try await finishRoundsInFlight(wait: true)
        // A batch interrupted by cancellation may have committed rows the loop never heard of.
        publisher.forgetQueued()
        // Changelog first, each time: the rows a round may take are those whose records are in.
        while try await flushChangelog() {
            let rounds = try await makeRounds(of: publisher.waiting(now: .now, ignoringPause: true))
            guard !rounds.isEmpty else { break }
            var failed = false
            for round in rounds {
                failed = try await settle(round.payload, await round.reports()) || failed
            }
            if failed { break }
        }
        // The watermark's own transaction is a changelog record too: the shard leaves with none
        // that Kafka lacks (a file that did would be set aside if the partition came back).
        try await storeWatermarks(all: true)
        if try await flushChangelog() { try await storeWatermarks(all: true) }
    }

    /// Starts publishing the next round of each shard that may (`OutboxPublisher.waiting`),
    /// without waiting for the broker. The loop polls and decides the next batch meanwhile;
    /// `finishRoundsInFlight` takes in what was delivered. Each round is handed to the
    /// idempotent producer when it is made, so its rows follow the earlier rounds' in every
    /// partition. Shards do not wait for each other.
    func startRounds() async throws {
        try startChangelogRounds()
        let rounds = try await makeRounds(of: publisher.waiting(now: .now))
        guard !rounds.isEmpty else { return }
        roundsSincePoll += 1
        worker.statistics.notePublishRounds(roundsSincePoll)
        for round in rounds {
            outboxRounds[round.partition, default: []].append(round)
            worker.statistics.noteRoundsInFlight(outboxRounds[round.partition]!.count)
        }
    }

    /// Settles the rounds whose answers are all in, each shard's in the order they were made
    /// (every round on its way when `wait`).
    func finishRoundsInFlight(wait: Bool) async throws {
        try await finishChangelogRounds(wait: wait)
        for partition in outboxRounds.keys.sorted() {
            while let round = outboxRounds[partition]?.first, wait || round.isDone {
                let results = await round.reports()
                outboxRounds[partition]!.removeFirst()
                if outboxRounds[partition]!.isEmpty { outboxRounds[partition] = nil }
                _ = try await settle(round.payload, results)
            }
        }
    }

    /// The next round of each of these shards, handed to the producer: rows the loop queued,
    /// or read from the shard's file when the publisher does not know them all.
    private func makeRounds(of partitions: [Int32]) async throws -> [PublishRound] {
        var rounds: [PublishRound] = []
        for partition in partitions {
            guard let shard = shards[partition], let source = publisher.source(partition) else { continue }
            var read: [OutboxMessage]?
            if case .shard(let after, let limit) = source {
                // A cancelled task (a test stopping its workers) makes GRDB's async calls throw;
                // the rows of the batch in hand must still go out, so use the blocking ones.
                read = Task.isCancelled ? try Self.unsentRows(shard, limit: limit, after: after)
                    : try await shard.read { try RuntimeTables.unsent($0, limit: limit, after: after) }
            }
            // Changelog first: the records of every transaction whose rows were read go into the gate.
            guard let round = publisher.makeRound(partition, read: read, captured: shard.takeCaptured()) else { continue }
            rounds.append(PublishRound(partition: partition, payload: round, messages: round.rows.map(Self.outgoing),
                                       producer: producer, landed: { [consumer] in consumer.wake() }))
        }
        return rounds
    }

    /// Takes in a round's outcome: delivered rows are recorded, refused ones dead-lettered, the
    /// shard's transaction written if the round needs one. Returns whether some deliveries
    /// failed (they stay unsent and are retried after a pause); throws if the producer is
    /// beyond repair.
    private func settle(_ round: OutboxRound, _ results: [Result<DeliveryReport, KafkaError>]) async throws -> Bool {
        let settlement = publisher.settle(round, results.map(RowOutcome.init))
        for (topic, count) in settlement.deliveredByTopic { worker.metrics.produced(count, topic: topic) }
        if let write = settlement.write, let shard = shards[round.partition] {
            try await store(write, shard: shard, partition: round.partition)
            publisher.written(settlement, now: .now)
        }
        try throwIfProducerFailed()
        guard settlement.failures.isEmpty else {
            try noteDeliveryFailure(settlement.failures)
            return true
        }
        publisher.deliveriesSucceeded()
        return false
    }

    /// What a settled round needs of its shard, in one transaction: the watermark, rows
    /// delivered behind a failed one marked sent, refused rows moved to their dead-letter topic.
    private func store(_ write: SettleWrite, shard: ShardStore, partition: Int32) async throws {
        let now = worker.clock.now()
        let topics = worker.topics
        // Dead-letter and reference topics have no dead-letter topic: what they refuse stays here.
        let keptHere: @Sendable (String) -> Bool = { topics.isDeadLetterTopic($0) || topics.reference.contains($0) }
        for (row, error) in write.refused {
            let level: Logger.Level = keptHere(row.topic) ? .critical : .error
            logger.log(level: level, "outbox message refused by the broker for good", metadata: [
                "kafka.topic": "\(row.topic)", "event.id": "\(row.eventID)", "error": "\(error)",
                "outcome": "\(keptHere(row.topic) ? "kept in the shard's outbox only" : "moved to a dead-letter topic")"])
        }
        let letters = try write.refused.filter { !keptHere($0.row.topic) }.map {
            try Self.deadLetter(for: $0.row, error: $0.error, partition: partition, topics: topics, now: now)
        }
        let watermark = write.watermark, sent = write.sentPastFailure
        try await Self.write(shard) { db in
            if let watermark { try RuntimeTables.storePublishedThrough(db, watermark, now: now) }
            try RuntimeTables.markSent(db, sequences: sent, now: now)
            for letter in letters { try RuntimeTables.enqueue(db, letter, now: now) }
        }
    }

    private static func unsentRows(_ shard: ShardStore, limit: Int, after: Int64) throws -> [OutboxMessage] {
        try shard.read { try RuntimeTables.unsent($0, limit: limit, after: after) }
    }

    /// A transaction of `shard`; blocking when the task is cancelled (GRDB's async calls throw
    /// then, and what the loop settles on its way out must still be written).
    private static func write(_ shard: ShardStore, _ body: @escaping @Sendable (Database) throws -> Void) async throws {
        func blocking() throws { try shard.write(body) }
        if Task.isCancelled { try blocking() } else { try await shard.write(body) }
    }

    /// Stops the worker when the producer is beyond repair (a fatal error).
    func throwIfProducerFailed() throws {
        if let fatal = producer.fatalError {
            throw ProducerFailure(description: "fatal producer error: \(fatal.message)")
        }
    }

    func noteDeliveryFailure(_ failures: [KafkaError]) throws {
        switch publisher.deliveriesFailed(now: .now) {
        case .retry(let pause, _):
            logger.warning("outbox publish incomplete; will retry", metadata: [
                "failed": "\(failures.count)", "error": "\(failures[0])", "retry_in": "\(pause)"])
        case .giveUp(let failingFor):
            throw ProducerFailure(description: "outbox deliveries have failed for \(failingFor) (limit \(worker.settings.deliveryFailureTimeout)): \(failures[0])")
        }
    }

    static func outgoing(_ row: OutboxMessage) -> OutgoingMessage {
        OutgoingMessage(topic: row.topic, key: row.key, value: Array(row.value),
                        headers: row.headers.sorted { $0.key < $1.key }.map { KafkaHeader(key: $0.key, string: $0.value) },
                        partition: row.partition)
    }

    /// What goes to `<topic>.dlq` in place of an outbox row the broker refused. The value is cut
    /// to its first 64 KiB: a refusal is often for size, and the dead letter must get through.
    static func deadLetter(for row: OutboxMessage, error: KafkaError, partition: Int32, topics: TopicNames,
                           now: Date) throws -> OutboxMessage {
        let limit = DeadLetterMessage.cutValueBytes
        let cut = row.value.count > limit ? " (value cut to its first \(limit) of \(row.value.count) bytes)" : ""
        var letter = DeadLetterMessage(
            errorCode: "refused_by_broker", errorMessage: "outbox event \(row.eventID): \(error.message)\(cut)",
            sourceTopic: row.topic, sourcePartition: row.partition ?? partition, sourceOffset: row.sequence,
            originalKey: row.key.flatMap { String(bytes: $0, encoding: .utf8) },
            originalValueBase64: row.value.prefix(limit).base64EncodedString(), failedAt: Wire.timestamp(now))
        if row.value.count > limit { letter.originalValueBytes = row.value.count }
        let eventID = "dlq:outbox:\(row.eventID)"
        return OutboxMessage(eventID: eventID, topic: topics.deadLetter(of: row.topic), key: row.key,
                             value: try Wire.encode(letter), headers: ["event-id": eventID])
    }
}
