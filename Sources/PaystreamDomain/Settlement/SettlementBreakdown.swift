/// Where a captured payment's money goes: the fee, the platform's commission, each supplier's
/// split and the merchant's net. Every value satisfies the invariant: one currency, no negative
/// part, and `fee + commission + splits + merchantNet == gross` to the minor unit.
public struct SettlementBreakdown: Sendable, Hashable {
    public let gross: Money
    public let fee: Money
    public let commission: Money
    public let splits: [SupplierSplit]
    /// What the other parts leave, so it also receives the sub-unit remainders that commission
    /// and percentage splits truncate.
    public let merchantNet: Money

    /// Settles `gross` (≥ 0) in order: the fee (capped at gross), the commission on gross (capped at
    /// what the fee left), the supplier splits out of what remains, and the rest to the merchant.
    public init(settling gross: Money, feePlan: FeePlan, commissionPlan: CommissionPlan, splitPlan: SplitPlan) throws(SettlementError) {
        let fee = try feePlan.fee(for: gross)
        let afterFee = try Self.subtract(fee, from: gross)
        let commission = try commissionPlan.commission(for: gross, limit: afterFee)
        let distributable = try Self.subtract(commission, from: afterFee)
        let splits = try splitPlan.splits(of: distributable)
        var net = distributable
        for split in splits { net = try Self.subtract(split.amount, from: net) }
        try self.init(gross: gross, fee: fee, commission: commission, splits: splits, merchantNet: net)
    }

    /// A breakdown from its parts (e.g. read back from a store); throws `unbalancedBreakdown` when
    /// they break the invariant.
    public init(gross: Money, fee: Money, commission: Money, splits: [SupplierSplit], merchantNet: Money) throws(SettlementError) {
        let parts = [fee, commission, merchantNet] + splits.map(\.amount)
        if let odd = parts.first(where: { $0.currency != gross.currency }) {
            throw .unbalancedBreakdown("a part is in \(odd.currency.code), the gross in \(gross.currency.code)")
        }
        guard gross.minorUnits >= 0, parts.allSatisfy({ $0.minorUnits >= 0 }) else {
            throw .unbalancedBreakdown("a part is negative")
        }
        // 128 bits: the parts are each ≤ Int64.max, their sum may not be.
        let total = parts.reduce(Int128(0)) { $0 + Int128($1.minorUnits) }
        guard total == Int128(gross.minorUnits) else {
            throw .unbalancedBreakdown("parts sum to \(total), gross is \(gross.minorUnits)")
        }
        self.gross = gross
        self.fee = fee
        self.commission = commission
        self.splits = splits
        self.merchantNet = merchantNet
    }

    private static func subtract(_ part: Money, from whole: Money) throws(SettlementError) -> Money {
        do { return try whole.subtracting(part) } catch { throw .money(error) }
    }
}
