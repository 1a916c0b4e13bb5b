import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamStore

/// The domain `Ledger` kept in a shard's tables. A decision loads only the accounts and holds it
/// touches (`load`), runs the domain operations on that small ledger, and writes back what
/// changed (`save`) in the same transaction; `loadAll` restores everything for the invariant
/// checker. Entries are signed: debits positive, credits negative.
public enum LedgerTables {
    public static func create(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE ledger_account (
                account_id TEXT PRIMARY KEY NOT NULL,
                currency TEXT NOT NULL,
                normal_side TEXT NOT NULL CHECK (normal_side IN ('debit', 'credit')),
                floor INTEGER,
                posted INTEGER NOT NULL,
                pending INTEGER NOT NULL
            );
            CREATE TABLE ledger_posting (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                posting_id TEXT NOT NULL UNIQUE,
                posted_at TEXT NOT NULL
            );
            CREATE TABLE ledger_entry (
                posting_id TEXT NOT NULL REFERENCES ledger_posting(posting_id),
                account_id TEXT NOT NULL,
                currency TEXT NOT NULL,
                amount INTEGER NOT NULL CHECK (amount != 0)
            );
            CREATE INDEX ledger_entry_posting ON ledger_entry(posting_id);
            CREATE TABLE ledger_hold (
                hold_id TEXT PRIMARY KEY NOT NULL,
                account_id TEXT NOT NULL,
                currency TEXT NOT NULL,
                amount INTEGER NOT NULL CHECK (amount > 0),
                expires_at TEXT,
                resolution TEXT CHECK (resolution IN ('posted', 'voided', 'expired')),
                posted_amount INTEGER,
                posting_id TEXT
            );
            """)
    }

    /// Gives `ledger_entry` a primary key (`entry_id`, the rowid it always had, kept as it was):
    /// the changelog's capture takes only tables with one, and a shard's changelog must
    /// carry every row. A stage runs it as a migration of its own; frozen text, never edited.
    public static let keyEntriesSQL = """
        CREATE TABLE ledger_entry_v2 (
            entry_id INTEGER PRIMARY KEY,
            posting_id TEXT NOT NULL REFERENCES ledger_posting(posting_id),
            account_id TEXT NOT NULL,
            currency TEXT NOT NULL,
            amount INTEGER NOT NULL CHECK (amount != 0)
        );
        INSERT INTO ledger_entry_v2 (entry_id, posting_id, account_id, currency, amount)
            SELECT rowid, posting_id, account_id, currency, amount FROM ledger_entry ORDER BY rowid;
        DROP TABLE ledger_entry;
        ALTER TABLE ledger_entry_v2 RENAME TO ledger_entry;
        CREATE INDEX ledger_entry_posting ON ledger_entry(posting_id);
        """

    /// Rebuilds `ledger_hold` with its resolution check written as comparisons: SQLite checks a
    /// three-value `IN` list through a temporary b-tree opened on every insert and update.
    /// The rows, columns and meaning stay as they are. A stage adds it with a migration of its
    /// own, after `create`.
    public static func rebuildHoldCheck(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE ledger_hold_v2 (
                hold_id TEXT PRIMARY KEY NOT NULL,
                account_id TEXT NOT NULL,
                currency TEXT NOT NULL,
                amount INTEGER NOT NULL CHECK (amount > 0),
                expires_at TEXT,
                resolution TEXT CHECK (resolution = 'posted' OR resolution = 'voided' OR resolution = 'expired'),
                posted_amount INTEGER,
                posting_id TEXT
            );
            INSERT INTO ledger_hold_v2 (hold_id, account_id, currency, amount, expires_at, resolution, posted_amount, posting_id)
                SELECT hold_id, account_id, currency, amount, expires_at, resolution, posted_amount, posting_id FROM ledger_hold;
            DROP TABLE ledger_hold;
            ALTER TABLE ledger_hold_v2 RENAME TO ledger_hold;
            """)
    }

    /// What FX bookings need beyond postings: each posting's conversions (the rate snapshot, the
    /// rounding mode and the amounts, in order) and the rounding carry per quote currency
    /// (`Ledger.fxRoundingCarry`, in 10⁻¹⁸ of a minor unit). A stage adds them with a migration of
    /// its own, after `create`.
    public static func createFX(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE ledger_conversion (
                posting_id TEXT NOT NULL REFERENCES ledger_posting(posting_id),
                position INTEGER NOT NULL,
                base TEXT NOT NULL,
                quote TEXT NOT NULL,
                rate_value INTEGER NOT NULL CHECK (rate_value > 0),
                rate_scale INTEGER NOT NULL,
                rate_source TEXT NOT NULL,
                rate_as_of TEXT NOT NULL,
                rounding TEXT NOT NULL,
                source_amount INTEGER NOT NULL,
                converted_amount INTEGER NOT NULL,
                PRIMARY KEY (posting_id, position)
            );
            CREATE TABLE ledger_fx_carry (
                currency TEXT PRIMARY KEY NOT NULL,
                carry INTEGER NOT NULL
            );
            """)
    }

    /// A ledger holding the stored accounts among `accounts` (with their balances) and the stored
    /// holds among `holds`, and no postings: enough to check floors and resolve holds. An account
    /// in `definitions` replaces the stored definition (a credit line whose limit changed).
    /// Inside a shard's write transaction the rows come from the shard's memory when it has them
    /// (`ShardMemory`: every row this method reads or `save` writes is remembered).
    public static func load(_ db: Database, accounts: [AccountID], holds: [HoldID], definitions: [Account] = []) throws -> Ledger {
        let memory = ShardMemory.of(db)
        var restored: [Account] = []
        var balances: [AccountID: LedgerBalance] = [:]
        let replacing = Dictionary(definitions.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for id in Set(accounts) {
            guard let (account, balance) = try storedAccount(db, id, memory: memory)?.decoded else { continue }
            restored.append(replacing[id] ?? account)
            balances[id] = balance
        }
        var restoredHolds: [Hold] = []
        for id in Set(holds) {
            if let hold = try storedHold(db, id, memory: memory)?.decoded { restoredHolds.append(hold) }
        }
        return Ledger(restoring: restored, postings: [], holds: restoredHolds, balances: balances,
                      fxRoundingCarry: try fxCarry(db, memory: memory))
    }

    /// The row of account `id` as stored (nil: none), from the shard's memory if it has it.
    private static func storedAccount(_ db: Database, _ id: AccountID, memory: ShardMemory?) throws -> AccountRow? {
        try stored(db, accountRows, id.rawValue, memory: memory, sql: accountByID, AccountRow.init(from:))
    }

    /// The row of hold `id` as stored (nil: none), from the shard's memory if it has it.
    private static func storedHold(_ db: Database, _ id: HoldID, memory: ShardMemory?) throws -> HoldRow? {
        try stored(db, holdRows, id.rawValue, memory: memory, sql: holdByID, HoldRow.init(from:))
    }

    /// The row `key` of `table`: from the memory if it has it, else read by `sql` (its one
    /// parameter the key) and remembered, found or not.
    private static func stored<Value: Sendable>(_ db: Database, _ table: ShardMemory.Table<Value>, _ key: String, memory: ShardMemory?,
                                              sql: String, _ read: (ColumnReader) -> Value) throws -> Value? {
        if let remembered = memory?.row(table, key) { return remembered }
        let row = try db.cachedStatement(sql: sql).fetchFirst(binding: { $0.text(key) }, read)
        memory?.remember(table, key, row)
        return row
    }

    /// The ledger's tables in a shard's memory: account rows and hold rows by id, and the FX
    /// carry table whole (under the key "").
    static let accountRows = ShardMemory.Table<AccountRow>(1)
    static let holdRows = ShardMemory.Table<HoldRow>(2)
    static let carryTable = ShardMemory.Table<[String: Int64]>(3)

    /// The stored conversions by posting. Each is computed again from its snapshot and source
    /// amount (conversion is deterministic); a stored converted amount that differs is reported.
    static func storedConversions(_ db: Database) throws -> [String: [FXConversion]] {
        guard try db.tableExists("ledger_conversion") else { return [:] }
        var result: [String: [FXConversion]] = [:]
        for row in try Row.fetchAll(db.hotStatement("SELECT * FROM ledger_conversion ORDER BY posting_id, position")) {
            let posting: String = row["posting_id"]
            guard let base = Currency.named(row["base"]), let quote = Currency.named(row["quote"]),
                  let rounding = RoundingMode(rawValue: row["rounding"]),
                  let asOf = Wire.parseTimestamp(row["rate_as_of"]) else {
                throw LedgerStorageError(description: "posting \(posting): a conversion with an unknown currency, rounding or time")
            }
            let conversion: FXConversion
            do {
                let rate = try ExchangeRate(base: base, quote: quote, value: row["rate_value"], scale: row["rate_scale"],
                                            source: row["rate_source"], asOf: asOf)
                conversion = try rate.convert(Money(minorUnits: row["source_amount"], currency: base), rounding: rounding)
            } catch {
                throw LedgerStorageError(description: "posting \(posting): a conversion that cannot be made again: \(error)")
            }
            let stored: Int64 = row["converted_amount"]
            guard conversion.converted.minorUnits == stored else {
                throw LedgerStorageError(description: "posting \(posting): conversion stored as \(stored), its snapshot gives "
                                         + "\(conversion.converted.minorUnits)")
            }
            result[posting, default: []].append(conversion)
        }
        return result
    }

    /// The stored FX rounding carry. A stage's shards always have the table (their migrations
    /// add it); `loadAll` checks first, because `paystream verify` may read a shard made before.
    static func fxCarry(_ db: Database, memory: ShardMemory? = nil) throws -> [String: Int64] {
        if let remembered = memory?.row(carryTable, ""), let remembered { return remembered }
        var carry: [String: Int64] = [:]
        try db.hotStatement("SELECT currency, carry FROM ledger_fx_carry").forEachRow { row in
            carry[row.string(0)] = row.int64(1)
        }
        memory?.remember(carryTable, "", carry)
        return carry
    }

    /// Writes what `after` changed relative to `before` (as returned by `load`): new and changed
    /// accounts and balances, postings booked since, holds placed or resolved since.
    public static func save(_ db: Database, from before: Ledger, to after: Ledger) throws {
        let memory = ShardMemory.of(db)
        for (id, account) in after.accounts.sorted(by: { $0.key < $1.key }) {
            let balance = after.balances[id] ?? .zero(account.currency)
            guard before.accounts[id] != account || before.balances[id] != balance else { continue }
            if before.accounts[id] == nil {
                // Opened by this decision: a plain insert, so that an account the decision forgot
                // to load fails the transaction instead of having its balance overwritten.
                try db.hotStatement("""
                    INSERT INTO ledger_account (account_id, currency, normal_side, floor, posted, pending) VALUES (?, ?, ?, ?, ?, ?)
                    """).run { bindAccount(&$0, id, account, balance) }
                memory?.remember(accountRows, id.rawValue, AccountRow(id, account, balance))
                continue
            }
            // Loaded, so stored: an update of the row (an upsert if it is not there after all,
            // which costs a failed insert every time it is not needed).
            try db.hotStatement("UPDATE ledger_account SET floor = ?, posted = ?, pending = ? WHERE account_id = ?").run { row in
                row.int(account.floor?.minorUnits)
                row.int(balance.posted.minorUnits)
                row.int(balance.pending.minorUnits)
                row.text(id.rawValue)
            }
            if db.changesCount == 1 {
                // The row keeps its currency and side; the memory has it as `load` read it.
                memory?.update(accountRows, id.rawValue) { $0.updated(floor: account.floor?.minorUnits, balance) }
                continue
            }
            try db.hotStatement("""
                INSERT INTO ledger_account (account_id, currency, normal_side, floor, posted, pending) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(account_id) DO UPDATE SET floor = excluded.floor, posted = excluded.posted, pending = excluded.pending
                """).run { bindAccount(&$0, id, account, balance) }
            memory?.forget(accountRows, id.rawValue)
        }
        for posting in after.postings.dropFirst(before.postings.count) {
            try db.hotStatement("INSERT INTO ledger_posting (posting_id, posted_at) VALUES (?, ?)").run { row in
                row.text(posting.id.rawValue)
                row.text(Wire.timestamp(posting.postedAt))
            }
            let statement = try db.hotStatement("INSERT INTO ledger_entry (posting_id, account_id, currency, amount) VALUES (?, ?, ?, ?)")
            for entry in posting.entries {
                try statement.run { row in
                    row.text(posting.id.rawValue)
                    row.text(entry.account.rawValue)
                    row.text(entry.amount.currency.code)
                    row.int(entry.amount.minorUnits)
                }
            }
            for (position, conversion) in posting.conversions.enumerated() {
                let rate = conversion.rate
                try db.hotStatement("""
                    INSERT INTO ledger_conversion (posting_id, position, base, quote, rate_value, rate_scale, rate_source, rate_as_of,
                                                   rounding, source_amount, converted_amount)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [posting.id.rawValue, position, rate.base.code, rate.quote.code, rate.value, rate.scale, rate.source,
                                     Wire.timestamp(rate.asOf), conversion.rounding.rawValue, conversion.source.minorUnits,
                                     conversion.converted.minorUnits])
            }
        }
        for (currency, carry) in after.fxRoundingCarry.sorted(by: { $0.key < $1.key }) where before.fxRoundingCarry[currency] != carry {
            try db.hotStatement("""
                INSERT INTO ledger_fx_carry (currency, carry) VALUES (?, ?)
                ON CONFLICT(currency) DO UPDATE SET carry = excluded.carry
                """).run { row in
                    row.text(currency)
                    row.int(carry)
                }
            memory?.update(carryTable, "") { table in
                var table = table
                table[currency] = carry
                return table
            }
        }
        for (id, hold) in after.holds.sorted(by: { $0.key < $1.key }) where before.holds[id] != hold {
            var kind: String?, postedAmount: Int64?, postingID: String?
            switch hold.resolution {
            case .posted(let amount, let posting)?: (kind, postedAmount, postingID) = ("posted", amount.minorUnits, posting.rawValue)
            case .voided?: kind = "voided"
            case .expired?: kind = "expired"
            case nil: break
            }
            let row = HoldRow(hold, kind: kind, postedAmount: postedAmount, postingID: postingID)
            let resolve = { try db.hotStatement("UPDATE ledger_hold SET resolution = ?, posted_amount = ?, posting_id = ? WHERE hold_id = ?").run { row in
                row.text(kind)
                row.int(postedAmount)
                row.text(postingID)
                row.text(id.rawValue)
            } }
            if before.holds[id] != nil {
                // Loaded, so stored: its resolution is what changed (its account, amount and
                // expiry never do).
                try resolve()
                if db.changesCount == 1 {
                    memory?.remember(holdRows, id.rawValue, row)
                    continue
                }
            }
            try db.hotStatement("""
                INSERT INTO ledger_hold (hold_id, account_id, currency, amount, expires_at, resolution, posted_amount, posting_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(hold_id) DO NOTHING
                """).run { bind in
                    bind.text(id.rawValue)
                    bind.text(hold.account.rawValue)
                    bind.text(hold.amount.currency.code)
                    bind.int(hold.amount.minorUnits)
                    bind.text(hold.expiresAt.map(Wire.timestamp))
                    bind.text(kind)
                    bind.int(postedAmount)
                    bind.text(postingID)
                }
            if db.changesCount == 1 {
                memory?.remember(holdRows, id.rawValue, row)
                continue
            }
            // A stored hold this decision did not load: its resolution is what it can change.
            try resolve()
            memory?.forget(holdRows, id.rawValue)
        }
    }

    /// An account row's values, in `ledger_account`'s insert order.
    private static func bindAccount(_ row: inout ColumnBinder, _ id: AccountID, _ account: Account, _ balance: LedgerBalance) {
        row.text(id.rawValue)
        row.text(account.currency.code)
        row.text(account.normalSide.rawValue)
        row.int(account.floor?.minorUnits)
        row.int(balance.posted.minorUnits)
        row.int(balance.pending.minorUnits)
    }

    /// The whole stored ledger, exactly as stored (nothing checked), for `checkInvariants()`.
    public static func loadAll(_ db: Database) throws -> Ledger {
        var accounts: [Account] = []
        var balances: [AccountID: LedgerBalance] = [:]
        try db.cachedStatement(sql: "SELECT \(accountColumns) FROM ledger_account ORDER BY account_id").forEachRow { row in
            guard let (account, balance) = AccountRow(from: row).decoded else { return }
            accounts.append(account)
            balances[account.id] = balance
        }
        var entries: [String: [Entry]] = [:]
        for row in try Row.fetchAll(db.hotStatement("SELECT posting_id, account_id, currency, amount FROM ledger_entry ORDER BY rowid")) {
            let code: String = row["currency"]
            // An entry in a code that is not ISO 4217 cannot be a Money; keep it visible as XXX
            // so the checker reports the mismatch instead of it vanishing.
            let currency = Currency.named(code) ?? Currency(code: code, numericCode: 0, minorUnits: 0)
            entries[row["posting_id"], default: []].append(
                Entry(account: AccountID(row["account_id"]), amount: Money(minorUnits: row["amount"], currency: currency)))
        }
        let conversions = try storedConversions(db)
        let postings = try Row.fetchAll(db.hotStatement("SELECT posting_id, posted_at FROM ledger_posting ORDER BY seq")).map { row in
            let id: String = row["posting_id"]
            return Posting(id: PostingID(id), entries: entries[id] ?? [], conversions: conversions[id] ?? [],
                           postedAt: Wire.parseTimestamp(row["posted_at"]) ?? Date(timeIntervalSince1970: 0))
        }
        var holds: [Hold] = []
        try db.cachedStatement(sql: "SELECT \(holdColumns) FROM ledger_hold ORDER BY hold_id").forEachRow { row in
            if let hold = HoldRow(from: row).decoded { holds.append(hold) }
        }
        let carry = try db.tableExists("ledger_fx_carry") ? try fxCarry(db) : [:]
        return Ledger(restoring: accounts, postings: postings, holds: holds, balances: balances, fxRoundingCarry: carry)
    }

    /// Every invariant the stored ledger breaks; empty when it is sound.
    public static func verify(_ db: Database) throws -> [LedgerViolation] {
        try loadAll(db).checkInvariants()
    }

    /// The posted and pending balance of `account`, or nil if it was never opened.
    public static func balance(_ db: Database, of account: AccountID) throws -> LedgerBalance? {
        try storedAccount(db, account, memory: ShardMemory.of(db))?.decoded?.1
    }

    /// The columns `AccountRow(from:)` reads, in its order.
    private static let accountColumns = "account_id, currency, normal_side, floor, posted, pending"
    /// The columns `HoldRow(from:)` reads, in its order.
    private static let holdColumns = "hold_id, account_id, currency, amount, expires_at, resolution, posted_amount, posting_id"

    /// Built once: the statement cache finds a statement by its text.
    private static let accountByID = "SELECT \(accountColumns) FROM ledger_account WHERE account_id = ?"
    private static let holdByID = "SELECT \(holdColumns) FROM ledger_hold WHERE hold_id = ?"
}

/// Stored ledger rows that cannot be read back as a ledger (a conversion its own snapshot
/// contradicts): `paystream verify` reports it.
public struct LedgerStorageError: Error, CustomStringConvertible {
    public let description: String
}
