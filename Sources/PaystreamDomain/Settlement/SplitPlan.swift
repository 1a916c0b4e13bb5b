/// How a payment's distributable amount (gross − fee − commission) is shared with suppliers;
/// whatever the shares leave goes to the merchant.
///
/// Rules: fixed shares take their amount; basis-point shares take
/// `down(distributable × basisPoints / 10 000)`, each computed on the whole distributable amount
/// (not on what earlier shares left), so the order of shares does not matter. Truncation leaves
/// the sub-unit remainders to the merchant. Shares that together ask for more than the
/// distributable amount are refused (`splits_exceed_net`) rather than scaled down.
///
/// JSON: an array of `SupplierShare`.
public struct SplitPlan: Sendable, Hashable, Codable {
    public let shares: [SupplierShare]

    /// No suppliers: the merchant keeps everything after fee and commission.
    public static let empty = SplitPlan(checked: [])

    /// Each party at most once; basis-point shares total at most 10 000.
    public init(_ shares: [SupplierShare]) throws(SettlementError) {
        var parties = Set<String>()
        var points: Int64 = 0
        for share in shares {
            guard parties.insert(share.partyId).inserted else { throw .duplicateParty(share.partyId) }
            // Checked after every share, and each is ≤ 10 000, so the running total cannot overflow.
            if case .basisPoints(let p) = share.rule { points += p }
            guard points <= 10_000 else { throw .invalidPlan("split basis_points total \(points), more than 10000") }
        }
        self.init(checked: shares)
    }

    /// The fixed splits of a payment request (`splits` on `payment-request/v1`).
    public init(splits: [Split]) throws(SettlementError) {
        var shares: [SupplierShare] = []
        for split in splits { shares.append(try SupplierShare(partyId: split.partyId, rule: .fixed(split.amount))) }
        try self.init(shares)
    }

    private init(checked shares: [SupplierShare]) {
        self.shares = shares
    }

    /// Each supplier's amount out of `distributable`, in plan order. Throws `splitsExceedNet` when
    /// they add up to more than `distributable`.
    public func splits(of distributable: Money) throws(SettlementError) -> [SupplierSplit] {
        guard distributable.minorUnits >= 0 else {
            throw .money(.invalidAmount("nothing to split from a negative amount \(distributable.minorUnits)"))
        }
        var splits: [SupplierSplit] = []
        var requested: Int128 = 0
        for share in shares {
            let amount: Int64
            switch share.rule {
            case .fixed(let fixed):
                amount = fixed
            case .basisPoints(let points):
                do { amount = try RoundingMode.down.multiplyDivide(distributable.minorUnits, points, by: 10_000) } catch { throw .money(error) }
            }
            requested += Int128(amount)
            splits.append(SupplierSplit(partyId: share.partyId, amount: Money(minorUnits: amount, currency: distributable.currency)))
        }
        guard requested <= Int128(distributable.minorUnits) else {
            throw .splitsExceedNet(requested: Int64(clamping: requested), available: distributable.minorUnits)
        }
        return splits
    }

    public init(from decoder: any Decoder) throws {
        let shares = try decoder.singleValueContainer().decode([SupplierShare].self)
        do { try self.init(shares) } catch {
            throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(shares)
    }
}
