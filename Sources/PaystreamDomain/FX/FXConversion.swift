/// An amount converted at a rate snapshot: `converted` is `source × rate` in the quote currency's
/// minor units, rounded with `rounding`, and `residual` is exactly what the rounding left out, so
/// `converted + residual` is the exact value. The ledger books the residual to `fx_rounding`
/// (see `Ledger.postConversion`).
public struct FXConversion: Sendable, Hashable {
    public let rate: ExchangeRate
    public let rounding: RoundingMode
    public let source: Money
    public let converted: Money
    public let residual: FXResidual

    /// Converts `amount`, which must be in `rate.base`. Throws `.overflow` when the result does
    /// not fit 64-bit minor units, never traps.
    public init(converting amount: Money, at rate: ExchangeRate, rounding: RoundingMode) throws(MoneyError) {
        guard amount.currency.code == rate.base.code else { throw .currencyMismatch(rate.base.code, amount.currency.code) }
        // In quote minor units: amount × value × 10^(quote digits) / 10^(scale + base digits).
        let exponent = rate.scale + rate.base.minorUnits - rate.quote.minorUnits
        let converted: Int64
        let residual: FXResidual
        if exponent >= 0 {
            guard let denominator = powerOfTen(exponent) else { throw .overflow }
            converted = try rounding.multiplyDivide(amount.minorUnits, rate.value, by: denominator)
            let exact = Int128(amount.minorUnits) * Int128(rate.value)
            guard let numerator = Int64(exactly: exact - Int128(converted) * Int128(denominator)) else { throw .overflow }
            residual = FXResidual(numerator: numerator, denominator: denominator, currency: rate.quote)
        } else {
            // The quote currency has more decimals than the rate and base together: the result is exact.
            guard let factor = powerOfTen(-exponent),
                  let value = Int64(exactly: Int128(amount.minorUnits) * Int128(rate.value) * Int128(factor))
            else { throw .overflow }
            converted = value
            residual = FXResidual(numerator: 0, denominator: 1, currency: rate.quote)
        }
        self.init(rate: rate, rounding: rounding, source: amount,
                  converted: Money(minorUnits: converted, currency: rate.quote), residual: residual)
    }

    init(rate: ExchangeRate, rounding: RoundingMode, source: Money, converted: Money, residual: FXResidual) {
        self.rate = rate
        self.rounding = rounding
        self.source = source
        self.converted = converted
        self.residual = residual
    }

    /// The conversion of `-source`: every rounding mode here is symmetric around zero.
    func negated() throws(MoneyError) -> FXConversion {
        FXConversion(rate: rate, rounding: rounding, source: try source.negated(),
                     converted: try converted.negated(), residual: residual.negated())
    }
}

/// 10^exponent, or nil when it does not fit Int64 (exponent above 18).
func powerOfTen(_ exponent: Int) -> Int64? {
    guard (0...18).contains(exponent) else { return nil }
    var result: Int64 = 1
    for _ in 0..<exponent { result *= 10 }
    return result
}
