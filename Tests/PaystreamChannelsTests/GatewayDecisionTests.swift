@testable import ChannelGateway
import Foundation
import PaystreamChannels
import PaystreamDomain
import PaystreamTesting
import Testing

/// The gateway's rules as values (no I/O): nothing is declined unless the channel said no money
/// was or can be taken; unknown is asked again; a payment that comes after all is answered late.
@Suite("channel gateway decisions")
struct GatewayDecisionTests {
    static let order = GatewayOrder(outNo: "PS001X", channel: .alipay, kind: .payment, channelRequestId: "pay-1:authorize", paymentId: "pay-1",
                                    recordKey: "user-1", method: "alipay", amount: 1_000, currency: "CNY")
    static let query = GatewayWaiting(channelRequestId: "pay-1:query", outNo: "PS001X", requestType: .query, paymentId: "pay-1", amount: 1_000,
                                      currency: "CNY", recordKey: "user-1")
    static let cancel = GatewayWaiting(channelRequestId: "pay-1:cancel", outNo: "PS001X", requestType: .cancel, paymentId: "pay-1", amount: 1_000,
                                       currency: "CNY", recordKey: "user-1")
    static func call(_ action: GatewayAction, reason: String? = nil) -> GatewayCall {
        GatewayCall(outNo: "PS001X", action: action, dueMs: 0, attempts: 2, reason: reason)
    }

    @Test("a timeout or SYSTEM_ERROR is never an answer: a create is followed by a query, anything else is made again")
    func unknownIsAskedAgain() {
        for action in GatewayAction.allCases {
            let plan = GatewayDecision.plan(.unknown("timeout"), after: action, call: Self.call(action), order: Self.order, waiting: [Self.query])
            #expect(plan.answer == nil && plan.settle == nil && plan.waitingAnswers.isEmpty, "\(action)")
            #expect(plan.schedule == [.init(action: action == .create ? .query : action, when: .retry)], "\(action)")
        }
        // A query after a lost create that finds nothing makes the trade again.
        var plan = GatewayDecision.plan(.notFound, after: .query, call: Self.call(.query), order: Self.order, waiting: [])
        #expect(plan.schedule == [.init(action: .create, when: .retry)] && plan.answer == nil)
        var created = Self.order
        created.created = true
        plan = GatewayDecision.plan(.notFound, after: .query, call: Self.call(.query), order: created, waiting: [])
        #expect(plan.schedule == [.init(action: .query, when: .poll)] && plan.answer == nil)
    }

    @Test("paid: approved once with the channel's amount; the waiting query approved, a waiting cancel refused; after a decline it is answered late, once")
    func paid() {
        let at = Date(timeIntervalSince1970: 1_765_000_000)
        var plan = GatewayDecision.plan(.paid(amount: 990, reference: "T1", at: at), after: nil, call: nil, order: Self.order,
                                        waiting: [Self.query, Self.cancel])
        #expect(plan.answer == .init(status: .approved, amount: 990, reference: "T1", at: at) && plan.settle == .approved && plan.dropCalls)
        #expect(plan.waitingAnswers.map(\.status) == [.approved, .declined] && plan.waitingAnswers[1].reason == "already_captured")
        for settled in [GatewayOrder.Answer.declined, .silent] {
            var order = Self.order
            order.answer = settled
            plan = GatewayDecision.plan(.paid(amount: 1_000, reference: "T1", at: nil), after: .query, call: Self.call(.query), order: order, waiting: [])
            #expect(plan.answer?.late == true && plan.answer?.status == .approved && plan.settle == nil, "\(settled)")
            order.lateAnswered = true
            plan = GatewayDecision.plan(.paid(amount: 1_000, reference: "T1", at: nil), after: nil, call: nil, order: order, waiting: [])
            #expect(plan.answer == nil, "a second late approval is not sent")
        }
        var approved = Self.order
        approved.answer = .approved
        #expect(GatewayDecision.plan(.paid(amount: 1_000, reference: "T1", at: nil), after: nil, call: nil, order: approved, waiting: []).answer == nil)
    }

    @Test("declines only when nothing can be taken: a refused create, a trade reported closed, or one we closed; PAYERROR is closed first")
    func declines() {
        var plan = GatewayDecision.plan(.refused(code: "ACQ.INVALID_PARAMETER", message: ""), after: .create, call: Self.call(.create),
                                        order: Self.order, waiting: [Self.query])
        #expect(plan.answer?.status == .declined && plan.answer?.reason == "ACQ.INVALID_PARAMETER" && plan.settle == .declined)
        #expect(plan.waitingAnswers.map(\.status) == [.declined])
        // A refusal of anything but the create is not a decline: asked again.
        plan = GatewayDecision.plan(.refused(code: "X", message: ""), after: .close, call: Self.call(.close), order: Self.order, waiting: [])
        #expect(plan.answer == nil && plan.schedule == [.init(action: .close, when: .retry)])
        plan = GatewayDecision.plan(.closed(reason: "TRADE_CLOSED"), after: .query, call: Self.call(.query), order: Self.order, waiting: [])
        #expect(plan.answer?.status == .declined && plan.answer?.reason == "TRADE_CLOSED")
        plan = GatewayDecision.plan(.closed(reason: "PAYERROR"), after: .query, call: Self.call(.query), order: Self.order, waiting: [])
        #expect(plan.answer == nil && plan.schedule == [.init(action: .close, when: .now, reason: "PAYERROR")])
        plan = GatewayDecision.plan(.closed(reason: "CLOSED"), after: .close, call: Self.call(.close, reason: "PAYERROR"), order: Self.order, waiting: [])
        #expect(plan.answer?.status == .declined && plan.answer?.reason == "PAYERROR")
    }

    @Test("payment-worker asks about an unpaid trade: it is closed, then declined (not_paid); a cancel's close settles silently and approves the cancel; paid first: query")
    func closeBeforeDecline() {
        var plan = GatewayDecision.plan(.awaitingPayment, after: .query, call: Self.call(.query), order: Self.order, waiting: [Self.query])
        #expect(plan.schedule == [.init(action: .close, when: .now, reason: "not_paid")] && plan.answer == nil)
        plan = GatewayDecision.plan(.closed(reason: "closed"), after: .close, call: Self.call(.close, reason: "not_paid"), order: Self.order,
                                    waiting: [Self.query])
        #expect(plan.answer?.status == .declined && plan.answer?.reason == "not_paid" && plan.waitingAnswers.map(\.status) == [.declined])
        plan = GatewayDecision.plan(.awaitingPayment, after: .query, call: Self.call(.query), order: Self.order, waiting: [Self.cancel])
        #expect(plan.schedule == [.init(action: .close, when: .now)])
        plan = GatewayDecision.plan(.closed(reason: "closed"), after: .close, call: Self.call(.close), order: Self.order, waiting: [Self.cancel])
        #expect(plan.answer == nil && plan.settle == .silent && plan.waitingAnswers.map(\.status) == [.approved])
        plan = GatewayDecision.plan(.alreadyPaid, after: .close, call: Self.call(.close), order: Self.order, waiting: [Self.cancel])
        #expect(plan.schedule == [.init(action: .query, when: .now)] && plan.answer == nil)
        // Unpaid and nobody asking: looked at again later.
        plan = GatewayDecision.plan(.awaitingPayment, after: .query, call: Self.call(.query), order: Self.order, waiting: [])
        #expect(plan.schedule == [.init(action: .query, when: .poll)])
        // The channel has no such trade while payment-worker asks: unknown (its expiry decides), nothing declined.
        plan = GatewayDecision.plan(.notFound, after: .query, call: Self.call(.query), order: Self.order, waiting: [Self.query, Self.cancel])
        #expect(plan.answer == nil && plan.settle == .silent && plan.waitingAnswers.map(\.status) == [.unknown, .approved])
    }

    @Test("refunds: approved with our amount, pending → refund query, a refund the channel does not know is made again (same number), refused → declined")
    func refunds() {
        var refund = Self.order
        refund.kind = .refund
        refund.amount = 300
        var plan = GatewayDecision.plan(.refunded(amount: 0, reference: "T1", at: nil), after: nil, call: nil, order: refund, waiting: [])
        #expect(plan.answer?.amount == 300 && plan.answer?.status == .approved && plan.settle == .approved)
        plan = GatewayDecision.plan(.refundPending, after: .refund, call: Self.call(.refund), order: refund, waiting: [])
        #expect(plan.schedule == [.init(action: .refundQuery, when: .retry)])
        plan = GatewayDecision.plan(.notFound, after: .refundQuery, call: Self.call(.refundQuery), order: refund, waiting: [])
        #expect(plan.schedule == [.init(action: .refund, when: .now)])
        plan = GatewayDecision.plan(.refused(code: "NOT_ENOUGH", message: ""), after: .refund, call: Self.call(.refund), order: refund, waiting: [])
        #expect(plan.answer?.status == .declined && plan.answer?.reason == "NOT_ENOUGH")
        plan = GatewayDecision.plan(.unknown("timeout"), after: .refund, call: Self.call(.refund), order: refund, waiting: [])
        #expect(plan.schedule == [.init(action: .refund, when: .retry)] && plan.answer == nil)
    }

    @Test("our numbers: 30 characters of letters and digits, the same for the same request, the partition read back")
    func outNumbers() {
        let number = OutNumber(prefix: "PS", partition: 7, channelRequestId: "pay-1001:authorize")
        #expect(number.text.count == 29 && number.text.hasPrefix("PS007") && number.text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
        #expect(number == OutNumber(prefix: "PS", partition: 7, channelRequestId: "pay-1001:authorize"))
        #expect(number != OutNumber(prefix: "PS", partition: 7, channelRequestId: "pay-1001:refund:r-1"))
        #expect(OutNumber.partition(of: number.text, prefix: "PS") == 7)
        #expect(OutNumber.partition(of: number.text, prefix: "QA") == nil)
        #expect(OutNumber.partition(of: "PS007" + "a", prefix: "PS") == nil)
        #expect(OutNumber.partition(of: OutNumber(prefix: "Q1", partition: 999, channelRequestId: "x").text, prefix: "Q1") == 999)
    }
}

/// The gateway's key files as systemd hands them over (`channels_<file>`): platform
/// certificates chosen by their serial, and a clear refusal for what is missing.
@Suite("channel gateway credentials")
struct GatewayCredentialTests {
    @Test("a WeChat Pay platform certificate (channels_wechatpay-platform-*.pem) verifies callbacks that name its serial; a missing key is named, never shown")
    func platformCertificate() throws {
        let folder = try temporaryDirectory("gateway-credentials")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (certificate, platformKey) = try PlatformCertificateTests.certificate(serial: "6A2B3C4D5E6F7081", in: folder)
        let merchant = RSASigningKey.generate()
        try merchant.pemRepresentation.write(toFile: "\(folder)/channels_wechatpay-merchant-private-key", atomically: true, encoding: .utf8)
        try certificate.write(toFile: "\(folder)/channels_wechatpay-platform-2026.pem", atomically: true, encoding: .utf8)
        try "0123456789abcdefghijABCDEFGHIJ01\n".write(toFile: "\(folder)/channels_wechatpay-apiv3-key", atomically: true, encoding: .utf8)
        var settings = GatewaySettings()
        var weChat = GatewaySettings.WeChatPaySettings()
        weChat.mchid = "1900000001"
        weChat.appid = "wx1"
        weChat.merchantSerial = "5F1C"
        weChat.notifyURL = "https://pay.example.com/wechatpay/notify"
        settings.weChatPay = weChat
        let connectors = try GatewayCredentials.connectors(settings, environment: ["CREDENTIALS_DIRECTORY": folder])
        let connector = try #require(connectors.first as? WeChatPayConnector)
        #expect(connector.configuration.verifier.keys.keys.sorted() == ["6A2B3C4D5E6F7081"])
        let body = Data(#"{"id":"EV-1"}"#.utf8)
        let signer = WeChatPaySigner(key: try RSASigningKey(text: platformKey), serial: "6A2B3C4D5E6F7081")
        try connector.configuration.verifier.verify(headers: signer.headers(body: body, timestamp: Int64(Date().timeIntervalSince1970)), body: body, now: Date())

        try FileManager.default.removeItem(atPath: "\(folder)/channels_wechatpay-apiv3-key")
        do {
            _ = try GatewayCredentials.connectors(settings, environment: ["CREDENTIALS_DIRECTORY": folder])
            Issue.record("a missing APIv3 key must stop the gateway")
        } catch {
            #expect("\(error)".contains("wechatpay-apiv3-key") && !"\(error)".contains("PRIVATE"), "\(error)")
        }
    }
}
