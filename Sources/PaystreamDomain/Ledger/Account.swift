/// A ledger account in one currency. Its balance is read on its normal side, and its floor, when
/// it has one, is the lowest that balance may reach once pending holds are subtracted.
///
/// Holds reserve a movement against the normal side (a debit on a credit-normal wallet), because
/// that is the direction in which an account runs out.
public struct Account: Sendable, Hashable, Identifiable {
    /// The side on which entries increase the balance.
    public enum NormalSide: String, Sendable, Hashable {
        /// Assets and expenses: the platform's clearing and FX positions.
        case debit
        /// Liabilities and income: what the platform owes payers and merchants, fees earned.
        case credit
    }

    public let id: AccountID
    public let currency: Currency
    public let normalSide: NormalSide
    /// The lowest available balance (posted minus pending, on the normal side); nil for accounts
    /// that may go either way, such as clearing and FX accounts.
    public let floor: Money?

    /// `floor` is in minor units of `currency`; nil for no floor.
    public init(id: AccountID, currency: Currency, normalSide: NormalSide, floor: Int64? = nil) {
        self.id = id
        self.currency = currency
        self.normalSide = normalSide
        self.floor = floor.map { Money(minorUnits: $0, currency: currency) }
    }

    /// A payer's stored balance. The platform owes it to the payer, so it is a credit-normal
    /// liability; its floor is zero (no overdraft).
    public static func wallet(_ id: AccountID, currency: Currency) -> Account {
        Account(id: id, currency: currency, normalSide: .credit, floor: 0)
    }

    /// A payer's credit line, kept as an overdraft facility: the payer's credit-normal account may
    /// go down to minus the limit. Usage is minus the balance, so "usage plus pending holds never
    /// exceeds the limit" is the floor `-limit`, and available credit is the headroom above it.
    public static func creditLine(_ id: AccountID, limit: Money) -> Account {
        // A negative limit would demand a credit balance; treat it as no credit at all.
        Account(id: id, currency: limit.currency, normalSide: .credit, floor: -max(0, limit.minorUnits))
    }

    /// The platform's FX position in `currency`: debit-normal, no floor, because it swings both
    /// ways as conversions pass through.
    public static func fxPosition(_ currency: Currency) -> Account {
        Account(id: .fxPosition(currency), currency: currency, normalSide: .debit)
    }

    /// Rounding gains (credits) and losses (debits) of conversions into `currency`; credit-normal
    /// like other income, no floor.
    public static func fxRounding(_ currency: Currency) -> Account {
        Account(id: .fxRounding(currency), currency: currency, normalSide: .credit)
    }

    /// `raw` (debits minus credits) read on this account's normal side.
    func normal(_ raw: Int128) -> Int128 { normalSide == .debit ? raw : -raw }
}
