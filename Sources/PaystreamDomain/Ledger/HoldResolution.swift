/// How a hold ended. A hold resolves at most once.
public enum HoldResolution: Sendable, Hashable, CustomStringConvertible {
    /// Captured: `amount` (at most the held amount) moved by `posting`; the rest was released.
    case posted(Money, posting: PostingID)
    /// Cancelled before capture; everything released.
    case voided
    /// Reached its expiry unresolved; everything released.
    case expired

    public var description: String {
        switch self {
        case .posted(let amount, let posting): "posted \(amount.minorUnits) \(amount.currency.code) by \(posting)"
        case .voided: "voided"
        case .expired: "expired"
        }
    }
}
