import Foundation
@testable import PaystreamDomain
@testable import PaystreamWire
import Testing

@Suite("Payment request rules without stored state")
struct PaymentRequestTests {
    static func valid() -> PaymentRequestMessage {
        PaymentRequestMessage(requestId: "r-1", paymentId: "pay-1", orderId: "o-1", payerId: "user-1", merchantId: "m-1",
                              amount: 19999, currency: "CNY", method: "card", channel: "bank_card")
    }

    @Test("a well-formed request passes and derives the payment id from the request id when absent")
    func validRequest() throws {
        let request = try Self.valid().validated().get()
        #expect(request.paymentID == "pay-1")
        #expect(request.amount == Money(minorUnits: 19999, currency: Currency.named("CNY")!))
        #expect(request.settlement == SettlementTerms(mode: "prepaid"))
        var anonymous = Self.valid()
        anonymous.paymentId = nil
        #expect(try anonymous.validated().get().paymentID == "pay-r-1")
    }

    static let broken: [(String, @Sendable (inout PaymentRequestMessage) -> Void, RejectionReason)] = [
        ("no request id", { $0.requestId = nil }, .invalidRequest),
        ("empty request id", { $0.requestId = "" }, .invalidRequest),
        ("request id too long", { $0.requestId = String(repeating: "x", count: 256) }, .invalidRequest),
        ("NUL in the request id", { $0.requestId = "r-1\u{0}x" }, .invalidRequest),
        ("a newline in the payment id", { $0.paymentId = "pay-1\n" }, .invalidRequest),
        ("DEL in the payer id", { $0.payerId = "user-1\u{7F}" }, .invalidRequest),
        ("a tab in a split's party", { $0.splits = [Split(partyId: "s\t1", amount: 10)] }, .invalidRequest),
        ("unknown type", { $0.type = "gift" }, .invalidRequest),
        ("no payer", { $0.payerId = nil }, .invalidRequest),
        ("no merchant", { $0.merchantId = "" }, .invalidRequest),
        ("no amount", { $0.amount = nil }, .invalidRequest),
        ("zero amount", { $0.amount = 0 }, .invalidRequest),
        ("negative amount", { $0.amount = -5 }, .invalidRequest),
        ("no currency", { $0.currency = nil }, .invalidRequest),
        ("unknown currency", { $0.currency = "XXY" }, .unsupportedCurrency),
        ("unknown method", { $0.method = "cheque" }, .invalidRequest),
        ("unknown channel", { $0.channel = "pigeon" }, .invalidRequest),
        ("unknown settlement mode", { $0.settlement = SettlementTerms(mode: "barter") }, .invalidRequest),
        ("installments without a count", { $0.settlement = SettlementTerms(mode: "installments") }, .invalidRequest),
        ("one installment", { $0.settlement = SettlementTerms(mode: "installments", installments: 1) }, .invalidRequest),
        ("splits above the amount", { $0.splits = [Split(partyId: "s", amount: 20000)] }, .invalidRequest),
        ("zero split", { $0.splits = [Split(partyId: "s", amount: 0)] }, .invalidRequest),
        ("overflowing splits", { $0.splits = [Split(partyId: "a", amount: .max), Split(partyId: "b", amount: .max)] }, .invalidRequest),
        ("metadata not an object", { $0.metadata = .string("x") }, .invalidRequest),
    ]

    @Test("each broken request is rejected with its reason code", arguments: broken.indices)
    func rejected(_ index: Int) {
        let (name, breakIt, reason) = Self.broken[index]
        var message = Self.valid()
        breakIt(&message)
        switch message.validated() {
        case .success: Issue.record("\(name): accepted")
        case .failure(let rejection):
            #expect(rejection.reason == reason, "\(name)")
            #expect(!rejection.message.isEmpty)
        }
    }

    @Test("the wire decoder reads snake_case JSON and ignores unknown fields")
    func decodesWire() throws {
        let json = #"{"schema":"payment-request/v1","type":"payment","request_id":"r","payer_id":"p","merchant_id":"m","amount":5,"currency":"JPY","method":"alipay","channel":"mobile","splits":[{"party_id":"s","amount":1}],"surprise":true}"#
        let message = try Wire.decode(PaymentRequestMessage.self, from: Data(json.utf8))
        #expect(message.requestId == "r")
        #expect(message.splits == [Split(partyId: "s", amount: 1)])
        #expect(try message.validated().get().amount.formatted == "JP¥5")
        #expect(Wire.schema(of: Data(json.utf8)) == "payment-request/v1")
        #expect(Wire.schema(of: Data("[1]".utf8)) == nil)
    }
}

@Suite("Money formatting")
struct MoneyTests {
    @Test("minor units render with the currency's digits", arguments: [
        (Int64(19999), "CNY", "199.99", "¥199.99"), (5, "CNY", "0.05", "¥0.05"), (500, "JPY", "500", "JP¥500"),
        (1500, "KWD", "1.500", "KWD 1.500"), (12345, "CLF", "1.2345", "CLF 1.2345"), (-250, "USD", "-2.50", "$-2.50"),
        (Int64.min, "USD", "-92233720368547758.08", "$-92233720368547758.08"),
    ])
    func formats(minor: Int64, code: String, decimal: String, formatted: String) throws {
        let money = Money(minorUnits: minor, currency: try #require(Currency.named(code)))
        #expect(money.decimalString == decimal)
        #expect(money.formatted == formatted)
    }

    @Test("timestamps are RFC 3339 UTC with milliseconds")
    func timestamps() {
        #expect(Wire.timestamp(Date(timeIntervalSince1970: 1_795_000_000.25)) == "2026-11-18T11:06:40.250Z")
    }

    @Test("a control character in an id is refused before anything else, for a refund too (the store would keep the id cut at a NUL)")
    func controlCharacters() {
        var refund = PaymentRequestMessage(type: "refund", requestId: "rf-1", paymentId: "pay-1\u{0}2", payerId: "user-1", merchantId: nil,
                                           amount: 100, currency: "CNY", method: nil, channel: nil)
        guard case .failure(let rejection) = refund.validatedFollowUp() else { Issue.record("accepted"); return }
        #expect(rejection.reason == .invalidRequest && rejection.message == "payment_id contains a control character")
        refund.paymentId = "pay-1"
        #expect((try? refund.validatedFollowUp().get()) != nil)
        #expect(!StoredText.hasControlCharacter("ord-1001 支付 ☃"))
    }
}
