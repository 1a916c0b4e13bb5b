import Foundation
import GRDB

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
public final class ShardStore: Sendable {
    public let partition: Int32
    public let path: String
    public let pool: DatabasePool

    /// The file for a stage's partition under the state directory: `<dir>/<stage>/p<partition>.sqlite`.
    public static func path(stateDirectory: String, stage: String, partition: Int32) -> String {
        "\(stateDirectory)/\(stage)/p\(partition).sqlite"
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

    public init(path: String, partition: Int32, synchronous: SynchronousMode = .full, schema: StageSchema) throws {
        self.path = path
        self.partition = partition
        pool = try openSharedPool(path: path, synchronous: synchronous)
        var migrator = DatabaseMigrator()
        RuntimeTables.register(in: &migrator)
        for (name, migrate) in schema.migrations { migrator.registerMigration(name, migrate: migrate) }
        try migrator.migrate(pool)
    }

    /// Runs `body` in one write transaction.
    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.write(body)
    }

    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.read(body)
    }

    /// Runs `body` in one write transaction on GRDB's writer queue, off the caller's thread
    /// (a commit with `synchronous=FULL` waits for the disk).
    public func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.write(body)
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.read(body)
    }

    public func close() throws {
        try pool.close()
    }
}
