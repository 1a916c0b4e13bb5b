import Foundation
import GRDB
import GRDBSQLite

/// The current row of a statement, read by column position straight from SQLite. The hot-path
/// readers use it instead of GRDB's `Row`, which builds a table of lowercased column names for
/// every fetch and lowercases and compares names on every lookup (about a tenth of a decision's
/// instructions once). Its statements name their columns in the order the reader reads them.
public struct ColumnReader {
    let statement: SQLiteStatement

    public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }

    public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }

    public func int(_ column: Int32) -> Int { Int(sqlite3_column_int64(statement, column)) }

    public func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }

    public func optionalInt(_ column: Int32) -> Int? { isNull(column) ? nil : int(column) }

    /// Text as UTF-8 (an integer or real column reads as SQLite renders it; NULL as "").
    public func string(_ column: Int32) -> String {
        guard let text = sqlite3_column_text(statement, column) else { return "" }
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    public func optionalString(_ column: Int32) -> String? { isNull(column) ? nil : string(column) }
}

extension Statement {
    /// Runs the statement with `arguments` and reads each row it returns with `read`.
    public func forEachRow(arguments: StatementArguments, _ read: (ColumnReader) throws -> Void) throws {
        try setArguments(arguments)
        defer { sqlite3_reset(sqliteStatement) }
        let reader = ColumnReader(statement: sqliteStatement)
        while try step() { try read(reader) }
    }

    /// The first row the statement returns, read with `read`; nil when it returns none.
    public func fetchFirst<T>(arguments: StatementArguments, _ read: (ColumnReader) throws -> T) throws -> T? {
        try setArguments(arguments)
        defer { sqlite3_reset(sqliteStatement) }
        return try step() ? try read(ColumnReader(statement: sqliteStatement)) : nil
    }

    /// Steps the statement: true at a row, false when it is done.
    private func step() throws -> Bool {
        switch sqlite3_step(sqliteStatement) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code:
            throw DatabaseError(resultCode: ResultCode(rawValue: code),
                                message: String(cString: sqlite3_errmsg(sqlite3_db_handle(sqliteStatement))), sql: sql)
        }
    }
}
