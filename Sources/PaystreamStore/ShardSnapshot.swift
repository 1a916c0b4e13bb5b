import Crypto
import Foundation
import GRDB

/// What a published snapshot of a shard is: which changelog position it covers, under which
/// claim, its schema, and how to check the bytes (`<stage>.snapshots`, one per shard partition;
/// the chunks go first, the manifest last, so a manifest only follows whole snapshots).
public struct SnapshotManifest: Sendable, Codable, Equatable {
    /// Unique per snapshot: `<partition>-<txn>-<epoch>-<random>`.
    public var id: String
    public var partition: Int32
    /// The last changelog record the copy holds (confirmed in the log before it was published).
    public var txn: Int64
    /// A changelog offset to read the tail from: at or before the record after `txn`.
    public var logNextOffset: Int64
    /// The claim the copy's records were written under: the fence a restore reads on with.
    public var epoch: Int64
    public var owner: String
    /// The migrations the copy has run, in order (its schema version).
    public var migrations: [String]
    /// The copy's size in bytes and SHA-256 (hex).
    public var size: Int64
    public var sha256: String
    /// Chunk messages before the manifest.
    public var chunks: Int
    public var createdAt: Date
    /// The instance that took it (for operators).
    public var instance: String

    public init(id: String, partition: Int32, txn: Int64, logNextOffset: Int64, epoch: Int64, owner: String, migrations: [String],
                size: Int64, sha256: String, chunks: Int, createdAt: Date, instance: String) {
        self.id = id
        self.partition = partition
        self.txn = txn
        self.logNextOffset = logNextOffset
        self.epoch = epoch
        self.owner = owner
        self.migrations = migrations
        self.size = size
        self.sha256 = sha256
        self.chunks = chunks
        self.createdAt = createdAt
        self.instance = instance
    }

    public var claimant: ChangelogClaimant { ChangelogClaimant(epoch: epoch, owner: owner) }

    enum CodingKeys: String, CodingKey {
        case id, partition, txn, logNextOffset = "log_next_offset", epoch, owner, migrations, size, sha256, chunks
        case createdAt = "created_at", instance
    }

    public func encoded() -> String {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    public static func decode(_ text: String) throws -> SnapshotManifest {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(SnapshotManifest.self, from: Data(text.utf8))
    }
}

/// A consistent copy of a shard file, and putting one in place of a shard.
public enum ShardSnapshot {
    /// What a copy holds, read from the copy itself.
    public struct Taken: Sendable, Equatable {
        public var path: String
        public var position: ChangelogPosition
        public var migrations: [String]
        public var size: Int64
        public var sha256: String
    }

    /// Copies the shard at `source` into `target` (replaced if present) with `VACUUM INTO` on a
    /// read-only connection: one read transaction, so the copy is the shard after one commit,
    /// taken beside a writer (WAL) without holding it. The copy is compacted (no free pages).
    public static func take(from source: String, into target: String) throws -> Taken {
        removeFiles(at: target)
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(30)
        let queue = try DatabaseQueue(path: source, configuration: configuration)
        defer { try? queue.close() }
        // (VACUUM refuses to run inside a transaction; it makes its own read transaction.)
        try queue.inDatabase { db in try db.execute(sql: "VACUUM INTO ?", arguments: [target]) }
        let (position, migrations) = try describe(target)
        let (size, digest) = try checksum(of: target)
        return Taken(path: target, position: position, migrations: migrations, size: size, sha256: digest)
    }

    /// The changelog position and applied migrations of a copy.
    public static func describe(_ path: String) throws -> (ChangelogPosition, [String]) {
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        return try queue.inDatabase { db in
            let migrations = try db.tableExists("grdb_migrations")
                ? try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid") : []
            return (try ChangelogTables.position(db), migrations)
        }
    }

    /// The size and SHA-256 (hex) of a file, read in 1 MiB pieces.
    public static func checksum(of path: String) throws -> (size: Int64, sha256: String) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ChangelogError("cannot read \(path)") }
        defer { try? handle.close() }
        var hash = SHA256()
        var size: Int64 = 0
        while let piece = try handle.read(upToCount: 1 << 20), !piece.isEmpty {
            hash.update(data: piece)
            size += Int64(piece.count)
        }
        return (size, hash.finalize().map { String(format: "%02x", $0) }.joined())
    }

    /// Checks a downloaded copy against its manifest and the migrations this binary knows
    /// (`known`, in order), then makes it the shard file at `path` (whose old file, if any, must
    /// already be out of the way): the copy's local changelog state is set to the manifest's
    /// position (everything confirmed through `txn`, the tail read from `logNextOffset` under
    /// its claim), its queue emptied, and it is moved into place. Throws, leaving `path` alone,
    /// when the copy is not what the manifest says.
    public static func install(_ copy: String, manifest: SnapshotManifest, known: [String], at path: String) throws {
        let (size, digest) = try checksum(of: copy)
        guard size == manifest.size, digest == manifest.sha256 else {
            throw ChangelogError("snapshot \(manifest.id): \(size) bytes with SHA-256 \(digest.prefix(12))…, the manifest says \(manifest.size) bytes, \(manifest.sha256.prefix(12))…")
        }
        let unknown = manifest.migrations.filter { !known.contains($0) }
        guard unknown.isEmpty else {
            throw ChangelogError("snapshot \(manifest.id) was made by a newer version (migrations \(unknown.joined(separator: ", ")) are unknown here)")
        }
        let queue = try DatabaseQueue(path: copy)
        do {
            try queue.inDatabase { db in
                let check = try String.fetchAll(db, sql: "PRAGMA quick_check")
                guard check == ["ok"] else { throw ChangelogError("snapshot \(manifest.id) is not a sound database: \(check.prefix(3).joined(separator: "; "))") }
                let (position, migrations) = (try ChangelogTables.position(db),
                                              try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid"))
                guard position.lastTxn == manifest.txn, migrations == manifest.migrations else {
                    throw ChangelogError("snapshot \(manifest.id) holds record \(position.lastTxn) and \(migrations.count) migrations, the manifest says \(manifest.txn) and \(manifest.migrations.count)")
                }
                try db.inTransaction {
                    try db.execute(sql: "DELETE FROM changelog_queue")
                    try db.execute(sql: "UPDATE changelog_state SET last_txn = ?, durable_txn = ?, log_next_offset = ?",
                                   arguments: [manifest.txn, manifest.txn, manifest.logNextOffset])
                    try ChangelogTables.storeClaimant(db, manifest.claimant)
                    return .commit
                }
            }
            try queue.close()
        } catch {
            try? queue.close()
            throw error
        }
        ShardStore.remove(path: path)
        try FileManager.default.moveItem(atPath: copy, toPath: path)
    }

    /// Removes a copy and whatever SQLite kept beside it (`-wal`, `-shm`, `-journal`).
    public static func removeFiles(at path: String) {
        for suffix in ShardStore.fileSuffixes + ["-journal"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
}
