/// A payment as its state machine sees it: the status, the money at each step, and the number of
/// state changes so far. A value: `apply(_:)` returns the next state and leaves this one alone, so
/// a stage can decide, then store the result in the same transaction as its effects.
///
/// Transitions (anything else throws `PaymentTransitionError.invalidState`):
///
/// | from | event | to |
/// |---|---|---|
/// | authorized | channelApproved, same amount and currency | captured (captured = authorized) |
/// | authorized | channelApproved, other amount or currency | conflicted |
/// | authorized | channelDeclined | failed |
/// | authorized | expired / cancelled | expired / cancelled |
/// | expired, cancelled | channelApproved, first time | same status, `lateCapture` recorded |
/// | captured, partially_refunded | refunded, below what is left | partially_refunded |
/// | captured, partially_refunded | refunded, exactly what is left | refunded |
/// | captured, partially_refunded, refunded | refunded, above what is left | throws refundExceedsCaptured |
///
/// The channels answer a sale: their approval is the capture, so there is no separate capture
/// event, and an approval of another amount is a conflict for people to resolve, not a partial
/// capture. Every accepted event adds exactly 1 to `sequence`.
public struct PaymentState: Sendable, Hashable {
    public private(set) var status: PaymentStatus
    public let currency: Currency
    /// What the payer authorized; zero for a rejected payment.
    public let authorized: Money
    /// What the channel took; zero until captured, then equal to `authorized`.
    public private(set) var captured: Money
    /// The sum of accepted refunds; never above `captured`.
    public private(set) var refunded: Money
    /// 1 for the first state and 1 more for every accepted event: the `sequence` of the payment's
    /// events on `payments.events`.
    public private(set) var sequence: Int
    /// What a channel reported taking after the payment had expired or been cancelled. The
    /// payer's money must go back, so the stage answers by reversing it (an automatic refund to
    /// the channel); the payment itself stays expired or cancelled and is never captured.
    public private(set) var lateCapture: ReportedAmount?

    /// An amount as a channel reported it: maybe not the payment's currency, maybe no ISO currency.
    public struct ReportedAmount: Sendable, Hashable {
        public let minorUnits: Int64
        public let currencyCode: String

        public init(minorUnits: Int64, currencyCode: String) {
            self.minorUnits = minorUnits
            self.currencyCode = currencyCode
        }
    }

    /// What can happen to a payment after it was authorized.
    public enum Event: Sendable, Hashable {
        /// The channel approved and took `amount` of `currency`, as it reported them.
        case channelApproved(amount: Int64, currency: String)
        /// The channel declined, with its reason.
        case channelDeclined(reason: String)
        /// The channel never answered in time; the stage queried it and voided the authorization.
        case expired
        /// The payer or merchant cancelled before the channel answered.
        case cancelled
        /// A refund of `amount` was accepted.
        case refunded(Money)

        /// A stable name for messages and logs.
        public var name: String {
            switch self {
            case .channelApproved: "channel_approved"
            case .channelDeclined: "channel_declined"
            case .expired: "expired"
            case .cancelled: "cancelled"
            case .refunded: "refunded"
            }
        }
    }

    /// A newly authorized payment of `amount`, sequence 1.
    public init(authorizing amount: Money) throws(PaymentTransitionError) {
        guard amount.isPositive else { throw .invalidAmount("an authorization must be positive, not \(amount.minorUnits)") }
        self.init(status: .authorized, authorized: amount, sequence: 1)
    }

    /// A payment refused before authorization, sequence 1. No event moves it anywhere.
    public static func rejected(currency: Currency) -> PaymentState {
        PaymentState(status: .rejected, authorized: .zero(currency), sequence: 1)
    }

    /// A stored payment, checked: the amounts must be what `apply(_:)` could have produced for
    /// `status`, so a stage cannot resume from a state the machine would never reach.
    public init(status: PaymentStatus, authorized: Money, captured: Money, refunded: Money, sequence: Int,
                lateCapture: ReportedAmount? = nil) throws(PaymentTransitionError) {
        let currency = authorized.currency
        guard captured.currency == currency, refunded.currency == currency else {
            throw .invalidAmount("authorized, captured and refunded amounts must all be in \(currency.code)")
        }
        guard sequence >= 1 else { throw .invalidAmount("sequence must be at least 1, not \(sequence)") }
        let consistent: Bool
        switch status {
        case .rejected:
            consistent = authorized.isZero && captured.isZero && refunded.isZero
        case .authorized, .failed, .expired, .cancelled, .conflicted:
            consistent = authorized.isPositive && captured.isZero && refunded.isZero
        case .captured:
            consistent = authorized.isPositive && captured == authorized && refunded.isZero
        case .partiallyRefunded:
            consistent = authorized.isPositive && captured == authorized && refunded.isPositive && refunded < captured
        case .refunded:
            consistent = authorized.isPositive && captured == authorized && refunded == captured
        }
        guard consistent else {
            throw .invalidAmount("\(status.rawValue) cannot have authorized \(authorized.minorUnits), captured "
                + "\(captured.minorUnits), refunded \(refunded.minorUnits)")
        }
        guard lateCapture == nil || status == .expired || status == .cancelled else {
            throw .invalidAmount("only an expired or cancelled payment can have a late capture")
        }
        self.status = status
        self.currency = currency
        self.authorized = authorized
        self.captured = captured
        self.refunded = refunded
        self.sequence = sequence
        self.lateCapture = lateCapture
    }

    private init(status: PaymentStatus, authorized: Money, sequence: Int) {
        self.status = status
        self.currency = authorized.currency
        self.authorized = authorized
        self.captured = .zero(authorized.currency)
        self.refunded = .zero(authorized.currency)
        self.sequence = sequence
        self.lateCapture = nil
    }

    /// What may still be refunded: captured minus refunded.
    public var refundable: Money {
        // Cannot fail: both are in `currency` and 0 ≤ refunded ≤ captured.
        (try? captured.subtracting(refunded)) ?? .zero(currency)
    }

    /// The state after `event`, or the reason it has no transition from this one.
    public func apply(_ event: Event) throws(PaymentTransitionError) -> PaymentState {
        // A stored sequence at Int.max cannot grow; refusing beats trapping.
        guard sequence < .max else { throw .invalidState(status, event: event.name) }
        var next = self
        switch (status, event) {
        case (.authorized, .channelApproved(let amount, let code)):
            if amount == authorized.minorUnits && code == currency.code {
                next.status = .captured
                next.captured = authorized
            } else {
                next.status = .conflicted
            }
        case (.authorized, .channelDeclined):
            next.status = .failed
        case (.authorized, .expired):
            next.status = .expired
        case (.authorized, .cancelled):
            next.status = .cancelled
        case (.expired, .channelApproved(let amount, let code)) where lateCapture == nil,
             (.cancelled, .channelApproved(let amount, let code)) where lateCapture == nil:
            next.lateCapture = ReportedAmount(minorUnits: amount, currencyCode: code)
        case (.captured, .refunded(let amount)), (.partiallyRefunded, .refunded(let amount)),
             (.refunded, .refunded(let amount)):
            next.refunded = try refundedTotal(after: amount)
            next.status = next.refunded == captured ? .refunded : .partiallyRefunded
        default:
            throw .invalidState(status, event: event.name)
        }
        next.sequence += 1
        return next
    }

    /// `refunded + amount`, if that stays within `captured`.
    private func refundedTotal(after amount: Money) throws(PaymentTransitionError) -> Money {
        guard amount.currency == currency else {
            throw .invalidAmount("a refund in \(amount.currency.code) of a payment in \(currency.code)")
        }
        guard amount.isPositive else { throw .invalidAmount("a refund must be positive, not \(amount.minorUnits)") }
        // An overflowing sum is above any captured amount, so it is the same refusal.
        guard let total = try? refunded.adding(amount), total <= captured else {
            throw .refundExceedsCaptured(requested: amount, refundable: refundable)
        }
        return total
    }
}
