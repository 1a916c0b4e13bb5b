import GRDB
import PaystreamStore

/// Random write transactions on a shard, for the tests that hold the shard's memory
/// (`ShardMemory`) to SQLite: each round maybe writes behind the shard's back (another
/// connection), then runs one transaction of a few changes, each in a record savepoint — some
/// rolled back after their writes, as a parked record's are — and sometimes rolls the whole
/// transaction back. Counts what it did, so a test can check that it did each of them.
public struct ShardChurn {
    public var transactionsRolledBack = 0
    public var savepointsRolledBack = 0
    public var foreignWrites = 0

    public struct Odds: Sendable {
        public var foreignWrite: Double
        public var abort: Double
        public var savepointRollback: Double
        public var maxChanges: Int
        public init(foreignWrite: Double, abort: Double, savepointRollback: Double, maxChanges: Int) {
            self.foreignWrite = foreignWrite
            self.abort = abort
            self.savepointRollback = savepointRollback
            self.maxChanges = maxChanges
        }
    }

    private struct Rollback: Error {}

    public init() {}

    /// One round. `change` makes one random change through the stage's typed store methods; an
    /// error `refused` accepts (a ledger's refusal) rolls its savepoint back and the round goes
    /// on; any other error fails the round.
    public mutating func round(_ shard: ShardStore, _ random: inout SeededRandom, odds: Odds,
                               behindTheBack: (inout SeededRandom) throws -> Void,
                               refused: (any Error) -> Bool = { _ in false },
                               change: (Database, inout SeededRandom) throws -> Void) throws {
        if random.chance(odds.foreignWrite) {
            try behindTheBack(&random)
            foreignWrites += 1
        }
        let abort = random.chance(odds.abort)
        var inner = random
        var parked = 0
        do {
            try shard.write { db in
                for _ in 0..<Int.random(in: 1...odds.maxChanges, using: &inner) {
                    if inner.chance(odds.savepointRollback) {
                        // A record parked after its writes: the savepoint takes them back.
                        _ = try? RuntimeTables.inRecordSavepoint(db) {
                            try change(db, &inner)
                            throw Rollback()
                        }
                        parked += 1
                    } else {
                        do {
                            try RuntimeTables.inRecordSavepoint(db) { try change(db, &inner) }
                        } catch where refused(error) {}
                    }
                }
                if abort { throw Rollback() }
            }
        } catch is Rollback {
            transactionsRolledBack += 1
        }
        savepointsRolledBack += parked
        random = inner
    }
}
