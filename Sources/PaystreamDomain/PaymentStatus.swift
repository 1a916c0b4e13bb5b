/// Where a payment stands. The raw values are the `status` field of `payment-event/v1` and are
/// stored in the payment stage's tables, so they never change. `rejected` payments were never
/// authorized. `PaymentState.apply(_:)` decides which status follows which.
public enum PaymentStatus: String, Sendable, Codable, CaseIterable {
    case authorized, captured, partiallyRefunded = "partially_refunded", refunded
    case failed, expired, cancelled, conflicted, rejected

    /// The status never changes again. An expired or cancelled payment can still record a late
    /// capture (see `PaymentState.lateCapture`), but its status stays as it is.
    public var isFinal: Bool {
        switch self {
        case .authorized: false
        case .captured, .partiallyRefunded: false  // refunds may still come
        default: true
        }
    }

    /// The statuses an accepted event can lead to from this one. It includes the status itself
    /// where an event is recorded without changing it: a further partial refund, or a late capture
    /// after expiry or cancellation.
    public var successors: Set<PaymentStatus> {
        switch self {
        case .authorized: [.captured, .conflicted, .failed, .expired, .cancelled]
        case .captured: [.partiallyRefunded, .refunded]
        case .partiallyRefunded: [.partiallyRefunded, .refunded]
        case .expired: [.expired]
        case .cancelled: [.cancelled]
        case .refunded, .failed, .conflicted, .rejected: []
        }
    }
}
