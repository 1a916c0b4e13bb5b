/// One payment of an `InstallmentSchedule`: the principal and fee it repays and when it is due.
public struct Installment: Sendable, Hashable {
    /// 1 for the first installment.
    public let number: Int
    public let dueDate: LocalDate
    public let principal: Money
    public let fee: Money
    /// `principal + fee`: what the payer owes on `dueDate`.
    public let amount: Money

    public init(number: Int, dueDate: LocalDate, principal: Money, fee: Money, amount: Money) {
        self.number = number
        self.dueDate = dueDate
        self.principal = principal
        self.fee = fee
        self.amount = amount
    }
}
