import Foundation

/// A two-phase reservation (the ledger side of an authorization): it lowers the account's
/// available balance at once and moves money only when posted. It resolves at most once.
public struct Hold: Sendable, Hashable, Identifiable {
    public let id: HoldID
    public let account: AccountID
    /// What is reserved, always positive, in the account's currency.
    public let amount: Money
    /// When it may be expired; nil for a hold that only a post or a void ends.
    public let expiresAt: Date?
    /// Every resolution recorded. The ledger records at most one; this is a list so that the
    /// invariant checker can see a second one in restored data.
    public internal(set) var resolutions: [HoldResolution]

    public init(id: HoldID, account: AccountID, amount: Money, expiresAt: Date? = nil,
                resolutions: [HoldResolution] = []) {
        self.id = id
        self.account = account
        self.amount = amount
        self.expiresAt = expiresAt
        self.resolutions = resolutions
    }

    /// Not yet resolved: its amount still counts against the account's available balance.
    public var isPending: Bool { resolutions.isEmpty }

    public var resolution: HoldResolution? { resolutions.first }
}
