import Foundation
import PaystreamDomain
import Testing

@Suite("Split plans and settlement breakdowns")
struct SplitPlanTests {
    static let cny = Currency.named("CNY")!

    static func money(_ minorUnits: Int64) -> Money { Money(minorUnits: minorUnits, currency: cny) }

    static func share(_ party: String, amount: Int64) -> SupplierShare { try! SupplierShare(partyId: party, rule: .fixed(amount)) }
    static func share(_ party: String, basisPoints: Int64) -> SupplierShare {
        try! SupplierShare(partyId: party, rule: .basisPoints(basisPoints))
    }

    struct Case: Sendable, CustomStringConvertible {
        var gross: Int64
        var fee: FeePlan
        var commission: CommissionPlan
        var shares: [SupplierShare]
        var expectedFee: Int64
        var expectedCommission: Int64
        var expectedSplits: [Int64]
        var expectedNet: Int64
        var description: String { "gross \(gross), \(shares.count) shares" }
    }

    static let cases: [Case] = [
        // The PRODUCT example: fee 150 (119.994 → 120, + 30), commission 999 (999.95 truncated),
        // distributable 18 850; 15 % of it is 2 827.5, truncated; the merchant keeps the half unit.
        Case(gross: 19_999, fee: try! FeePlan(basisPoints: 60, fixed: 30), commission: try! CommissionPlan(basisPoints: 500),
             shares: [share("supplier-3", amount: 5_000), share("supplier-4", basisPoints: 1_500)],
             expectedFee: 150, expectedCommission: 999, expectedSplits: [5_000, 2_827], expectedNet: 11_023),
        Case(gross: 10_000, fee: .free, commission: .zero, shares: [],
             expectedFee: 0, expectedCommission: 0, expectedSplits: [], expectedNet: 10_000),
        // Three thirds of 100: 33 each, the merchant gets the 1 left over.
        Case(gross: 100, fee: .free, commission: .zero,
             shares: [share("a", basisPoints: 3_333), share("b", basisPoints: 3_333), share("c", basisPoints: 3_334)],
             expectedFee: 0, expectedCommission: 0, expectedSplits: [33, 33, 33], expectedNet: 1),
        // Splits may take everything that is left.
        Case(gross: 10_000, fee: try! FeePlan(basisPoints: 100), commission: try! CommissionPlan(basisPoints: 100),
             shares: [share("a", amount: 9_000), share("b", amount: 800)],
             expectedFee: 100, expectedCommission: 100, expectedSplits: [9_000, 800], expectedNet: 0),
        Case(gross: 10_000, fee: .free, commission: .zero, shares: [share("a", basisPoints: 10_000)],
             expectedFee: 0, expectedCommission: 0, expectedSplits: [10_000], expectedNet: 0),
        // A fee larger than the payment takes all of it; commission and percentage splits get nothing.
        Case(gross: 20, fee: try! FeePlan(basisPoints: 0, fixed: 30), commission: try! CommissionPlan(basisPoints: 500),
             shares: [share("a", basisPoints: 1_000)],
             expectedFee: 20, expectedCommission: 0, expectedSplits: [0], expectedNet: 0),
        // The commission is capped at what the fee left.
        Case(gross: 100, fee: try! FeePlan(basisPoints: 0, fixed: 90), commission: try! CommissionPlan(basisPoints: 0, fixed: 50),
             shares: [], expectedFee: 90, expectedCommission: 10, expectedSplits: [], expectedNet: 0),
        Case(gross: 0, fee: try! FeePlan(basisPoints: 60, fixed: 30), commission: try! CommissionPlan(basisPoints: 500),
             shares: [share("a", basisPoints: 5_000)],
             expectedFee: 0, expectedCommission: 0, expectedSplits: [0], expectedNet: 0),
    ]

    @Test("fee, commission, splits and merchant net", arguments: cases)
    func breakdown(_ c: Case) throws {
        let breakdown = try SettlementBreakdown(settling: Self.money(c.gross), feePlan: c.fee, commissionPlan: c.commission,
                                                splitPlan: try SplitPlan(c.shares))
        #expect(breakdown.fee.minorUnits == c.expectedFee)
        #expect(breakdown.commission.minorUnits == c.expectedCommission)
        #expect(breakdown.splits.map(\.amount.minorUnits) == c.expectedSplits)
        #expect(breakdown.splits.map(\.partyId) == c.shares.map(\.partyId))
        #expect(breakdown.merchantNet.minorUnits == c.expectedNet)
        let parts = [breakdown.fee, breakdown.commission, breakdown.merchantNet] + breakdown.splits.map(\.amount)
        #expect(try Money.sum(parts, currency: Self.cny) == breakdown.gross)
    }

    @Test("percentage shares are of the whole distributable amount, so their order does not matter")
    func orderIndependent() throws {
        let shares = [Self.share("a", amount: 1_234), Self.share("b", basisPoints: 2_500), Self.share("c", basisPoints: 3_333)]
        let forward = try SplitPlan(shares).splits(of: Self.money(99_999))
        let backward = try SplitPlan(shares.reversed()).splits(of: Self.money(99_999))
        #expect(Set(forward) == Set(backward))
        #expect(forward.map(\.amount.minorUnits) == [1_234, 24_999, 33_329])
    }

    @Test("splits that ask for more than fee and commission leave are refused with splits_exceed_net")
    func exceed() throws {
        let plan = try SplitPlan([Self.share("a", amount: 9_000), Self.share("b", basisPoints: 1_000)])
        #expect(throws: SettlementError.splitsExceedNet(requested: 9_985, available: 9_850)) {
            try SettlementBreakdown(settling: Self.money(10_000), feePlan: try FeePlan(basisPoints: 100, fixed: 50),
                                    commissionPlan: .zero, splitPlan: plan)
        }
        #expect(SettlementError.splitsExceedNet(requested: 2, available: 1).code == "splits_exceed_net")
        // Exactly what is available is fine.
        let exact = try SplitPlan([Self.share("a", amount: 9_850)])
        let breakdown = try SettlementBreakdown(settling: Self.money(10_000), feePlan: try FeePlan(basisPoints: 100, fixed: 50),
                                                commissionPlan: .zero, splitPlan: exact)
        #expect(breakdown.merchantNet.isZero)
    }

    @Test("plans name each party once, with positive amounts and at most 100 % in basis points")
    func invalidPlans() {
        #expect(throws: SettlementError.duplicateParty("a")) {
            try SplitPlan([Self.share("a", amount: 1), Self.share("a", basisPoints: 10)])
        }
        #expect(throws: SettlementError.self) { try SplitPlan([Self.share("a", basisPoints: 6_000), Self.share("b", basisPoints: 4_001)]) }
        #expect(throws: SettlementError.self) { try SupplierShare(partyId: "a", rule: .fixed(0)) }
        #expect(throws: SettlementError.self) { try SupplierShare(partyId: "a", rule: .basisPoints(0)) }
        #expect(throws: SettlementError.self) { try SupplierShare(partyId: "a", rule: .basisPoints(10_001)) }
        #expect(throws: SettlementError.self) { try SupplierShare(partyId: "", rule: .fixed(1)) }
        #expect(throws: SettlementError.self) { try SplitPlan(splits: [Split(partyId: "s", amount: -5)]) }
    }

    @Test("a request's splits become fixed shares")
    func fromRequest() throws {
        let plan = try SplitPlan(splits: [Split(partyId: "supplier-3", amount: 5_000)])
        #expect(plan.shares == [Self.share("supplier-3", amount: 5_000)])
        #expect(SplitPlan.empty.shares.isEmpty)
    }

    @Test("split plans read and write JSON arrays of shares")
    func codable() throws {
        let json = #"[{"party_id": "s-1", "amount": 500}, {"party_id": "s-2", "basis_points": 1500}]"#
        let plan = try JSONDecoder().decode(SplitPlan.self, from: Data(json.utf8))
        #expect(plan == (try SplitPlan([Self.share("s-1", amount: 500), Self.share("s-2", basisPoints: 1_500)])))
        #expect(try JSONDecoder().decode(SplitPlan.self, from: try JSONEncoder().encode(plan)) == plan)
        for bad in [#"[{"party_id": "s", "amount": 1, "basis_points": 1}]"#, #"[{"party_id": "s"}]"#,
                    #"[{"party_id": "s", "amount": 1}, {"party_id": "s", "amount": 2}]"#,
                    #"[{"party_id": "s", "basis_points": 10001}]"#] {
            #expect(throws: DecodingError.self, "\(bad)") { try JSONDecoder().decode(SplitPlan.self, from: Data(bad.utf8)) }
        }
    }

    @Test("a breakdown built from parts must balance, in one currency, with no negative part")
    func invariant() throws {
        let split = SupplierSplit(partyId: "a", amount: Self.money(10))
        _ = try SettlementBreakdown(gross: Self.money(100), fee: Self.money(5), commission: Self.money(5), splits: [split],
                                    merchantNet: Self.money(80))
        #expect(throws: SettlementError.self) {
            try SettlementBreakdown(gross: Self.money(100), fee: Self.money(5), commission: Self.money(5), splits: [split],
                                    merchantNet: Self.money(81))
        }
        #expect(throws: SettlementError.self) {
            try SettlementBreakdown(gross: Self.money(100), fee: Self.money(-5), commission: Self.money(15), splits: [split],
                                    merchantNet: Self.money(80))
        }
        #expect(throws: SettlementError.self) {
            try SettlementBreakdown(gross: Self.money(100), fee: Money(minorUnits: 5, currency: Currency.named("USD")!),
                                    commission: Self.money(5), splits: [split], merchantNet: Self.money(80))
        }
        #expect(throws: SettlementError.self) {
            try SettlementBreakdown(settling: Self.money(-1), feePlan: .free, commissionPlan: .zero, splitPlan: .empty)
        }
    }

    @Test("error codes are stable", arguments: [
        (SettlementError.invalidPlan("x"), "invalid_settlement_plan"),
        (.duplicateParty("a"), "duplicate_split_party"),
        (.splitsExceedNet(requested: 2, available: 1), "splits_exceed_net"),
        (.invalidInstallments("x"), "invalid_installments"),
        (.unbalancedBreakdown("x"), "unbalanced_breakdown"),
        (.money(.overflow), "amount_overflow"),
    ])
    func codes(error: SettlementError, code: String) {
        #expect(error.code == code)
        #expect(!error.description.isEmpty)
    }
}
