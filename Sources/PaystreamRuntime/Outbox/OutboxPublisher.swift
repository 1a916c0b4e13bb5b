import PaystreamKafka
import PaystreamStore

/// How far a shard's outbox is published: every row up to `known` is delivered (or moved to a
/// dead-letter topic), and the shard has `stored` written. A complete round only moves `known`;
/// the shard's next transaction (a batch, a tick) writes it, or a transaction of its own once the
/// shard has been idle for `Watermark.idleWrite`, and always before the shard is let go. Rows
/// delivered but not yet covered by a stored watermark are published again after a crash, as
/// rows delivered but not yet marked were before: consumers drop them by id.
struct Watermark: Equatable {
    var known: Int64
    var stored: Int64
    var storedAt: ContinuousClock.Instant

    static let idleWrite = Duration.seconds(1)
}

/// How one row of a round came back from the broker.
enum RowOutcome {
    case delivered
    /// Refused for good (too large, unknown topic…): it is moved to its dead-letter topic.
    case refused(KafkaError)
    /// Not delivered this time: it stays unsent and goes again.
    case failed(KafkaError)

    init(_ result: Result<DeliveryReport, KafkaError>) {
        switch result {
        case .success: self = .delivered
        case .failure(let error) where error.refusesMessageForGood: self = .refused(error)
        case .failure(let error): self = .failed(error)
        }
    }

    var failure: KafkaError? { if case .failed(let error) = self { error } else { nil } }
}

/// Outbox rows of one shard handed to the producer together.
struct OutboxRound: Equatable, Sendable {
    let id: Int
    let partition: Int32
    let rows: [OutboxMessage]
}

/// Where the next round of a shard is taken from.
enum RoundSource: Equatable {
    /// The rows the publisher was told of (`OutboxPublisher.queued`): nothing to read.
    case queued
    /// The shard's file: its first `limit` unsent rows after `after`.
    case shard(after: Int64, limit: Int)
}

/// What settling a shard's round needs from the shard, in one transaction, before the
/// watermark may move (`OutboxPublisher.written`).
struct SettleWrite {
    /// The watermark to store with it (nil: the shard has it).
    var watermark: Int64?
    /// Rows delivered behind a failed one: marked sent one by one.
    var sentPastFailure: [Int64]
    /// Rows refused for good: each is moved to its dead-letter topic (a dead-letter or reference
    /// topic has none: such a row stays in the shard's outbox only).
    var refused: [(row: OutboxMessage, error: KafkaError)]
}

/// A settled round of one shard.
struct Settlement {
    let partition: Int32
    /// Rows delivered, by topic.
    var deliveredByTopic: [String: Int]
    /// Why rows were not delivered (they go again).
    var failures: [KafkaError]
    /// The shard's transaction; nil: none is needed (the watermark has moved in memory).
    var write: SettleWrite?
    /// The watermark once `write` is done.
    fileprivate var known: Int64
}

/// What a round with failed deliveries leads to.
enum DeliveryVerdict: Equatable {
    /// Rounds pause this long, growing with each failed round in a row, up to 5 s.
    case retry(after: Duration, failingFor: Duration)
    /// Deliveries have failed for longer than `deliveryFailureTimeout`: the producer is beyond repair.
    case giveUp(failingFor: Duration)
}

/// One owned shard's side of publishing.
struct ShardOutbox {
    /// Whether the shard may have unsent rows: a round is tried, and one that finds none clears it.
    var mayHaveUnsent = true
    /// The shard's unsent rows not yet in a round, in order, when the publisher knows them all
    /// (the rows committed since a round read the shard's outbox and found all there was): the
    /// next round takes them from here instead of reading them back. nil: read the shard.
    var queued: [OutboxMessage]?
    var watermark: Watermark
    /// A row of a settled round failed and has not been published again: rows delivered after
    /// it are marked one by one, and the watermark stays, until a round read from the shard
    /// starts over from the first unsent row.
    var blocked = false
    /// The rounds on their way (their ids and sizes), in the order they were made.
    var roundsOnTheirWay: [(id: Int, rows: Int)] = []
    /// The shard's changelog (nil: capture is off): no row passes its gate before the record
    /// of the transaction that wrote it is in Kafka.
    var changelog: ChangelogGate?
    /// Changelog rounds on their way (stale ones included: they still hold a producer slot).
    var changelogRoundsOnTheirWay = 0
}

/// The outbox publisher's state for every owned shard, as a value the worker loop drives: the
/// loop does the I/O (reads a shard's unsent rows, hands rounds to the producer, writes what a
/// settled round needs), this decides what to send, in what order, and what the outcome means.
/// Its rules, each tested without a broker (`OutboxPublisherTests`):
///
/// - a shard's rows leave in order: rounds are settled in the order they were made, at most
///   `roundsInFlight` per shard; a round read from the shard's file waits until none is on its
///   way (the file cannot tell rows on their way from rows never sent);
/// - the watermark (`Watermark`) passes a row only once it is delivered, or refused for good
///   with its dead letter stored; behind a failed row, delivered rows are marked one by one;
/// - failed rounds pause the next ones (100 ms doubling to 5 s) and give up after
///   `deliveryFailureTimeout` without a complete round;
/// - **changelog first**: a row leaves only once the changelog record of the transaction that
///   wrote it is read back from the log under the shard's claim (`ChangelogGate`).
struct OutboxPublisher {
    struct Limits: Equatable {
        /// Rows per shard in one round (`outbox.batch`).
        var rowsPerRound: Int
        /// Rounds of a shard on their way at once (`WorkerSettings.roundsInFlight`).
        var roundsInFlight: Int
        var deliveryFailureTimeout: Duration
    }

    let limits: Limits
    private(set) var shards: [Int32: ShardOutbox] = [:]
    /// Since when rounds have failed without a complete one (nil: all is well).
    private(set) var failingSince: ContinuousClock.Instant?
    private(set) var failedRoundsInARow = 0
    /// Rounds pause until then after a failure.
    private(set) var retryAt: ContinuousClock.Instant?
    private var lastRoundID = 0

    init(limits: Limits) {
        self.limits = limits
    }

    // MARK: - shards

    /// A shard opened with its stored watermark (and its changelog's gate, with capture on). It
    /// may have unsent rows: left by a crash, or by the previous owner.
    mutating func open(_ partition: Int32, publishedThrough: Int64, changelog: ChangelogGate?, now: ContinuousClock.Instant) {
        shards[partition] = ShardOutbox(watermark: Watermark(known: publishedThrough, stored: publishedThrough, storedAt: now),
                                        changelog: changelog)
    }

    mutating func close(_ partition: Int32) {
        shards[partition] = nil
    }

    /// Every open shard may have rows the publisher was not told of (a batch cut short by
    /// cancellation may have committed): each is read from its file next.
    mutating func forgetQueued() {
        for partition in shards.keys {
            shards[partition]!.mayHaveUnsent = true
            shards[partition]!.queued = nil
        }
    }

    var isFailing: Bool { failingSince != nil }

    /// Rows known unsent or on their way (a gauge; rows only in a shard's file are not counted).
    var backlog: Int {
        shards.values.reduce(0) { $0 + ($1.queued?.count ?? 0) + $1.roundsOnTheirWay.reduce(0) { $0 + $1.rows } }
    }

    // MARK: - transactions

    /// A committed transaction of `partition` queued `rows` (at the outbox's end).
    mutating func queued(_ rows: [OutboxMessage], partition: Int32) {
        guard shards[partition] != nil else { return }
        shards[partition]!.mayHaveUnsent = true
        shards[partition]!.queued?.append(contentsOf: rows)
    }

    /// What `partition`'s next transaction should store: the watermark and the changelog
    /// position the shard does not have yet.
    func unstored(_ partition: Int32) -> (watermark: Int64?, changelog: ChangelogMark?) {
        guard let shard = shards[partition] else { return (nil, nil) }
        let mark = shard.watermark
        return (mark.known > mark.stored ? mark.known : nil, shard.changelog?.unstored)
    }

    /// A committed transaction of `partition` stored these.
    mutating func stored(_ partition: Int32, watermark: Int64?, changelog: ChangelogMark?, now: ContinuousClock.Instant) {
        guard shards[partition] != nil else { return }
        if let watermark {
            shards[partition]!.watermark.stored = max(shards[partition]!.watermark.stored, watermark)
            shards[partition]!.watermark.storedAt = now
        }
        if let changelog { shards[partition]!.changelog?.stored(changelog.txn) }
    }

    /// The shards whose watermark or changelog position no transaction has carried for
    /// `Watermark.idleWrite` (`all`: every one not stored), with what to store.
    func idle(now: ContinuousClock.Instant, all: Bool) -> [(partition: Int32, watermark: Int64?, changelog: ChangelogMark?)] {
        shards.keys.sorted().compactMap { partition in
            let (watermark, changelog) = unstored(partition)
            guard watermark != nil || changelog != nil,
                  all || now - shards[partition]!.watermark.storedAt >= Watermark.idleWrite else { return nil }
            return (partition, watermark, changelog)
        }
    }

    // MARK: - changelog rounds

    /// The shard committed these records (taken from it in order).
    mutating func committed(_ records: [ChangelogRecord], partition: Int32) {
        guard !records.isEmpty, shards[partition]?.changelog != nil else { return }
        shards[partition]!.changelog!.committed(records)
    }

    /// The shard's next changelog round (at most `limit` records), if it has records to send
    /// and a free slot; it is on its way once returned.
    mutating func nextChangelogRound(_ partition: Int32, limit: Int) -> ChangelogBatch? {
        guard let shard = shards[partition], let gate = shard.changelog, gate.hasUnsent,
              shard.changelogRoundsOnTheirWay < limits.roundsInFlight else { return nil }
        let (records, generation) = shards[partition]!.changelog!.takeToSend(limit: limit)
        shards[partition]!.changelogRoundsOnTheirWay += 1
        return ChangelogBatch(records: records, generation: generation)
    }

    /// A changelog round is in (rounds are settled in the order they were made): delivered
    /// whole or not. nil: the shard is no longer here.
    mutating func settleChangelog(_ batch: ChangelogBatch, partition: Int32, delivered: Bool) -> ChangelogGate.Settled? {
        guard shards[partition]?.changelog != nil else { return nil }
        shards[partition]!.changelogRoundsOnTheirWay -= 1
        return shards[partition]!.changelog!.settle(batch.records, generation: batch.generation, delivered: delivered)
    }

    /// The shard's record `txn` was read back from the log under its owner's claim (`ChangelogTail`):
    /// returns the record it confirmed, if it did (the outbox rows it held back may go).
    mutating func readBack(_ txn: Int64, nextOffset: Int64, partition: Int32) -> ChangelogRecord? {
        guard shards[partition]?.changelog != nil else { return nil }
        return shards[partition]!.changelog!.readBack(txn, nextOffset: nextOffset)
    }

    /// Each shard's changelog generation (a failed round bumps it).
    var changelogGenerations: [Int32: Int] { shards.compactMapValues { $0.changelog?.generation } }

    /// Whether every record the shards committed is in Kafka.
    var changelogSettled: Bool { shards.values.allSatisfy { $0.changelog?.isSettled ?? true } }

    // MARK: - outbox rounds

    /// The shards that may start a round now (none while failed rounds pause, unless a flush
    /// ignores the pause): each with unsent rows and a free slot; a shard whose next round must
    /// be read from its file only once no round of it is on its way.
    func waiting(now: ContinuousClock.Instant, ignoringPause: Bool = false) -> [Int32] {
        if !ignoringPause, let retryAt, now < retryAt { return [] }
        return shards.keys.sorted().filter { partition in
            let shard = shards[partition]!
            let onTheirWay = shard.roundsOnTheirWay.count
            return shard.mayHaveUnsent && (onTheirWay == 0 || (onTheirWay < limits.roundsInFlight && shard.queued != nil))
        }
    }

    /// Where `partition`'s next round comes from (nil: the shard is not open).
    func source(_ partition: Int32) -> RoundSource? {
        guard let shard = shards[partition] else { return nil }
        return shard.queued == nil ? .shard(after: shard.watermark.known, limit: limits.rowsPerRound) : .queued
    }

    /// Makes `partition`'s next round: from the rows it was told of, or from `read` (the rows
    /// the shard's file gave for `source`), with the changelog records the shard committed up
    /// to then (`captured`, taken after the read, so that every transaction whose rows were
    /// read is in the gate). The round is on its way once returned; nil: nothing may go (no
    /// unsent row — the shard no longer may have any — or every one is held by the gate).
    mutating func makeRound(_ partition: Int32, read: [OutboxMessage]?, captured: [ChangelogRecord]) -> OutboxRound? {
        guard shards[partition] != nil else { return nil }
        committed(captured, partition: partition)
        let releasable = shards[partition]!.changelog?.releasableThrough ?? .max
        let limit = limits.rowsPerRound
        var rows: [OutboxMessage]
        if let read {
            // Read from the file: every earlier round is settled, so the first unsent row leads.
            precondition(shards[partition]!.roundsOnTheirWay.isEmpty, "a round read from the shard with rounds on their way")
            shards[partition]!.blocked = false
            rows = read
            // Fewer than asked for: these are all of the shard's unsent rows, and whatever is
            // queued from now on follows them (those the gate holds back first).
            let held = rows.drop { $0.sequence <= releasable }
            if rows.count < limit { shards[partition]!.queued = Array(held) }
            rows.removeLast(held.count)
            if rows.isEmpty && !held.isEmpty { return nil }
        } else {
            guard let known = shards[partition]!.queued else { preconditionFailure("no rows queued for partition \(partition)") }
            rows = Array(known.prefix(limit).prefix { $0.sequence <= releasable })
            shards[partition]!.queued = Array(known.dropFirst(rows.count))
            if rows.isEmpty && !known.isEmpty { return nil }
        }
        guard !rows.isEmpty else {
            shards[partition]!.mayHaveUnsent = false
            return nil
        }
        lastRoundID += 1
        shards[partition]!.roundsOnTheirWay.append((lastRoundID, rows.count))
        return OutboxRound(id: lastRoundID, partition: partition, rows: rows)
    }

    /// Takes in the outcome of `round` (the oldest of its shard on its way), a row each. What
    /// the shard must store comes back in `write`; the watermark moves over the rows delivered
    /// (or refused for good) up to the first failed one, in this round or an earlier one not
    /// yet published again — in memory only if nothing needs storing, else once `written`.
    mutating func settle(_ round: OutboxRound, _ outcomes: [RowOutcome]) -> Settlement {
        precondition(outcomes.count == round.rows.count, "one outcome per row")
        let partition = round.partition
        var settlement = Settlement(partition: partition, deliveredByTopic: [:], failures: outcomes.compactMap(\.failure),
                                    write: nil, known: 0)
        for (row, outcome) in zip(round.rows, outcomes) {
            if case .delivered = outcome { settlement.deliveredByTopic[row.topic, default: 0] += 1 }
        }
        guard shards[partition] != nil else { return settlement }
        precondition(shards[partition]!.roundsOnTheirWay.first?.id == round.id, "rounds of partition \(partition) settled out of order")
        shards[partition]!.roundsOnTheirWay.removeFirst()
        let shard = shards[partition]!
        // Behind a failed row of an earlier round the watermark cannot move: every row counts one by one.
        let firstFailed = shard.blocked ? 0 : outcomes.firstIndex { $0.failure != nil } ?? outcomes.count
        if !settlement.failures.isEmpty { shards[partition]!.blocked = true }
        settlement.known = max(shard.watermark.known, round.rows[..<firstFailed].last?.sequence ?? 0)
        let refused = zip(round.rows, outcomes).compactMap { row, outcome in
            if case .refused(let error) = outcome { (row: row, error: error) } else { nil }
        }
        let sentPastFailure = zip(round.rows, outcomes).dropFirst(firstFailed).filter { $0.1.failure == nil }.map(\.0.sequence)
        if refused.isEmpty && sentPastFailure.isEmpty {
            shards[partition]!.watermark.known = settlement.known
        } else {
            settlement.write = SettleWrite(watermark: settlement.known > shard.watermark.stored ? settlement.known : nil,
                                           sentPastFailure: sentPastFailure, refused: refused)
        }
        // A full round may have left rows behind; dead letters are new rows.
        if round.rows.count == limits.rowsPerRound || shards[partition]!.queued?.isEmpty == false || !refused.isEmpty {
            shards[partition]!.mayHaveUnsent = true
        }
        // Rows that stay unsent, and dead letters, are in the shard's file only: read it next time.
        if !settlement.failures.isEmpty || !refused.isEmpty { shards[partition]!.queued = nil }
        if !settlement.failures.isEmpty { shards[partition]!.mayHaveUnsent = true }
        return settlement
    }

    /// The shard stored what `settlement` needed: the watermark moves.
    mutating func written(_ settlement: Settlement, now: ContinuousClock.Instant) {
        guard let write = settlement.write, shards[settlement.partition] != nil else { return }
        shards[settlement.partition]!.watermark.known = max(shards[settlement.partition]!.watermark.known, settlement.known)
        stored(settlement.partition, watermark: write.watermark, changelog: nil, now: now)
    }

    /// A round (or the rounds of a flush) came back with every row delivered or refused for good.
    mutating func deliveriesSucceeded() {
        failingSince = nil
        failedRoundsInARow = 0
        retryAt = nil
    }

    /// A round came back with failed deliveries.
    mutating func deliveriesFailed(now: ContinuousClock.Instant) -> DeliveryVerdict {
        let since = failingSince ?? now
        failingSince = since
        let pause = min(Duration.milliseconds(100) * (1 << min(failedRoundsInARow, 6)), .seconds(5))
        failedRoundsInARow += 1
        retryAt = now + pause
        return now - since >= limits.deliveryFailureTimeout ? .giveUp(failingFor: now - since)
            : .retry(after: pause, failingFor: now - since)
    }
}
