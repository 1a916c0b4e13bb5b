import PaystreamStore

/// How far Kafka has a shard's changelog, for the shard's next transaction to store.
struct ChangelogMark: Sendable {
    let txn: Int64
    let nextOffset: Int64
}

/// The changelog side of one owned shard, as a value the loop drives (tested without a broker):
/// the records the shard committed that are not yet confirmed in the log, which of them are on
/// their way, and so how far the outbox may be published. **Changelog first**: an outbox row
/// leaves only once the record of the transaction that wrote it is confirmed, so nothing a
/// transaction caused is ever seen without the state that caused it being in the log.
///
/// A record is confirmed when it is **read back** from the log, in order, under this owner's
/// claim with no newer claim before it (`ChangelogTail`) — not when the broker acknowledges it:
/// an owner cut off from the group (a zombie) gets its records acknowledged, but they land after
/// the new owner's claim and are never read back as its own, so its outbox never leaves.
/// Records are confirmed in order only; a failed round sends every unconfirmed record again
/// (the log may then hold a record twice, or a later one before an earlier one; a reader applies
/// each number once, in order, and skips the rest).
struct ChangelogGate {
    /// Committed and not confirmed, in `txn` order.
    private(set) var pending: [ChangelogRecord] = []
    /// How many records at the front of `pending` were handed to the producer (on their way, or
    /// acknowledged and waiting to be read back).
    private(set) var onTheirWay = 0
    /// Bumped by a failure: rounds made before it are stale (their records are sent again).
    private(set) var generation = 0
    /// The last record read back, and the changelog offset after it.
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
        /// The broker has the round's records; they count once read back.
        case delivered
        /// The round failed: every unconfirmed record goes again.
        case resend
        /// A round made before a failure (its records are being sent again anyway), or one whose
        /// records were all read back already.
        case stale
    }

    /// A round of `records` (made in `generation`) is in: delivered whole, or not.
    mutating func settle(_ records: [ChangelogRecord], generation: Int, delivered: Bool) -> Settled {
        guard generation == self.generation else { return .stale }
        if delivered { return .delivered }
        guard records.contains(where: { $0.txn > durableTxn }) else { return .stale }
        self.generation += 1
        onTheirWay = 0
        return .resend
    }

    /// Record `txn` of this owner was read back from the log, ending before `nextOffset`:
    /// confirmed if it is the next one (a copy of an earlier one, or one after a gap, is not).
    /// Returns the record it confirmed.
    mutating func readBack(_ txn: Int64, nextOffset: Int64) -> ChangelogRecord? {
        guard txn == durableTxn + 1, pending.first?.txn == txn else { return nil }
        durableTxn = txn
        durableOffset = max(durableOffset, nextOffset)
        onTheirWay = max(0, onTheirWay - 1)
        return pending.removeFirst()
    }

    /// What the shard's next transaction should store, if anything.
    var unstored: ChangelogMark? { durableTxn > storedTxn ? ChangelogMark(txn: durableTxn, nextOffset: durableOffset) : nil }

    mutating func stored(_ txn: Int64) { storedTxn = max(storedTxn, txn) }
}
