/// One party's part of an allocated amount.
public struct AllocationPart: Sendable, Hashable {
    public let party: String
    public let amount: Money

    public init(party: String, amount: Money) {
        self.party = party
        self.amount = amount
    }
}

// Allocation never loses or invents a minor unit: the parts always add up to the whole exactly.
// A negative whole allocates symmetrically: allocating -x gives the negated parts of allocating x
// (every part has the whole's sign or is zero), so reversing an allocation reverses each part.
extension Money {
    /// Splits this amount in proportion to `weights` by the largest remainder method: each part is
    /// first its exact share rounded toward zero (`RoundingMode.down`); the minor units left over
    /// then go one each to the parts with the largest dropped fractions, ties to the earlier index.
    /// 100 by [1, 1, 1] → [34, 33, 33]; a zero weight always gets zero.
    ///
    /// Throws `invalidAllocation` for no weights, a negative weight or weights summing to zero, and
    /// `overflow` when the weights' sum does not fit in 64 bits.
    public func allocated(byWeights weights: [Int64]) throws(MoneyError) -> [Money] {
        guard !weights.isEmpty else { throw .invalidAllocation("no weights") }
        if let negative = weights.first(where: { $0 < 0 }) {
            throw .invalidAllocation("weight \(negative) is negative")
        }
        var totalWeight: Int64 = 0
        for weight in weights { totalWeight = try checked(totalWeight.addingReportingOverflow(weight)) }
        guard totalWeight > 0 else { throw .invalidAllocation("the weights sum to zero") }

        var parts: [Int64] = []
        var dropped: [UInt64] = []  // numerators of the fractions rounding dropped, over totalWeight
        parts.reserveCapacity(weights.count)
        dropped.reserveCapacity(weights.count)
        for weight in weights {
            // A share is at most the whole, so neither call can overflow; the 128-bit product keeps
            // `amount × weight` exact even when it does not fit in 64 bits.
            parts.append(try RoundingMode.down.multiplyDivide(minorUnits, weight, by: totalWeight))
            let product = minorUnits.magnitude.multipliedFullWidth(by: weight.magnitude)
            dropped.append(totalWeight.magnitude.dividingFullWidth(product).remainder)
        }
        // Each part lies between zero and the whole with the whole's sign, so these sums stay in range.
        var allocated: Int64 = 0
        for part in parts { allocated = try checked(allocated.addingReportingOverflow(part)) }
        let leftover = try checked(minorUnits.subtractingReportingOverflow(allocated))
        let step: Int64 = minorUnits < 0 ? -1 : 1
        // Fewer units are left over than there are parts with a non-zero dropped fraction, so every
        // unit lands on a part that was rounded, never on a zero weight.
        let order = parts.indices.sorted { dropped[$0] != dropped[$1] ? dropped[$0] > dropped[$1] : $0 < $1 }
        for index in order.prefix(Int(leftover.magnitude)) { parts[index] += step }
        return parts.map { Money(minorUnits: $0, currency: currency) }
    }

    /// `count` parts as equal as they can be, the larger ones first: 100 into 3 → [34, 33, 33],
    /// -100 into 3 → [-34, -33, -33]. The same result as `allocated(byWeights:)` with equal weights.
    ///
    /// Throws `invalidAllocation` when `count` is not positive.
    public func allocated(into count: Int) throws(MoneyError) -> [Money] {
        guard count > 0 else { throw .invalidAllocation("cannot split into \(count) parts") }
        let divisor = Int64(count)
        let base = minorUnits / divisor  // toward zero; cannot overflow as divisor > 0
        let extra = Int((minorUnits % divisor).magnitude)
        let step: Int64 = minorUnits < 0 ? -1 : 1
        return (0..<count).map { index in
            Money(minorUnits: index < extra ? base + step : base, currency: currency)
        }
    }

    /// The `fixed` parts as given, followed by one part for `party` holding what they leave of this
    /// amount (zero when they use it all). Splits to suppliers are fixed parts; the merchant takes
    /// the remainder.
    ///
    /// Each fixed part must be in this currency (else `currencyMismatch`) and have this amount's
    /// sign or be zero, and together they may not exceed it (else `invalidAllocation`).
    public func allocated(fixed parts: [AllocationPart], remainderTo party: String) throws(MoneyError) -> [AllocationPart] {
        var allocated: Int64 = 0
        for part in parts {
            guard part.amount.currency == currency else {
                throw .currencyMismatch(currency.code, part.amount.currency.code)
            }
            let value = part.amount.minorUnits
            guard value == 0 || (minorUnits != 0 && (value < 0) == (minorUnits < 0)) else {
                throw .invalidAllocation(
                    "the part for \(part.party), \(part.amount.formatted), has a different sign from the whole, \(formatted)")
            }
            let (sum, overflow) = allocated.addingReportingOverflow(value)
            guard !overflow, sum.magnitude <= minorUnits.magnitude else {
                throw .invalidAllocation("the fixed parts exceed the whole of \(formatted)")
            }
            allocated = sum
        }
        // Same sign and no larger than the whole, so the difference is in range.
        let remainder = Money(minorUnits: minorUnits - allocated, currency: currency)
        return parts + [AllocationPart(party: party, amount: remainder)]
    }
}
