import Foundation
import GRDB
import Synchronization

/// The rows a shard's decisions read again and again, kept in memory between the shard's write
/// transactions; SQLite stays their durable form and the only source of truth: the ledger's
/// account and hold rows and its FX carry (`LedgerTables`, tables 1–3), and the payment stage's
/// payments (`PaymentTables`, 4).
///
/// A row is remembered when a decision reads it or writes it (`remember`), always through the
/// typed store method that reads or writes the table, never by the decision itself. What a
/// transaction changes in the memory is logged with what it replaced: a commit keeps it, a
/// transaction that rolls back puts the memory back as it was, a savepoint rolled back
/// (`RuntimeTables.inRecordSavepoint`) empties it. Every transaction first asks SQLite
/// whether another connection wrote the file since (`PRAGMA data_version`: a second process on
/// the same state directory, a tool): if so, the memory is emptied before anything is read.
///
/// Keys are kept as SQLite keeps them (`ColumnBinder.stored`: text up to its first NUL), so that
/// two keys SQLite cannot tell apart are one row here too; rows are kept as stored.
///
/// The memory exists only inside `ShardStore.write` (`of(_:)` is nil elsewhere: tools, tests on
/// plain queues, restores), so a write anywhere else never meets a remembered row. A stage that
/// writes a remembered table must do so through the same typed methods.
public final class ShardMemory: Sendable {
    /// A table whose rows are remembered, with the type a row is kept as: a small number (below
    /// 64), one per table and never the same for two row types in one process (the memory finds
    /// a table's rows by it).
    public struct Table<Value: Sendable>: Sendable {
        public let id: Int
        /// The most rows of this table kept (nil: only the memory's own capacity); past it the
        /// table starts again empty when a transaction commits. For tables of large rows that
        /// are read for a while after they are written (payments), not for ever.
        public let limit: Int?
        public init(_ id: Int, limit: Int? = nil) {
            precondition(id >= 0 && id < 64, "a memory table id is below 64")
            self.id = id
            self.limit = limit
        }
    }

    /// One table's rows, and an undo log of what the running transaction changed: a commit only
    /// empties the log, a rollback puts the rows it names back as they were.
    @usableFromInline
    class AnyRows {
        var count: Int { 0 }
        var overLimit: Bool { false }
        func commit() {}
        func rollBack() {}
        func clear() {}
    }

    @usableFromInline
    final class Rows<Value>: AnyRows {
        /// By key: the row (nil: known not to exist).
        @usableFromInline var rows: [String: Value?] = [:]
        /// Each change of the running transaction: the key and what it held before (nil: nothing).
        @usableFromInline var undo: [(String, Value??)] = []
        let limit: Int
        @usableFromInline init(limit: Int?) { self.limit = limit ?? .max }
        override var count: Int { rows.count }
        override var overLimit: Bool { rows.count > limit }
        override func commit() { undo.removeAll(keepingCapacity: true) }
        override func rollBack() {
            for (key, before) in undo.reversed() { rows[key] = before }
            undo.removeAll(keepingCapacity: true)
        }
        override func clear() {
            rows.removeAll()
            undo.removeAll()
        }

        @inlinable
        func set(_ key: String, _ value: Value??) {
            let before = value.map { rows.updateValue($0, forKey: key) } ?? rows.removeValue(forKey: key)
            undo.append((key, before))
        }
    }

    @usableFromInline
    struct State {
        @usableFromInline var tables = [AnyRows?](repeating: nil, count: 64)
        /// The tables made so far, in the order they were.
        var made: [AnyRows] = []
        /// `PRAGMA data_version` as this connection last saw it (nil before the first transaction).
        var dataVersion: Int64?
        @usableFromInline var hits = 0
        @usableFromInline var misses = 0

        @usableFromInline
        mutating func rows<Value>(_ table: Table<Value>) -> Rows<Value> {
            if let rows = tables[table.id] { return unsafeDowncast(rows, to: Rows<Value>.self) }
            let rows = Rows<Value>(limit: table.limit)
            tables[table.id] = rows
            made.append(rows)
            return rows
        }

        func each(_ body: (AnyRows) -> Void) {
            for rows in made { body(rows) }
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

    /// The shard write transaction running on a thread: its connection and memory. A
    /// transaction's body runs on one thread from start to end (GRDB's writer queue,
    /// synchronously), so a thread-specific pointer finds it for a few instructions, where a
    /// process-wide map took a lock and a hash on every look-up.
    private final class Running {
        let connection: OpaquePointer
        let memory: ShardMemory
        init(connection: OpaquePointer, memory: ShardMemory) {
            self.connection = connection
            self.memory = memory
        }
    }

    private static let runningKey: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "no thread-specific key for the shard memory")
        return key
    }()

    /// The shard write transaction running on this thread, if any.
    private static var running: Running? {
        pthread_getspecific(runningKey).map { Unmanaged<Running>.fromOpaque($0).takeUnretainedValue() }
    }

    /// The memory of the shard whose write transaction runs on `db`, or nil outside one.
    public static func of(_ db: Database) -> ShardMemory? {
        guard let running, running.connection == db.sqliteConnection else { return nil }
        return running.memory
    }

    /// Whether a shard's write transaction runs on `connection` on this thread.
    static func isWriting(on connection: OpaquePointer) -> Bool { running?.connection == connection }

    /// The writer connection's prepared statements for literal SQL (`Database.hotStatement`), by
    /// the literal's address (a literal never moves or goes away). Only touched inside this
    /// shard's write transactions, which run one at a time on its writer connection; emptied
    /// (on that connection) before the shard closes, since SQLite will not close a connection
    /// whose statements are not finalized.
    nonisolated(unsafe) private var statements: [UInt: Statement] = [:]

    func statement(_ sql: StaticString, _ db: Database) throws -> Statement {
        let key = UInt(bitPattern: sql.utf8Start)
        if let found = statements[key] { return found }
        let made = try db.cachedStatement(sql: "\(sql)")
        statements[key] = made
        return made
    }

    /// Lets go of the prepared statements (on the writer connection, before it closes).
    func dropStatements() { statements.removeAll() }

    /// Runs `body` as one write transaction of the shard with the memory on: checks first that
    /// no other connection wrote the file since the last one, keeps what the transaction
    /// remembered if it commits, drops it if it does not.
    func transaction<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        let connection = db.sqliteConnection!
        var result: T?
        do {
            // IMMEDIATE: the write lock is held from BEGIN, so the version read next is the
            // file's for the whole transaction (no other connection commits before it ends).
            try db.inTransaction(.immediate) {
                let version = try db.cachedStatement(sql: "PRAGMA data_version").fetchFirst { $0.int64(0) } ?? 0
                state.withLock { state in
                    let changed = state.dataVersion != version
                    state.dataVersion = version
                    // A transaction whose end was not seen here (none should be) is taken back.
                    state.each { changed ? $0.clear() : $0.rollBack() }
                }
                // Whatever ran on this thread before (a shard written from inside another's
                // transaction) is put back after.
                let interrupted = pthread_getspecific(Self.runningKey)
                let running = Unmanaged.passRetained(Running(connection: connection, memory: self))
                pthread_setspecific(Self.runningKey, running.toOpaque())
                defer {
                    pthread_setspecific(Self.runningKey, interrupted)
                    running.release()
                }
                result = try body()
                return .commit
            }
        } catch {
            state.withLock { $0.each { $0.rollBack() } }
            throw error
        }
        state.withLock { state in
            var total = 0
            state.each { total += $0.count }
            let full = total > capacity
            state.each { rows in
                if full || rows.overLimit { rows.clear() } else { rows.commit() }
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
        let key = ColumnBinder.stored(key)
        return state.withLock { state in
            guard let found = state.rows(table).rows[key] else {
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
        let key = ColumnBinder.stored(key)
        state.withLock { state in
            state.rows(table).set(key, .some(value))
        }
    }

    /// Changes the remembered row `key` of `table` as a write in the transaction changed it, or
    /// forgets it if the memory does not have it (the write's result is then unknown here).
    @inlinable
    public func update<Value: Sendable>(_ table: Table<Value>, _ key: String, _ change: (Value) -> Value) {
        let key = ColumnBinder.stored(key)
        state.withLock { state in
            let rows = state.rows(table)
            if case let value?? = rows.rows[key] {
                rows.set(key, .some(change(value)))
            } else if rows.rows[key] != nil {
                rows.set(key, nil)
            }
        }
    }

    /// Forgets the row `key` of `table` (a write whose result the caller does not know).
    @inlinable
    public func forget<Value: Sendable>(_ table: Table<Value>, _ key: String) {
        let key = ColumnBinder.stored(key)
        state.withLock { state in
            let rows = state.rows(table)
            if rows.rows[key] != nil { rows.set(key, nil) }
        }
    }

    /// Reads answered from memory and from SQLite since the shard opened.
    public var counts: (hits: Int, misses: Int) { state.withLock { ($0.hits, $0.misses) } }
}
