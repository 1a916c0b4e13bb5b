import Foundation
import GRDB
import GRDBSQLite
import PaystreamDomain
import PaystreamLedger
import PaystreamStore
import PaystreamTesting
import Testing

/// The shard's memory (`ShardMemory`) against the database: random ledger transactions through
/// `LedgerTables.load` and `save` — accounts opened, transfers, holds placed, posted and voided —
/// with record savepoints rolled back, whole transactions rolled back,
/// and rows (the FX carry too) written behind the shard's back by another connection. After every transaction the
/// ledger read through the memory must equal the ledger read from SQLite alone.
@Suite("Shard memory: what decisions read from memory is what SQLite holds")
struct ShardMemoryTests {
    static let schema = StageSchema([
        ("memory-test-ledger", { db in
            try LedgerTables.create(db)
            try LedgerTables.createFX(db)
            try LedgerTables.rebuildHoldCheck(db)
            try db.execute(sql: LedgerTables.keyEntriesSQL)
        }),
    ])

    static let accounts = (0..<6).map { AccountID("acct:\($0)") }
    static let holds = (0..<10).map { HoldID("hold:\($0)") }
    static let usd = Currency.named("USD")!


    /// One random change to the ledger of a transaction, saved; returns nothing, throws the
    /// ledger's refusals (an overdraft, a hold resolved twice) to be rolled back by the caller.
    static func change(_ db: Database, _ random: inout SeededRandom, posting: inout Int) throws {
        let a = accounts.randomElement(using: &random)!, b = accounts.randomElement(using: &random)!
        let hold = holds.randomElement(using: &random)!
        let before = try LedgerTables.load(db, accounts: [a, b], holds: [hold])
        var ledger = before
        for id in Set([a, b]) where ledger.accounts[id] == nil {
            try ledger.open(Account(id: id, currency: usd, normalSide: random.chance(0.5) ? .credit : .debit,
                                    floor: random.chance(0.3) ? -1_000 : nil))
        }
        let amount = Money(minorUnits: Int64.random(in: 1...300, using: &random), currency: usd)
        posting += 1
        switch Int.random(in: 0..<6, using: &random) {
        case 0, 1:
            if a != b { try ledger.post(try Posting.transfer(PostingID("p\(posting)"), debit: a, credit: b, amount: amount, postedAt: Date())) }
        case 2:
            if ledger.holds[hold] == nil { try ledger.placeHold(Hold(id: hold, account: a, amount: amount, expiresAt: Date(timeIntervalSince1970: 2_000_000_000))) }
        case 3:
            if let placed = ledger.holds[hold], placed.resolution == nil, placed.account != b {
                try ledger.postHold(hold, posting: try Posting.transfer(PostingID("p\(posting)"), debit: placed.account, credit: b,
                                                                       amount: placed.amount, postedAt: Date()))
            }
        case 4:
            if let placed = ledger.holds[hold], placed.resolution == nil { try ledger.voidHold(hold) }
        default:
            break // a transaction that only reads
        }
        try LedgerTables.save(db, from: before, to: ledger)
    }

    /// A write by another connection (a second process on the state directory, a tool).
    static func behindTheBack(_ path: String, _ random: inout SeededRandom) throws {
        let other = try DatabaseQueue(path: path)
        defer { try? other.close() }
        try other.write { db in
            switch Int.random(in: 0..<3, using: &random) {
            case 0: try db.execute(sql: "UPDATE ledger_account SET posted = posted + 7")
            case 1: try db.execute(sql: "UPDATE ledger_hold SET resolution = 'voided' WHERE resolution IS NULL")
            default: try db.execute(sql: "INSERT INTO ledger_fx_carry (currency, carry) VALUES ('JPY', ?) ON CONFLICT(currency) DO UPDATE SET carry = excluded.carry",
                                    arguments: [Int64.random(in: -9...9, using: &random)])
            }
        }
    }

    static func same(_ x: Ledger, _ y: Ledger) -> Bool {
        x.accounts == y.accounts && x.balances == y.balances && x.holds == y.holds && x.fxRoundingCarry == y.fxRoundingCarry
    }

    @Test("random ledger transactions, savepoints and transactions rolled back, writes by another connection", arguments: [1, 2, 3] as [UInt64])
    func memoryMatchesSQLite(seed: UInt64) throws {
        let folder = try temporaryDirectory("shard-memory")
        let path = "\(folder)/p0.sqlite"
        var random = SeededRandom(seed: seed)
        let shard = try ShardStore(path: path, partition: 0, schema: Self.schema)
        var posting = 0
        var churn = ShardChurn()
        for _ in 0..<150 {
            try churn.round(shard, &random, odds: .init(foreignWrite: 0.1, abort: 0.15, savepointRollback: 0.25, maxChanges: 5),
                            behindTheBack: { try Self.behindTheBack(path, &$0) }, refused: { $0 is LedgerError },
                            change: { db, random in try Self.change(db, &random, posting: &posting) })
            let remembered = try shard.write { try LedgerTables.load($0, accounts: Self.accounts, holds: Self.holds) }
            let stored = try shard.read { try LedgerTables.load($0, accounts: Self.accounts, holds: Self.holds) }
            #expect(Self.same(remembered, stored), "after \(posting) changes: memory \(remembered.balances) holds \(remembered.holds.count), SQLite \(stored.balances) holds \(stored.holds.count)")
            guard Self.same(remembered, stored) else { break }
        }
        #expect(churn.transactionsRolledBack > 5 && churn.savepointsRolledBack > 20 && churn.foreignWrites > 5)
        #expect(try shard.read { try LedgerTables.load($0, accounts: Self.accounts, holds: []) }.accounts.count >= 4)
        // The memory answered most reads, or this test proves nothing about it.
        let counts = shard.memory.counts
        #expect(counts.hits > counts.misses, "hits \(counts.hits), misses \(counts.misses)")
        try shard.close()
    }

    @Test("two account ids that differ only after a NUL are one row in SQLite (its text binding cuts there) and one in memory")
    func keysAsStored() throws {
        let folder = try temporaryDirectory("shard-memory-nul")
        let shard = try ShardStore(path: "\(folder)/p0.sqlite", partition: 0, schema: Self.schema)
        let first = AccountID("acct:nul\u{0}a"), second = AccountID("acct:nul\u{0}b")
        try shard.write { db in
            let before = try LedgerTables.load(db, accounts: [first], holds: [])
            var ledger = before
            try ledger.open(Account(id: first, currency: Self.usd, normalSide: .credit))
            try ledger.open(Account(id: AccountID("acct:other"), currency: Self.usd, normalSide: .debit))
            try ledger.post(try Posting.transfer(PostingID("p1"), debit: AccountID("acct:other"), credit: first,
                                                 amount: Money(minorUnits: 250, currency: Self.usd), postedAt: Date()))
            try LedgerTables.save(db, from: before, to: ledger)
        }
        for id in [first, second] {
            let remembered = try shard.write { try LedgerTables.load($0, accounts: [id], holds: []) }
            let stored = try shard.read { try LedgerTables.load($0, accounts: [id], holds: []) }
            #expect(Self.same(remembered, stored), "\(id): memory \(remembered.accounts.keys.map(\.rawValue)), SQLite \(stored.accounts.keys.map(\.rawValue))")
            #expect(stored.balances.values.map(\.posted.minorUnits) == [250])
        }
        #expect(shard.memory.counts.hits >= 2)
        try shard.close()
    }

    @Test("a read outside the shard's write transactions has no memory; inside, the rows read are remembered")
    func onlyInsideWrites() throws {
        let folder = try temporaryDirectory("shard-memory-scope")
        let shard = try ShardStore(path: "\(folder)/p0.sqlite", partition: 0, schema: Self.schema)
        try shard.read { db in #expect(ShardMemory.of(db) == nil) }
        try shard.write { db in #expect(ShardMemory.of(db) === shard.memory) }
        _ = try shard.write { try LedgerTables.load($0, accounts: [Self.accounts[0]], holds: []) }
        _ = try shard.write { try LedgerTables.load($0, accounts: [Self.accounts[0]], holds: []) }
        #expect(shard.memory.counts.hits >= 2)
        try shard.close()
    }

    @Test("a table past its own limit starts again empty when a transaction commits; the other tables keep their rows")
    func tableLimit() throws {
        let folder = try temporaryDirectory("shard-memory-limit")
        let shard = try ShardStore(path: "\(folder)/p0.sqlite", partition: 0, schema: Self.schema)
        defer { try? shard.close() }
        let small = ShardMemory.Table<Int>(40, limit: 3), other = ShardMemory.Table<Int>(41)
        try shard.write { db in
            let memory = try #require(ShardMemory.of(db))
            for i in 0..<3 { memory.remember(small, "k\(i)", i) }
            memory.remember(other, "kept", 7)
        }
        try shard.write { db in
            let memory = try #require(ShardMemory.of(db))
            #expect((0..<3).map { memory.row(small, "k\($0)") } == [0, 1, 2].map { .some(.some($0)) })
            memory.remember(small, "k3", 3)
        }
        try shard.write { db in
            let memory = try #require(ShardMemory.of(db))
            #expect((0..<4).allSatisfy { memory.row(small, "k\($0)") == nil }, "four rows are past the limit of three")
            #expect(memory.row(other, "kept") == .some(.some(7)))
        }
    }

    @Test("a literal's statement is prepared once per shard and found again by its address; outside a shard's writes GRDB's cache serves; the shard still closes")
    func hotStatements() throws {
        let folder = try temporaryDirectory("shard-memory-statements")
        let shard = try ShardStore(path: "\(folder)/p0.sqlite", partition: 0, schema: Self.schema)
        func count(_ db: Database) throws -> Statement { try db.hotStatement("SELECT count(*) FROM ledger_account") }
        // Identities only: a statement held here would keep its connection from closing.
        let first = try shard.write { db in ObjectIdentifier(try count(db)) }
        let again = try shard.write { db in ObjectIdentifier(try count(db)) }
        #expect(first == again, "the second transaction found the first one's statement")
        let counted = try shard.write { db in try count(db).fetchFirst { $0.int64(0) } }
        #expect(counted == 0)
        // A reader connection is not the shard's writer: GRDB's cache, not the shard's.
        let (fromReader, readCount) = try shard.read { db in (ObjectIdentifier(try count(db)), try count(db).fetchFirst { $0.int64(0) }) }
        #expect(fromReader != first && readCount == 0)
        // SQLite does not close a connection with statements left: the shard lets go of its own first.
        try shard.close()
    }

    @Test("a statement stepped past GRDB refuses to run in a shard transaction that SQLite rolled back by itself (no statement commits alone)")
    func abortedTransaction() throws {
        let folder = try temporaryDirectory("shard-memory-aborted")
        let shard = try ShardStore(path: "\(folder)/p0.sqlite", partition: 0, schema: Self.schema)
        defer { try? shard.close() }
        let insert: StaticString = "INSERT INTO ledger_fx_carry (currency, carry) VALUES ('JPY', 1)"
        #expect(throws: DatabaseError.self) {
            try shard.write { db in
                // What SQLite does on a full disk or an I/O error mid-transaction, done by hand
                // past GRDB: the transaction is gone and the connection is in autocommit.
                #expect(sqlite3_exec(db.sqliteConnection, "ROLLBACK", nil, nil, nil) == SQLITE_OK)
                do {
                    try db.hotStatement(insert).run { _ in }
                    Issue.record("the statement ran in autocommit")
                } catch let error as DatabaseError {
                    #expect(error.resultCode == .SQLITE_ABORT)
                    throw error
                }
            }
        }
        let rows = try shard.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM ledger_fx_carry") }
        #expect(rows == 0, "nothing committed on its own")
    }
}
