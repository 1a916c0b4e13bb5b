import Foundation

/// A principal repaid in `count` monthly installments, with an optional flat financing fee.
///
/// Rules:
/// - The fee is `halfUp(principal × feeBasisPoints / 10 000)`, once, on the principal (a flat
///   fee, not an annual rate).
/// - Principal and fee are each spread the same way: an amount A gives every installment
///   `down(A / count)` and the first `A mod count` installments one minor unit more, so an
///   earlier installment is never smaller than a later one. Principal parts differ by at most one
///   unit, fee parts too, and installment amounts by at most two.
/// - Installment *n* is due *n* calendar months after the start date, on the start's
///   day of month, or the month's last day when it is shorter. Each month uses the original day:
///   a Jan 31 start is due Feb 28 (29), Mar 31, Apr 30, …
public struct InstallmentSchedule: Sendable, Hashable {
    public static let maximumCount = 1_200
    public static let maximumFeeBasisPoints: Int64 = 100_000

    public let principal: Money
    public let feeBasisPoints: Int64
    public let fee: Money
    /// `principal + fee`; the installments' amounts add up to exactly this.
    public let total: Money
    public let startDate: LocalDate
    public let installments: [Installment]

    /// Schedules `principal` (> 0) over `count` installments (1…1 200, at most one per minor unit
    /// of principal so none repays nothing) from `startDate`. `feeBasisPoints` is 0…100 000.
    public init(principal: Money, count: Int, startDate: LocalDate, feeBasisPoints: Int64 = 0) throws(SettlementError) {
        guard principal.minorUnits > 0 else { throw .invalidInstallments("principal must be greater than zero, not \(principal.minorUnits)") }
        guard (1...Self.maximumCount).contains(count) else {
            throw .invalidInstallments("count must be within 1…\(Self.maximumCount), not \(count)")
        }
        guard Int64(count) <= principal.minorUnits else {
            throw .invalidInstallments("\(count) installments of \(principal.minorUnits) minor units would leave some with no principal")
        }
        guard (0...Self.maximumFeeBasisPoints).contains(feeBasisPoints) else {
            throw .invalidInstallments("fee basis_points must be within 0…\(Self.maximumFeeBasisPoints), not \(feeBasisPoints)")
        }
        let fee: Money
        let total: Money
        do {
            fee = Money(minorUnits: try RoundingMode.halfUp.multiplyDivide(principal.minorUnits, feeBasisPoints, by: 10_000),
                        currency: principal.currency)
            total = try principal.adding(fee)
        } catch {
            throw .money(error)
        }
        let principalParts = try Self.spread(principal.minorUnits, over: count)
        let feeParts = try Self.spread(fee.minorUnits, over: count)
        var installments: [Installment] = []
        installments.reserveCapacity(count)
        for index in 0..<count {
            // Cannot overflow: the parts add up to `total`, which fits.
            let part = Money(minorUnits: principalParts[index], currency: principal.currency)
            let feePart = Money(minorUnits: feeParts[index], currency: principal.currency)
            installments.append(Installment(
                number: index + 1, dueDate: startDate.addingMonths(index + 1, onDay: startDate.day),
                principal: part, fee: feePart,
                amount: Money(minorUnits: part.minorUnits + feePart.minorUnits, currency: principal.currency)))
        }
        self.principal = principal
        self.feeBasisPoints = feeBasisPoints
        self.fee = fee
        self.total = total
        self.startDate = startDate
        self.installments = installments
    }

    /// Schedules from the date the wall calendar in `timeZone` shows at `start` (the capture).
    public init(principal: Money, count: Int, startingAt start: Date, in timeZone: TimeZone,
                feeBasisPoints: Int64 = 0) throws(SettlementError) {
        try self.init(principal: principal, count: count, startDate: LocalDate(start, in: timeZone), feeBasisPoints: feeBasisPoints)
    }

    /// `amount` (≥ 0) in `count` parts: `down(amount / count)` each, one more for the first `amount mod count`.
    static func spread(_ amount: Int64, over count: Int) throws(SettlementError) -> [Int64] {
        let base: Int64
        do { base = try RoundingMode.down.divide(amount, by: Int64(count)) } catch { throw .money(error) }
        let extra = Int(amount - base * Int64(count))  // < count, and base × count ≤ amount cannot overflow
        return (0..<count).map { $0 < extra ? base + 1 : base }
    }
}
