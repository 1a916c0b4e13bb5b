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

/// A write's parameters, bound in order straight into SQLite: the hot-path writes use it
/// instead of `StatementArguments`, which boxes every value as a `DatabaseValue`, validates the
/// list against the statement and binds through a closure per value (about a third of a
/// write's cost outside SQLite). Text and blobs are bound as GRDB binds them (text up to its
/// first NUL, an empty blob as NULL).
public struct ColumnBinder {
    let statement: SQLiteStatement
    fileprivate var index: Int32 = 0

    private mutating func next() -> Int32 {
        index += 1
        return index
    }

    public mutating func null() { sqlite3_bind_null(statement, next()) }

    public mutating func int(_ value: Int64) { sqlite3_bind_int64(statement, next(), value) }

    public mutating func int(_ value: Int) { int(Int64(value)) }

    public mutating func int(_ value: Int64?) {
        guard let value else { return null() }
        int(value)
    }

    public mutating func int(_ value: Int?) { int(value.map(Int64.init)) }

    /// As GRDB stores a Bool: 1 or 0.
    public mutating func bool(_ value: Bool) { int(Int64(value ? 1 : 0)) }

    /// What SQLite keeps of `value` bound as text here: everything before its first NUL (the
    /// binding reads a C string). A memory of stored rows (`ShardMemory`) keys and keeps text
    /// in this form, so that it holds what a read of the row would give.
    public static func stored(_ value: String) -> String {
        // memchr on the string's own bytes: the UTF-8 view's generic `contains` took ~700
        // instructions for a short id, and every remembered key and row field goes through here.
        let hasNUL = value.utf8.withContiguousStorageIfAvailable { bytes in
            bytes.baseAddress.map { memchr($0, 0, bytes.count) != nil } ?? false
        } ?? value.utf8.contains(0)
        guard hasNUL else { return value }
        return String(decoding: value.utf8.prefix { $0 != 0 }, as: UTF8.self)
    }

    public mutating func text(_ value: String) {
        let index = next()
        value.withCString { sqlite3_bind_text(statement, index, $0, -1, SQLITE_TRANSIENT) }
    }

    public mutating func text(_ value: String?) {
        guard let value else { return null() }
        text(value)
    }

    public mutating func blob(_ value: Data) {
        let index = next()
        value.withUnsafeBytes { sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), SQLITE_TRANSIENT) }
    }

    public mutating func blob(_ value: Data?) {
        guard let value else { return null() }
        blob(value)
    }
}

/// SQLite copies the bound bytes (the statement outlives the Swift value).
private let SQLITE_TRANSIENT = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

extension Statement {
    /// Runs the statement (a write) once, with the parameters `bind` binds in order; every
    /// parameter must be bound. Rows it returns are not read.
    public func run(_ bind: (inout ColumnBinder) -> Void) throws {
        try checkTransaction()
        bindAll(bind)
        defer { unbind() }
        while try step() {}
    }

    /// The first row the statement returns, read with `read`; nil when it returns none. The
    /// parameters are bound by `bind` in order.
    public func fetchFirst<T>(binding bind: (inout ColumnBinder) -> Void = { _ in }, _ read: (ColumnReader) throws -> T) throws -> T? {
        try checkTransaction()
        bindAll(bind)
        defer { unbind() }
        return try step() ? try read(ColumnReader(statement: sqliteStatement)) : nil
    }

    /// Runs the statement and reads each row it returns with `read`. The parameters are bound by
    /// `bind` in order.
    public func forEachRow(binding bind: (inout ColumnBinder) -> Void = { _ in }, _ read: (ColumnReader) throws -> Void) throws {
        try checkTransaction()
        bindAll(bind)
        defer { unbind() }
        let reader = ColumnReader(statement: sqliteStatement)
        while try step() { try read(reader) }
    }

    /// Inside a shard's write transaction, as GRDB checks before each statement it runs in a
    /// transaction block: one SQLite rolled back by itself (a full disk, an I/O error) is not
    /// carried on in autocommit, each statement committing alone. These methods step their
    /// statements directly, past GRDB's own check.
    private func checkTransaction() throws {
        guard let connection = sqlite3_db_handle(sqliteStatement), ShardMemory.isWriting(on: connection),
              sqlite3_get_autocommit(connection) != 0 else { return }
        throw DatabaseError(resultCode: .SQLITE_ABORT, message: "Transaction was aborted", sql: sql)
    }

    private func bindAll(_ bind: (inout ColumnBinder) -> Void) {
        sqlite3_reset(sqliteStatement)
        var binder = ColumnBinder(statement: sqliteStatement)
        bind(&binder)
        precondition(binder.index == sqlite3_bind_parameter_count(sqliteStatement),
                     "\(binder.index) values bound for \(sqlite3_bind_parameter_count(sqliteStatement)) parameters: \(sql)")
    }

    /// Leaves the statement reset with no values bound (the bound copies released).
    private func unbind() {
        sqlite3_reset(sqliteStatement)
        sqlite3_clear_bindings(sqliteStatement)
    }
}

extension Database {
    /// The prepared statement for `sql`, a literal: inside a shard's write transaction from the
    /// shard's own cache, found by the literal's address (GRDB's `cachedStatement(sql:)` hashes
    /// the whole text, ~1.6 k instructions a look-up on the hot statements); elsewhere GRDB's.
    public func hotStatement(_ sql: StaticString) throws -> Statement {
        if sql.hasPointerRepresentation, let memory = ShardMemory.of(self) { return try memory.statement(sql, self) }
        return try cachedStatement(sql: "\(sql)")
    }
}
