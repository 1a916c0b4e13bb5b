import Foundation
import GRDB
import PaystreamStore
import Testing

/// Rows read by position straight from SQLite.
@Suite("column reader")
struct ColumnReaderTests {
    @Test("values read by position are the values GRDB's Row reads by name; NULLs are nil; an error names the statement")
    func reads() throws {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, amount INTEGER, note TEXT)")
            try db.execute(sql: "INSERT INTO t (id, name, amount, note) VALUES (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?)",
                           arguments: [1, "a", Int64.max, nil, 2, "é ☃ x", Int64.min, "n", 3, "", 0, ""])
            var read: [(Int64, String, Int64, String?)] = []
            try db.cachedStatement(sql: "SELECT id, name, amount, note FROM t ORDER BY id").forEachRow { row in
                read.append((row.int64(0), row.string(1), row.int64(2), row.optionalString(3)))
            }
            let rows = try Row.fetchAll(db, sql: "SELECT id, name, amount, note FROM t ORDER BY id")
            #expect(read.count == 3)
            for (mine, theirs) in zip(read, rows) {
                #expect(mine.0 == theirs["id"] && mine.1 == theirs["name"] && mine.2 == theirs["amount"] && mine.3 == theirs["note"])
            }
            #expect(read[0].3 == nil && read[2].3 == "")
            let second = try db.cachedStatement(sql: "SELECT name FROM t WHERE id = ?").fetchFirst(binding: { $0.int(2) }) { $0.string(0) }
            #expect(second == "é ☃ x")
            #expect(try db.cachedStatement(sql: "SELECT name FROM t WHERE id = ?").fetchFirst(binding: { $0.int(9) }) { $0.string(0) } == nil)
            // The statement is reset after a read: the next write sees no open read.
            try db.execute(sql: "UPDATE t SET note = 'x' WHERE id = 1")
            #expect(throws: DatabaseError.self) {
                try db.cachedStatement(sql: "SELECT abs(amount) FROM t ORDER BY id").forEachRow { _ in }
            }
        }
    }

    @Test("values bound by position are stored as GRDB's arguments store them: types, NULLs, text cut at NUL, empty blobs; constraint errors thrown")
    func binds() throws {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, amount INTEGER, note TEXT, body BLOB, UNIQUE (name))")
            let rows: [(Int64, String, Int64?, String?, Data?)] = [
                (1, "a", Int64.max, nil, Data([1, 2, 3])), (2, "é ☃ x", Int64.min, "n", Data()), (3, "", 0, "", nil),
                (4, "cut\u{0}here", nil, "x\u{0}y", Data([0, 0])),
            ]
            let insert = try db.cachedStatement(sql: "INSERT INTO t (id, name, amount, note, body) VALUES (?, ?, ?, ?, ?)")
            for row in rows {
                try insert.run { b in
                    b.int(row.0)
                    b.text(row.1)
                    b.int(row.2)
                    b.text(row.3)
                    b.blob(row.4)
                }
            }
            try db.execute(sql: "CREATE TABLE u AS SELECT * FROM t WHERE 0")
            for row in rows {
                try db.execute(sql: "INSERT INTO u (id, name, amount, note, body) VALUES (?, ?, ?, ?, ?)",
                               arguments: [row.0 + 10, row.1, row.2, row.3, row.4])
            }
            let mine = try Row.fetchAll(db, sql: "SELECT name, amount, note, body, typeof(name), typeof(amount), typeof(note), typeof(body) FROM t ORDER BY id")
            let theirs = try Row.fetchAll(db, sql: "SELECT name, amount, note, body, typeof(name), typeof(amount), typeof(note), typeof(body) FROM u ORDER BY id")
            #expect(mine == theirs)
            #expect(mine.count == 4)
            #expect(try String.fetchOne(db, sql: "SELECT name FROM t WHERE id = 4") == "cut")
            // A constraint error is thrown as GRDB throws it; the statement runs again after it.
            #expect(throws: DatabaseError.self) {
                try insert.run { b in
                    b.int(5)
                    b.text("a")
                    b.int(1)
                    b.text(nil)
                    b.blob(nil)
                }
            }
            try insert.run { b in
                b.int(5)
                b.text("b")
                b.int(1)
                b.text(nil)
                b.blob(nil)
            }
            #expect(db.changesCount == 1 && db.lastInsertedRowID == 5)
        }
    }
}
