import Foundation
import PaystreamDomain
import Testing

@Suite("Fee and commission plans")
struct FeePlanTests {
    static let cny = Currency.named("CNY")!

    @Test("fee = halfUp(amount × bp / 10 000) + fixed, held between minimum and maximum, never above the amount", arguments: [
        // amount, basis points, fixed, minimum, maximum, expected fee
        (Int64(10_000), Int64(60), Int64(0), Int64?.none, Int64?.none, Int64(60)),
        (19_999, 60, 0, nil, nil, 120),        // 119.994 → 120
        (8_250, 60, 0, nil, nil, 50),          // 49.5, a tie, rounds up
        (8_249, 60, 0, nil, nil, 49),          // 49.494
        (10_000, 60, 30, nil, nil, 90),
        (100, 60, 0, 50, nil, 50),             // 0.6 → 1, raised to the minimum
        (1_000_000, 60, 0, nil, 500, 500),     // 6 000 lowered to the maximum
        (1_000_000, 60, 200, 100, 5_000, 5_000),
        (20, 0, 30, nil, nil, 20),             // the fixed part alone is more than the amount
        (10, 0, 0, 50, nil, 10),               // so is the minimum
        (0, 60, 30, nil, nil, 0),
        (10_000, 10_000, 0, nil, nil, 10_000),
        (10_000, 10_000, 1, nil, nil, 10_000),
        (1, 4_999, 0, nil, nil, 0),            // 0.4999
        (1, 5_000, 0, nil, nil, 1),            // 0.5
    ])
    func fee(amount: Int64, basisPoints: Int64, fixed: Int64, minimum: Int64?, maximum: Int64?, expected: Int64) throws {
        let plan = try FeePlan(basisPoints: basisPoints, fixed: fixed, minimum: minimum, maximum: maximum)
        let fee = try plan.fee(for: Money(minorUnits: amount, currency: Self.cny))
        #expect(fee == Money(minorUnits: expected, currency: Self.cny))
    }

    @Test("amounts near Int64.max neither overflow nor trap")
    func extremes() throws {
        let huge = Money(minorUnits: .max, currency: Self.cny)
        #expect(try FeePlan(basisPoints: 10_000, fixed: .max).fee(for: huge) == huge)
        #expect(try FeePlan(basisPoints: 60, fixed: .max, maximum: 1_000).fee(for: huge).minorUnits == 1_000)
        #expect(try CommissionPlan(basisPoints: 10_000, fixed: .max).commission(for: huge, limit: huge) == huge)
    }

    @Test("plans with impossible terms are refused", arguments: [
        (Int64(-1), Int64(0), Int64?.none, Int64?.none),
        (10_001, 0, nil, nil),
        (60, -1, nil, nil),
        (60, 0, -1, nil),
        (60, 0, nil, -1),
        (60, 0, 500, 100),
    ])
    func invalidPlans(basisPoints: Int64, fixed: Int64, minimum: Int64?, maximum: Int64?) {
        #expect(throws: SettlementError.self) {
            try FeePlan(basisPoints: basisPoints, fixed: fixed, minimum: minimum, maximum: maximum)
        }
    }

    @Test("a plan in one currency refuses a payment in another; negative amounts are refused")
    func refusals() throws {
        let plan = try FeePlan(basisPoints: 60, fixed: 30, currency: "CNY")
        let yen = Money(minorUnits: 1_000, currency: Currency.named("JPY")!)
        #expect(throws: SettlementError.money(.currencyMismatch("CNY", "JPY"))) { try plan.fee(for: yen) }
        #expect(try plan.fee(for: Money(minorUnits: 10_000, currency: Self.cny)).minorUnits == 90)
        #expect(throws: SettlementError.self) { try plan.fee(for: Money(minorUnits: -1, currency: Self.cny)) }
        #expect((try? FeePlan.free.fee(for: yen)) == Money.zero(yen.currency))
    }

    @Test("fee plans read and write snake_case JSON and validate what they read")
    func codable() throws {
        let json = #"{"basis_points": 60, "fixed": 30, "minimum": 50, "maximum": 5000, "currency": "CNY"}"#
        let plan = try JSONDecoder().decode(FeePlan.self, from: Data(json.utf8))
        #expect(plan == (try FeePlan(basisPoints: 60, fixed: 30, minimum: 50, maximum: 5_000, currency: "CNY")))
        let minimal = try JSONDecoder().decode(FeePlan.self, from: Data(#"{"basis_points": 60}"#.utf8))
        #expect(minimal == (try FeePlan(basisPoints: 60)))

        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let encoded = String(decoding: try encoder.encode(plan), as: UTF8.self)
        #expect(encoded == #"{"basis_points":60,"currency":"CNY","fixed":30,"maximum":5000,"minimum":50}"#)
        #expect(try JSONDecoder().decode(FeePlan.self, from: try encoder.encode(plan)) == plan)

        for bad in [#"{"basis_points": 10001}"#, #"{"basis_points": 60, "fixed": -1}"#, #"{"fixed": 30}"#,
                    #"{"basis_points": 60, "minimum": 10, "maximum": 5}"#] {
            #expect(throws: DecodingError.self, "\(bad)") { try JSONDecoder().decode(FeePlan.self, from: Data(bad.utf8)) }
        }
    }

    @Test("commission = down(amount × bp / 10 000) + fixed, capped at its limit", arguments: [
        // amount, basis points, fixed, limit, expected
        (Int64(19_999), Int64(500), Int64(0), Int64(19_999), Int64(999)),   // 999.95 truncates
        (8_250, 60, 0, 8_250, 49),                                          // 49.5 truncates, unlike the fee
        (10_000, 250, 10, 10_000, 260),
        (10_000, 250, 10, 100, 100),
        (10_000, 250, 0, 0, 0),
        (0, 250, 10, 0, 0),
        (9, 1_000, 0, 9, 0),
    ])
    func commission(amount: Int64, basisPoints: Int64, fixed: Int64, limit: Int64, expected: Int64) throws {
        let plan = try CommissionPlan(basisPoints: basisPoints, fixed: fixed)
        let commission = try plan.commission(for: Money(minorUnits: amount, currency: Self.cny),
                                             limit: Money(minorUnits: limit, currency: Self.cny))
        #expect(commission.minorUnits == expected)
    }

    @Test("commission plans validate and use snake_case JSON")
    func commissionPlans() throws {
        #expect(throws: SettlementError.self) { try CommissionPlan(basisPoints: -1) }
        #expect(throws: SettlementError.self) { try CommissionPlan(basisPoints: 10_001) }
        #expect(throws: SettlementError.self) { try CommissionPlan(basisPoints: 100, fixed: -5) }
        let plan = try JSONDecoder().decode(CommissionPlan.self, from: Data(#"{"basis_points": 500}"#.utf8))
        #expect(plan == (try CommissionPlan(basisPoints: 500)))
        #expect(String(decoding: try JSONEncoder().encode(CommissionPlan(basisPoints: 5, fixed: 1)), as: UTF8.self).contains("\"basis_points\":5"))
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(CommissionPlan.self, from: Data(#"{"basis_points": 20000}"#.utf8)) }
    }
}
