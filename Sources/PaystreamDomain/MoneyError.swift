/// Why a money operation failed. Each case has a stable `code` and a message for people.
public enum MoneyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The result does not fit in 64-bit minor units.
    case overflow
    case currencyMismatch(String, String)
    case unknownCurrency(String)
    /// Text that is not an amount, with the reason.
    case invalidAmount(String)
    /// More decimal places than the currency has (e.g. "1.234" CNY).
    case tooPrecise(String, currency: String, minorUnits: Int)
    case divisionByZero
    /// Weights or parts that cannot allocate (empty, negative, zero total, parts above the whole).
    case invalidAllocation(String)

    public var code: String {
        switch self {
        case .overflow: "amount_overflow"
        case .currencyMismatch: "currency_mismatch"
        case .unknownCurrency: "unknown_currency"
        case .invalidAmount: "invalid_amount"
        case .tooPrecise: "too_precise"
        case .divisionByZero: "division_by_zero"
        case .invalidAllocation: "invalid_allocation"
        }
    }

    public var description: String {
        switch self {
        case .overflow: "amount overflows 64-bit minor units"
        case .currencyMismatch(let a, let b): "cannot combine \(a) with \(b)"
        case .unknownCurrency(let code): "unknown currency '\(code)'"
        case .invalidAmount(let reason): "invalid amount: \(reason)"
        case .tooPrecise(let text, let currency, let units):
            "'\(text)' has more decimal places than \(currency) allows (\(units))"
        case .divisionByZero: "division by zero"
        case .invalidAllocation(let reason): "cannot allocate: \(reason)"
        }
    }
}
