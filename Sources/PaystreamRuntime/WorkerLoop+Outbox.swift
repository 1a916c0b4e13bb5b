import Foundation
import GRDB
import Logging
import PaystreamDomain
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

/// A round of outbox rows.
typealias PublishRound = ProducerRound<[OutboxMessage]>

extension ProducerRound where Payload == [OutboxMessage] {
    var rows: [OutboxMessage] { payload }
}

/// How far a shard's outbox is published: every row up to `known` is delivered (or moved to a
/// dead-letter topic), and the shard has `stored` written. A complete round only moves `known`;
/// the shard's next transaction (a batch, a tick) writes it, or a transaction of its own once the
/// shard has been idle for `Watermark.idleWrite`, and always before the shard is let go. Rows
/// delivered but not yet covered by a stored watermark are published again after a crash, as
/// rows delivered but not yet marked were before: consumers drop them by id.
struct Watermark {
    var known: Int64
    var stored: Int64
    var storedAt = ContinuousClock.now

    static let idleWrite = Duration.seconds(1)
}

extension WorkerLoop {
    /// The watermark of `partition` that its next transaction should store, if any.
    func unstoredWatermark(_ partition: Int32) -> Int64? {
        guard let mark = watermarks[partition], mark.known > mark.stored else { return nil }
        return mark.known
    }

    /// A committed transaction of `partition` stored `sequence` as its watermark.
    func watermarkStored(_ partition: Int32, _ sequence: Int64?) {
        guard let sequence, watermarks[partition] != nil else { return }
        watermarks[partition]!.stored = max(watermarks[partition]!.stored, sequence)
        watermarks[partition]!.storedAt = .now
    }

    /// Stores a watermark (and how far Kafka has the changelog) in a batch's or a tick's
    /// transaction, before the stage decides (a republish copies what the shard has as published).
    static func store(_ watermark: Int64?, changelog: ChangelogMark?, db: Database, now: Date) throws {
        if let watermark { try RuntimeTables.storePublishedThrough(db, watermark, now: now) }
        if let changelog { try ChangelogTables.markDurable(db, through: changelog.txn, nextOffset: changelog.nextOffset) }
    }

    /// Writes the watermarks no transaction has carried for a while (`all`: every one not
    /// stored, before shards are let go), each in a transaction of its shard.
    func storeWatermarks(all: Bool) async throws {
        for (partition, mark) in watermarks.sorted(by: { $0.key < $1.key }) {
            let changelog = unstoredChangelog(partition)
            guard mark.known > mark.stored || changelog != nil else { continue }
            guard all || ContinuousClock.now - mark.storedAt >= Watermark.idleWrite, let shard = shards[partition] else { continue }
            let now = worker.clock.now(), sequence = mark.known > mark.stored ? mark.known : nil
            try await Self.write(shard) { try Self.store(sequence, changelog: changelog, db: $0, now: now) }
            watermarkStored(partition, sequence)
            changelogStored(partition, changelog)
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
        knownUnsent.removeAll()
        // Changelog first, each time: the rows a round may take are those whose records are in.
        while try await flushChangelog(), !pendingPublish.isEmpty {
            let batches = try await nextRound(of: pendingPublish)
            guard !batches.isEmpty else { break }
            let results = await producer.send(batches.flatMap { $0.1 }.map(Self.outgoing))
            guard try await settleRound(batches, results) else { break }
        }
        // The watermark's own transaction is a changelog record too: the shard leaves with none
        // that Kafka lacks (a file that did would be set aside if the partition came back).
        try await storeWatermarks(all: true)
        if try await flushChangelog() { try await storeWatermarks(all: true) }
    }

    /// Starts publishing the next round of each shard that has unsent rows, without waiting for
    /// the broker (unless failed rounds are pausing). The loop polls and decides the next batch
    /// meanwhile; `finishRoundsInFlight` takes in what was delivered. A shard may have up to
    /// `WorkerSettings.roundsInFlight` rounds on their way: each is handed to the idempotent
    /// producer when it is made, so its rows follow the earlier rounds' in every partition, and
    /// rounds are settled in the order they were made. A round taken from the shard's file
    /// (not from the rows the loop queued) waits until the shard has none on its way: the file
    /// cannot tell rows on their way from rows never sent. Shards do not wait for each other.
    func startRounds() async throws {
        try startChangelogRounds()
        guard !pendingPublish.isEmpty else { return }
        if let retryAt = publishRetryAt, ContinuousClock.now < retryAt { return }
        let waiting = pendingPublish.filter { partition in
            let inFlight = roundsInFlight[partition]?.count ?? 0
            return inFlight == 0 || (inFlight < worker.settings.roundsInFlight && knownUnsent[partition] != nil)
        }
        guard !waiting.isEmpty else { return }
        let batches = try await nextRound(of: waiting)
        guard !batches.isEmpty else { return }
        roundsSincePoll += 1
        worker.statistics.notePublishRounds(roundsSincePoll)
        for (partition, rows) in batches {
            roundsInFlight[partition, default: []].append(
                PublishRound(partition: partition, payload: rows, messages: rows.map(Self.outgoing), producer: producer,
                             landed: { [consumer] in consumer.wake() }))
            worker.statistics.noteRoundsInFlight(roundsInFlight[partition]!.count)
        }
    }

    /// Settles the rounds whose answers are all in, each shard's in the order they were made
    /// (every round on its way when `wait`): delivered rows are recorded, refused ones
    /// dead-lettered, failures retried.
    func finishRoundsInFlight(wait: Bool) async throws {
        try await finishChangelogRounds(wait: wait)
        for partition in roundsInFlight.keys.sorted() {
            while let round = roundsInFlight[partition]?.first, wait || round.isDone {
                let results = await round.reports()
                roundsInFlight[partition]!.removeFirst()
                if roundsInFlight[partition]!.isEmpty { roundsInFlight[partition] = nil }
                _ = try await settleRound([(round.partition, round.rows)], results)
            }
        }
    }

    /// The next round: at most `outbox.batch` unsent rows of each of these shards.
    private func nextRound(of partitions: Set<Int32>) async throws -> [(Int32, [OutboxMessage])] {
        var batches: [(Int32, [OutboxMessage])] = []
        for partition in partitions.sorted() {
            guard let shard = shards[partition] else { pendingPublish.remove(partition); continue }
            // Changelog first: rows past the first record Kafka does not have yet wait for it.
            collectChangelog(partition)
            let releasable = changelogs[partition]?.releasableThrough ?? .max
            let limit = worker.settings.outboxBatch
            var rows: [OutboxMessage]
            if let known = knownUnsent[partition] {
                rows = Array(known.prefix(limit).prefix { $0.sequence <= releasable })
                knownUnsent[partition] = Array(known.dropFirst(rows.count))
                if rows.isEmpty && !known.isEmpty { continue }
            } else {
                // A cancelled task (a test stopping its workers) makes GRDB's async calls throw;
                // the rows of the batch in hand must still go out, so use the blocking ones.
                // Every earlier round is settled (see `startRounds`): the first unsent row leads.
                watermarkBlocked.remove(partition)
                let after = watermarks[partition]?.known ?? 0
                rows = Task.isCancelled ? try Self.unsentRows(shard, limit: limit, after: after)
                    : try await shard.read { try RuntimeTables.unsent($0, limit: limit, after: after) }
                // Fewer than asked for: these are all of the shard's unsent rows, and whatever
                // the loop queues from now on follows them (those the gate holds back first).
                let held = rows.drop { $0.sequence <= releasable }
                if rows.count < limit { knownUnsent[partition] = Array(held) }
                rows.removeLast(held.count)
                if rows.isEmpty && !held.isEmpty { continue }
            }
            if rows.isEmpty { pendingPublish.remove(partition) } else { batches.append((partition, rows)) }
        }
        return batches
    }

    /// Takes in a round's outcome. Returns false if some deliveries failed (they stay unsent and
    /// are retried after a pause); throws if the producer is beyond repair.
    private func settleRound(_ batches: [(Int32, [OutboxMessage])], _ results: [Result<DeliveryReport, KafkaError>]) async throws -> Bool {
        var index = 0
        var failures: [KafkaError] = []
        for (partition, rows) in batches {
            var outcomes: [(OutboxMessage, KafkaError?)] = []
            var delivered = 0
            for row in rows {
                switch results[index] {
                case .success: outcomes.append((row, nil)); delivered += 1
                case .failure(let error) where error.refusesMessageForGood: outcomes.append((row, error))
                case .failure(let error): failures.append(error); outcomes.append((row, .some(error)))
                }
                index += 1
            }
            var deliveredByTopic: [String: Int] = [:]
            for (row, error) in outcomes where error == nil { deliveredByTopic[row.topic, default: 0] += 1 }
            for (topic, count) in deliveredByTopic { worker.metrics.produced(count, topic: topic) }
            guard let shard = shards[partition] else { continue }
            try await settle(shard, partition: partition, outcomes)
            // A full round may have left rows behind.
            if rows.count == worker.settings.outboxBatch || knownUnsent[partition]?.isEmpty == false { pendingPublish.insert(partition) }
            // Rows that stay unsent, and dead letters, are in the shard only: read it next time.
            if delivered != rows.count { knownUnsent[partition] = nil }
        }
        try throwIfProducerFailed()
        guard failures.isEmpty else {
            for (partition, _) in batches where shards[partition] != nil { pendingPublish.insert(partition) }
            try noteDeliveryFailure(failures)
            return false
        }
        deliveryFailingSince = nil
        publishRetryAt = nil
        consecutiveFailedRounds = 0
        return true
    }

    /// A shard's part of a round: each row with nil (delivered) or the broker's error. The
    /// watermark moves over the rows (delivered, or refused for good with their dead letter
    /// queued) up to the first one that failed, in this round or an earlier one still unsent; a
    /// round delivered whole only moves it in memory. Rows after a failed one that did arrive are
    /// marked sent one by one, and refused rows are moved to their dead-letter topic, in one
    /// transaction that also stores the watermark.
    private func settle(_ shard: ShardStore, partition: Int32, _ outcomes: [(OutboxMessage, KafkaError?)]) async throws {
        let now = worker.clock.now()
        let topics = worker.topics
        let retried = { (error: KafkaError?) in error.map { !$0.refusesMessageForGood } ?? false }
        // Behind a failed row of an earlier round the watermark cannot move: every row counts one by one.
        let firstRetried = watermarkBlocked.contains(partition) ? 0 : outcomes.firstIndex { retried($0.1) } ?? outcomes.count
        if outcomes.contains(where: { retried($0.1) }) { watermarkBlocked.insert(partition) }
        guard let mark = watermarks[partition] else { return }
        let known = max(mark.known, outcomes[..<firstRetried].last?.0.sequence ?? 0)
        let refused = outcomes.compactMap { row, error in error.flatMap { $0.refusesMessageForGood ? (row, $0) : nil } }
        let sentPastFailure = outcomes[firstRetried...].filter { !retried($0.1) }.map(\.0.sequence)
        guard !refused.isEmpty || !sentPastFailure.isEmpty else {
            watermarks[partition]!.known = known
            return
        }
        // Dead-letter and reference topics have no dead-letter topic: what they refuse stays here.
        let keptHere: @Sendable (String) -> Bool = { topics.isDeadLetterTopic($0) || topics.reference.contains($0) }
        for (row, error) in refused {
            let level: Logger.Level = keptHere(row.topic) ? .critical : .error
            logger.log(level: level, "outbox message refused by the broker for good", metadata: [
                "kafka.topic": "\(row.topic)", "event.id": "\(row.eventID)", "error": "\(error)",
                "outcome": "\(keptHere(row.topic) ? "kept in the shard's outbox only" : "moved to a dead-letter topic")"])
        }
        // The watermark passes a refused row only with its dead letter stored.
        let watermark = known > mark.stored ? known : nil
        let write: @Sendable (Database) throws -> Void = { db in
            if let watermark { try RuntimeTables.storePublishedThrough(db, watermark, now: now) }
            try RuntimeTables.markSent(db, sequences: sentPastFailure, now: now)
            for (row, error) in refused where !keptHere(row.topic) {
                try RuntimeTables.enqueue(db, Self.deadLetter(for: row, error: error, partition: partition, topics: topics, now: now),
                                          now: now)
            }
        }
        try await Self.write(shard, write)
        watermarks[partition]!.known = known
        watermarkStored(partition, watermark)
        if !refused.isEmpty { pendingPublish.insert(partition) }
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
        let now = ContinuousClock.now
        let since = deliveryFailingSince ?? now
        deliveryFailingSince = since
        let pause = min(Duration.milliseconds(100) * (1 << min(consecutiveFailedRounds, 6)), .seconds(5))
        consecutiveFailedRounds += 1
        publishRetryAt = now + pause
        logger.warning("outbox publish incomplete; will retry", metadata: [
            "failed": "\(failures.count)", "error": "\(failures[0])", "retry_in": "\(pause)"])
        if now - since >= worker.settings.deliveryFailureTimeout {
            throw ProducerFailure(description: "outbox deliveries have failed for \(now - since) (limit \(worker.settings.deliveryFailureTimeout)): \(failures[0])")
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
        let limit = 64 * 1024
        let cut = row.value.count > limit ? " (value cut to its first \(limit) of \(row.value.count) bytes)" : ""
        let letter = DeadLetterMessage(
            errorCode: "refused_by_broker", errorMessage: "outbox event \(row.eventID): \(error.message)\(cut)",
            sourceTopic: row.topic, sourcePartition: row.partition ?? partition, sourceOffset: row.sequence,
            originalKey: row.key.flatMap { String(bytes: $0, encoding: .utf8) },
            originalValueBase64: row.value.prefix(limit).base64EncodedString(), failedAt: Wire.timestamp(now))
        let eventID = "dlq:outbox:\(row.eventID)"
        return OutboxMessage(eventID: eventID, topic: topics.deadLetter(of: row.topic), key: row.key,
                             value: try Wire.encode(letter), headers: ["event-id": eventID])
    }
}
