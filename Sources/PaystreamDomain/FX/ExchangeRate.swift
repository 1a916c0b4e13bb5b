import Foundation

/// A rate snapshot as `reference.fx-rates` carries it: one major unit of `base` is worth `rate`
/// major units of `quote` ("USD/CNY 7.1234": 1 USD = 7.1234 CNY), from `source`, as of `asOf`.
/// The rate is held exactly as `value × 10^-scale`, never as a float.
public struct ExchangeRate: Sendable, Hashable {
    /// Decimals a rate may have; with the 4 minor units of CLF, conversion divides by at most 10¹⁶.
    public static let maximumScale = 12
    /// Significant digits a rate may have, so that `value` stays below 10¹⁸.
    public static let maximumDigits = 18

    public let base: Currency
    public let quote: Currency
    /// The rate's digits; with trailing zeros removed, so equal rates compare equal.
    public let value: Int64
    /// How many of `value`'s digits are decimals.
    public let scale: Int
    public let source: String
    public let asOf: Date

    /// Parses `rate`, a plain decimal such as "7.1234" or "0.0067".
    public init(base: Currency, quote: Currency, rate: String, source: String, asOf: Date) throws(ExchangeRateError) {
        let (value, scale) = try Self.parse(rate)
        try self.init(base: base, quote: quote, value: value, scale: scale, source: source, asOf: asOf)
    }

    /// The rate `value × 10^-scale`.
    public init(base: Currency, quote: Currency, value: Int64, scale: Int, source: String, asOf: Date) throws(ExchangeRateError) {
        let text = "\(value)e-\(scale)"
        guard base.code != quote.code else { throw .sameCurrency(base.code) }
        guard value > 0 else { throw .notPositive(text) }
        var value = value, scale = scale
        while scale > 0 && value % 10 == 0 {
            value /= 10
            scale -= 1
        }
        guard (0...Self.maximumScale).contains(scale), value < 1_000_000_000_000_000_000 else { throw .tooManyDigits(text) }
        self.base = base
        self.quote = quote
        self.value = value
        self.scale = scale
        self.source = source
        self.asOf = asOf
    }

    /// The key of the pair on the rates topic: "USD/CNY".
    public var pair: String { "\(base.code)/\(quote.code)" }

    /// The rate as a decimal string, as the snapshot is recorded: "7.1234".
    public var decimalString: String {
        let digits = String(value)
        guard scale > 0 else { return digits }
        let padded = String(repeating: "0", count: max(0, scale + 1 - digits.count)) + digits
        return "\(padded.dropLast(scale)).\(padded.suffix(scale))"
    }

    /// Converts `amount` (in `base`) into `quote`, rounding with `rounding`.
    public func convert(_ amount: Money, rounding: RoundingMode) throws(MoneyError) -> FXConversion {
        try FXConversion(converting: amount, at: self, rounding: rounding)
    }

    /// Digits and scale of a plain decimal, leading and trailing zeros dropped.
    static func parse(_ text: String) throws(ExchangeRateError) -> (value: Int64, scale: Int) {
        let zero = UInt8(ascii: "0"), nine = UInt8(ascii: "9")
        var bytes = Array(text.utf8)
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { bytes.removeFirst() }
        let parts = bytes.split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false)
        let isDigits: (ArraySlice<UInt8>) -> Bool = { !$0.isEmpty && $0.allSatisfy { $0 >= zero && $0 <= nine } }
        guard let whole = parts.first, isDigits(whole), parts.count == 1 || isDigits(parts[1]) else { throw .malformed(text) }
        var fraction = parts.count == 2 ? parts[1] : []
        while fraction.last == zero { fraction.removeLast() }
        let significant = (whole + fraction).drop { $0 == zero }
        guard !significant.isEmpty, !negative else { throw .notPositive(text) }
        guard fraction.count <= maximumScale, significant.count <= maximumDigits else { throw .tooManyDigits(text) }
        let value = significant.reduce(Int64(0)) { $0 * 10 + Int64($1 - zero) }
        return (value, fraction.count)
    }
}
