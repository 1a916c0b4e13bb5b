/// The platform's commission on a payment: basis points of the gross amount plus a fixed part.
///
/// Rounding: `down(amount × basisPoints / 10 000) + fixed` — truncated, unlike fees, so the
/// platform never takes a fraction of a minor unit more than its contracted rate; what truncation
/// leaves stays with the merchant. In a breakdown it is capped at what the fee left.
/// `fixed` is in minor units of the payment's currency.
public struct CommissionPlan: Sendable, Hashable, Codable {
    public let basisPoints: Int64
    public let fixed: Int64

    /// No commission.
    public static let zero = CommissionPlan(checked: 0, fixed: 0)

    /// `basisPoints` is 0…10 000 and `fixed` ≥ 0.
    public init(basisPoints: Int64, fixed: Int64 = 0) throws(SettlementError) {
        guard (0...10_000).contains(basisPoints) else {
            throw .invalidPlan("commission basis_points \(basisPoints) is not within 0…10000")
        }
        guard fixed >= 0 else { throw .invalidPlan("commission fixed part \(fixed) is negative") }
        self.init(checked: basisPoints, fixed: fixed)
    }

    private init(checked basisPoints: Int64, fixed: Int64) {
        self.basisPoints = basisPoints
        self.fixed = fixed
    }

    /// The commission on `amount` (≥ 0), never more than `limit` (what is left to take it from).
    public func commission(for amount: Money, limit: Money) throws(SettlementError) -> Money {
        guard amount.minorUnits >= 0 else {
            throw .money(.invalidAmount("commission is taken on a non-negative amount, not \(amount.minorUnits)"))
        }
        guard limit.currency == amount.currency else { throw .money(.currencyMismatch(amount.currency.code, limit.currency.code)) }
        let variable: Int64
        do { variable = try RoundingMode.down.multiplyDivide(amount.minorUnits, basisPoints, by: 10_000) } catch { throw .money(error) }
        let commission = min(Int128(variable) + Int128(fixed), Int128(max(limit.minorUnits, 0)))
        return Money(minorUnits: Int64(commission), currency: amount.currency)
    }

    enum CodingKeys: String, CodingKey {
        case basisPoints = "basis_points", fixed
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        do {
            try self.init(basisPoints: try c.decode(Int64.self, forKey: .basisPoints),
                          fixed: try c.decodeIfPresent(Int64.self, forKey: .fixed) ?? 0)
        } catch let error as SettlementError {
            throw DecodingError.dataCorruptedError(forKey: .basisPoints, in: c, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(basisPoints, forKey: .basisPoints)
        try c.encode(fixed, forKey: .fixed)
    }
}
