import Foundation

/// How the gateway reaches Alipay.
public struct AlipayConfiguration: Sendable {
    /// `https://openapi.alipay.com/gateway.do` in production,
    /// `https://openapi-sandbox.dl.alipaydev.com/gateway.do` for Alipay's sandbox.
    public var gatewayURL: String
    public var appId: String
    /// Where Alipay sends notifications (the public HTTPS address in front of the gateway).
    public var notifyURL: String
    /// Our application private key (signs requests).
    public var appKey: RSASigningKey
    /// Alipay's public key (verifies responses and notifications).
    public var alipayKey: RSAVerifyingKey
    /// How long a call may take, connect to last byte.
    public var timeout: Duration
    /// How long a created trade may stay unpaid (`timeout_express`), minutes.
    public var unpaidTimeoutMinutes: Int

    public init(gatewayURL: String, appId: String, notifyURL: String, appKey: RSASigningKey, alipayKey: RSAVerifyingKey,
                timeout: Duration = .seconds(10), unpaidTimeoutMinutes: Int = 15) {
        self.gatewayURL = gatewayURL
        self.appId = appId
        self.notifyURL = notifyURL
        self.appKey = appKey
        self.alipayKey = alipayKey
        self.timeout = timeout
        self.unpaidTimeoutMinutes = unpaidTimeoutMinutes
    }
}

/// Alipay's open platform (RSA2): `alipay.trade.precreate` (the payer scans the order's code),
/// query, close, refund (`out_request_no`) and refund query; asynchronous notifications
/// verified with Alipay's public key.
public struct AlipayConnector: ChannelConnector {
    public let configuration: AlipayConfiguration
    let transport: any ChannelTransport
    let clock: @Sendable () -> Date

    public init(configuration: AlipayConfiguration, transport: any ChannelTransport = HTTPChannelTransport(),
                clock: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        self.transport = transport
        self.clock = clock
    }

    public var kind: ChannelKind { .alipay }

    // MARK: calls

    public func create(_ order: ChannelOrder) async -> ChannelOutcome {
        guard order.currency == "CNY" else { return .refused(code: "unsupported_currency", message: "Alipay trades are in CNY") }
        let content = AlipayPrecreateContent(outTradeNo: order.outNo, totalAmount: AlipayAmount.text(order.amount), subject: order.subject,
                                             timeoutExpress: "\(configuration.unpaidTimeoutMinutes)m")
        switch await call(.precreate, content, notify: true) {
        case .failure(let outcome): return outcome
        case .success(let response):
            switch response.code {
            case AlipayResult.success: return .accepted
            case AlipayResult.businessFailure:
                switch response.subCode ?? "" {
                case "ACQ.TRADE_HAS_SUCCESS", "ACQ.TRADE_HAS_FINISHED": return .alreadyPaid
                case "ACQ.SYSTEM_ERROR", "ACQ.TRADE_STATUS_ERROR": return .unknown(response.subCode ?? "")
                case let code: return .refused(code: code, message: response.subMsg ?? response.msg ?? "")
                }
            default: return Self.otherCode(response)
            }
        }
    }

    public func query(_ order: ChannelOrder) async -> ChannelOutcome {
        switch await call(.query, AlipayTradeContent(outTradeNo: order.outNo), notify: false) {
        case .failure(let outcome): return outcome
        case .success(let response):
            switch response.code {
            case AlipayResult.success:
                guard let status = response.tradeStatus.flatMap(AlipayTradeStatus.init(rawValue:)) else {
                    return .unknown("trade_status \(response.tradeStatus ?? "missing")")
                }
                return Self.outcome(of: status, amount: response.totalAmount, reference: response.tradeNo,
                                    at: response.sendPayDate.flatMap(ChinaTime.parse))
            case AlipayResult.businessFailure where response.subCode == "ACQ.TRADE_NOT_EXIST":
                return .notFound
            default: return Self.otherCode(response)
            }
        }
    }

    public func close(_ order: ChannelOrder) async -> ChannelOutcome {
        switch await call(.close, AlipayTradeContent(outTradeNo: order.outNo), notify: false) {
        case .failure(let outcome): return outcome
        case .success(let response):
            switch (response.code, response.subCode ?? "") {
            case (AlipayResult.success, _): return .closed(reason: "closed")
            case (AlipayResult.businessFailure, "ACQ.TRADE_NOT_EXIST"): return .notFound
            // Paid or finished: it cannot be closed.
            case (AlipayResult.businessFailure, "ACQ.TRADE_STATUS_ERROR"): return .alreadyPaid
            default: return Self.otherCode(response)
            }
        }
    }

    public func refund(_ refund: ChannelOrder) async -> ChannelOutcome {
        guard let trade = refund.paymentOutNo else { return .refused(code: "no_payment", message: "a refund needs its payment") }
        let content = AlipayRefundContent(outTradeNo: trade, refundAmount: AlipayAmount.text(refund.amount), outRequestNo: refund.outNo)
        switch await call(.refund, content, notify: false) {
        case .failure(let outcome): return outcome
        case .success(let response):
            switch response.code {
            case AlipayResult.success:
                // N: no money moved by this call — a repeat of a refund already made, or one
                // not made yet; the refund query says which.
                guard response.fundChange == "Y" else { return .refundPending }
                return .refunded(amount: refund.amount, reference: response.tradeNo ?? trade, at: nil)
            case AlipayResult.businessFailure:
                switch response.subCode ?? "" {
                case "ACQ.SYSTEM_ERROR", "ACQ.REFUND_FEE_ERROR_IN_PROCESSING": return .unknown(response.subCode ?? "")
                case let code: return .refused(code: code, message: response.subMsg ?? response.msg ?? "")
                }
            default: return Self.otherCode(response)
            }
        }
    }

    public func queryRefund(_ refund: ChannelOrder) async -> ChannelOutcome {
        guard let trade = refund.paymentOutNo else { return .refused(code: "no_payment", message: "a refund needs its payment") }
        let content = AlipayRefundQueryContent(outTradeNo: trade, outRequestNo: refund.outNo)
        switch await call(.refundQuery, content, notify: false) {
        case .failure(let outcome): return outcome
        case .success(let response):
            switch response.code {
            case AlipayResult.success:
                // An empty answer (no refund_amount) means no such refund.
                if response.refundStatus == "REFUND_SUCCESS" || (response.refundStatus == nil && response.refundAmount != nil) {
                    return .refunded(amount: refund.amount, reference: response.tradeNo ?? trade, at: nil)
                }
                return response.refundAmount == nil ? .notFound : .refundPending
            case AlipayResult.businessFailure where response.subCode == "ACQ.TRADE_NOT_EXIST":
                return .notFound
            default: return Self.otherCode(response)
            }
        }
    }

    /// 20000 and anything unexpected: unknown (tried again), never a refusal.
    static func otherCode(_ response: AlipayTradeResponse) -> ChannelOutcome {
        .unknown("code \(response.code)\(response.subCode.map { " \($0)" } ?? "")")
    }

    static func outcome(of status: AlipayTradeStatus, amount: String?, reference: String?, at: Date?) -> ChannelOutcome {
        switch status {
        case .tradeSuccess, .tradeFinished:
            guard let amount, let fen = try? AlipayAmount.minorUnits(amount), let reference else {
                return .unknown("a paid trade without a readable total_amount or trade_no")
            }
            return .paid(amount: fen, reference: reference, at: at)
        case .waitBuyerPay: return .awaitingPayment
        case .tradeClosed: return .closed(reason: AlipayTradeStatus.tradeClosed.rawValue)
        }
    }

    /// Signs and sends one call; the verified response node, or the outcome that stands for a
    /// failure (`unknown` for everything: a transport error, a non-200, an unsigned or
    /// mis-signed reply).
    func call(_ method: AlipayMethod, _ content: some Encodable, notify: Bool) async -> Called<AlipayTradeResponse> {
        let bizContent: String
        do {
            bizContent = String(decoding: try JSONEncoder().encode(content), as: UTF8.self)
        } catch {
            return .failure(.unknown("cannot encode biz_content: \(error)"))
        }
        let call = AlipayCall(method: method, appId: configuration.appId, bizContent: bizContent,
                              notifyURL: notify ? configuration.notifyURL : nil, at: clock(), key: configuration.appKey)
        let separator = configuration.gatewayURL.contains("?") ? "&" : "?"
        let sent = await transport.send(method: "POST", url: configuration.gatewayURL + separator + call.query,
                                        headers: [("content-type", AlipayCall.contentType)], body: call.body,
                                        timeout: configuration.timeout)
        switch sent {
        case .failure(let error):
            return .failure(.unknown(error.description))
        case .success(let response):
            guard response.status == 200 else { return .failure(.unknown("HTTP \(response.status)")) }
            do {
                let node = try AlipayResponseEnvelope(response.body).verifiedNode(method: method.rawValue, key: configuration.alipayKey)
                return .success(try JSONDecoder().decode(AlipayTradeResponse.self, from: node))
            } catch let error as AlipayResponseError {
                return .failure(.unknown(error.description))
            } catch {
                return .failure(.unknown("unreadable response node: \(error)"))
            }
        }
    }

    // MARK: notifications

    public func check(_ callback: ChannelCallback, now: Date) throws(CallbackRefusal) -> ChannelEvent {
        try read(callback)
    }

    public func read(_ callback: ChannelCallback) throws(CallbackRefusal) -> ChannelEvent {
        let fields: [String: String]
        do {
            fields = try FormEncoding.decode(callback.body)
        } catch {
            throw CallbackRefusal("malformed", error.description)
        }
        guard AlipaySignature.verifyNotify(fields, with: configuration.alipayKey) else {
            throw CallbackRefusal("bad_signature", "the notification's sign is not Alipay's (or sign_type is not RSA2)")
        }
        let notify: AlipayNotify
        do {
            notify = try AlipayNotify(fields: fields)
        } catch {
            throw CallbackRefusal("malformed", error.description)
        }
        guard notify.appId == configuration.appId else { throw CallbackRefusal("wrong_app", "the notification is for another app_id") }
        // A refund's notification names it (out_biz_no) and carries the trade's refunded total.
        if let refund = notify.outBizNo, notify.refundFee != nil {
            return ChannelEvent(notificationId: notify.notifyId, outTradeNo: notify.outTradeNo, outRefundNo: refund,
                                outcome: .refunded(amount: 0, reference: notify.tradeNo, at: nil))
        }
        let at = notify.gmtPayment.flatMap(ChinaTime.parse)
        return ChannelEvent(notificationId: notify.notifyId, outTradeNo: notify.outTradeNo,
                            outcome: Self.outcome(of: notify.tradeStatus, amount: notify.totalAmount, reference: notify.tradeNo, at: at))
    }

    /// `success` (exactly those 7 bytes) takes the notification; anything else has it sent again.
    public func reply(accepted: Bool, message: String) -> CallbackReply {
        accepted ? CallbackReply(status: 200, contentType: "text/plain", body: Data("success".utf8))
            : CallbackReply(status: 400, contentType: "text/plain", body: Data("fail".utf8))
    }
}

public struct AlipayRefundQueryContent: Sendable, Codable, Equatable {
    public var outTradeNo: String
    public var outRequestNo: String
    public init(outTradeNo: String, outRequestNo: String) {
        self.outTradeNo = outTradeNo
        self.outRequestNo = outRequestNo
    }
    enum CodingKeys: String, CodingKey { case outTradeNo = "out_trade_no", outRequestNo = "out_request_no" }
}
