import GRDB

/// An `INSERT` that writes many rows a statement: `INSERT … VALUES (…), (…), …`. A statement
/// per row costs about as much again as its row in SQLite (the statement's set-up and end, an
/// AUTOINCREMENT counter read and written, the bindings reset) and in the binding; rows written
/// together share that. Statements of `maxRows`, half that, …, 1 rows serve any count (a
/// handful of cached statements, each row bound by position with `ColumnBinder`).
public struct MultiRowInsert: Sendable {
    /// The most rows one statement carries (a power of two).
    public let maxRows: Int
    /// The statement for 1, 2, 4, … rows, by the count's binary logarithm.
    @usableFromInline let statements: [String]

    /// - Parameters:
    ///   - head: the statement up to `VALUES`, e.g. `INSERT INTO t (a, b)`.
    ///   - columns: the values a row binds.
    ///   - tail: what follows the rows, e.g. `ON CONFLICT(a) DO NOTHING`.
    public init(_ head: String, columns: Int, tail: String = "", maxRows: Int = 64) {
        precondition(maxRows > 0 && maxRows.nonzeroBitCount == 1, "maxRows must be a power of two")
        let row = "(" + repeatElement("?", count: columns).joined(separator: ", ") + ")"
        self.maxRows = maxRows
        statements = (0...maxRows.trailingZeroBitCount).map { power in
            head + " VALUES " + repeatElement(row, count: 1 << power).joined(separator: ", ") + (tail.isEmpty ? "" : " " + tail)
        }
    }

    /// Inserts `rows` in their order; `bind` binds one row's values. After each statement
    /// `written` gets the rows it carried (the database's `changesCount` and
    /// `lastInsertedRowID` are that statement's). Inlinable, so that each caller's row type is
    /// bound without generic dispatch (the hot path writes every payment's rows through here).
    @inlinable
    public func run<Row>(_ db: Database, _ rows: [Row], bind: (inout ColumnBinder, Row) -> Void,
                         written: (ArraySlice<Row>) throws -> Void = { _ in }) throws {
        var start = 0
        while start < rows.count {
            let size = 1 << (Int.bitWidth - 1 - min(rows.count - start, maxRows).leadingZeroBitCount)
            let chunk = rows[start..<start + size]
            try db.cachedStatement(sql: statements[size.trailingZeroBitCount]).run { binder in
                for row in chunk { bind(&binder, row) }
            }
            try written(chunk)
            start += size
        }
    }
}
