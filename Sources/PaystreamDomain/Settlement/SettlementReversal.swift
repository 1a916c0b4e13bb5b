/// How a refund (or a cancellation after capture) takes back a booked settlement: the amount is
/// shared among the parts of the stored breakdown in proportion to what each still holds, so a
/// payment's reversals never take more from a part than was booked to it and the last refund
/// takes exactly what is left.
///
/// Rules (docs/settlement.md, "Refunds"):
/// - The refund is allocated over the reversible parts with the parts' *unreversed* amounts as
///   weights, by the largest remainder method (`Money.allocated(byWeights:)`: each share rounded
///   down, the leftover units one each to the largest dropped fractions, ties to the earlier part;
///   parts are ordered fee, commission, suppliers in request order, merchant).
/// - A fee the merchant's plan keeps on refunds is not reversible: the other parts share the
///   refund, and once they are exhausted the merchant's part takes the rest (the merchant bears
///   the kept fee; its part may then exceed what was booked to it, by at most the fee).
/// - A refund above what is left of the gross is refused (`reversal_exceeds_booking`).
public enum SettlementReversal {
    /// One part of a booked breakdown as a reversal sees it.
    public struct Part: Sendable, Hashable {
        public let booked: Int64
        public let reversed: Int64
        /// False for a fee the plan keeps on refunds.
        public let reversible: Bool
        /// The merchant's part: it takes what the reversible parts cannot.
        public let isMerchant: Bool

        public init(booked: Int64, reversed: Int64, reversible: Bool = true, isMerchant: Bool = false) {
            self.booked = booked
            self.reversed = reversed
            self.reversible = reversible
            self.isMerchant = isMerchant
        }

        /// What is still booked to the part (never below zero).
        public var remaining: Int64 { max(0, booked - reversed) }
    }

    /// Each part's share of `amount` (> 0), in the parts' order, in the payment's currency.
    public static func shares(of amount: Money, parts: [Part]) throws(SettlementError) -> [Money] {
        guard amount.minorUnits > 0 else { throw .invalidReversal("a reversal takes a positive amount, not \(amount.minorUnits)") }
        guard let merchant = parts.firstIndex(where: \.isMerchant) else { throw .invalidReversal("the breakdown has no merchant part") }
        // 128 bits: each part fits, their sum may not.
        let left = parts.reduce(Int128(0)) { $0 + Int128($1.booked) - Int128($1.reversed) }
        guard Int128(amount.minorUnits) <= left else {
            throw .reversalExceedsBooking(requested: amount.minorUnits, available: Int64(clamping: left))
        }
        let weights = parts.map { $0.reversible ? $0.remaining : 0 }
        let reversibleLeft = weights.reduce(Int128(0)) { $0 + Int128($1) }
        let spread = Int64(min(Int128(amount.minorUnits), reversibleLeft))
        var shares = [Money](repeating: .zero(amount.currency), count: parts.count)
        if spread > 0 {
            do { shares = try Money(minorUnits: spread, currency: amount.currency).allocated(byWeights: weights) } catch { throw .money(error) }
        }
        if spread < amount.minorUnits {
            // Only a kept fee leaves the reversible parts short: the merchant bears it.
            shares[merchant] = Money(minorUnits: shares[merchant].minorUnits + (amount.minorUnits - spread), currency: amount.currency)
        }
        return shares
    }

    /// What a part booked as `bookedSettled` in the settlement currency gives back when its
    /// reversed amount (in the payment's currency) goes from `reversedBefore` to
    /// `reversedBefore + share`: the cumulative target `halfUp(bookedSettled × reversed ÷ booked)`
    /// less what was given back before. The targets only grow, and a part reversed in full gives
    /// back exactly what it was booked, so the converted side needs no rate of its own: it is
    /// the original snapshot, applied through the booked amounts.
    public static func settledShare(booked: Int64, bookedSettled: Int64, reversedBefore: Int64, reversedSettledBefore: Int64,
                                    share: Int64) throws(SettlementError) -> Int64 {
        guard booked > 0 else { return 0 }
        do {
            let target = try RoundingMode.halfUp.multiplyDivide(bookedSettled, reversedBefore + share, by: booked)
            return target - reversedSettledBefore
        } catch {
            throw .money(error)
        }
    }
}
