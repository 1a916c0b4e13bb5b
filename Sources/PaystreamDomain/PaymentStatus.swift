/// Where a payment stands. `rejected` payments were never authorized.
public enum PaymentStatus: String, Sendable, Codable, CaseIterable {
    case authorized, captured, partiallyRefunded = "partially_refunded", refunded
    case failed, expired, cancelled, conflicted, rejected

    /// No further channel answer changes a payment in one of these states.
    public var isFinal: Bool {
        switch self {
        case .authorized: false
        case .captured, .partiallyRefunded: false  // refunds may still come
        default: true
        }
    }
}
