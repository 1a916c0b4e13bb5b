import Foundation
import PaystreamChannels
import PaystreamDomain
import PaystreamTesting
import Testing

/// The statement readers on small sample files built like the channels' own formats (made-up data).
@Suite("Channel statement readers")
struct StatementReaderTests {
    static let sandbox = SampleStatements.sandbox
    static let wechat = SampleStatements.wechat
    static let alipay = SampleStatements.alipay

    @Test("the sandbox's CSV: minor units, quoted fields, payments and refunds")
    func sandboxFile() throws {
        let lines = try StatementReader.sandbox(Self.sandbox, method: "card")
        #expect(lines.map { "\($0.type) \($0.paymentId) \($0.amount) \($0.currency) \($0.fee)" }
                == ["payment pay-1001 19999 CNY 120", "payment pay,odd 500 USD 3", "refund pay-1001 5000 CNY 0"])
        #expect(lines[0].lineId == "sandbox:sbx-card-00000000000000a1:payment" && lines[0].day == "2026-11-24")
        #expect(throws: StatementReadError(line: 2, "amount '1.5' or fee '0' is not a whole number of minor units")) {
            try StatementReader.sandbox("date,channel_reference,payment_id,amount,currency,fee,type\n2026-11-24,r,p,1.5,CNY,0,payment\n",
                                        method: "card")
        }
    }

    @Test("WeChat Pay's ALL bill: columns by name, backticks, yuan, fees with five decimals rounded half up, the summary checked")
    func wechatBill() throws {
        let lines = try StatementReader.wechatPay(Self.wechat)
        #expect(lines.map { "\($0.type) \($0.paymentId) \($0.amount) \($0.fee) \($0.refundReference ?? "-")" } == [
            "payment pay-ord-1002-try-1 5000 28 -", "payment pay-1001 19999 110 -", "refund pay-1001 5000 28 50000000012026112400001",
        ])
        #expect(lines.allSatisfy { $0.source == "wechat_pay" && $0.method == "wechat_pay" && $0.currency == "CNY" && $0.day == "2026-11-24" })
        // A bill cut before its summary, or whose summary disagrees, is refused.
        let cut = Self.wechat.components(separatedBy: "总交易单数")[0]
        #expect(throws: StatementReadError.self) { try StatementReader.wechatPay(cut) }
        #expect(throws: StatementReadError.self) { try StatementReader.wechatPay(Self.wechat.replacingOccurrences(of: "`3,`249.99", with: "`4,`249.99")) }
    }

    @Test("Alipay's business detail: GBK, the table between # lines, trailing tabs, refunds negative")
    func alipayDetail() throws {
        let data = try #require(GBK.encode(Self.alipay))
        #expect(String(data: data, encoding: .utf8) == nil)  // really GBK, not UTF-8
        let lines = try StatementReader.alipay(data)
        #expect(lines.map { "\($0.type) \($0.channelReference) \($0.paymentId) \($0.amount) \($0.fee) \($0.refundReference ?? "-")" } == [
            "payment 2026112422001400000000000001 pay-ord-1002-try-1 5000 28 -",
            "refund 2026112422001400000000000001 pay-ord-1002-try-1 2000 11 ref-77",
        ])
        #expect(lines.map(\.lineId) == ["alipay:2026112422001400000000000001:payment", "alipay:2026112422001400000000000001:refund:ref-77"])
        #expect(throws: StatementReadError.self) { try StatementReader.alipay(Data([0xFF, 0xFF, 0xFF])) }
    }

    @Test("amounts in yuan: exact unless a fee, never a float", arguments: [
        ("199.99", false, Int64(19_999)), ("-0.28", false, -28), ("0.27500", true, 28), ("1.10000", true, 110), ("12", false, 1_200),
        ("0.274", true, 27),
    ])
    func yuan(text: String, fee: Bool, expected: Int64) throws {
        let cny = Currency.named("CNY")!
        #expect(try StatementReader.parseYuan(text, currency: cny, fee: fee) == expected)
    }
}
