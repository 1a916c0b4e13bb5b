import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire

/// One value of a compacted reference topic as the store keeps it: the bytes of the record that
/// set it (nil once a tombstone deleted the key) and where that record sits in the topic.
public struct StoredReferenceValue: Sendable, Equatable {
    public var topic: String
    public var key: String
    /// nil: deleted by a tombstone (kept so an older record cannot bring the key back).
    public var value: Data?
    public var partition: Int32
    public var offset: Int64

    public init(topic: String, key: String, value: Data?, partition: Int32, offset: Int64) {
        self.topic = topic
        self.key = key
        self.value = value
        self.partition = partition
        self.offset = offset
    }
}

/// A stage's local copy of the reference topics it reads in full:
/// `<state_dir>/<stage>/reference.sqlite` (WAL), one row per (topic, key) with the value and the
/// offset of the record that set it, and the next offset to read per partition.
///
/// Several instances on one host may share the file, each reading the topics itself and writing
/// what it read. Writes are therefore guarded by offset: a value is replaced only by a record
/// with a higher offset in the same partition, and a partition's progress only moves forward, so
/// a lagging instance never rolls the file back. Values and progress are written in one
/// transaction, so whatever progress the file shows, it holds every value before it.
public final class ReferenceStore: Sendable {
    public let path: String
    private let pool: DatabasePool

    /// `<state_dir>/<stage>/reference.sqlite`.
    public static func path(stateDirectory: String, stage: String) -> String {
        "\(stateDirectory)/\(stage)/reference.sqlite"
    }

    public init(path: String, synchronous: SynchronousMode = .full) throws {
        self.path = path
        // Other instances on this host write the same file.
        pool = try openSharedPool(path: path, synchronous: synchronous)
        var migrator = DatabaseMigrator()
        Self.register(in: &migrator)
        do {
            try migrator.migrate(pool)
        } catch {
            // Two instances starting together may both try the first migration; the loser's
            // transaction rolled back, and a second look finds the winner's tables.
            try migrator.migrate(pool)
        }
    }

    static func register(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("reference-v1") { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS reference_value (
                    topic TEXT NOT NULL,
                    key TEXT NOT NULL,
                    value BLOB,
                    partition INTEGER NOT NULL,
                    offset INTEGER NOT NULL,
                    updated_at TEXT NOT NULL,
                    PRIMARY KEY (topic, key)
                );
                CREATE TABLE IF NOT EXISTS reference_progress (
                    topic TEXT NOT NULL,
                    partition INTEGER NOT NULL,
                    next_offset INTEGER NOT NULL,
                    updated_at TEXT NOT NULL,
                    PRIMARY KEY (topic, partition)
                );
                """)
        }
    }

    /// Stores values (in order) and the progress reached, in one transaction. A value whose
    /// key holds a record of a higher or equal offset in the same partition is ignored, and so is
    /// progress behind the stored one.
    public func save(_ values: [StoredReferenceValue], progress: [String: [Int32: Int64]], now: Date) async throws {
        guard !values.isEmpty || !progress.isEmpty else { return }
        let stamp = Wire.timestamp(now)
        try await pool.write { db in
            let upsert = try db.makeStatement(sql: """
                INSERT INTO reference_value (topic, key, value, partition, offset, updated_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(topic, key) DO UPDATE SET
                    value = excluded.value, partition = excluded.partition, offset = excluded.offset,
                    updated_at = excluded.updated_at
                WHERE excluded.offset > reference_value.offset OR excluded.partition <> reference_value.partition
                """)
            for value in values {
                try upsert.execute(arguments: [value.topic, value.key, value.value, value.partition, value.offset, stamp])
            }
            let advance = try db.makeStatement(sql: """
                INSERT INTO reference_progress (topic, partition, next_offset, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT(topic, partition) DO UPDATE SET next_offset = excluded.next_offset, updated_at = excluded.updated_at
                WHERE excluded.next_offset > reference_progress.next_offset
                """)
            for (topic, partitions) in progress {
                for (partition, next) in partitions {
                    try advance.execute(arguments: [topic, partition, next, stamp])
                }
            }
        }
    }

    /// Every stored value of `topics`, deleted keys included (value nil), by topic and key.
    public func values(topics: [String]) async throws -> [StoredReferenceValue] {
        let wanted = Set(topics)
        return try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT topic, key, value, partition, offset FROM reference_value ORDER BY topic, key")
                .map { row in
                    StoredReferenceValue(topic: row["topic"], key: row["key"], value: row["value"],
                                         partition: row["partition"], offset: row["offset"])
                }
                .filter { wanted.contains($0.topic) }
        }
    }

    /// How many keys each topic holds (deleted keys not counted).
    public func keyCounts(topics: [String]) async throws -> [String: Int] {
        let wanted = Set(topics)
        return try await pool.read { db in
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT topic, count(*) AS n FROM reference_value WHERE value IS NOT NULL GROUP BY topic")
            where wanted.contains(row["topic"]) {
                counts[row["topic"]] = row["n"]
            }
            return counts
        }
    }

    /// The next offset to read per topic and partition.
    public func progress() async throws -> [String: [Int32: Int64]] {
        try await pool.read { db in
            var result: [String: [Int32: Int64]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT topic, partition, next_offset FROM reference_progress") {
                result[row["topic"], default: [:]][row["partition"]] = row["next_offset"]
            }
            return result
        }
    }

    public func close() throws {
        try pool.close()
    }
}
