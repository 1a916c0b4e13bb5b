import Foundation

extension Ledger {
    /// Books `conversion` as one posting through the FX accounts of both currencies:
    ///
    ///     Dr debit               source      (base)
    ///        Cr fx:BASE          source      (base)
    ///     Dr fx:QUOTE            converted + r (quote)
    ///        Cr credit           converted   (quote)
    ///        Cr fx_rounding:QUOTE r          (quote)
    ///
    /// `r` is the whole minor units of FX residual carried so far (the ledger's
    /// `fxRoundingCarry` plus this conversion's residual, truncated toward zero, so -1, 0 or 1);
    /// the fraction stays in the carry. So each currency balances, `fx:QUOTE` tracks the exact
    /// converted value to within one minor unit, and `fx_rounding` holds the rounding gains
    /// (credit) or losses (debit). Zero legs are left out; a negative source reverses every side.
    /// FX accounts open on first use.
    public mutating func postConversion(_ conversion: FXConversion, id: PostingID, debit: AccountID, credit: AccountID,
                                        postedAt: Date) throws(LedgerError) {
        let credited: Entry
        do { credited = try .credit(credit, conversion.converted) } catch { throw .money(error) }
        try postConversion(conversion, id: id, baseEntries: [.debit(debit, conversion.source)], quoteEntries: [credited],
                           postedAt: postedAt)
    }

    /// Books a posting that spans two currencies, priced by `conversion`, with any number of legs
    /// on each side: `baseEntries` (in the base currency) must net to a debit of
    /// `conversion.source`, and `quoteEntries` (in the quote currency) to a credit of some
    /// amount Q — usually `conversion.converted`. The posting adds
    ///
    ///     Cr fx:BASE           source      (base)
    ///     Dr fx:QUOTE          Q + r       (quote)
    ///     Cr fx_rounding:QUOTE r           (quote)
    ///
    /// with `r` settled from the rounding carry as in `postConversion(_:id:debit:credit:postedAt:)`.
    /// When Q is not the converted amount (a reversal priced from booked amounts at the original
    /// snapshot), the difference stays on `fx:QUOTE`, the FX position. A negative source
    /// reverses every side. FX accounts open on first use; a refused posting leaves the ledger
    /// as it was.
    public mutating func postConversion(_ conversion: FXConversion, id: PostingID, baseEntries: [Entry], quoteEntries: [Entry],
                                        postedAt: Date) throws(LedgerError) {
        let base = conversion.source.currency
        let quote = conversion.converted.currency
        let baseNet = baseEntries.reduce(Int128(0)) { $0 + Int128($1.amount.minorUnits) }
        if let odd = (baseEntries.filter { $0.amount.currency.code != base.code } + quoteEntries.filter { $0.amount.currency.code != quote.code }).first {
            throw .currencyMismatch(odd.account, expected: odd.amount.currency.code == base.code ? quote.code : base.code,
                                    found: odd.amount.currency.code)
        }
        guard baseNet == Int128(conversion.source.minorUnits) else {
            throw .unbalanced(id, currency: base.code, imbalance: clamped(baseNet - Int128(conversion.source.minorUnits)))
        }
        let quoteNet = quoteEntries.reduce(Int128(0)) { $0 + Int128($1.amount.minorUnits) }
        guard let quoteTotal = Int64(exactly: -quoteNet) else { throw .money(.overflow) }
        let posting: Posting
        do throws(MoneyError) {
            let legs: [Entry] = baseEntries + [
                try .credit(.fxPosition(base), conversion.source),
                .debit(.fxPosition(quote), Money(minorUnits: quoteTotal, currency: quote)),
            ] + quoteEntries
            posting = try settlingRoundingCarry(of: Posting(id: id, entries: legs.filter { !$0.amount.isZero },
                                                            conversions: [conversion], postedAt: postedAt))
        } catch {
            throw .money(error)
        }

        var opened: [AccountID] = []
        for account in [Account.fxPosition(base), .fxPosition(quote), .fxRounding(quote)] where accounts[account.id] == nil {
            try open(account)
            opened.append(account.id)
        }
        do throws(LedgerError) {
            try post(posting)
        } catch {
            for id in opened { close(id) }
            throw error
        }
    }

    /// `posting` with whole minor units moved from `fx_rounding:QUOTE` to `fx:QUOTE` (or back)
    /// wherever booking it as it is would leave a whole unit or more in the carry. Mirroring a
    /// conversion booked when the carry stood elsewhere can do that; the move keeps each currency
    /// balanced and the carry below one unit.
    func settlingRoundingCarry(of posting: Posting) throws(MoneyError) -> Posting {
        var entries = posting.entries
        for (code, change) in posting.carryChanges.sorted(by: { $0.key < $1.key }) {
            let carry = Int128(fxRoundingCarry[code] ?? 0) + change
            guard let excess = Int64(exactly: carry / Int128(FXResidual.carryDenominator)) else { throw .overflow }
            guard excess != 0, let currency = posting.conversions.first(where: { $0.converted.currency.code == code })?.converted.currency
            else { continue }
            // Booking `excess` more as rounding (a credit when positive) takes it out of the carry.
            try adjust(&entries, on: .fxRounding(code: code), by: try Money(minorUnits: excess, currency: currency).negated())
            try adjust(&entries, on: .fxPosition(currency), by: Money(minorUnits: excess, currency: currency))
        }
        return Posting(id: posting.id, entries: entries, conversions: posting.conversions, postedAt: posting.postedAt)
    }

    /// Adds `amount` to the entry on `account`, appending one if there is none and dropping it if it becomes zero.
    private func adjust(_ entries: inout [Entry], on account: AccountID, by amount: Money) throws(MoneyError) {
        guard let index = entries.firstIndex(where: { $0.account == account }) else {
            entries.append(Entry(account: account, amount: amount))
            return
        }
        let sum = try entries[index].amount.adding(amount)
        if sum.isZero { entries.remove(at: index) } else { entries[index] = Entry(account: account, amount: sum) }
    }
}
