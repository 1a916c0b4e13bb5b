import Foundation
import PaystreamDomain
import Testing

@Suite("Installment schedules")
struct InstallmentScheduleTests {
    static let cny = Currency.named("CNY")!

    static func date(_ text: String) -> LocalDate { LocalDate(text)! }

    @Test("the first (amount mod count) installments carry one more minor unit", arguments: [
        // principal, count, fee basis points, principal parts, fee parts
        (Int64(10_000), 3, Int64(0), [Int64(3_334), 3_333, 3_333], [Int64(0), 0, 0]),
        (10, 4, 0, [3, 3, 2, 2], [0, 0, 0, 0]),
        (12, 4, 0, [3, 3, 3, 3], [0, 0, 0, 0]),
        (5, 5, 0, [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]),
        (7, 1, 0, [7], [0]),
        (10_000, 3, 600, [3_334, 3_333, 3_333], [200, 200, 200]),
        // Fee 499.975 → 500, spread 84, 84, 83, 83, 83, 83.
        (19_999, 6, 250, [3_334, 3_333, 3_333, 3_333, 3_333, 3_333], [84, 84, 83, 83, 83, 83]),
        (1_000, 2, 5, [500, 500], [1, 0]),                 // 0.5 rounds up to 1
        (1_000, 2, 4, [500, 500], [0, 0]),                 // 0.4 rounds down
        (100, 3, 100_000, [34, 33, 33], [334, 333, 333]),  // a 1 000 % flat fee
    ])
    func remainderPlacement(principal: Int64, count: Int, feeBasisPoints: Int64, principalParts: [Int64], feeParts: [Int64]) throws {
        let schedule = try InstallmentSchedule(principal: Money(minorUnits: principal, currency: Self.cny), count: count,
                                               startDate: Self.date("2026-11-24"), feeBasisPoints: feeBasisPoints)
        #expect(schedule.installments.map(\.principal.minorUnits) == principalParts)
        #expect(schedule.installments.map(\.fee.minorUnits) == feeParts)
        #expect(schedule.installments.map(\.amount.minorUnits) == zip(principalParts, feeParts).map { $0 + $1 })
        #expect(schedule.installments.map(\.number) == Array(1...count))
        #expect(schedule.fee.minorUnits == feeParts.reduce(0, +))
        #expect(schedule.total.minorUnits == principal + schedule.fee.minorUnits)
        #expect(try Money.sum(schedule.installments.map(\.amount), currency: Self.cny) == schedule.total)
    }

    @Test("due dates keep the start's day of month, clamped to shorter months", arguments: [
        ("2026-01-31", 4, ["2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]),
        ("2028-01-31", 3, ["2028-02-29", "2028-03-31", "2028-04-30"]),               // leap year
        ("2023-12-31", 3, ["2024-01-31", "2024-02-29", "2024-03-31"]),               // across a year end
        ("2024-02-29", 3, ["2024-03-29", "2024-04-29", "2024-05-29"]),               // the 29th stays the 29th
        ("2024-02-29", 12, ["2024-03-29", "2024-04-29", "2024-05-29", "2024-06-29", "2024-07-29", "2024-08-29",
                            "2024-09-29", "2024-10-29", "2024-11-29", "2024-12-29", "2025-01-29", "2025-02-28"]),
        ("2099-12-31", 2, ["2100-01-31", "2100-02-28"]),                             // 2100 is not a leap year
        ("1999-12-30", 2, ["2000-01-30", "2000-02-29"]),                             // 2000 is
        ("2026-03-30", 1, ["2026-04-30"]),
        ("2026-08-31", 2, ["2026-09-30", "2026-10-31"]),
        ("2026-11-24", 2, ["2026-12-24", "2027-01-24"]),
    ])
    func dueDates(start: String, count: Int, expected: [String]) throws {
        let schedule = try InstallmentSchedule(principal: Money(minorUnits: 100_000, currency: Self.cny), count: count,
                                               startDate: Self.date(start))
        #expect(schedule.installments.map(\.dueDate.description) == expected)
        #expect(schedule.startDate == Self.date(start))
    }

    @Test("the start is the capture's date in the given time zone", arguments: [
        ("Asia/Shanghai", "2026-02-01", "2026-03-01"),      // 01:00 on Feb 1 in Shanghai
        ("America/New_York", "2026-01-31", "2026-02-28"),   // 12:00 on Jan 31 in New York
        ("UTC", "2026-01-31", "2026-02-28"),
    ])
    func timeZones(zone: String, startDate: String, firstDue: String) throws {
        let capturedAt = try Date("2026-01-31T17:00:00Z", strategy: .iso8601)
        let schedule = try InstallmentSchedule(principal: Money(minorUnits: 60_000, currency: Self.cny), count: 6,
                                               startingAt: capturedAt, in: TimeZone(identifier: zone)!)
        #expect(schedule.startDate.description == startDate)
        #expect(schedule.installments.first?.dueDate.description == firstDue)
    }

    @Test("schedules that cannot be built are refused with invalid_installments", arguments: [
        (Int64(100), 0, Int64(0)),
        (100, -1, 0),
        (100, 1_201, 0),
        (0, 1, 0),
        (-100, 2, 0),
        (3, 4, 0),          // an installment would repay no principal
        (100, 2, -1),
        (100, 2, 100_001),
    ])
    func invalid(principal: Int64, count: Int, feeBasisPoints: Int64) {
        #expect {
            try InstallmentSchedule(principal: Money(minorUnits: principal, currency: Self.cny), count: count,
                                    startDate: Self.date("2026-11-24"), feeBasisPoints: feeBasisPoints)
        } throws: { ($0 as? SettlementError)?.code == "invalid_installments" }
    }

    @Test("a fee that would overflow is an error, not a trap")
    func overflow() {
        #expect(throws: SettlementError.money(.overflow)) {
            try InstallmentSchedule(principal: Money(minorUnits: .max / 2, currency: Self.cny), count: 2,
                                    startDate: Self.date("2026-11-24"), feeBasisPoints: 20_000)
        }
    }

    @Test("local-date arithmetic agrees with Foundation's Gregorian calendar, 1899–2101")
    func agreesWithFoundation() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let origin = Self.date("1899-12-25")
        let originInstant = calendar.date(from: DateComponents(year: 1899, month: 12, day: 25, hour: 12))!
        for offset in stride(from: 0, through: 74_000, by: 1) {
            let local = origin.adding(days: offset)
            let instant = calendar.date(byAdding: .day, value: offset, to: originInstant)!
            let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: instant)
            let isoWeekday = (parts.weekday! + 5) % 7 + 1  // Foundation: 1 = Sunday
            guard local.year == parts.year, local.month == parts.month, local.day == parts.day, local.weekday == isoWeekday,
                  local == LocalDate(instant, in: calendar.timeZone), origin.days(to: local) == offset
            else {
                Issue.record("day \(offset): \(local) weekday \(local.weekday), Foundation \(parts)")
                return
            }
            if parts.day == 1 {
                let monthLength = calendar.range(of: .day, in: .month, for: instant)!.count
                #expect(LocalDate.daysIn(year: local.year, month: local.month) == monthLength)
            }
        }
    }

    @Test("dates parse and print as yyyy-MM-dd only", arguments: [
        ("2026-11-24", true), ("2024-02-29", true), ("2026-02-29", false), ("1900-02-29", false), ("2000-02-29", true),
        ("2026-1-24", false), ("2026-13-01", false), ("2026-00-10", false), ("2026-04-31", false), ("26-11-24", false),
        ("2026-11-24T00:00", false), ("", false), ("2026-11-+4", false), ("２０２６-11-24", false),
    ])
    func parsing(text: String, valid: Bool) throws {
        let date = LocalDate(text)
        #expect((date != nil) == valid)
        if let date { #expect(date.description == text) }
    }

    @Test("LocalDate is a JSON string")
    func localDateJSON() throws {
        let dates = try JSONDecoder().decode([LocalDate].self, from: Data(#"["2026-10-01", "2024-02-29"]"#.utf8))
        #expect(dates == [Self.date("2026-10-01"), Self.date("2024-02-29")])
        #expect(String(decoding: try JSONEncoder().encode(dates), as: UTF8.self) == #"["2026-10-01","2024-02-29"]"#)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([LocalDate].self, from: Data(#"["2026-02-30"]"#.utf8)) }
    }
}
