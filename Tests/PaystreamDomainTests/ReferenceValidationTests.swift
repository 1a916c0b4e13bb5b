import Foundation
import PaystreamDomain
import PaystreamWire
import Testing

/// What makes a reference value usable (`problems`): the rules the workers and
/// `paystream reference load` apply.
struct ReferenceValidationTests {
    static let merchant = MerchantReference(
        merchantId: "m-7", status: .active, settlementCurrency: "CNY",
        fees: ["card": .init(basisPoints: 60), "wechat_pay": .init(basisPoints: 55)], defaultFee: .init(basisPoints: 60),
        commissionBasisPoints: 100, payout: .init(delayDays: 1, cutoff: "22:00", timeZone: "Asia/Shanghai"),
        suppliers: ["supplier-3"], installmentFinancing: "upfront")

    @Test("valid values have no problems; the schema files' examples decode and are valid")
    func validValues() throws {
        #expect(Self.merchant.problems.isEmpty)
        #expect(CreditLineReference(payerId: "user-42", limits: ["CNY": 0, "USD": 10], installmentPlans: [3, 6, 12]).problems.isEmpty)
        #expect(FXRateReference(base: "USD", quote: "CNY", rate: "7.1234", source: "s", asOf: "2026-11-24T00:00:00.250Z").problems.isEmpty)
        for (file, type) in [("merchant.v1.schema.json", MerchantReference.self as any Decodable.Type),
                             ("credit-line.v1.schema.json", CreditLineReference.self),
                             ("fx-rate.v1.schema.json", FXRateReference.self)] {
            let schema = try SchemaFileTests.loadSchema(file)
            let example = try #require((schema["examples"] as? [Any])?.first)
            let data = try JSONSerialization.data(withJSONObject: example)
            let value = try Wire.decode(type, from: data)
            switch value {
            case let m as MerchantReference: #expect(m.problems.isEmpty, "\(file): \(m.problems)")
            case let c as CreditLineReference: #expect(c.problems.isEmpty, "\(file): \(c.problems)")
            case let r as FXRateReference: #expect(r.problems.isEmpty, "\(file): \(r.problems)")
            default: Issue.record("unexpected type")
            }
        }
    }

    @Test("merchant rules: currency, fee plans, methods, commission, payout, suppliers, financing, locale")
    func merchantRules() {
        let cases: [((inout MerchantReference) -> Void, String)] = [
            ({ $0.settlementCurrency = "RMB" }, "settlement_currency 'RMB'"),
            ({ $0.fees = ["card": .init(basisPoints: 10_001)] }, "fees.card"),
            ({ $0.fees = ["card": .init(basisPoints: 10, fixed: -1)] }, "fees.card"),
            ({ $0.fees = ["crypto": .init(basisPoints: 10)] }, "'crypto' is not a payment method"),
            ({ $0.defaultFee = .init(basisPoints: -1) }, "default_fee"),
            ({ $0.commissionBasisPoints = 20_000 }, "commission_basis_points"),
            ({ $0.payout = .init(delayDays: 400, cutoff: "22:00", timeZone: "Asia/Shanghai") }, "payout.delay_days"),
            ({ $0.payout = .init(delayDays: 1, cutoff: "25:00", timeZone: "Asia/Shanghai") }, "payout.cutoff"),
            ({ $0.payout = .init(delayDays: 1, cutoff: "22:00", timeZone: "Mars/Olympus") }, "payout.time_zone"),
            ({ $0.suppliers = ["s-1", "s-1"] }, "suppliers"),
            ({ $0.installmentFinancing = "later" }, "installment_financing 'later'"),
            ({ $0.locale = "fr" }, "locale 'fr' is not one of zh-CN, en"),
            ({ $0.merchantId = "" }, "merchant_id is empty"),
            ({ $0.merchantId = "m-7\u{0}x" }, "merchant_id holds a control character"),
            ({ $0.merchantId = "m-7\n" }, "merchant_id holds a control character"),
            ({ $0.suppliers = ["s-1", "s-\u{7F}2"] }, "suppliers: an entry holds a control character"),
            ({ $0.schema = "merchant/v2" }, "schema 'merchant/v2'"),
        ]
        for (change, expected) in cases {
            var merchant = Self.merchant
            change(&merchant)
            #expect(merchant.problems.count == 1, "\(expected): \(merchant.problems)")
            #expect(merchant.problems.first?.contains(expected) == true, "\(expected): \(merchant.problems)")
        }
    }

    @Test("webhook endpoint rules: an owner id with a control character is refused")
    func webhookEndpointRules() {
        let endpoint = WebhookEndpointReference(endpointId: "e-m7", ownerType: "merchant", ownerId: "m-7", url: "https://m7.example/hooks")
        #expect(endpoint.problems.isEmpty, "\(endpoint.problems)")
        var broken = endpoint
        broken.ownerId = "m-7\u{1B}[2J"
        #expect(broken.problems == ["owner_id holds a control character (U+0000–U+001F or U+007F)"])
    }

    @Test("credit line rules: currency codes, negative limits, installment counts")
    func creditLineRules() {
        #expect(CreditLineReference(payerId: "u", limits: ["cny": 1]).problems == ["limits: 'cny' is not an ISO 4217 currency code"])
        #expect(CreditLineReference(payerId: "u", limits: ["CNY": -1]).problems == ["limits.CNY: -1 is negative"])
        #expect(CreditLineReference(payerId: "u", limits: [:], installmentPlans: [1]).problems.first?.contains("installment_plans: 1") == true)
        #expect(CreditLineReference(payerId: "u", limits: [:], installmentPlans: [3, 3]).problems == ["installment_plans: a count appears twice"])
        #expect(CreditLineReference(payerId: "", limits: [:]).problems == ["payer_id is empty"])
        #expect(CreditLineReference(payerId: "user-42\u{0}", limits: [:]).problems
                    == ["payer_id holds a control character (U+0000–U+001F or U+007F)"])
        #expect(CreditLineReference(payerId: "用户-42 é", limits: [:]).problems.isEmpty)
    }

    @Test("FX rate rules: codes, positive decimal rate, different currencies, source, RFC 3339 time")
    func fxRateRules() {
        func problems(base: String = "USD", quote: String = "CNY", rate: String = "7.1", source: String = "s",
                      asOf: String = "2026-11-24T00:00:00Z") -> [String] {
            FXRateReference(base: base, quote: quote, rate: rate, source: source, asOf: asOf).problems
        }
        #expect(problems(base: "usd").first?.contains("base 'usd'") == true)
        #expect(problems(source: "ecb\tdaily") == ["source holds a control character (U+0000–U+001F or U+007F)"])
        #expect(problems(rate: "0").first?.contains("rate") == true)
        #expect(problems(rate: "7,1").first?.contains("rate") == true)
        #expect(problems(rate: "1e3").first?.contains("rate") == true)
        #expect(problems(quote: "USD").first?.contains("USD/USD") == true)
        #expect(problems(source: "") == ["source is empty"])
        #expect(problems(asOf: "yesterday") == ["as_of 'yesterday' is not an RFC 3339 time"])
        #expect(FXRateReference(base: "USD", quote: "CNY", rate: "7.1234", source: "s", asOf: "2026-11-24T00:00:00Z")
            .exchangeRate?.decimalString == "7.1234")
    }
}
