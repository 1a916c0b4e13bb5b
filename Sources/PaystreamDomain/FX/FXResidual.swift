/// What rounding left out of a conversion: the exact converted value minus the converted amount,
/// as `numerator / denominator` of one minor unit of `currency`. `denominator` is a power of ten
/// and `|numerator| < denominator`; positive means the payee got less than the exact value.
public struct FXResidual: Sendable, Hashable {
    /// The unit of the ledger's rounding carry: residuals are summed in 10⁻¹⁸ of a minor unit,
    /// which every residual's denominator divides.
    public static let carryDenominator: Int64 = 1_000_000_000_000_000_000

    public let numerator: Int64
    public let denominator: Int64
    public let currency: Currency

    init(numerator: Int64, denominator: Int64, currency: Currency) {
        self.numerator = numerator
        self.denominator = denominator
        self.currency = currency
    }

    public var isZero: Bool { numerator == 0 }

    /// The residual in 10⁻¹⁸ of a minor unit; exact, since `denominator` divides 10¹⁸.
    var carryUnits: Int64 { numerator * (Self.carryDenominator / denominator) }

    func negated() -> FXResidual {
        // |numerator| < denominator ≤ 10¹⁸, so negation cannot overflow.
        FXResidual(numerator: -numerator, denominator: denominator, currency: currency)
    }
}
