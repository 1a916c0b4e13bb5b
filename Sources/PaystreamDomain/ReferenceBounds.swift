import Foundation

/// What a reference value may say, as the operator configures it (`stage.reference_bounds`):
/// the checks that shape validation cannot make. Reference topics are written by one principal
/// (`paystream-reference`), but a mistyped or malicious fee plan, credit limit or FX rate changes
/// every decision that reads it; a value outside these bounds is refused by the stages that read
/// it (the key keeps its previous value), logged and counted.
public struct ReferenceBounds: Sendable, Equatable, Decodable {
    /// The highest fee rate of any fee entry (`fees.<method>`, `default_fee`), in basis points.
    public var maxFeeBasisPoints: Int64
    /// Per currency, the highest fixed fee part in minor units (a merchant's fees are in its
    /// settlement currency); a currency not listed is not bounded.
    public var maxFixedFee: [String: Int64]
    /// The highest platform commission, in basis points.
    public var maxCommissionBasisPoints: Int64
    /// Per currency, the highest credit limit in minor units; a currency not listed is not bounded.
    public var maxCreditLimit: [String: Int64]
    /// The largest change of a pair's FX rate from its current value, in basis points of the
    /// current value; nil: any change. A pair's first rate is not compared.
    public var maxFxChangeBasisPoints: Int64?

    public init(maxFeeBasisPoints: Int64 = 1_000, maxFixedFee: [String: Int64] = [:], maxCommissionBasisPoints: Int64 = 3_000,
                maxCreditLimit: [String: Int64] = [:], maxFxChangeBasisPoints: Int64? = 2_000) {
        self.maxFeeBasisPoints = maxFeeBasisPoints
        self.maxFixedFee = maxFixedFee
        self.maxCommissionBasisPoints = maxCommissionBasisPoints
        self.maxCreditLimit = maxCreditLimit
        self.maxFxChangeBasisPoints = maxFxChangeBasisPoints
    }

    /// No bounds beyond shape validation (tools that only read).
    public static let none = ReferenceBounds(maxFeeBasisPoints: 10_000, maxCommissionBasisPoints: 10_000, maxFxChangeBasisPoints: nil)

    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxFeeBasisPoints = "max_fee_basis_points", maxFixedFee = "max_fixed_fee"
        case maxCommissionBasisPoints = "max_commission_basis_points", maxCreditLimit = "max_credit_limit"
        case maxFxChangeBasisPoints = "max_fx_change_basis_points"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = ReferenceBounds()
        self.init(maxFeeBasisPoints: try c.decodeIfPresent(Int64.self, forKey: .maxFeeBasisPoints) ?? defaults.maxFeeBasisPoints,
                  maxFixedFee: try c.decodeIfPresent([String: Int64].self, forKey: .maxFixedFee) ?? [:],
                  maxCommissionBasisPoints: try c.decodeIfPresent(Int64.self, forKey: .maxCommissionBasisPoints)
                    ?? defaults.maxCommissionBasisPoints,
                  maxCreditLimit: try c.decodeIfPresent([String: Int64].self, forKey: .maxCreditLimit) ?? [:],
                  maxFxChangeBasisPoints: c.contains(.maxFxChangeBasisPoints)
                    ? try c.decodeNil(forKey: .maxFxChangeBasisPoints) ? nil : try c.decode(Int64.self, forKey: .maxFxChangeBasisPoints)
                    : defaults.maxFxChangeBasisPoints)
        for (key, value) in [(CodingKeys.maxFeeBasisPoints, maxFeeBasisPoints), (.maxCommissionBasisPoints, maxCommissionBasisPoints)]
        where !(0...10_000).contains(value) {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "must be within 0…10000, not \(value)")
        }
        if let change = maxFxChangeBasisPoints, change <= 0 {
            throw DecodingError.dataCorruptedError(forKey: .maxFxChangeBasisPoints, in: c, debugDescription: "must be above 0, not \(change)")
        }
        for (key, map) in [(CodingKeys.maxFixedFee, maxFixedFee), (.maxCreditLimit, maxCreditLimit)] {
            for (code, value) in map.sorted(by: { $0.key < $1.key }) where Currency.named(code) == nil || value < 0 {
                throw DecodingError.dataCorruptedError(forKey: key, in: c,
                                                       debugDescription: "'\(code)': \(value) is not a non-negative amount in an ISO 4217 currency")
            }
        }
    }

    /// Why a merchant's terms are outside the bounds; empty when they are within.
    public func problems(_ merchant: MerchantReference) -> [String] {
        var problems: [String] = []
        var entries = (merchant.fees ?? [:]).sorted { $0.key < $1.key }.map { ("fees.\($0.key)", $0.value) }
        if let fee = merchant.defaultFee { entries.append(("default_fee", fee)) }
        for (name, fee) in entries {
            if fee.basisPoints > maxFeeBasisPoints {
                problems.append("\(name).basis_points \(fee.basisPoints) is above the configured maximum \(maxFeeBasisPoints)")
            }
            if let maximum = maxFixedFee[merchant.settlementCurrency], fee.fixed > maximum {
                problems.append("\(name).fixed \(fee.fixed) \(merchant.settlementCurrency) is above the configured maximum \(maximum)")
            }
        }
        if let commission = merchant.commissionBasisPoints, commission > maxCommissionBasisPoints {
            problems.append("commission_basis_points \(commission) is above the configured maximum \(maxCommissionBasisPoints)")
        }
        return problems
    }

    /// Why a credit line is outside the bounds; empty when it is within.
    public func problems(_ line: CreditLineReference) -> [String] {
        line.limits.sorted { $0.key < $1.key }.compactMap { code, limit in
            guard let maximum = maxCreditLimit[code], limit > maximum else { return nil }
            return "limits.\(code) \(limit) is above the configured maximum \(maximum)"
        }
    }

    /// Why a new rate moves too far from the pair's current one; empty when it does not (or
    /// there is no current rate to compare with).
    public func problems(_ rate: FXRateReference, current: FXRateReference?) -> [String] {
        guard let maximum = maxFxChangeBasisPoints, let current, let new = rate.exchangeRate, let old = current.exchangeRate
        else { return [] }
        let newValue = Decimal(new.value) / pow(Decimal(10), new.scale), oldValue = Decimal(old.value) / pow(Decimal(10), old.scale)
        var change = (newValue - oldValue) / oldValue * 10_000
        if change < 0 { change.negate() }
        guard change > Decimal(maximum) else { return [] }
        var rounded = Decimal(), raw = change
        NSDecimalRound(&rounded, &raw, 0, .plain)
        return ["rate \(rate.rate) moves \(rounded) basis points from the current \(current.rate); the configured maximum is \(maximum) "
                + "(a real move that large needs the bound raised first)"]
    }
}
