import Foundation
import PaystreamDomain
import PaystreamTesting
import Testing

@Suite("Settlement properties")
struct SettlementPropertyTests {
    static let currencies = ["CNY", "JPY", "KWD", "CLF"].map { Currency.named($0)! }

    /// Mostly everyday amounts, sometimes tiny ones (where fixed parts and caps bite), sometimes huge ones.
    static func amount(_ random: inout SeededRandom) -> Int64 {
        switch Int.random(in: 0..<10, using: &random) {
        case 0: Int64.random(in: 0...100, using: &random)
        case 1: Int64.random(in: 0...(Int64.max / 4), using: &random)
        default: Int64.random(in: 1...10_000_000, using: &random)
        }
    }

    static func basisPoints(_ random: inout SeededRandom, upTo limit: Int64 = 10_000) -> Int64 {
        Bool.random(using: &random) ? Int64.random(in: 0...min(limit, 1_000), using: &random) : Int64.random(in: 0...limit, using: &random)
    }

    static func feePlan(_ random: inout SeededRandom) throws -> FeePlan {
        let minimum: Int64? = Int.random(in: 0..<4, using: &random) == 0 ? Int64.random(in: 0...500, using: &random) : nil
        let maximum: Int64? = Int.random(in: 0..<4, using: &random) == 0 ? (minimum ?? 0) + Int64.random(in: 0...50_000, using: &random) : nil
        return try FeePlan(basisPoints: basisPoints(&random), fixed: Int64.random(in: 0...300, using: &random),
                           minimum: minimum, maximum: maximum)
    }

    static func splitPlan(_ random: inout SeededRandom, gross: Int64) throws -> SplitPlan {
        var shares: [SupplierShare] = []
        var pointsLeft: Int64 = 10_000
        for index in 0..<Int.random(in: 0...4, using: &random) {
            if Bool.random(using: &random), pointsLeft > 0 {
                let points = Int64.random(in: 1...pointsLeft, using: &random)
                pointsLeft -= points
                shares.append(try SupplierShare(partyId: "s-\(index)", rule: .basisPoints(points)))
            } else {
                let amount = Int64.random(in: 1...max(1, gross / 3), using: &random)
                shares.append(try SupplierShare(partyId: "s-\(index)", rule: .fixed(amount)))
            }
        }
        return try SplitPlan(shares)
    }

    @Test("breakdown parts always sum to the gross, none is negative, and each follows its rounding rule")
    func breakdowns() throws {
        var settled = 0, refused = 0
        let failures = try forAllCases("settlement breakdown") { random, _ in
            let currency = Self.currencies.randomElement(using: &random)!
            let gross = Self.amount(&random)
            let feePlan = try Self.feePlan(&random)
            let commissionPlan = try CommissionPlan(basisPoints: Self.basisPoints(&random, upTo: 3_000),
                                                    fixed: Int64.random(in: 0...100, using: &random))
            let splitPlan = try Self.splitPlan(&random, gross: gross)
            let breakdown: SettlementBreakdown
            do {
                breakdown = try SettlementBreakdown(settling: Money(minorUnits: gross, currency: currency), feePlan: feePlan,
                                                    commissionPlan: commissionPlan, splitPlan: splitPlan)
            } catch SettlementError.splitsExceedNet(let requested, let available) {
                refused += 1
                let fixed = splitPlan.shares.reduce(Int64(0)) { if case .fixed(let a) = $1.rule { $0 + a } else { $0 } }
                return requested > available && requested >= fixed ? nil : "refused \(requested) > \(available) wrongly"
            }
            settled += 1
            let parts = [breakdown.fee, breakdown.commission, breakdown.merchantNet] + breakdown.splits.map(\.amount)
            guard parts.allSatisfy({ $0.currency == currency && $0.minorUnits >= 0 }) else { return "a negative or foreign part in \(breakdown)" }
            let total = parts.reduce(Int128(0)) { $0 + Int128($1.minorUnits) }
            guard total == Int128(gross), breakdown.gross.minorUnits == gross else { return "parts sum to \(total), gross \(gross)" }

            // Fee: half-up of the rate plus fixed, then the caps — checked against exact arithmetic.
            let exact = Int128(gross) * Int128(feePlan.basisPoints)
            var fee = (exact + 5_000) / 10_000 + Int128(feePlan.fixed)
            if let minimum = feePlan.minimum { fee = max(fee, Int128(minimum)) }
            if let maximum = feePlan.maximum { fee = min(fee, Int128(maximum)) }
            guard Int128(breakdown.fee.minorUnits) == min(fee, Int128(gross)) else { return "fee \(breakdown.fee.minorUnits), expected \(fee)" }

            // Commission: truncated, capped at what the fee left.
            let commission = Int128(gross) * Int128(commissionPlan.basisPoints) / 10_000 + Int128(commissionPlan.fixed)
            guard Int128(breakdown.commission.minorUnits) == min(commission, Int128(gross - breakdown.fee.minorUnits)) else {
                return "commission \(breakdown.commission.minorUnits), expected \(commission)"
            }

            // Splits: fixed exactly; basis points truncated from the distributable amount.
            let distributable = Int128(gross - breakdown.fee.minorUnits - breakdown.commission.minorUnits)
            for (share, split) in zip(splitPlan.shares, breakdown.splits) {
                guard share.partyId == split.partyId else { return "split order changed" }
                let amount = Int128(split.amount.minorUnits)
                switch share.rule {
                case .fixed(let fixed):
                    guard amount == Int128(fixed) else { return "fixed split \(amount) ≠ \(fixed)" }
                case .basisPoints(let points):
                    let scaled = distributable * Int128(points)
                    guard amount * 10_000 <= scaled, scaled < (amount + 1) * 10_000 else { return "split \(amount) of \(distributable) at \(points) bp" }
                }
            }
            return nil
        }
        #expect(failures.isEmpty, "\(failures)")
        #expect(settled > refused, "settled \(settled), refused \(refused): the generator should mostly produce plans that fit")
    }

    @Test("installments sum to principal + fee, differ by at most the rule, and fall one per month")
    func installments() throws {
        let failures = try forAllCases("installment schedule") { random, _ in
            let currency = Self.currencies.randomElement(using: &random)!
            let count = Int.random(in: 0..<20, using: &random) == 0 ? Int.random(in: 1...1_200, using: &random)
                                                                    : Int.random(in: 1...36, using: &random)
            let principal = Bool.random(using: &random) ? Int64.random(in: Int64(count)...Int64(count) * 3, using: &random)
                                                        : Int64.random(in: Int64(count)...1_000_000_000_000, using: &random)
            let points = Self.basisPoints(&random, upTo: InstallmentSchedule.maximumFeeBasisPoints)
            let start = LocalDate(year: Int.random(in: 1970...2150, using: &random), month: Int.random(in: 1...12, using: &random),
                                  day: Int.random(in: 1...28, using: &random))!.adding(days: Int.random(in: 0...3, using: &random))
            let schedule = try InstallmentSchedule(principal: Money(minorUnits: principal, currency: currency), count: count,
                                                   startDate: start, feeBasisPoints: points)
            let items = schedule.installments
            guard items.count == count else { return "\(items.count) installments, asked for \(count)" }

            // The fee is principal × bp / 10 000 rounded half up.
            let scaled = Int128(principal) * Int128(points)
            let fee = Int128(schedule.fee.minorUnits)
            guard fee * 10_000 - scaled < 5_000 + 1, scaled - fee * 10_000 < 5_000 else { return "fee \(fee) for \(principal) at \(points) bp" }

            func sum(_ values: [Money]) -> Int128 { values.reduce(Int128(0)) { $0 + Int128($1.minorUnits) } }
            guard sum(items.map(\.principal)) == Int128(principal), sum(items.map(\.fee)) == fee,
                  sum(items.map(\.amount)) == Int128(principal) + fee, Int128(schedule.total.minorUnits) == Int128(principal) + fee
            else { return "parts do not sum to the whole" }

            for (index, item) in items.enumerated() {
                guard item.amount.minorUnits == item.principal.minorUnits + item.fee.minorUnits, item.principal.minorUnits > 0,
                      item.fee.minorUnits >= 0, item.number == index + 1, item.amount.currency == currency
                else { return "installment \(index + 1) is malformed: \(item)" }
                guard index > 0 else { continue }
                let previous = items[index - 1]
                // Never smaller than a later one; each component differs by at most one unit.
                guard previous.principal >= item.principal, previous.fee >= item.fee, previous.amount >= item.amount else {
                    return "installment \(index + 1) is larger than the one before"
                }
                guard previous.dueDate < item.dueDate else { return "due dates not increasing at \(index + 1)" }
            }
            let principals = items.map(\.principal.minorUnits), fees = items.map(\.fee.minorUnits), amounts = items.map(\.amount.minorUnits)
            guard principals.max()! - principals.min()! <= 1, fees.max()! - fees.min()! <= 1, amounts.max()! - amounts.min()! <= 2 else {
                return "parts differ by more than the rule allows"
            }

            // Installment n falls in the n-th month after the start, on the start's day or the month's last day.
            for item in items {
                let months = (item.dueDate.year - start.year) * 12 + item.dueDate.month - start.month
                let lastDay = LocalDate.daysIn(year: item.dueDate.year, month: item.dueDate.month)
                guard months == item.number, item.dueDate.day == min(start.day, lastDay) else {
                    return "installment \(item.number) of a \(start) schedule due \(item.dueDate)"
                }
            }
            return nil
        }
        #expect(failures.isEmpty, "\(failures)")
    }

    /// Instants of 2026 clock changes: hours skipped and repeated, and Lord Howe's half hour.
    static let clockChanges: [(zone: String, at: String)] = [
        ("America/New_York", "2026-03-08T07:00:00Z"), ("America/New_York", "2026-11-01T06:00:00Z"),
        ("Europe/London", "2026-03-29T01:00:00Z"), ("Europe/London", "2026-10-25T01:00:00Z"),
        ("Australia/Lord_Howe", "2026-04-04T15:00:00Z"), ("America/Santiago", "2026-09-06T04:00:00Z"),
    ]

    static func instant(_ text: String) -> Date { try! Date(text, strategy: .iso8601) }

    @Test("payout dates never go backwards as captures get later, and land on business days")
    func payoutsAreMonotonic() async throws {
        try await onOwnThread { try checkPayoutsAreMonotonic() }
    }

    private func checkPayoutsAreMonotonic() throws {
        let zones = ["America/New_York", "Asia/Shanghai", "Europe/London", "America/Santiago", "Australia/Lord_Howe", "UTC"]
        let failures = try forAllCases("payout calendar") { random, _ in
            // A quarter of the cases start just before a clock change, with a cut-off near it.
            let nearChange = Int.random(in: 0..<4, using: &random) == 0
            let change = Self.clockChanges.randomElement(using: &random)!
            let zone = TimeZone(identifier: nearChange ? change.zone : zones.randomElement(using: &random)!)!
            let cutoff = nearChange || Bool.random(using: &random)
                ? TimeOfDay(hour: nearChange ? Int.random(in: 0...3, using: &random) : Int.random(in: 0...23, using: &random),
                            minute: [0, 15, 30, 45].randomElement(using: &random)!)
                : nil
            let dayCount = PayoutCalendar.DayCount.allCases.randomElement(using: &random)!
            let holidays = Set((0..<Int.random(in: 0...10, using: &random)).map { _ in
                LocalDate(year: 2026, month: Int.random(in: 1...12, using: &random), day: Int.random(in: 1...28, using: &random))!
            })
            let calendar = try PayoutCalendar(delayDays: Int.random(in: 0...10, using: &random), dayCount: dayCount, cutoff: cutoff,
                                              timeZone: zone, holidays: holidays)
            // Walk through a day or so around a random 2026 instant, in uneven steps.
            var instant = nearChange
                ? Self.instant(change.at).addingTimeInterval(-Double(Int.random(in: 0...14_400, using: &random)))
                : Date(timeIntervalSince1970: Double(Int.random(in: 1_767_225_600...1_798_761_600, using: &random)))
            var previous: (trade: LocalDate, payout: LocalDate)?
            for _ in 0..<60 {
                let trade = calendar.tradeDate(forCaptureAt: instant)
                let payout = calendar.payoutDate(forCaptureAt: instant)
                let local = LocalDate(instant, in: zone)
                guard trade == local || trade == local.adding(days: 1) else { return "\(instant) in \(zone.identifier): trade date \(trade)" }
                guard payout >= trade else { return "payout \(payout) before trade date \(trade)" }
                if dayCount == .business, !calendar.isBusinessDay(payout) { return "payout on \(payout), not a business day" }
                if dayCount == .calendar, trade.days(to: payout) != calendar.delayDays { return "calendar payout \(payout) for \(trade)" }
                if let previous, trade < previous.trade || payout < previous.payout {
                    return "\(instant) in \(zone.identifier): \(trade)/\(payout) after \(previous.trade)/\(previous.payout)"
                }
                previous = (trade, payout)
                instant = instant.addingTimeInterval(Double(Int.random(in: 60...(nearChange ? 900 : 7_200), using: &random)))
            }
            return nil
        }
        #expect(failures.isEmpty, "\(failures)")
    }
}
