/// One leg of a posting: a signed amount on one account. Debits are positive and credits negative
/// (the convention of the stages' `ledger_entry` table), so a balanced posting sums to zero in
/// each currency and all accounts of a currency sum to zero.
public struct Entry: Sendable, Hashable {
    public let account: AccountID
    public let amount: Money

    public init(account: AccountID, amount: Money) {
        self.account = account
        self.amount = amount
    }

    /// Debits `amount` to `account`.
    public static func debit(_ account: AccountID, _ amount: Money) -> Entry {
        Entry(account: account, amount: amount)
    }

    /// Credits `amount` to `account`.
    public static func credit(_ account: AccountID, _ amount: Money) throws(MoneyError) -> Entry {
        Entry(account: account, amount: try amount.negated())
    }

    public var isDebit: Bool { amount.isPositive }
}
