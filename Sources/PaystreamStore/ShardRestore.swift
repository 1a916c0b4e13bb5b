import Foundation
import GRDB

/// A shard file being brought up to its changelog: opened without migrations (a new file gets
/// its schema from the log's `schema` records, at the place in the log where the original ran
/// them), records applied in order in transactions that are never captured. A restore stopped
/// half way leaves a prefix of the log, which the next restore continues.
public final class ShardRestore {
    public let path: String
    private let pool: DatabasePool
    private let migrations: [String: @Sendable (Database) throws -> Void]
    /// Where the file stands: the last record it holds, and the changelog offset to read on from.
    public private(set) var position: ChangelogPosition
    /// What the file holds but Kafka may not (records made here and never confirmed), in order.
    public let unconfirmed: [ChangelogRecord]

    public init(path: String, synchronous: SynchronousMode = .full, schema: StageSchema) throws {
        self.path = path
        pool = try openSharedPool(path: path, synchronous: synchronous)
        migrations = Dictionary(ShardStore.migrations(schema).map { ($0.0, $0.1) }, uniquingKeysWith: { first, _ in first })
        (position, unconfirmed) = try pool.read { db in
            (try ChangelogTables.position(db), try db.tableExists("changelog_queue") ? try ChangelogTables.queued(db) : [])
        }
    }

    /// Whether there is no shard file at `path`, or one without a single table (a restore that
    /// stopped before its first record).
    public static func isMissing(_ path: String) throws -> Bool {
        guard FileManager.default.fileExists(atPath: path) else { return true }
        return try ShardStore.readOnly(path: path) { try Int.fetchOne($0, sql: "SELECT count(*) FROM sqlite_master WHERE type = 'table'") ?? 0 } == 0
    }

    /// Whether the file holds anything at all (a shard that was never written has no tables).
    public func isEmpty() throws -> Bool {
        try pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sqlite_master WHERE type = 'table'") ?? 0 } == 0
    }

    /// Applies `records` in one transaction, as the log's fence admits them (`ChangelogFence`:
    /// claims move the owner, records written under another claim are ignored): each admitted
    /// record that is the next after the file's last (earlier ones are skipped: a record
    /// published twice; later ones too: a record after a gap), and stores that the log has them
    /// through `logNextOffset`. Returns how many were applied.
    @discardableResult
    public func apply(_ records: [ChangelogRecord], logNextOffset: Int64) throws -> Int {
        let start = position
        let migrations = self.migrations
        let mine = Dictionary(unconfirmed.map { ($0.txn, $0) }, uniquingKeysWith: { first, _ in first })
        var fence = ChangelogFence(current: start.claimant)
        let (applied, last, confirmed) = try pool.write { db -> (Int, Int64, Int64) in
            var last = start.lastTxn
            // The last record Kafka is known to have: what the file made and was confirmed, and
            // every record seen in the log. Records the file made beyond it stay queued, to be
            // published by the worker (never marked durable because the log was read).
            var confirmed = start.durableTxn
            var applied = 0
            for record in records {
                guard fence.admit(record) == .admitted else { continue }
                if record.txn <= last {
                    // A record this file made and Kafka has now: the same one, or another owner's
                    // under the same number, which this file never saw (diverged).
                    if record.txn > start.durableTxn, let own = mine[record.txn],
                       own.kind != record.kind || own.patchset != record.patchset || own.migrations != record.migrations
                        || own.claimant != record.claimant {
                        throw ChangelogDivergence(path: self.path, txn: record.txn)
                    }
                    confirmed = max(confirmed, record.txn)
                    continue
                }
                // A record after a gap: a round that failed and was sent again from an earlier
                // record; the log holds the missing ones later, in order, followed by this one.
                guard record.txn == last + 1 else { continue }
                try ChangelogTables.apply(record, to: db, migrations: migrations)
                last = record.txn
                confirmed = max(confirmed, last)
                applied += 1
            }
            if try db.tableExists("changelog_state") {
                try ChangelogTables.markDurable(db, through: confirmed, nextOffset: logNextOffset)
                try ChangelogTables.storeLastTxn(db, last)
                if fence.current != start.claimant {
                    try ChangelogTables.storeClaimant(db, fence.current)
                }
            }
            return (applied, last, confirmed)
        }
        position.lastTxn = last
        position.durableTxn = max(position.durableTxn, confirmed)
        position.logNextOffset = max(position.logNextOffset, logNextOffset)
        position.claimant = fence.current
        return applied
    }

    /// Checks, once the whole log is applied, that the file is a prefix of it: records the file
    /// made that Kafka never confirmed are still its to publish only if no one claimed the
    /// partition since they were written; otherwise the log went on without them and the file
    /// must be set aside.
    public func checkPrefix() throws {
        guard position.lastTxn > position.durableTxn,
              let first = unconfirmed.first(where: { $0.txn > position.durableTxn }),
              first.claimant != position.claimant else { return }
        throw ChangelogDivergence(path: path, txn: first.txn, claimant: position.claimant)
    }

    public func close() throws {
        try pool.close()
    }
}

/// The log starts after the position a file stands at (it was truncated below a snapshot past
/// the file): the records after the file's last one are gone, so it can never catch up. The file
/// must be set aside and the shard restored from a snapshot.
public struct ChangelogBehind: Error, CustomStringConvertible {
    public let path: String
    public let position: Int64
    public let logStart: Int64
    /// The file stands at `position` (0: nothing yet, a log that does not start at its first
    /// record is refused elsewhere) and the first message read from there is at `firstRead`
    /// (nil: none): behind when the log starts after it.
    public init?(path: String, position: Int64, firstRead: Int64?) {
        guard position > 0, let firstRead, firstRead > position else { return nil }
        self.path = path
        self.position = position
        logStart = firstRead
    }
    public var description: String {
        "shard \(path) stands at changelog offset \(position), and the log now starts at \(logStart): it was truncated past the file"
    }
}

/// The file and the log disagree on a record: the file made it and never got it into Kafka, and
/// another owner wrote a different record under its number. The file must be set aside.
public struct ChangelogDivergence: Error, CustomStringConvertible {
    public let path: String
    public let txn: Int64
    /// Set when the log was claimed since the file's unconfirmed records were written.
    public var claimant: ChangelogClaimant?
    public var description: String {
        if let claimant {
            return "shard \(path) holds changelog record \(txn) that Kafka never got, and the partition was claimed since (\(claimant)): the file is not a prefix of the log"
        }
        return "shard \(path) holds changelog record \(txn) that Kafka never got, and the log has another record \(txn): the file diverged from the log"
    }
}
