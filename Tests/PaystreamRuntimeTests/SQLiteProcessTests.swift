import GRDB
import PaystreamStore
import PaystreamTesting
import Testing

/// `SQLiteProcess.prepare` is for the start of `main`; called once SQLite is in use (as here: the
/// test process has opened databases) it must change nothing and say so.
@Suite("SQLite process settings")
struct SQLiteProcessTests {
    @Test("once SQLite is initialized, prepare refuses (false) and connections work as before")
    func afterInitialization() throws {
        let folder = try temporaryDirectory("sqlite-process")
        let queue = try DatabaseQueue(path: "\(folder)/a.sqlite")
        try queue.write { try $0.execute(sql: "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'one')") }
        #expect(SQLiteProcess.prepare() == false)
        try queue.write { try $0.execute(sql: "INSERT INTO t VALUES (2, 'two')") }
        #expect(try queue.read { try String.fetchAll($0, sql: "SELECT v FROM t ORDER BY k") } == ["one", "two"])
        try queue.close()
    }
}
