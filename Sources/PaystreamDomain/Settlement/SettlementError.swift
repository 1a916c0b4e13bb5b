/// Why settlement math refused its input. Each case has a stable `code` and a message for people.
public enum SettlementError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Terms that cannot apply: a rate out of range, a negative fixed part, caps the wrong way round.
    case invalidPlan(String)
    /// A split plan names the same party twice; its share would be ambiguous.
    case duplicateParty(String)
    /// Supplier splits ask for more than is left after the fee and the commission.
    case splitsExceedNet(requested: Int64, available: Int64)
    /// An installment count or principal no schedule can be built from.
    case invalidInstallments(String)
    /// Parts of a breakdown that do not add up to the gross, or a negative part.
    case unbalancedBreakdown(String)
    /// A refund or cancellation that cannot be taken from the stored breakdown.
    case invalidReversal(String)
    /// A refund above what is left of the booked gross.
    case reversalExceedsBooking(requested: Int64, available: Int64)
    case money(MoneyError)

    public var code: String {
        switch self {
        case .invalidPlan: "invalid_settlement_plan"
        case .duplicateParty: "duplicate_split_party"
        case .splitsExceedNet: "splits_exceed_net"
        case .invalidInstallments: "invalid_installments"
        case .unbalancedBreakdown: "unbalanced_breakdown"
        case .invalidReversal: "invalid_reversal"
        case .reversalExceedsBooking: "reversal_exceeds_booking"
        case .money(let error): error.code
        }
    }

    public var description: String {
        switch self {
        case .invalidPlan(let reason): "invalid settlement plan: \(reason)"
        case .duplicateParty(let party): "party '\(party)' appears more than once in the splits"
        case .splitsExceedNet(let requested, let available):
            "splits of \(requested) exceed the \(available) left after fee and commission"
        case .invalidInstallments(let reason): "invalid installments: \(reason)"
        case .unbalancedBreakdown(let reason): "settlement breakdown does not balance: \(reason)"
        case .invalidReversal(let reason): "invalid reversal: \(reason)"
        case .reversalExceedsBooking(let requested, let available):
            "a reversal of \(requested) exceeds the \(available) left of the booked gross"
        case .money(let error): error.description
        }
    }
}
