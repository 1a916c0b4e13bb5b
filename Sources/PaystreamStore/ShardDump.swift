import Foundation
import GRDB

/// Every row of every table a shard's changelog carries (all but the local `changelog_` tables),
/// sorted, for comparing two copies of a shard: a restored one and its original.
public struct ShardDump: Sendable, Equatable {
    /// Table → its rows, each rendered as text, sorted.
    public var tables: [String: [String]]

    public init(_ db: Database) throws {
        var tables: [String: [String]] = [:]
        let names = try String.fetchAll(db, sql: """
            SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'changelog_%' ORDER BY name
            """)
        for name in names {
            let quoted = "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            tables[name] = try Row.fetchAll(db, sql: "SELECT * FROM \(quoted)").map { row in
                row.columnNames.map { column in "\(column)=\(Self.render(row[column] as DatabaseValue))" }.joined(separator: "|")
            }.sorted()
        }
        self.tables = tables
    }

    public static func of(path: String) throws -> ShardDump {
        try ShardStore.readOnly(path: path) { try ShardDump($0) }
    }

    /// Where `other` differs from this dump, a line per table (empty when they are equal).
    public func differences(from other: ShardDump) -> [String] {
        var lines: [String] = []
        for table in Set(tables.keys).union(other.tables.keys).sorted() {
            let mine = tables[table], theirs = other.tables[table]
            guard mine != theirs else { continue }
            guard let mine, let theirs else {
                lines.append("\(table): only in \(mine == nil ? "the second" : "the first")")
                continue
            }
            let onlyMine = Set(mine).subtracting(theirs), onlyTheirs = Set(theirs).subtracting(mine)
            lines.append("\(table): \(mine.count) rows against \(theirs.count); \(onlyMine.count) only in the first, \(onlyTheirs.count) only in the second"
                + (onlyMine.sorted().first.map { "; e.g. \($0)" } ?? onlyTheirs.sorted().first.map { "; e.g. \($0)" } ?? ""))
        }
        return lines
    }

    /// Rows of all tables.
    public var rowCount: Int { tables.values.reduce(0) { $0 + $1.count } }

    private static func render(_ value: DatabaseValue) -> String {
        switch value.storage {
        case .null: "NULL"
        case .int64(let number): String(number)
        case .double(let number): String(number)
        case .string(let text): "'" + text + "'"
        case .blob(let data): "x'" + data.map { String(format: "%02x", $0) }.joined() + "'"
        }
    }
}
