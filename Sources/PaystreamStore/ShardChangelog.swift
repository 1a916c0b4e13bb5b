import CSQLiteSession
import Foundation
import GRDB

/// One entry of a shard's changelog: what one write transaction of the shard changed, or the
/// migrations it ran when it was opened. Entries are numbered by `txn` (1, 2, … per shard, gap
/// free), are kept in the shard's local `changelog_queue` until Kafka has them, and are applied
/// in `txn` order to rebuild the shard anywhere.
public struct ChangelogRecord: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// A write transaction: `patchset` is SQLite's patchset of it.
        case transaction = "txn"
        /// Migrations run at open, in order: `migrations` names them.
        case schema
        /// An ownership claim: from here on the log takes records of `epoch` by `owner` only
        /// (`ChangelogFence`). `txn` is the last record the claimant held; no patchset.
        case claim
    }

    public var kind: Kind
    public var txn: Int64
    /// The outbox's highest sequence before this transaction: rows after it were written by it
    /// (or later), and may leave only once this record is durable.
    public var outboxBefore: Int64
    /// The AUTOINCREMENT counters after the transaction (`sqlite_sequence`, which the session
    /// extension does not capture): a restored copy never hands out a number twice.
    public var sequences: [String: Int64]
    public var migrations: [String]
    public var patchset: Data
    /// The ownership claim the record was written under (a claim: the one it makes). Epoch 0
    /// with no owner: written before any claim.
    public var epoch: Int64
    public var owner: String

    public init(kind: Kind, txn: Int64, outboxBefore: Int64 = 0, sequences: [String: Int64] = [:], migrations: [String] = [],
                patchset: Data = Data(), epoch: Int64 = 0, owner: String = "") {
        self.kind = kind
        self.txn = txn
        self.outboxBefore = outboxBefore
        self.sequences = sequences
        self.migrations = migrations
        self.patchset = patchset
        self.epoch = epoch
        self.owner = owner
    }

    /// The claim a record was written under.
    public var claimant: ChangelogClaimant { ChangelogClaimant(epoch: epoch, owner: owner) }

    /// The claim record of `claimant` on a shard whose last record is `lastTxn`.
    public static func claim(_ claimant: ChangelogClaimant, lastTxn: Int64) -> ChangelogRecord {
        ChangelogRecord(kind: .claim, txn: lastTxn, epoch: claimant.epoch, owner: claimant.owner)
    }
}

/// Where a shard stands against its changelog (local, never captured).
public struct ChangelogPosition: Sendable, Equatable {
    /// The last record the shard holds (made here or applied from the log).
    public var lastTxn: Int64
    /// The last record known to be in Kafka.
    public var durableTxn: Int64
    /// The changelog offset after the last record known to be in Kafka (where a reader of the
    /// log's tail starts).
    public var logNextOffset: Int64
    /// The newest claim the file has seen in the log or made: its new records are written under it.
    public var claimant: ChangelogClaimant

    public init(lastTxn: Int64, durableTxn: Int64, logNextOffset: Int64, claimant: ChangelogClaimant = .none) {
        self.lastTxn = lastTxn
        self.durableTxn = durableTxn
        self.logNextOffset = logNextOffset
        self.claimant = claimant
    }
}

/// A changelog entry the log and the shard disagree on, or a patchset SQLite refused.
public struct ChangelogError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The shard's local changelog tables (`changelog_` tables are never captured nor applied):
/// the queue of records not yet known to be in Kafka, and the position.
public enum ChangelogTables {
    /// Registered after the stage's migrations (see `ShardStore.migrations`).
    static let migrations: [(String, @Sendable (Database) throws -> Void)] = [
        ("runtime-v6-changelog", { db in
            try db.execute(sql: """
                CREATE TABLE changelog_queue (
                    txn INTEGER PRIMARY KEY,
                    kind TEXT NOT NULL,
                    outbox_before INTEGER NOT NULL,
                    sequences TEXT NOT NULL,
                    migrations TEXT NOT NULL,
                    patchset BLOB NOT NULL
                );
                CREATE TABLE changelog_state (
                    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
                    last_txn INTEGER NOT NULL,
                    durable_txn INTEGER NOT NULL,
                    log_next_offset INTEGER NOT NULL
                );
                INSERT INTO changelog_state (singleton, last_txn, durable_txn, log_next_offset) VALUES (1, 0, 0, 0);
                """)
        }),
        // The claim each queued record was written under; the newest claim the file has seen in
        // the log (or made), which is also the one its new records are written under.
        ("runtime-v7-changelog-claims", { db in try addClaimColumns(db) }),
    ]

    public static func position(_ db: Database) throws -> ChangelogPosition {
        guard try db.tableExists("changelog_state"), let row = try Row.fetchOne(db.hotStatement("SELECT * FROM changelog_state"))
        else { return ChangelogPosition(lastTxn: 0, durableTxn: 0, logNextOffset: 0) }
        return ChangelogPosition(lastTxn: row["last_txn"], durableTxn: row["durable_txn"], logNextOffset: row["log_next_offset"],
                                 claimant: ChangelogClaimant(epoch: row["epoch"] ?? 0, owner: row["owner"] ?? ""))
    }

    /// Records not yet known to be in Kafka, in order.
    public static func queued(_ db: Database) throws -> [ChangelogRecord] {
        try Row.fetchAll(db.hotStatement("SELECT * FROM changelog_queue ORDER BY txn")).map { row in
            let sequences: String = row["sequences"], migrations: String = row["migrations"]
            return ChangelogRecord(kind: ChangelogRecord.Kind(rawValue: row["kind"]) ?? .transaction, txn: row["txn"],
                                   outboxBefore: row["outbox_before"], sequences: decodeSequences(sequences),
                                   migrations: migrations.isEmpty ? [] : migrations.components(separatedBy: "\n"),
                                   patchset: row["patchset"], epoch: row["epoch"] ?? 0, owner: row["owner"] ?? "")
        }
    }

    /// The file writes under `claimant` from now on (its owner's claim, read back from the log
    /// or about to be published first): the records it made that Kafka does not have yet are
    /// stamped with it too. Refuses a claim older than the newest the file has seen. Runs inside
    /// a write transaction (never captured).
    public static func adopt(_ db: Database, _ claimant: ChangelogClaimant) throws {
        let current = try position(db).claimant
        guard claimant == current || claimant.epoch > current.epoch else {
            throw ChangelogError("cannot write under \(claimant): the shard has seen \(current)")
        }
        try storeClaimant(db, claimant)
        try db.hotStatement("UPDATE changelog_queue SET epoch = ?, owner = ?").execute(arguments: [claimant.epoch, claimant.owner])
    }

    /// The newest claim the file has applied from the log (the columns are added here if the
    /// file's migrations have not got to them yet: a restore may meet a claim first).
    static func storeClaimant(_ db: Database, _ claimant: ChangelogClaimant) throws {
        try addClaimColumns(db)
        try db.hotStatement("UPDATE changelog_state SET epoch = ?, owner = ?").execute(arguments: [claimant.epoch, claimant.owner])
    }

    /// `runtime-v7-changelog-claims`, idempotent.
    static func addClaimColumns(_ db: Database) throws {
        for table in ["changelog_queue", "changelog_state"] where try !db.columns(in: table).contains(where: { $0.name == "epoch" }) {
            try db.execute(sql: """
                ALTER TABLE \(table) ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE \(table) ADD COLUMN owner TEXT NOT NULL DEFAULT '';
                """)
        }
    }

    /// Kafka has every record up to `txn`, the last of them before `nextOffset`: they leave the
    /// queue. Runs inside any write transaction of the shard (it is not captured).
    public static func markDurable(_ db: Database, through txn: Int64, nextOffset: Int64) throws {
        try db.hotStatement("DELETE FROM changelog_queue WHERE txn <= ?").execute(arguments: [txn])
        try db.hotStatement("""
            UPDATE changelog_state SET durable_txn = max(durable_txn, ?), log_next_offset = max(log_next_offset, ?)
            """).execute(arguments: [txn, nextOffset])
    }

    static func enqueue(_ db: Database, _ record: ChangelogRecord) throws {
        try db.hotStatement("""
            INSERT INTO changelog_queue (txn, kind, outbox_before, sequences, migrations, patchset, epoch, owner)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """).run { row in
                row.int(record.txn)
                row.text(record.kind.rawValue)
                row.int(record.outboxBefore)
                row.text(encodeSequences(record.sequences))
                row.text(record.migrations.joined(separator: "\n"))
                row.blob(record.patchset)
                row.int(record.epoch)
                row.text(record.owner)
            }
    }

    /// The last record the shard holds is `txn` (a restore applied up to it).
    static func storeLastTxn(_ db: Database, _ txn: Int64) throws {
        try db.hotStatement("UPDATE changelog_state SET last_txn = ?").execute(arguments: [txn])
    }

    static func nextTxn(_ db: Database) throws -> Int64 {
        try db.hotStatement("UPDATE changelog_state SET last_txn = last_txn + 1").run { _ in }
        return try db.hotStatement("SELECT last_txn FROM changelog_state").fetchFirst { $0.int64(0) } ?? 1
    }

    static func sequences(_ db: Database) throws -> [String: Int64] {
        var result: [String: Int64] = [:]
        try db.hotStatement("SELECT name, seq FROM sqlite_sequence").forEachRow { row in
            result[row.string(0)] = row.int64(1)
        }
        return result
    }

    static func outboxSequence(_ db: Database) throws -> Int64 {
        try db.hotStatement("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchFirst { $0.int64(0) } ?? 0
    }

    /// `name=value` pairs, sorted, comma separated (also the header's form on the wire).
    public static func encodeSequences(_ sequences: [String: Int64]) -> String {
        sequences.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    public static func decodeSequences(_ text: String) -> [String: Int64] {
        var result: [String: Int64] = [:]
        for pair in text.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let value = Int64(parts[1]) { result[String(parts[0])] = value }
        }
        return result
    }

    /// Tables a patchset cannot carry (no primary key), other than SQLite's and the local ones:
    /// a shard with one would lose its rows in a restore.
    public static func uncapturedTables(_ db: Database) throws -> [String] {
        let tables = try String.fetchAll(db, sql: """
            SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'changelog_%'
            ORDER BY name
            """)
        return try tables.filter { table in
            let keyed = try Int.fetchOne(db, sql: "SELECT count(*) FROM pragma_table_info(?) WHERE pk > 0", arguments: [table]) ?? 0
            return keyed == 0
        }
    }
}

/// The capture of one write transaction (`ps_capture_*`: SQLite's pre-update hook records each
/// change as it is made), started before the transaction's first change and turned into a
/// record (queued in the same transaction) just before COMMIT. Savepoints inside it go through
/// `ChangelogCapture.savepoint` so that a rolled-back one leaves nothing in the record.
struct ChangelogCapture {
    private let connection: OpaquePointer
    private let outboxBefore: Int64
    private let claimant: ChangelogClaimant

    init(_ db: Database, claimant: ChangelogClaimant) throws {
        self.claimant = claimant
        connection = db.sqliteConnection!
        let rc = ps_capture_begin(UnsafeMutableRawPointer(connection))
        guard rc == 0 else { throw ChangelogError("cannot start capturing the transaction's changes (SQLite code \(rc))") }
        do { outboxBefore = try ChangelogTables.outboxSequence(db) } catch {
            ps_capture_cancel(UnsafeMutableRawPointer(connection))
            throw error
        }
    }

    /// The transaction's record, queued; nil if it changed nothing that is captured. Ends the
    /// capture, also when it throws.
    func finish(_ db: Database) throws -> ChangelogRecord? {
        var count: Int32 = 0
        var bytes: UnsafeMutableRawPointer?
        let rc = ps_capture_finish(UnsafeMutableRawPointer(connection), &count, &bytes)
        defer { ps_capture_free(bytes) }
        guard rc == 0 else {
            guard rc == PS_CAPTURE_UNTRACKED_ROLLBACK else { throw ChangelogError("cannot take the transaction's patchset (SQLite code \(rc))") }
            var hooked: Int64 = 0, counted: Int64 = 0
            ps_capture_counts(UnsafeMutableRawPointer(connection), &hooked, &counted)
            throw ChangelogError("""
                the transaction's changes cannot be captured: a statement failed or a savepoint was rolled back without \
                ChangelogCapture.savepoint (\(hooked) row changes seen, \(counted) counted by SQLite)
                """)
        }
        guard count > 0, let bytes else { return nil }
        let record = ChangelogRecord(kind: .transaction, txn: try ChangelogTables.nextTxn(db), outboxBefore: outboxBefore,
                                     sequences: try ChangelogTables.sequences(db),
                                     patchset: Data(bytes: bytes, count: Int(count)), epoch: claimant.epoch, owner: claimant.owner)
        try ChangelogTables.enqueue(db, record)
        return record
    }

    func cancel() { ps_capture_cancel(UnsafeMutableRawPointer(connection)) }

    /// `body` in a savepoint of the caller's transaction: its writes are kept if it returns,
    /// rolled back (in the database, in the capture if one runs, and in the shard's memory) if it throws; the error is
    /// rethrown. `name` names the savepoint (statements come from the connection's cache).
    static func savepoint<T>(_ db: Database, name: String, _ body: () throws -> T) throws -> T {
        let connection = UnsafeMutableRawPointer(db.sqliteConnection!)
        try db.cachedStatement(sql: "SAVEPOINT \(name)").execute()
        try check(ps_capture_savepoint(connection))
        let result: T
        do {
            result = try body()
        } catch {
            ShardMemory.of(db)?.savepointRolledBack()
            try db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT \(name)").execute()
            try check(ps_capture_rollback_to(connection))
            try db.cachedStatement(sql: "RELEASE SAVEPOINT \(name)").execute()
            try check(ps_capture_release(connection))
            throw error
        }
        try db.cachedStatement(sql: "RELEASE SAVEPOINT \(name)").execute()
        try check(ps_capture_release(connection))
        return result
    }

    private static func check(_ rc: Int32) throws {
        guard rc == 0 else { throw ChangelogError("the changelog capture lost track of a savepoint (SQLite code \(rc))") }
    }

    /// Forgets what the capture kept for `connection` (its table layouts); once it is closed.
    static func forget(connection: OpaquePointer) {
        ps_capture_close(UnsafeMutableRawPointer(connection))
    }
}

extension ChangelogTables {
    /// Applies `record` to `db` inside the caller's transaction (never captured): a patchset, or
    /// the migrations it names run by name (`migrations` by identifier), then its counters and
    /// the position. The caller has checked that `record.txn` follows the shard's last.
    static func apply(_ record: ChangelogRecord, to db: Database,
                      migrations: [String: @Sendable (Database) throws -> Void]) throws {
        switch record.kind {
        case .transaction:
            var result = ps_apply_result()
            let rc = record.patchset.withUnsafeBytes { raw in
                ps_apply_patchset(UnsafeMutableRawPointer(db.sqliteConnection), Int32(raw.count), raw.baseAddress, &result)
            }
            guard rc == 0 else {
                let table = withUnsafeBytes(of: result.table) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                throw ChangelogError(result.conflict != 0
                    ? "changelog record \(record.txn) conflicts with the shard (kind \(result.conflict) on table \(table)): the copy and the log diverged"
                    : "changelog record \(record.txn) cannot be applied (SQLite code \(rc))")
            }
            for (name, value) in record.sequences {
                try db.execute(sql: "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?", arguments: [value, name])
                if db.changesCount == 0 {
                    try db.execute(sql: "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", arguments: [name, value])
                }
            }
        case .claim:
            break
        case .schema:
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
            for name in record.migrations {
                guard let migrate = migrations[name] else {
                    throw ChangelogError("changelog record \(record.txn) names migration \(name), which this version does not know: upgrade this host first")
                }
                try migrate(db)
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: [name])
            }
        }
    }
}
