import Foundation
import GRDB
import PaystreamStore
import PaystreamTesting
import Testing

/// The changelog's capture (SQLite's pre-update hook, folded into a patchset at commit) against
/// what the database really holds: random transactions of inserts, updates (a key changed too),
/// deletes, rows deleted and inserted again, upserts, multi-row statements, constraint failures
/// and savepoints rolled back, nested or not, on rowid, composite-key, WITHOUT ROWID and
/// AUTOINCREMENT tables, one of them altered after rows were written. A copy restored from the
/// records must equal the original, row for row and type for type.
@Suite("Shard changelog: the capture against the database")
struct ChangelogCaptureTests {
    static let schema = StageSchema([
        ("capture-test-v1", { db in
            try db.execute(sql: """
                CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT UNIQUE, amount INTEGER NOT NULL, rate REAL, data BLOB);
                CREATE TABLE pairs (a TEXT NOT NULL, b INTEGER NOT NULL, note TEXT, PRIMARY KEY (b, a));
                CREATE TABLE keyed (k TEXT PRIMARY KEY, v TEXT, n INTEGER) WITHOUT ROWID;
                CREATE TABLE counters (name TEXT PRIMARY KEY, total INTEGER NOT NULL DEFAULT 0);
                CREATE TABLE numbered (id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT);
                INSERT INTO items (id, name, amount, rate, data) VALUES (1, 'first', 10, 0.5, x'00ff');
                """)
        }),
        // Rows written before this have one field fewer on disk than the table has columns.
        ("capture-test-v2", { db in
            try db.execute(sql: "ALTER TABLE items ADD COLUMN extra TEXT NOT NULL DEFAULT 'plain'")
        }),
    ])

    struct Rollback: Error {}

    static func text(_ random: inout SeededRandom) -> String {
        random.weighted([("n\(Int.random(in: 0..<12, using: &random))", 6), ("é—\u{0}z", 1), ("", 1), (String(repeating: "long ", count: 40), 1)])
    }

    static func value(_ random: inout SeededRandom) -> DatabaseValue {
        random.weighted([
            (Int64.random(in: -1_000_000...1_000_000, using: &random).databaseValue, 4),
            (Double.random(in: -10...10, using: &random).databaseValue, 2),
            (text(&random).databaseValue, 2),
            (Data((0..<Int.random(in: 0..<6, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }).databaseValue, 1),
            (DatabaseValue.null, 1),
        ])
    }

    /// One random statement; constraint failures are expected (the caller's savepoint takes them).
    static func change(_ db: Database, _ random: inout SeededRandom) throws {
        let id = Int64.random(in: 1...30, using: &random)
        switch Int.random(in: 0..<14, using: &random) {
        case 0, 1:
            try db.execute(sql: "INSERT INTO items (id, name, amount, rate, data) VALUES (?, ?, ?, ?, ?)",
                           arguments: [id, random.chance(0.5) ? text(&random) : nil, Int64.random(in: 0...99, using: &random), value(&random), value(&random)])
        case 2:
            try db.execute(sql: "UPDATE items SET amount = amount + ?, rate = ? WHERE id = ?", arguments: [Int64.random(in: 1...5, using: &random), value(&random), id])
        case 3:
            try db.execute(sql: "UPDATE items SET name = ?, extra = ? WHERE id = ?", arguments: [text(&random), text(&random), id])
        case 4:
            try db.execute(sql: "UPDATE items SET id = ? WHERE id = ?", arguments: [Int64.random(in: 1...30, using: &random), id])
        case 5:
            try db.execute(sql: "DELETE FROM items WHERE id = ?", arguments: [id])
        case 6:
            try db.execute(sql: "UPDATE items SET amount = amount * 2 WHERE id % 3 = ?", arguments: [id % 3])
        case 7:
            try db.execute(sql: "DELETE FROM items WHERE id = ?", arguments: [id])
            try db.execute(sql: "INSERT INTO items (id, name, amount, data) VALUES (?, ?, 7, ?)", arguments: [id, text(&random), value(&random)])
        case 8:
            try db.execute(sql: "INSERT INTO pairs (a, b, note) VALUES (?, ?, ?)", arguments: [text(&random), id % 4, value(&random)])
        case 9:
            try db.execute(sql: "UPDATE pairs SET note = ?, a = ? WHERE b = ?", arguments: [value(&random), text(&random), id % 4])
        case 10:
            try db.execute(sql: "DELETE FROM pairs WHERE b = ?", arguments: [id % 4])
        case 11:
            try db.execute(sql: """
                INSERT INTO keyed (k, v, n) VALUES (?, ?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v, n = n + 1
                """, arguments: ["k\(id % 7)", value(&random), id])
            if random.chance(0.3) { try db.execute(sql: "DELETE FROM keyed WHERE k = ?", arguments: ["k\(id % 5)"]) }
        case 12:
            try db.execute(sql: """
                INSERT INTO counters (name, total) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET total = total + 1
                """, arguments: ["c\(id % 3)"])
        default:
            try db.execute(sql: "INSERT INTO numbered (payload) VALUES (?)", arguments: [text(&random)])
            if random.chance(0.2) { try db.execute(sql: "DELETE FROM numbered WHERE id = (SELECT max(id) FROM numbered)") }
        }
    }

    /// A change in a savepoint: kept, or rolled back (by a failure or on purpose), sometimes with
    /// a savepoint inside it.
    static func step(_ db: Database, _ random: inout SeededRandom, depth: Int = 0) {
        let discard = random.chance(0.25)
        var inner = random
        do {
            try RuntimeTables.inRecordSavepoint(db) {
                try change(db, &inner)
                if depth < 2 && inner.chance(0.3) { step(db, &inner, depth: depth + 1) }
                if depth < 2 && inner.chance(0.2) { step(db, &inner, depth: depth + 1) }
                if discard { throw Rollback() }
            }
        } catch {}
        random = inner
    }

    @Test("random transactions with savepoints and failures: the copy restored from the records equals the original", arguments: [1, 2, 3, 4] as [UInt64])
    func restoredEqualsOriginal(seed: UInt64) throws {
        let folder = try temporaryDirectory("changelog-capture")
        var random = SeededRandom(seed: seed)
        let shard = try ShardStore(path: "\(folder)/original.sqlite", partition: 0, schema: Self.schema)
        var records = shard.takeCaptured()
        for _ in 0..<80 {
            let steps = Int.random(in: 1...12, using: &random)
            var inner = random
            try shard.write { db in
                for _ in 0..<steps { Self.step(db, &inner) }
            }
            random = inner
            records += shard.takeCaptured()
        }
        try shard.close()
        #expect(records.filter { $0.kind == .transaction }.count > 40, "most transactions changed something")

        let copy = try ShardRestore(path: "\(folder)/copy.sqlite", schema: Self.schema)
        #expect(try copy.apply(records, logNextOffset: Int64(records.count)) == records.count)
        try copy.close()
        let original = try ShardDump.of(path: "\(folder)/original.sqlite")
        #expect(original.rowCount > 20)
        #expect(try ShardDump.of(path: "\(folder)/copy.sqlite").differences(from: original) == [])
        // The counters too: a restored copy never hands out a number twice.
        let sequences = try ShardStore.readOnly(path: "\(folder)/copy.sqlite") { try Int64.fetchOne($0, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'numbered'") }
        let originalSequences = try ShardStore.readOnly(path: "\(folder)/original.sqlite") { try Int64.fetchOne($0, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'numbered'") }
        #expect(sequences == originalSequences)
    }

    @Test("a statement that failed after changing rows, its error swallowed outside any savepoint: the transaction is refused, not recorded wrong")
    func swallowedFailure() throws {
        let folder = try temporaryDirectory("changelog-capture-refused")
        let shard = try ShardStore(path: "\(folder)/original.sqlite", partition: 0, schema: Self.schema)
        _ = shard.takeCaptured()
        #expect(throws: ChangelogError.self) {
            try shard.write { db in
                try db.execute(sql: "INSERT INTO counters (name) VALUES ('kept')")
                // The first row goes in, the second breaks `name`'s uniqueness: the statement's rows are undone.
                _ = try? db.execute(sql: "INSERT INTO items (id, name, amount) VALUES (50, 'same', 1), (51, 'same', 2)")
            }
        }
        #expect(shard.takeCaptured().isEmpty)
        // The same failure inside a savepoint is fine, and the shard goes on capturing.
        try shard.write { db in
            try db.execute(sql: "INSERT INTO counters (name) VALUES ('kept')")
            _ = try? RuntimeTables.inRecordSavepoint(db) {
                try db.execute(sql: "INSERT INTO items (id, name, amount) VALUES (50, 'same', 1), (51, 'same', 2)")
            }
        }
        #expect(shard.takeCaptured().map(\.kind) == [.transaction])
        let rows = try shard.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM items WHERE id >= 50") }
        #expect(rows == 0)
        try shard.close()
    }
}
