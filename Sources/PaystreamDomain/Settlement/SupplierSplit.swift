/// The amount one supplier receives from a payment, as a `SettlementBreakdown` lists it.
public struct SupplierSplit: Sendable, Hashable {
    public let partyId: String
    public let amount: Money

    public init(partyId: String, amount: Money) {
        self.partyId = partyId
        self.amount = amount
    }
}
