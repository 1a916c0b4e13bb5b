import GRDB
import Synchronization

/// The rows a shard's decisions read again and again (ledger accounts and holds, payments in
/// flight, daily totals), kept in memory between the shard's write transactions; SQLite stays
/// their durable form and the only source of truth.
///
/// A row is remembered when a decision reads it or writes it (`remember`), always through the
/// typed store method that reads or writes the table, never by the decision itself. What a
/// transaction remembers is kept apart and becomes the shard's memory only once the transaction
/// has committed; a transaction that rolls back leaves the memory as it was, a savepoint rolled
/// back (`RuntimeTables.inRecordSavepoint`) empties it. Every transaction first asks SQLite
/// whether another connection wrote the file since (`PRAGMA data_version`: a second process on
/// the same state directory, a tool): if so, the memory is emptied before anything is read.
///
/// The memory exists only inside `ShardStore.write` (`of(_:)` is nil elsewhere: tools, tests on
/// plain queues, restores), so a write anywhere else never meets a remembered row. A stage that
/// writes a remembered table must do so through the same typed methods.
public final class ShardMemory: Sendable {
    /// A table whose rows are remembered, with the type a row is kept as: a small number of the
    /// stage's choosing (one per table, below 64).
    public struct Table<Value: Sendable>: Sendable {
        public let id: Int
        public init(_ id: Int) {
            precondition(id >= 0 && id < 64, "a memory table id is below 64")
            self.id = id
        }
    }

    /// One table's rows: what the shard committed, and what the running transaction read or wrote
    /// (nil: the row is known not to exist).
    @usableFromInline
    class AnyRows {
        var count: Int { 0 }
        func commit() {}
        func discardPending() {}
        func clear() {}
    }

    @usableFromInline
    final class Rows<Value>: AnyRows {
        @usableFromInline var committed: [String: Value?] = [:]
        @usableFromInline var pending: [String: Value?] = [:]
        @usableFromInline override init() {}
        override var count: Int { committed.count + pending.count }
        override func commit() {
            committed.merge(pending) { _, new in new }
            pending.removeAll(keepingCapacity: true)
        }
        override func discardPending() { pending.removeAll(keepingCapacity: true) }
        override func clear() {
            committed.removeAll()
            pending.removeAll()
        }
    }

    @usableFromInline
    struct State {
        @usableFromInline var tables = [AnyRows?](repeating: nil, count: 64)
        /// `PRAGMA data_version` as this connection last saw it (nil before the first transaction).
        var dataVersion: Int64?
        @usableFromInline var hits = 0
        @usableFromInline var misses = 0

        @usableFromInline
        mutating func rows<Value>(_ table: Table<Value>) -> Rows<Value> {
            if let rows = tables[table.id] { return unsafeDowncast(rows, to: Rows<Value>.self) }
            let rows = Rows<Value>()
            tables[table.id] = rows
            return rows
        }

        mutating func each(_ body: (AnyRows) -> Void) {
            for case let rows? in tables { body(rows) }
        }
    }

    @usableFromInline
    let state = Mutex(State())
    /// The most rows kept; past it the memory starts again empty (a shard's working set is its
    /// payers' accounts and the payments in flight, far below this).
    let capacity: Int

    public init(capacity: Int = 200_000) {
        self.capacity = capacity
    }

    // MARK: the writer connection

    private static let active = Mutex<[UInt: ShardMemory]>([:])

    /// The memory of the shard whose write transaction runs on `db`, or nil outside one.
    public static func of(_ db: Database) -> ShardMemory? {
        guard let connection = db.sqliteConnection else { return nil }
        let address = UInt(bitPattern: connection)
        return active.withLock { $0[address] }
    }

    /// Runs `body` as one write transaction of the shard with the memory on: checks first that
    /// no other connection wrote the file since the last one, keeps what the transaction
    /// remembered if it commits, drops it if it does not.
    func transaction<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        let address = UInt(bitPattern: db.sqliteConnection!)
        var result: T?
        do {
            // IMMEDIATE: the write lock is held from BEGIN, so the version read next is the
            // file's for the whole transaction (no other connection commits before it ends).
            try db.inTransaction(.immediate) {
                let version = try Int64.fetchOne(db.cachedStatement(sql: "PRAGMA data_version")) ?? 0
                state.withLock { state in
                    let changed = state.dataVersion != version
                    state.dataVersion = version
                    state.each { changed ? $0.clear() : $0.discardPending() }
                }
                Self.active.withLock { $0[address] = self }
                defer { Self.active.withLock { _ = $0.removeValue(forKey: address) } }
                result = try body()
                return .commit
            }
        } catch {
            state.withLock { $0.each { $0.discardPending() } }
            throw error
        }
        state.withLock { state in
            var total = 0
            state.each { total += $0.count }
            let full = total > capacity
            state.each { rows in
                if full { rows.clear() } else { rows.commit() }
            }
        }
        return result!
    }

    /// A savepoint of the running transaction was rolled back: what it remembered may be gone
    /// from the database, and so may be rows written before it that the memory took in. Forgets
    /// everything; the rest of the transaction reads from SQLite again.
    func savepointRolledBack() {
        state.withLock { $0.each { $0.clear() } }
    }

    // MARK: rows

    /// What is remembered of the row `key` of `table`: nil when nothing is (read SQLite), `.some(nil)`
    /// when the row is known not to exist.
    @inlinable
    public func row<Value: Sendable>(_ table: Table<Value>, _ key: String) -> Value?? {
        state.withLock { state in
            let rows = state.rows(table)
            guard let found = rows.pending[key] ?? rows.committed[key] else {
                state.misses += 1
                return nil
            }
            state.hits += 1
            return .some(found)
        }
    }

    /// Remembers the row `key` of `table` as it now is in the transaction (nil: not there); the
    /// shard's memory has it once the transaction commits.
    @inlinable
    public func remember<Value: Sendable>(_ table: Table<Value>, _ key: String, _ value: Value?) {
        state.withLock { state in
            state.rows(table).pending[key] = .some(value)
        }
    }

    /// Changes the remembered row `key` of `table` as a write in the transaction changed it, or
    /// forgets it if the memory does not have it (the write's result is then unknown here).
    @inlinable
    public func update<Value: Sendable>(_ table: Table<Value>, _ key: String, _ change: (Value) -> Value) {
        state.withLock { state in
            let rows = state.rows(table)
            if case let value?? = rows.pending[key] ?? rows.committed[key] {
                rows.pending[key] = .some(change(value))
            } else {
                rows.pending[key] = nil
                rows.committed[key] = nil
            }
        }
    }

    /// Forgets the row `key` of `table` (a write whose result the caller does not know).
    @inlinable
    public func forget<Value: Sendable>(_ table: Table<Value>, _ key: String) {
        state.withLock { state in
            let rows = state.rows(table)
            rows.pending[key] = nil
            rows.committed[key] = nil
        }
    }

    /// Reads answered from memory and from SQLite since the shard opened.
    public var counts: (hits: Int, misses: Int) { state.withLock { ($0.hits, $0.misses) } }
}
