/// What a merchant pays per payment of one method (one entry of the merchant's fee plan):
/// basis points of the amount plus a fixed part, optionally held between a minimum and a maximum.
///
/// Rounding: `halfUp(amount × basisPoints / 10 000) + fixed`, then raised to `minimum`, lowered to
/// `maximum`, and finally capped at the amount. The cap is there because settlement runs on money
/// already captured: refusing would strand it, so a payment smaller than its fee settles with the
/// whole amount as fee and nothing for the merchant.
///
/// `fixed`, `minimum` and `maximum` are minor units of `currency`, or of the payment's currency
/// when `currency` is nil.
public struct FeePlan: Sendable, Hashable, Codable {
    public let basisPoints: Int64
    public let fixed: Int64
    public let minimum: Int64?
    public let maximum: Int64?
    /// The ISO 4217 code the fixed amounts are in; a payment in another currency is refused rather
    /// than charged 30 yen where 30 fen was meant.
    public let currency: String?

    /// No fee at all.
    public static let free = FeePlan(checked: 0, fixed: 0, minimum: nil, maximum: nil, currency: nil)

    /// `basisPoints` is 0…10 000; every amount is ≥ 0 and `minimum` ≤ `maximum`.
    public init(basisPoints: Int64, fixed: Int64 = 0, minimum: Int64? = nil, maximum: Int64? = nil,
                currency: String? = nil) throws(SettlementError) {
        guard (0...10_000).contains(basisPoints) else { throw .invalidPlan("fee basis_points \(basisPoints) is not within 0…10000") }
        guard fixed >= 0 else { throw .invalidPlan("fee fixed part \(fixed) is negative") }
        if let minimum, minimum < 0 { throw .invalidPlan("fee minimum \(minimum) is negative") }
        if let maximum, maximum < 0 { throw .invalidPlan("fee maximum \(maximum) is negative") }
        if let minimum, let maximum, minimum > maximum {
            throw .invalidPlan("fee minimum \(minimum) is above the maximum \(maximum)")
        }
        self.init(checked: basisPoints, fixed: fixed, minimum: minimum, maximum: maximum, currency: currency)
    }

    private init(checked basisPoints: Int64, fixed: Int64, minimum: Int64?, maximum: Int64?, currency: String?) {
        self.basisPoints = basisPoints
        self.fixed = fixed
        self.minimum = minimum
        self.maximum = maximum
        self.currency = currency
    }

    /// The fee on `amount` (≥ 0), in its currency; never more than `amount`.
    public func fee(for amount: Money) throws(SettlementError) -> Money {
        guard amount.minorUnits >= 0 else { throw .money(.invalidAmount("a fee is charged on a non-negative amount, not \(amount.minorUnits)")) }
        if let currency, currency != amount.currency.code { throw .money(.currencyMismatch(currency, amount.currency.code)) }
        let variable: Int64
        do { variable = try RoundingMode.halfUp.multiplyDivide(amount.minorUnits, basisPoints, by: 10_000) } catch { throw .money(error) }
        // 128 bits so a fixed part near Int64.max cannot overflow; the caps bring it back in range.
        var fee = Int128(variable) + Int128(fixed)
        if let minimum { fee = max(fee, Int128(minimum)) }
        if let maximum { fee = min(fee, Int128(maximum)) }
        fee = min(fee, Int128(amount.minorUnits))
        return Money(minorUnits: Int64(fee), currency: amount.currency)
    }

    enum CodingKeys: String, CodingKey {
        case basisPoints = "basis_points", fixed, minimum, maximum, currency
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        do {
            try self.init(basisPoints: try c.decode(Int64.self, forKey: .basisPoints),
                          fixed: try c.decodeIfPresent(Int64.self, forKey: .fixed) ?? 0,
                          minimum: try c.decodeIfPresent(Int64.self, forKey: .minimum),
                          maximum: try c.decodeIfPresent(Int64.self, forKey: .maximum),
                          currency: try c.decodeIfPresent(String.self, forKey: .currency))
        } catch let error as SettlementError {
            throw DecodingError.dataCorruptedError(forKey: .basisPoints, in: c, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(basisPoints, forKey: .basisPoints)
        try c.encode(fixed, forKey: .fixed)
        try c.encodeIfPresent(minimum, forKey: .minimum)
        try c.encodeIfPresent(maximum, forKey: .maximum)
        try c.encodeIfPresent(currency, forKey: .currency)
    }
}
