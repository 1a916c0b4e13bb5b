import Foundation
import PaystreamDomain
import PaystreamWire
import Testing

@Suite("Request types and merchant terms")
struct RequestTypeTests {
    static func message(_ type: String, merchant: String? = nil, method: String = "alipay", channel: String = "mobile",
                        amount: Int64? = 5000, payment: String? = nil, settlement: SettlementTerms? = nil,
                        splits: [Split]? = nil) -> PaymentRequestMessage {
        PaymentRequestMessage(type: type, requestId: "r-\(type)", paymentId: payment, payerId: "user-1", merchantId: merchant,
                              amount: amount, currency: "CNY", method: method, channel: channel, settlement: settlement,
                              splits: splits)
    }

    @Test("a top-up and a repayment need no merchant, and refuse one")
    func topupAndRepayment() throws {
        let topup = try Self.message("topup").validated().get()
        #expect(topup.type == .topup && topup.merchantID == nil && !topup.drawsOnCredit)
        let repayment = try Self.message("repayment", method: "card", channel: "bank_card").validated().get()
        #expect(repayment.type == .repayment)
        for type in ["topup", "repayment"] {
            guard case .failure(let r) = Self.message(type, merchant: "m-1").validated() else { Issue.record("\(type) with merchant"); continue }
            #expect(r.reason == .invalidRequest)
        }
    }

    @Test("stateless refusals per type", arguments: [
        ("topup from the wallet", message("topup", method: "wallet", channel: "balance")),
        ("post-paid topup", message("topup", settlement: SettlementTerms(mode: "postpaid"))),
        ("repayment with splits", message("repayment", splits: [Split(partyId: "s", amount: 1)])),
        ("post-paid cash on delivery", message("payment", merchant: "m-1", method: "cash", channel: "cash_on_delivery",
                                               settlement: SettlementTerms(mode: "postpaid"))),
        ("a refund as a new payment", message("refund", payment: "pay-1")),
        ("post-paid from the wallet", message("payment", merchant: "m-1", method: "wallet", channel: "balance",
                                              settlement: SettlementTerms(mode: "postpaid"))),
        ("split without a party", message("payment", merchant: "m-1", splits: [Split(partyId: "", amount: 1)])),
    ])
    func refusals(_ name: String, _ message: PaymentRequestMessage) {
        guard case .failure(let rejection) = message.validated() else { Issue.record("\(name) accepted"); return }
        #expect(rejection.reason == .invalidRequest, "\(name)")
    }

    @Test("post-paid and installment payments draw on credit; prepaid ones do not")
    func drawsOnCredit() throws {
        #expect(try Self.message("payment", merchant: "m-1", settlement: SettlementTerms(mode: "postpaid")).validated().get().drawsOnCredit)
        #expect(try Self.message("payment", merchant: "m-1", settlement: SettlementTerms(mode: "installments", installments: 3))
            .validated().get().drawsOnCredit)
        #expect(try !Self.message("payment", merchant: "m-1").validated().get().drawsOnCredit)
    }

    @Test("refund and cancel: the target payment is required; a refund amount, when given, is positive")
    func followUps() throws {
        let full = try Self.message("refund", amount: nil, payment: "pay-1").validatedFollowUp().get()
        #expect(full.action == .refund(amount: nil, currency: "CNY") && full.paymentID == "pay-1")
        let cancel = try Self.message("cancel", payment: "pay-1").validatedFollowUp().get()
        #expect(cancel.action == .cancel)
        for broken in [Self.message("refund", payment: nil), Self.message("refund", amount: 0, payment: "pay-1"),
                       Self.message("cancel", payment: ""), Self.message("payment", payment: "pay-1")] {
            guard case .failure(let rejection) = broken.validatedFollowUp() else { Issue.record("accepted: \(broken)"); continue }
            #expect(rejection.reason == .invalidRequest)
        }
        var unknownType = Self.message("refund", payment: "pay-1")
        unknownType.type = "chargeback"
        guard case .failure(let rejection) = unknownType.requestType() else { Issue.record("chargeback accepted"); return }
        #expect(rejection.message.contains("payment, refund, cancel, topup, repayment"))
    }

    static let merchant = MerchantReference(merchantId: "m-1", status: .active, settlementCurrency: "CNY",
                                            fees: ["alipay": .init(basisPoints: 100, fixed: 10)], suppliers: ["s-1"])

    static func payment(splits: [Split] = [], settlementCurrency: String? = nil) throws -> PaymentRequest {
        try message("payment", merchant: "m-1", amount: 10_000, splits: splits).validated().get().with(settlementCurrency)
    }

    @Test("merchant terms: active, suppliers only, splits within the amount after fees, a rate for another settlement currency")
    func merchantTerms() throws {
        let noRates: (String, String) -> Bool = { _, _ in false }
        // Fee on 100.00 at 1% + 0.10 = 1.10, so 98.90 may be split.
        #expect(RequestRules.merchantTerms(for: try Self.payment(splits: [Split(partyId: "s-1", amount: 9_890)]),
                                           merchant: Self.merchant, hasRate: noRates) == nil)
        #expect(RequestRules.merchantTerms(for: try Self.payment(splits: [Split(partyId: "s-1", amount: 9_891)]),
                                           merchant: Self.merchant, hasRate: noRates)?.reason == .invalidRequest)
        #expect(RequestRules.merchantTerms(for: try Self.payment(splits: [Split(partyId: "s-2", amount: 1)]),
                                           merchant: Self.merchant, hasRate: noRates)?.reason == .invalidRequest)
        var suspended = Self.merchant
        suspended.status = .suspended
        #expect(RequestRules.merchantTerms(for: try Self.payment(), merchant: suspended, hasRate: noRates)?.reason == .merchantInactive)
        #expect(RequestRules.merchantTerms(for: try Self.payment(), merchant: nil, hasRate: noRates)?.reason == .merchantInactive)
        let inUSD = try Self.payment(settlementCurrency: "USD")
        #expect(RequestRules.merchantTerms(for: inUSD, merchant: Self.merchant, hasRate: noRates)?.reason == .unsupportedCurrency)
        #expect(RequestRules.merchantTerms(for: inUSD, merchant: Self.merchant, hasRate: { $0 == "CNY" && $1 == "USD" }) == nil)
    }
}

private extension PaymentRequest {
    func with(_ settlementCurrency: String?) -> PaymentRequest {
        var message = PaymentRequestMessage(type: type.rawValue, requestId: requestID, paymentId: paymentID, payerId: payerID,
                                            merchantId: merchantID, amount: amount.minorUnits, currency: amount.currency.code,
                                            method: method.rawValue, channel: channel.rawValue, settlement: settlement,
                                            splits: splits)
        message.settlementCurrency = settlementCurrency
        return try! message.validated().get()
    }
}
