import PaystreamStore

/// How far Kafka has a shard's changelog, for the shard's next transaction to store.
struct ChangelogMark: Sendable {
    let txn: Int64
    let nextOffset: Int64
}

/// The changelog side of one owned shard, as a value the loop drives (tested without a broker):
/// the records the shard committed that Kafka does not have yet, which of them are on their
/// way, and so how far the outbox may be published. **Changelog first**: an outbox row leaves
/// only once the record of the transaction that wrote it is durable, so nothing a transaction
/// caused is ever seen without the state that caused it being in the log.
///
/// Records are confirmed in order only: a round is taken in if it is the oldest on its way; a
/// failed round sends every unconfirmed record again, from the first (the log may then hold a
/// record twice, or a later one before an earlier one; a restore applies each number once, in
/// order, and skips the rest).
struct ChangelogGate {
    /// Committed and not confirmed, in `txn` order.
    private(set) var pending: [ChangelogRecord] = []
    /// How many records at the front of `pending` are on their way.
    private(set) var onTheirWay = 0
    /// Bumped by a failure: rounds made before it are stale (their records are sent again).
    private(set) var generation = 0
    /// The last record Kafka has, and the changelog offset after it.
    private(set) var durableTxn: Int64
    private(set) var durableOffset: Int64
    /// How much of that the shard has stored (`ChangelogTables.markDurable`).
    private(set) var storedTxn: Int64

    init(durableTxn: Int64, logNextOffset: Int64) {
        self.durableTxn = durableTxn
        self.durableOffset = logNextOffset
        self.storedTxn = durableTxn
    }

    /// The shard committed these records (in order; ones already known are ignored).
    mutating func committed(_ records: [ChangelogRecord]) {
        let last = pending.last?.txn ?? durableTxn
        pending.append(contentsOf: records.filter { $0.txn > last })
    }

    /// Outbox rows up to this sequence may leave; nil: every committed row may.
    var releasableThrough: Int64? { pending.first?.outboxBefore }

    var hasUnsent: Bool { onTheirWay < pending.count }
    var isSettled: Bool { pending.isEmpty }

    /// The next records to hand to the producer (at most `limit`), now on their way, with the
    /// generation their round belongs to.
    mutating func takeToSend(limit: Int) -> (records: [ChangelogRecord], generation: Int) {
        let next = Array(pending[onTheirWay...].prefix(limit))
        onTheirWay += next.count
        return (next, generation)
    }

    /// What settling a round did.
    enum Settled: Equatable {
        /// Kafka has every record through `txn`.
        case confirmed(txn: Int64)
        /// The round failed: every unconfirmed record goes again.
        case resend
        /// A round made before a failure: its records are being sent again anyway.
        case stale
    }

    /// A round of `records` (made in `generation`) is in: delivered whole, ending before
    /// `nextOffset`, or not.
    mutating func settle(_ records: [ChangelogRecord], generation: Int, delivered: Bool, nextOffset: Int64) -> Settled {
        guard generation == self.generation, let first = records.first, first.txn == pending.first?.txn else { return .stale }
        guard delivered else {
            self.generation += 1
            onTheirWay = 0
            return .resend
        }
        pending.removeFirst(records.count)
        onTheirWay -= records.count
        durableTxn = records.last!.txn
        durableOffset = max(durableOffset, nextOffset)
        return .confirmed(txn: durableTxn)
    }

    /// What the shard's next transaction should store, if anything.
    var unstored: ChangelogMark? { durableTxn > storedTxn ? ChangelogMark(txn: durableTxn, nextOffset: durableOffset) : nil }

    mutating func stored(_ txn: Int64) { storedTxn = max(storedTxn, txn) }
}
