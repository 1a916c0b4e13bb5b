/// An amount of money: an integer count of minor units of a currency. Never a float.
/// Arithmetic that could overflow throws `MoneyError.overflow`; mixing currencies throws
/// `MoneyError.currencyMismatch`. Nothing here traps.
public struct Money: Sendable, Hashable {
    public let minorUnits: Int64
    public let currency: Currency

    public init(minorUnits: Int64, currency: Currency) {
        self.minorUnits = minorUnits
        self.currency = currency
    }

    public static func zero(_ currency: Currency) -> Money { Money(minorUnits: 0, currency: currency) }

    public var isZero: Bool { minorUnits == 0 }
    public var isPositive: Bool { minorUnits > 0 }
    public var isNegative: Bool { minorUnits < 0 }

    public func adding(_ other: Money) throws(MoneyError) -> Money {
        try sameCurrency(other)
        return Money(minorUnits: try checked(minorUnits.addingReportingOverflow(other.minorUnits)), currency: currency)
    }

    public func subtracting(_ other: Money) throws(MoneyError) -> Money {
        try sameCurrency(other)
        return Money(minorUnits: try checked(minorUnits.subtractingReportingOverflow(other.minorUnits)), currency: currency)
    }

    public func multiplied(by factor: Int64) throws(MoneyError) -> Money {
        Money(minorUnits: try checked(minorUnits.multipliedReportingOverflow(by: factor)), currency: currency)
    }

    public func negated() throws(MoneyError) -> Money {
        guard minorUnits != .min else { throw .overflow }
        return Money(minorUnits: -minorUnits, currency: currency)
    }

    /// The sum of `amounts`, all in `currency`.
    public static func sum(_ amounts: [Money], currency: Currency) throws(MoneyError) -> Money {
        var total = Money.zero(currency)
        for amount in amounts { total = try total.adding(amount) }
        return total
    }

    private func sameCurrency(_ other: Money) throws(MoneyError) {
        guard other.currency == currency else { throw .currencyMismatch(currency.code, other.currency.code) }
    }
}

extension Money: Comparable {
    /// Orders amounts of one currency; amounts of different currencies order by currency code
    /// first (a total order for sorting, not a statement about value).
    public static func < (lhs: Money, rhs: Money) -> Bool {
        lhs.currency.code == rhs.currency.code ? lhs.minorUnits < rhs.minorUnits : lhs.currency.code < rhs.currency.code
    }
}

/// Unwraps a `…ReportingOverflow` result.
@inline(__always)
func checked(_ result: (partialValue: Int64, overflow: Bool)) throws(MoneyError) -> Int64 {
    guard !result.overflow else { throw .overflow }
    return result.partialValue
}
