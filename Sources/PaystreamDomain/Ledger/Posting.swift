import Foundation

/// A set of entries booked together. It balances when, in each currency on its own, debits equal
/// credits; a posting that spans currencies also carries the conversions (rate snapshots) that
/// priced it.
public struct Posting: Sendable, Hashable, Identifiable {
    public let id: PostingID
    public let entries: [Entry]
    public let conversions: [FXConversion]
    public let postedAt: Date

    public init(id: PostingID, entries: [Entry], conversions: [FXConversion] = [], postedAt: Date) {
        self.id = id
        self.entries = entries
        self.conversions = conversions
        self.postedAt = postedAt
    }

    /// The two-leg posting: `amount` debited to `debit` and credited to `credit`.
    public static func transfer(_ id: PostingID, debit: AccountID, credit: AccountID, amount: Money,
                                postedAt: Date) throws(MoneyError) -> Posting {
        Posting(id: id, entries: [.debit(debit, amount), try .credit(credit, amount)], postedAt: postedAt)
    }

    /// This posting mirrored: every entry on the other side, conversions negated. The ledger
    /// books it through `Ledger.reverse`, which also re-settles the FX rounding carry.
    func reversal(id: PostingID, postedAt: Date) throws(MoneyError) -> Posting {
        var reversed: [Entry] = []
        for entry in entries { reversed.append(Entry(account: entry.account, amount: try entry.amount.negated())) }
        var negated: [FXConversion] = []
        for conversion in conversions { negated.append(try conversion.negated()) }
        return Posting(id: id, entries: reversed, conversions: negated, postedAt: postedAt)
    }

    /// Debits minus credits per currency code; in 128 bits so that no sum overflows.
    var imbalances: [String: Int128] {
        var sums: [String: Int128] = [:]
        for entry in entries { sums[entry.amount.currency.code, default: 0] += Int128(entry.amount.minorUnits) }
        return sums
    }

    /// Debits equal credits in every currency.
    public var isBalanced: Bool { imbalances.values.allSatisfy { $0 == 0 } }

    /// The net debit (negative: credit) this posting puts on `account`.
    func net(on account: AccountID) -> Int128 {
        entries.reduce(0) { $1.account == account ? $0 + Int128($1.amount.minorUnits) : $0 }
    }

    /// The change this posting makes to the FX rounding carry of each quote currency, in
    /// 10⁻¹⁸ minor units: its conversions' residuals, less what it booked to `fx_rounding`.
    /// Entries on `fx_rounding` outside a conversion posting (a write-off) are not carry.
    var carryChanges: [String: Int128] {
        var changes: [String: Int128] = [:]
        for conversion in conversions {
            changes[conversion.converted.currency.code, default: 0] += Int128(conversion.residual.carryUnits)
        }
        for code in changes.keys {
            changes[code, default: 0] += net(on: .fxRounding(code: code)) * Int128(FXResidual.carryDenominator)
        }
        return changes
    }
}
