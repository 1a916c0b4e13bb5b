import CSQLiteSession
import GRDBSQLite

/// Settings SQLite takes once per process, before its first connection.
public enum SQLiteProcess {
    /// Turns off SQLite's memory statistics, which take a process-wide mutex on every allocation
    /// and free SQLite makes (about 800 of each a payment over the four stages: ~3 % of their
    /// instructions). Nothing here reads them (`sqlite3_memory_used`, a soft heap limit).
    /// Call it first thing in `main`, while nothing else uses SQLite (sqlite3_config is not
    /// thread-safe); true if it took, false if SQLite was already initialized (then nothing
    /// changed).
    @discardableResult
    public static func prepare() -> Bool {
        ps_sqlite_memory_statistics_off() == SQLITE_OK
    }
}
