/// Names a ledger account, e.g. `wallet:user-42:CNY`. An account holds one currency, so an owner
/// with money in several currencies has one account per currency.
public struct AccountID: Sendable, Hashable, Comparable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String

    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }

    public var description: String { rawValue }

    public static func < (lhs: AccountID, rhs: AccountID) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The platform's FX position in `currency`, which every conversion into or out of it passes through.
    public static func fxPosition(_ currency: Currency) -> AccountID { AccountID("fx:\(currency.code)") }

    /// Where the rounding of conversions into `currency` is booked, in whole minor units.
    public static func fxRounding(_ currency: Currency) -> AccountID { fxRounding(code: currency.code) }

    static func fxRounding(code: String) -> AccountID { AccountID("fx_rounding:\(code)") }
}
