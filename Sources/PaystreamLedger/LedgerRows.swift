import PaystreamDomain
import PaystreamStore
import PaystreamWire

// The ledger's account and hold rows as SQLite stores them: what `LedgerTables` reads by column
// position and what a shard's memory (`ShardMemory`) keeps, decoded into the domain's values the
// same way whichever it came from.

/// A `ledger_account` row as stored (what a shard's memory keeps of it).
struct AccountRow: Sendable {
    let id: String
    let currency: String
    let normalSide: String
    let floor: Int64?
    let posted: Int64
    let pending: Int64

    init(from row: ColumnReader) {
        (id, currency, normalSide) = (row.string(0), row.string(1), row.string(2))
        (floor, posted, pending) = (row.optionalInt64(3), row.int64(4), row.int64(5))
    }

    /// The row `save` inserts for `account` (its id as SQLite keeps it).
    init(_ id: AccountID, _ account: Account, _ balance: LedgerBalance) {
        (self.id, currency, normalSide) = (ColumnBinder.stored(id.rawValue), account.currency.code, account.normalSide.rawValue)
        (floor, posted, pending) = (account.floor?.minorUnits, balance.posted.minorUnits, balance.pending.minorUnits)
    }

    private init(id: String, currency: String, normalSide: String, floor: Int64?, posted: Int64, pending: Int64) {
        (self.id, self.currency, self.normalSide, self.floor, self.posted, self.pending) = (id, currency, normalSide, floor, posted, pending)
    }

    /// The row after `save`'s update (floor and balances; the currency and side stay).
    func updated(floor: Int64?, _ balance: LedgerBalance) -> AccountRow {
        AccountRow(id: id, currency: currency, normalSide: normalSide, floor: floor,
                   posted: balance.posted.minorUnits, pending: balance.pending.minorUnits)
    }

    /// The account and its balance; nil for a currency or side no version writes.
    var decoded: (Account, LedgerBalance)? {
        guard let currency = Currency.named(currency), let side = Account.NormalSide(rawValue: normalSide) else { return nil }
        return (Account(id: AccountID(id), currency: currency, normalSide: side, floor: floor),
                LedgerBalance(posted: Money(minorUnits: posted, currency: currency), pending: Money(minorUnits: pending, currency: currency)))
    }
}

/// A `ledger_hold` row as stored (what a shard's memory keeps of it).
struct HoldRow: Sendable {
    let id: String
    let account: String
    let currency: String
    let amount: Int64
    let expiresAt: String?
    let resolution: String?
    let postedAmount: Int64?
    let postingID: String?

    init(from row: ColumnReader) {
        (id, account, currency, amount) = (row.string(0), row.string(1), row.string(2), row.int64(3))
        (expiresAt, resolution, postedAmount, postingID) = (row.optionalString(4), row.optionalString(5), row.optionalInt64(6), row.optionalString(7))
    }

    /// The row `save` writes for `hold` with its resolution's columns (text as SQLite keeps it).
    init(_ hold: Hold, kind: String?, postedAmount: Int64?, postingID: String?) {
        (id, account, currency, amount) = (ColumnBinder.stored(hold.id.rawValue), ColumnBinder.stored(hold.account.rawValue),
                                           hold.amount.currency.code, hold.amount.minorUnits)
        (expiresAt, resolution, self.postedAmount, self.postingID) = (hold.expiresAt.map(Wire.timestamp), kind, postedAmount,
                                                                      postingID.map(ColumnBinder.stored))
    }

    /// The hold; nil for a currency no version writes.
    var decoded: Hold? {
        guard let currency = Currency.named(currency) else { return nil }
        var resolutions: [HoldResolution] = []
        switch resolution {
        case "posted":
            resolutions = [.posted(Money(minorUnits: postedAmount ?? 0, currency: currency), posting: PostingID(postingID ?? ""))]
        case "voided": resolutions = [.voided]
        case "expired": resolutions = [.expired]
        default: break
        }
        return Hold(id: HoldID(id), account: AccountID(account), amount: Money(minorUnits: amount, currency: currency),
                    expiresAt: expiresAt.flatMap(Wire.parseTimestamp), resolutions: resolutions)
    }
}
