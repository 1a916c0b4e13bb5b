import Foundation
import PaystreamChannels
import PaystreamRuntime

extension ChannelSimulator {
    /// APIv3: every request's `Authorization` checked with the merchant's key, every reply signed.
    func weChat(_ request: HTTPRequest) async -> HTTPResponse {
        let path = request.path
        let call: String
        let parts = path.split(separator: "/").map(String.init)
        switch (request.method, parts.count) {
        case ("POST", _) where path == "/v3/pay/transactions/native": call = "native"
        case ("GET", 5) where path.hasPrefix("/v3/pay/transactions/out-trade-no/"): call = "query"
        case ("POST", 6) where path.hasPrefix("/v3/pay/transactions/out-trade-no/") && parts[5] == "close": call = "close"
        case ("POST", _) where path == "/v3/refund/domestic/refunds": call = "refund"
        case ("GET", 5) where path.hasPrefix("/v3/refund/domestic/refunds/"): call = "refund_query"
        default: return weChatReply(404, WeChatPayError(code: "NOT_FOUND", message: "no such API"))
        }
        count(call)
        guard let header = request.header("authorization"), let authorization = WeChatPayAuthorization(header: header),
              authorization.mchid == identity.merchantId,
              abs(Date().timeIntervalSince1970 - TimeInterval(authorization.timestamp)) <= 300,
              identity.merchantKey.isValid(signature: authorization.signature,
                                           for: WeChatPaySignature.requestMessage(method: request.method, pathAndQuery: request.target,
                                                                                  timestamp: authorization.timestamp, nonce: authorization.nonce,
                                                                                  body: request.body)) else {
            counters.withLock { $0.badSignatures += 1 }
            return weChatReply(401, WeChatPayError(code: "SIGN_ERROR", message: "签名错误"))
        }
        switch call {
        case "native":
            guard let order = try? JSONDecoder().decode(WeChatPayNativeOrder.self, from: request.body), order.amount.total > 0 else {
                return weChatReply(400, WeChatPayError(code: "PARAM_ERROR", message: "参数错误"))
            }
            switch misbehaviour(call, order.outTradeNo, firstCreateOf: order.amount.total) {
            case .systemError: return weChatReply(500, WeChatPayError(code: "SYSTEM_ERROR", message: "系统错误"))
            case .hang:
                _ = nativeOrder(order)
                await hang()
                return .text(504, "gateway timeout\n")
            case .none:
                return nativeOrder(order)
            }
        case "query":
            guard let trade = trades.withLock({ $0[parts[4]] }) else {
                return weChatReply(404, WeChatPayError(code: "ORDER_NOT_EXIST", message: "订单不存在"))
            }
            return weChatJSON(200, transaction(trade))
        case "close":
            if case .systemError = misbehaviour(call, parts[4]) {
                return weChatReply(500, WeChatPayError(code: "SYSTEM_ERROR", message: "系统错误"))
            }
            let answer = close(parts[4])
            switch answer.subCode {
            case nil: return weChatReply(204, nil)
            case "ACQ.TRADE_STATUS_ERROR": return weChatReply(400, WeChatPayError(code: "ORDERPAID", message: "订单已支付"))
            default: return weChatReply(404, WeChatPayError(code: "ORDER_NOT_EXIST", message: "订单不存在"))
            }
        case "refund":
            guard let order = try? JSONDecoder().decode(WeChatPayRefundOrder.self, from: request.body) else {
                return weChatReply(400, WeChatPayError(code: "PARAM_ERROR", message: "参数错误"))
            }
            switch misbehaviour(call, order.outRefundNo) {
            case .systemError: return weChatReply(500, WeChatPayError(code: "SYSTEM_ERROR", message: "系统错误"))
            case .hang:
                _ = weChatRefund(order)
                await hang()
                return .text(504, "gateway timeout\n")
            case .none:
                return weChatRefund(order)
            }
        default:
            let found = trades.withLock { trades in trades.values.lazy.compactMap { trade in trade.refunds[parts[4]].map { (trade, $0) } }.first }
            guard let (trade, refund) = found else {
                return weChatReply(404, WeChatPayError(code: "RESOURCE_NOT_EXISTS", message: "退款单不存在"))
            }
            return weChatJSON(200, refundBody(trade, refund))
        }
    }

    func nativeOrder(_ order: WeChatPayNativeOrder) -> HTTPResponse {
        let (created, existing) = trades.withLock { trades -> (Bool, SimulatedTrade?) in
            if let trade = trades[order.outTradeNo] { return (false, trade) }
            trades[order.outTradeNo] = SimulatedTrade(outTradeNo: order.outTradeNo, amount: order.amount.total, subject: order.description,
                                                      notifyURL: order.notifyUrl, state: .waiting, tradeNo: reference("4200"))
            return (true, nil)
        }
        if let existing {
            if existing.state == .paid { return weChatReply(400, WeChatPayError(code: "ORDERPAID", message: "订单已支付")) }
            if existing.amount != order.amount.total {
                return weChatReply(400, WeChatPayError(code: "OUT_TRADE_NO_USED", message: "商户订单号重复"))
            }
        }
        if created {
            counters.withLock { $0.tradesCreated += 1 }
            playPayer(order.outTradeNo, amount: order.amount.total)
        }
        return weChatJSON(200, ["code_url": "weixin://wxpay/bizpayurl?pr=sim\(order.outTradeNo.suffix(8))"])
    }

    /// Accepted as PROCESSING; done `refund_delay_ms` later, then notified (REFUND.SUCCESS).
    func weChatRefund(_ order: WeChatPayRefundOrder) -> HTTPResponse {
        enum Result { case reply(HTTPResponse), created(SimulatedTrade, SimulatedRefund) }
        let result = trades.withLock { trades -> Result in
            guard var trade = trades[order.outTradeNo] else {
                return .reply(weChatReply(404, WeChatPayError(code: "RESOURCE_NOT_EXISTS", message: "订单不存在")))
            }
            if let existing = trade.refunds[order.outRefundNo] { return .reply(weChatJSON(200, refundBody(trade, existing))) }
            guard trade.state == .paid else {
                return .reply(weChatReply(400, WeChatPayError(code: "INVALID_REQUEST", message: "订单未支付")))
            }
            let refunded = trade.refunds.values.reduce(Int64(0)) { $0 + $1.amount }
            guard order.amount.refund > 0, refunded + order.amount.refund <= trade.amount, order.amount.total == trade.amount else {
                return .reply(weChatReply(400, WeChatPayError(code: "NOT_ENOUGH", message: "退款金额超过可退金额")))
            }
            let refund = SimulatedRefund(outRefundNo: order.outRefundNo, amount: order.amount.refund, refundId: reference("5030"), done: false)
            trade.refunds[order.outRefundNo] = refund
            trades[order.outTradeNo] = trade
            return .created(trade, refund)
        }
        switch result {
        case .reply(let response): return response
        case .created(let trade, let refund):
            counters.withLock { $0.refunds += 1 }
            spawn { [self] in
                try? await Task.sleep(for: .milliseconds(behaviour.refundDelayMs))
                trades.withLock { trades in
                    trades[trade.outTradeNo]?.refunds[refund.outRefundNo]?.done = true
                    trades[trade.outTradeNo]?.refunds[refund.outRefundNo]?.at = Date()
                }
                await notifyWithRetries(trade.outTradeNo, refund: refund.outRefundNo)
            }
            return weChatJSON(200, refundBody(trade, refund))
        }
    }

    func transaction(_ trade: SimulatedTrade) -> WeChatPayTransaction {
        let state: WeChatPayTradeState = switch trade.state {
        case .waiting: .notPay
        case .paid: trade.refunds.isEmpty ? .success : .refund
        case .closed: .closed
        case .failed: .payError
        }
        let paid = trade.state == .paid
        return WeChatPayTransaction(
            mchid: identity.merchantId, appid: "wxsimulator00000001", outTradeNo: trade.outTradeNo,
            transactionId: paid ? trade.tradeNo : nil, tradeState: state.rawValue, tradeStateDesc: state.rawValue,
            successTime: trade.paidAt.map(RFC3339Time.formatChina), attach: nil,
            payer: .init(openid: "oSim" + String(trade.tradeNo.suffix(12))),
            amount: .init(total: trade.amount, payerTotal: paid ? trade.amount : nil, currency: "CNY", payerCurrency: "CNY"))
    }

    func refundBody(_ trade: SimulatedTrade, _ refund: SimulatedRefund) -> WeChatPayRefund {
        WeChatPayRefund(refundId: refund.refundId, outRefundNo: refund.outRefundNo, transactionId: trade.tradeNo, outTradeNo: trade.outTradeNo,
                        status: refund.done ? "SUCCESS" : "PROCESSING", successTime: refund.done ? RFC3339Time.formatChina(Date()) : nil,
                        amount: .init(total: trade.amount, refund: refund.amount, currency: "CNY"))
    }

    func weChatJSON(_ status: Int, _ value: some Encodable) -> HTTPResponse {
        weChatReply(status, body: (try? JSONEncoder().encode(value)) ?? Data())
    }

    func weChatReply(_ status: Int, _ error: WeChatPayError?) -> HTTPResponse {
        weChatReply(status, body: error.flatMap { try? JSONEncoder().encode($0) } ?? Data())
    }

    /// Every reply signed over its exact body (an empty one for 204).
    func weChatReply(_ status: Int, body: Data) -> HTTPResponse {
        let signer = WeChatPaySigner(key: identity.channelKey, serial: identity.channelSerial)
        var headers = signer.headers(body: body, timestamp: Int64(Date().timeIntervalSince1970)).map { ($0.key, $0.value) }
        headers.append(("request-id", ChannelNonce.make(length: 24)))
        if !body.isEmpty { headers.append(("content-type", "application/json")) }
        return HTTPResponse(status: status, headers: headers, body: body)
    }

    /// A callback: the resource encrypted with the APIv3 key, the body signed. Only payments
    /// that succeeded and refunds are notified, as WeChat Pay does.
    func weChatNotification(_ trade: SimulatedTrade, refund: String?) -> (headers: [(String, String)], body: Data)? {
        guard let apiV3Key = identity.apiV3Key, let cipher = try? WeChatPayCipher(apiV3Key: apiV3Key) else { return nil }
        let plaintext: Data
        let eventType: String
        let originalType: String
        let id: String
        if let refund, let found = trade.refunds[refund] {
            guard found.done else { return nil }
            var body = refundBody(trade, found)
            body.refundStatus = body.status
            body.status = nil
            plaintext = (try? JSONEncoder().encode(body)) ?? Data()
            eventType = "REFUND.SUCCESS"
            originalType = "refund"
            id = "EV-\(found.refundId)"
        } else {
            guard trade.state == .paid else { return nil }
            plaintext = (try? JSONEncoder().encode(transaction(trade))) ?? Data()
            eventType = "TRANSACTION.SUCCESS"
            originalType = "transaction"
            id = "EV-\(trade.tradeNo)"
        }
        let nonce = ChannelNonce.make(length: 12)
        guard let ciphertext = try? cipher.encrypt(plaintext, nonce: nonce, associatedData: originalType) else { return nil }
        let notification = WeChatPayNotification(
            id: id, createTime: RFC3339Time.formatChina(Date()), eventType: eventType, summary: eventType == "REFUND.SUCCESS" ? "退款成功" : "支付成功",
            resource: .init(originalType: originalType, ciphertext: ciphertext, associatedData: originalType, nonce: nonce))
        guard let body = try? JSONEncoder().encode(notification) else { return nil }
        let signer = WeChatPaySigner(key: identity.channelKey, serial: identity.channelSerial)
        var headers = signer.headers(body: body, timestamp: Int64(Date().timeIntervalSince1970)).map { ($0.key, $0.value) }
        headers.append(("content-type", "application/json"))
        return (headers, body)
    }
}
