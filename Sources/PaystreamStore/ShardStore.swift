import Foundation
import GRDB
import Synchronization

/// How hard SQLite pushes each commit to disk. `full` survives power loss; `normal` (in WAL mode)
/// survives a process crash but may lose the last commits on power loss.
public enum SynchronousMode: String, Sendable, Codable, CaseIterable {
    case full = "FULL"
    case normal = "NORMAL"
    case off = "OFF"
}

/// A stage's schema beyond the runtime's own tables. Migrations are append-only: a shipped
/// migration is never edited, a change is a new one.
public struct StageSchema: Sendable {
    public let migrations: [(String, @Sendable (Database) throws -> Void)]

    public init(_ migrations: [(String, @Sendable (Database) throws -> Void)]) {
        self.migrations = migrations
    }

    public static let empty = StageSchema([])
}

/// Opens (creating its folder) a WAL database that several instances on one host may write: a
/// busy writer is waited for, not failed on. `synchronous` is set after the pool opens, because
/// DatabasePool sets its own after `prepareDatabase`.
/// The writer's page cache, per shard.
let writerCacheKiB = 32 * 1024

func openSharedPool(path: String, synchronous: SynchronousMode) throws -> DatabasePool {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                            withIntermediateDirectories: true)
    var configuration = Configuration()
    configuration.busyMode = .timeout(30)
    let pool = try DatabasePool(path: path, configuration: configuration)
    try pool.barrierWriteWithoutTransaction { db in
        try db.execute(sql: "PRAGMA synchronous = \(synchronous.rawValue)")
        // A batch's transaction dirties thousands of pages: with SQLite's default 2 MiB cache
        // the writer spills them into the WAL mid-transaction, some of them several times.
        // The cache is a ceiling; pages are allocated as they are used.
        try db.execute(sql: "PRAGMA cache_size = -\(writerCacheKiB)")
        // Each record's savepoint keeps the pages it changes in a statement journal, which
        // SQLite writes to a temporary file past 64 KiB: keep it in memory.
        try db.execute(sql: "PRAGMA temp_store = MEMORY")
    }
    return pool
}

/// One SQLite database (WAL) holding the state of one input partition of one stage: the stage's
/// tables plus the runtime's consumed offsets, inbox and outbox. A worker writes to it in one
/// transaction per batch, so state, offsets, dedup ids and outgoing messages commit together.
///
/// Every write transaction is captured (`capture`, on unless a tool or benchmark turns it off):
/// SQLite's pre-update hook records what it changed (`ChangelogCapture`), and the transaction queues that patchset
/// as the shard's next `ChangelogRecord` before it commits; migrations run at open are queued as
/// a `schema` record. The worker takes the records (`takeCaptured`) and publishes them to the
/// stage's changelog topic before anything the transaction caused leaves.
public final class ShardStore: Sendable {
    public let partition: Int32
    public let path: String
    public let pool: DatabasePool
    /// Whether write transactions queue changelog records.
    public let capture: Bool
    /// Records committed since the last `takeCaptured`, in order.
    private let queuedRecords = Mutex<[ChangelogRecord]>([])
    /// The last record known to be in Kafka (companions wait for it, `waitUntilDurable`).
    private let durable = Mutex<Int64>(0)
    /// The highest record number handed out (set before its transaction commits).
    private let assigned = Mutex<Int64>(0)
    /// The claim new records are written under (the owner's, given at open).
    private let claimant = Mutex<ChangelogClaimant>(.none)
    /// The writer connection a capture ran on (its address), forgotten at close.
    private let capturedConnection = Mutex<UInt?>(nil)
    /// The rows the stage's decisions keep in memory between transactions (`ShardMemory`).
    public let memory = ShardMemory()

    /// The file for a stage's partition under the state directory: `<dir>/<stage>/p<partition>.sqlite`.
    public static func path(stateDirectory: String, stage: String, partition: Int32) -> String {
        "\(stateDirectory)/\(stage)/p\(partition).sqlite"
    }

    /// The files of the shard at `path`: the database and its WAL and shared-memory files.
    static let fileSuffixes = ["", "-wal", "-shm"]

    /// Moves the shard file at `path` (and its WAL and shared-memory files) out of the way, to
    /// `<path>.<reason>-<time>-<n>`, kept for inspection; returns that name.
    @discardableResult
    public static func setAside(path: String, reason: String) throws -> String {
        let aside = "\(path).\(reason)-\(Int(Date().timeIntervalSince1970))-\(UInt32.random(in: 0...UInt32.max))"
        for suffix in fileSuffixes where FileManager.default.fileExists(atPath: path + suffix) {
            try FileManager.default.moveItem(atPath: path + suffix, toPath: aside + suffix)
        }
        return aside
    }

    /// Deletes the shard file at `path` and its WAL and shared-memory files, those that exist.
    public static func remove(path: String) {
        for suffix in fileSuffixes { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    /// The shard files of `stage` under `stateDirectory`, sorted by name.
    public static func paths(stateDirectory: String, stage: String) -> [String] {
        let folder = "\(stateDirectory)/\(stage)"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0.hasPrefix("p") && $0.hasSuffix(".sqlite") }.sorted().map { "\(folder)/\($0)" }
    }

    /// Reads a shard file without migrating or writing it (tools, tests), waiting for a busy
    /// writer; safe while a worker owns the shard.
    public static func readOnly<T>(path: String, _ body: (Database) throws -> T) throws -> T {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        return try queue.read(body)
    }

    /// Every migration of a shard of `schema`, in the order they are registered: the runtime's
    /// first, then the stage's, then the changelog's (new runtime migrations go at the end, so
    /// that shards made before them apply them in the registered order too).
    public static func migrations(_ schema: StageSchema) -> [(String, @Sendable (Database) throws -> Void)] {
        RuntimeTables.migrations + schema.migrations + ChangelogTables.migrations
    }

    /// `claimant`: the claim the owner holds on the partition (read back from the log), which
    /// every record the shard has not got into Kafka yet, and every new one, is written under;
    /// nil keeps the one the file has.
    public init(path: String, partition: Int32, synchronous: SynchronousMode = .full, schema: StageSchema,
                capture: Bool = true, claimant: ChangelogClaimant? = nil) throws {
        self.path = path
        self.partition = partition
        self.capture = capture
        pool = try openSharedPool(path: path, synchronous: synchronous)
        var migrator = DatabaseMigrator()
        let migrations = Self.migrations(schema)
        for (name, migrate) in migrations { migrator.registerMigration(name, migrate: migrate) }
        let before = try pool.read { try migrator.appliedIdentifiers($0) }
        try migrator.migrate(pool)
        let ran = migrations.map(\.0).filter { !before.contains($0) }
        try pool.write { db in
            let uncaptured = capture ? try ChangelogTables.uncapturedTables(db) : []
            guard uncaptured.isEmpty else {
                throw ChangelogError("shard \(path): table(s) \(uncaptured.joined(separator: ", ")) have no primary key, so the changelog cannot carry them")
            }
            if capture, let claimant { try ChangelogTables.adopt(db, claimant) }
            // The migrations just run go in the log at this point, so a copy runs them at the same place.
            if capture && !ran.isEmpty {
                let claimant = try ChangelogTables.position(db).claimant
                try ChangelogTables.enqueue(db, ChangelogRecord(kind: .schema, txn: try ChangelogTables.nextTxn(db),
                                                                outboxBefore: try ChangelogTables.outboxSequence(db), migrations: ran,
                                                                epoch: claimant.epoch, owner: claimant.owner))
            }
        }
        let (queued, position) = try pool.read { (try ChangelogTables.queued($0), try ChangelogTables.position($0)) }
        queuedRecords.withLock { $0 = queued }
        durable.withLock { $0 = position.durableTxn }
        assigned.withLock { $0 = position.lastTxn }
        self.claimant.withLock { $0 = position.claimant }
    }

    /// The claim the shard's records are written under.
    public var currentClaimant: ChangelogClaimant { claimant.withLock { $0 } }

    /// Runs `body` in one write transaction (with the shard's memory on).
    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        let (result, record) = try pool.writeWithoutTransaction { db in
            try self.memory.transaction(db) { try self.captured(db, body) }
        }
        if let record { queuedRecords.withLock { $0.append(record) } }
        return result
    }

    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.read(body)
    }

    /// Runs `body` in one write transaction on GRDB's writer queue, off the caller's thread
    /// (a commit with `synchronous=FULL` waits for the disk).
    public func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let (result, record) = try await pool.writeWithoutTransaction { db in
            try self.memory.transaction(db) { try self.captured(db, body) }
        }
        if let record { queuedRecords.withLock { $0.append(record) } }
        return result
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.read(body)
    }

    /// `body` with a session on it, and the record it queued.
    private func captured<T>(_ db: Database, _ body: (Database) throws -> T) throws -> (T, ChangelogRecord?) {
        guard capture else { return (try body(db), nil) }
        let session = try ChangelogCapture(db, claimant: claimant.withLock { $0 })
        capturedConnection.withLock { $0 = UInt(bitPattern: db.sqliteConnection) }
        let result: T
        do { result = try body(db) } catch {
            session.cancel()
            throw error
        }
        // `finish` ends the capture whatever it returns or throws.
        let record = try session.finish(db)
        if let record { assigned.withLock { $0 = max($0, record.txn) } }
        return (result, record)
    }

    /// The records committed since the last call (at open: every record still queued), in order.
    public func takeCaptured() -> [ChangelogRecord] {
        queuedRecords.withLock { records in
            defer { records = [] }
            return records
        }
    }

    /// Kafka has every record up to `txn` (the worker says so as delivery reports come in).
    public func noteDurable(through txn: Int64) {
        durable.withLock { $0 = max($0, txn) }
    }

    public var durableTxn: Int64 { durable.withLock { $0 } }

    /// Waits until Kafka has every record committed so far: a side effect of what a read just
    /// saw (a webhook delivery queued by a transaction) must not leave before that transaction's
    /// record is durable. Returns at once without capture.
    public func waitUntilDurable() async throws {
        guard capture else { return }
        let txn = assigned.withLock { $0 }
        while durableTxn < txn {
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    public func close() throws {
        // The memory's prepared statements first, on the writer: SQLite refuses to close a
        // connection with statements left.
        try pool.writeWithoutTransaction { _ in memory.dropStatements() }
        try pool.close()
        if let address = capturedConnection.withLock({ $0 }), let connection = OpaquePointer(bitPattern: address) {
            ChangelogCapture.forget(connection: connection)
        }
    }
}
