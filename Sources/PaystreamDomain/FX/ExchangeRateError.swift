/// Why a rate was refused. Each case has a stable `code` and a message for people.
public enum ExchangeRateError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Not a plain decimal: digits with at most one point between digits, no sign, exponent or spaces.
    case malformed(String)
    /// Zero or negative.
    case notPositive(String)
    /// More than `ExchangeRate.maximumDigits` significant digits or `maximumScale` decimals.
    case tooManyDigits(String)
    /// Base and quote are the same currency.
    case sameCurrency(String)

    public var code: String {
        switch self {
        case .malformed: "malformed_rate"
        case .notPositive: "rate_not_positive"
        case .tooManyDigits: "rate_too_precise"
        case .sameCurrency: "same_currency_rate"
        }
    }

    public var description: String {
        switch self {
        case .malformed(let text): "'\(text)' is not a decimal rate"
        case .notPositive(let text): "rate '\(text)' is not positive"
        case .tooManyDigits(let text):
            "rate '\(text)' has more than \(ExchangeRate.maximumDigits) digits or \(ExchangeRate.maximumScale) decimals"
        case .sameCurrency(let code): "a rate needs two currencies, got \(code)/\(code)"
        }
    }
}
