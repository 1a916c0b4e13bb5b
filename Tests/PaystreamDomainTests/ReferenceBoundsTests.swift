import Foundation
import PaystreamDomain
import Testing

@Suite("Reference bounds")
struct ReferenceBoundsTests {
    @Test("settings: defaults, explicit values, null for no FX bound; out-of-range values refused")
    func decoding() throws {
        let defaults = try JSONDecoder().decode(ReferenceBounds.self, from: Data("{}".utf8))
        #expect(defaults == ReferenceBounds())
        #expect(defaults.maxFeeBasisPoints == 1_000 && defaults.maxCommissionBasisPoints == 3_000 && defaults.maxFxChangeBasisPoints == 2_000)
        let set = try JSONDecoder().decode(ReferenceBounds.self, from: Data(#"{"max_fee_basis_points":300,"max_fixed_fee":{"CNY":500},"max_credit_limit":{"USD":100},"max_fx_change_basis_points":null}"#.utf8))
        #expect(set.maxFeeBasisPoints == 300 && set.maxFixedFee == ["CNY": 500] && set.maxCreditLimit == ["USD": 100] && set.maxFxChangeBasisPoints == nil)
        for bad in [#"{"max_fee_basis_points":10001}"#, #"{"max_commission_basis_points":-1}"#, #"{"max_fx_change_basis_points":0}"#,
                    #"{"max_fixed_fee":{"cny":5}}"#, #"{"max_credit_limit":{"CNY":-1}}"#] {
            #expect(throws: (any Error).self, "\(bad)") { try JSONDecoder().decode(ReferenceBounds.self, from: Data(bad.utf8)) }
        }
    }

    @Test("a fee, fixed part, commission or limit at the bound passes, one above it is named; FX moves compare with the current rate")
    func problems() throws {
        let bounds = ReferenceBounds(maxFeeBasisPoints: 100, maxFixedFee: ["CNY": 50], maxCommissionBasisPoints: 200,
                                     maxCreditLimit: ["CNY": 1_000], maxFxChangeBasisPoints: 500)
        var merchant = MerchantReference(merchantId: "m-1", status: .active, settlementCurrency: "CNY",
                                         defaultFee: .init(basisPoints: 100, fixed: 50), commissionBasisPoints: 200)
        #expect(bounds.problems(merchant).isEmpty)
        merchant.fees = ["alipay": .init(basisPoints: 101, fixed: 51)]
        merchant.commissionBasisPoints = 201
        #expect(bounds.problems(merchant).count == 3)
        merchant.settlementCurrency = "USD"  // no fixed-fee bound for USD
        #expect(bounds.problems(merchant).count == 2)
        #expect(bounds.problems(CreditLineReference(payerId: "p", limits: ["CNY": 1_000, "USD": 5_000_000])).isEmpty)
        #expect(bounds.problems(CreditLineReference(payerId: "p", limits: ["CNY": 1_001])) == ["limits.CNY 1001 is above the configured maximum 1000"])
        func rate(_ text: String) -> FXRateReference {
            FXRateReference(base: "USD", quote: "CNY", rate: text, source: "t", asOf: "2026-11-24T00:00:00Z")
        }
        #expect(bounds.problems(rate("100"), current: nil).isEmpty)  // a pair's first rate
        #expect(bounds.problems(rate("7.35"), current: rate("7")).isEmpty)  // exactly 5 %
        #expect(bounds.problems(rate("6.65"), current: rate("7")).isEmpty)
        #expect(bounds.problems(rate("7.3501"), current: rate("7")).count == 1)
        #expect(bounds.problems(rate("6.6499"), current: rate("7")).count == 1)
        #expect(ReferenceBounds.none.problems(rate("700"), current: rate("7")).isEmpty)
    }
}
