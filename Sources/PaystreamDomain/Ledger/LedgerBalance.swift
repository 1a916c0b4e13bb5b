/// An account's balance on its normal side: `posted` from postings, `pending` from its active holds.
public struct LedgerBalance: Sendable, Hashable {
    public let posted: Money
    /// The sum of the account's pending holds.
    public let pending: Money

    public init(posted: Money, pending: Money) {
        self.posted = posted
        self.pending = pending
    }

    public static func zero(_ currency: Currency) -> LedgerBalance {
        LedgerBalance(posted: .zero(currency), pending: .zero(currency))
    }

    /// Posted minus pending: what floors are checked against. Saturates at the bounds of Int64,
    /// which only corrupt restored data reaches (the ledger refuses to go there).
    public var available: Money {
        Money(minorUnits: clamped(Int128(posted.minorUnits) - Int128(pending.minorUnits)), currency: posted.currency)
    }
}

/// `value` pinned into Int64, for reporting amounts that only corrupt data can push out of range.
func clamped(_ value: Int128) -> Int64 {
    value > Int128(Int64.max) ? .max : value < Int128(Int64.min) ? .min : Int64(value)
}
