import Foundation
import PaystreamStore

/// How a worker batches, stores and publishes.
public struct WorkerSettings: Sendable {
    /// At most this many records per batch (one SQLite transaction per shard per batch).
    public var maxBatchRecords: Int = 500
    /// An input record whose key and value take more bytes than this is dead-lettered as
    /// `record_too_large` before any decision (its letter carries the value's first 64 KiB).
    public var maxRecordBytes: Int = 256 * 1024
    /// How long a poll waits for the first record of a batch.
    public var maxBatchWait: Duration = .milliseconds(100)
    /// At most this many outbox rows per publish round.
    public var outboxBatch: Int = 2000
    /// At most this many publish rounds of one shard on their way to the broker at once (the
    /// producer keeps their order; the broker is slow to answer a round over several topics).
    public var roundsInFlight: Int = 4
    public var synchronous: SynchronousMode = .full
    /// Lets a stage that keeps money run with `synchronous` below FULL (a power loss may then
    /// lose commits whose effects were already published). Named to be noticed; logged at start.
    public var allowUnsafeSynchronous = false
    /// How long processed message ids stay in the inbox, and published messages in the outbox
    /// (pruned hourly).
    public var inboxRetention: Duration = .seconds(7 * 24 * 3600)
    /// Attempts for a batch whose transaction fails (SQLite busy, disk full) before the worker
    /// gives up and exits non-zero, to be restarted from its stored offsets.
    public var batchAttempts: Int = 5
    /// The worker stops (and the daemon exits 1, for systemd to restart it with a fresh
    /// producer) when outbox rows have failed to be delivered for this long without a single
    /// complete publish round. A fatal producer error stops it at once.
    public var deliveryFailureTimeout: Duration = .seconds(120)
    /// A chunk of pruning starts only while the loop has spent less than this since its last
    /// poll, so the consumer polls well within `max.poll.interval.ms` (publishing never holds the
    /// loop: its rounds are settled when their delivery reports are in).
    public var pollBudget: Duration = .seconds(2)
    /// Rows deleted per transaction when old inbox ids and sent outbox rows are pruned.
    public var pruneChunk: Int = 5000
    /// Catching up with the reference topics at start gives up (the worker stops with an error)
    /// when no reference partition made progress for this long. Also bounds the wait for the
    /// reference topics' metadata.
    public var referenceCatchUpTimeout: Duration = .seconds(60)
    /// Every shard transaction on the stage's changelog topic, published before anything it
    /// caused, and shards restored from it on assignment. Off only for measurements and for
    /// tools that open shards by hand: without it a shard lives on one host's disk only.
    public var changelog = true
    /// Changelog records of one shard per round (a round is one producer call).
    public var changelogRoundRecords = 256
    /// How long letting a shard go (revocation, shutdown) waits for its last changelog records
    /// to be read back before leaving them to the next owner.
    public var changelogFlushTimeout: Duration = .seconds(10)
    /// A shard is snapshotted (a copy on `<stage>.snapshots`, where restores start) once this
    /// many bytes of changelog were published since its last snapshot; 0: never by size.
    public var snapshotEveryBytes: Int = 64 << 20
    /// … or this long after its last snapshot (or after it was opened) if anything was
    /// published since; zero: never by time. Both zero: no snapshots.
    public var snapshotEvery: Duration = .seconds(6 * 3600)
    /// Partitions this instance keeps warm copies of while it does not own them (restored and
    /// following their changelogs), so that taking one over reads only the log after the copy.
    public var standby: StandbyRule = .none
    /// Fault injection for tests: records read back from the changelog count only this much
    /// later (an owner cut off from the group that has not noticed yet decides meanwhile).
    public var readBackDelay: Duration = .zero
    /// Fault injection for tests: the worker stops at this point as if the process died there.
    public var crashPoint: CrashPoint?

    public init() {}

    /// Refuses `synchronous` below FULL for a stage that keeps money, unless explicitly allowed.
    public func checkDurability(stage: String, keepsMoney: Bool) throws {
        guard keepsMoney, synchronous != .full, !allowUnsafeSynchronous else { return }
        throw ConfigurationError("""
            \(stage) keeps money: sqlite.synchronous must be FULL (with \(synchronous.rawValue) a power loss can lose \
            commits whose messages were already published); set sqlite.allow_unsafe_synchronous: true to run it anyway
            """)
    }
}

/// Where time comes from; tests inject a controllable one.
public protocol PaystreamClock: Sendable {
    func now() -> Date
}

public struct SystemClock: PaystreamClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// The system clock moved by a fixed offset: local runs and demos show what happens on a later
/// day (payout dates, installments, batches) without waiting for it.
public struct OffsetClock: PaystreamClock {
    public let offset: TimeInterval

    public init(offset: TimeInterval) { self.offset = offset }
    public func now() -> Date { Date().addingTimeInterval(offset) }
}

/// Where a test makes a worker die (see `WorkerSettings.crashPoint`).
public enum CrashPoint: Sendable {
    /// After a batch's transaction committed, before its outbox rows were published.
    case afterCommitBeforePublish
    /// After a batch's transaction committed, before its changelog record was sent.
    case afterCommitBeforeChangelog
    /// After a changelog record was confirmed, before the outbox rows it released were sent.
    case afterChangelogBeforePublish
}

/// Thrown by a worker that reached its `crashPoint`.
public struct SimulatedCrash: Error, Sendable {}
