/// Why `PaymentState.apply(_:)` refused an event. Each case has a stable `code` and maps to the
/// rejection reason a request that caused it gets.
public enum PaymentTransitionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The event has no transition from the payment's status.
    case invalidState(PaymentStatus, event: String)
    /// The refund would take the refunded total above the captured total.
    case refundExceedsCaptured(requested: Money, refundable: Money)
    /// An amount that is not positive, not in the payment's currency, or a stored state that the
    /// machine could not have produced.
    case invalidAmount(String)

    public var code: String { reason.rawValue }

    /// The `payment.rejected` reason for a request that asked for this event.
    public var reason: RejectionReason {
        switch self {
        case .invalidState: .invalidState
        case .refundExceedsCaptured: .refundExceedsCaptured
        // A malformed amount is the request's fault, not the payment's state.
        case .invalidAmount: .invalidRequest
        }
    }

    public var rejection: Rejection { Rejection(reason, description) }

    public var description: String {
        switch self {
        case .invalidState(let status, let event):
            "a \(status.rawValue) payment does not accept \(event)"
        case .refundExceedsCaptured(let requested, let refundable):
            "refund of \(requested.formatted) exceeds the \(refundable.formatted) still refundable"
        case .invalidAmount(let reason):
            reason
        }
    }
}
