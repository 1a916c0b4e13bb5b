import Foundation
import PaystreamChannels
import PaystreamRuntime

extension ChannelSimulator {
    /// `POST /gateway.do?<common parameters and sign>` with `biz_content` in the form body.
    func alipay(_ request: HTTPRequest) async -> HTTPResponse {
        guard request.method == "POST", request.path.hasSuffix("/gateway.do") else { return .text(404, "not found\n") }
        let query = request.target.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        var parameters: [String: String]
        do {
            parameters = try FormEncoding.decode(Data(query.utf8))
            for (name, value) in try FormEncoding.decode(request.body) {
                guard parameters.updateValue(value, forKey: name) == nil else { throw FormEncodingError("\(name) twice") }
            }
        } catch {
            return alipayError("40002", "isv.invalid-parameter", "unreadable request")
        }
        guard let methodName = parameters["method"], let method = AlipayMethod(rawValue: methodName) else {
            return alipayError("40004", "isv.invalid-method", "unknown method")
        }
        count(method.rawValue)
        guard parameters["sign_type"] == "RSA2", let sign = parameters["sign"],
              identity.merchantKey.isValid(signature: sign, for: AlipaySignature.requestContent(parameters)) else {
            counters.withLock { $0.badSignatures += 1 }
            return alipayError("40002", "isv.invalid-signature", "验签出错")
        }
        guard parameters["app_id"] == identity.merchantId else { return alipayError("40002", "isv.invalid-app-id", "无效的AppID参数") }
        let content = Data((parameters["biz_content"] ?? "").utf8)
        let node: AlipayTradeResponse
        switch method {
        case .precreate:
            guard let biz = try? JSONDecoder().decode(AlipayPrecreateContent.self, from: content),
                  let amount = try? AlipayAmount.minorUnits(biz.totalAmount) else {
                return alipayNode(method, AlipayTradeResponse(code: "40004", msg: "Business Failed", subCode: "ACQ.INVALID_PARAMETER"))
            }
            switch misbehaviour(method.rawValue, biz.outTradeNo, firstCreateOf: amount) {
            case .systemError: return alipayNode(method, AlipayTradeResponse(code: "40004", msg: "Business Failed", subCode: "ACQ.SYSTEM_ERROR"))
            case .hang:
                _ = precreate(biz, amount: amount, notifyURL: parameters["notify_url"])
                await hang()
                return .text(504, "gateway timeout\n")
            case .none:
                node = precreate(biz, amount: amount, notifyURL: parameters["notify_url"])
            }
        case .query:
            guard let biz = try? JSONDecoder().decode(AlipayTradeContent.self, from: content) else { return alipayBad(method) }
            guard let trade = trades.withLock({ $0[biz.outTradeNo] }) else {
                return alipayNode(method, AlipayTradeResponse(code: "40004", msg: "Business Failed", subCode: "ACQ.TRADE_NOT_EXIST"))
            }
            node = AlipayTradeResponse(code: "10000", msg: "Success", outTradeNo: trade.outTradeNo, tradeNo: trade.tradeNo,
                                       tradeStatus: Self.alipayStatus(trade).rawValue, totalAmount: AlipayAmount.text(trade.amount),
                                       sendPayDate: trade.paidAt.map(ChinaTime.format))
        case .close:
            guard let biz = try? JSONDecoder().decode(AlipayTradeContent.self, from: content) else { return alipayBad(method) }
            if case .systemError = misbehaviour(method.rawValue, biz.outTradeNo) {
                return alipayNode(method, AlipayTradeResponse(code: "40004", msg: "Business Failed", subCode: "ACQ.SYSTEM_ERROR"))
            }
            node = close(biz.outTradeNo)
        case .refund:
            guard let biz = try? JSONDecoder().decode(AlipayRefundContent.self, from: content),
                  let amount = try? AlipayAmount.minorUnits(biz.refundAmount) else { return alipayBad(method) }
            switch misbehaviour(method.rawValue, biz.outRequestNo) {
            case .systemError: return alipayNode(method, AlipayTradeResponse(code: "40004", msg: "Business Failed", subCode: "ACQ.SYSTEM_ERROR"))
            case .hang:
                _ = alipayRefund(biz, amount: amount)
                await hang()
                return .text(504, "gateway timeout\n")
            case .none:
                node = alipayRefund(biz, amount: amount)
            }
        case .refundQuery:
            guard let biz = try? JSONDecoder().decode(AlipayRefundQueryContent.self, from: content) else { return alipayBad(method) }
            guard let trade = trades.withLock({ $0[biz.outTradeNo] }) else {
                return alipayNode(method, AlipayTradeResponse(code: "40004", msg: "Business Failed", subCode: "ACQ.TRADE_NOT_EXIST"))
            }
            if let refund = trade.refunds[biz.outRequestNo] {
                node = AlipayTradeResponse(code: "10000", msg: "Success", outTradeNo: trade.outTradeNo, tradeNo: trade.tradeNo,
                                           refundStatus: "REFUND_SUCCESS", refundAmount: AlipayAmount.text(refund.amount),
                                           outRequestNo: refund.outRefundNo)
            } else {
                // No such refund: an answer without refund_amount.
                node = AlipayTradeResponse(code: "10000", msg: "Success", outTradeNo: trade.outTradeNo, tradeNo: trade.tradeNo)
            }
        }
        return alipayNode(method, node)
    }

    static func alipayStatus(_ trade: SimulatedTrade) -> AlipayTradeStatus {
        switch trade.state {
        case .waiting: .waitBuyerPay
        case .paid: .tradeSuccess
        case .closed, .failed: .tradeClosed
        }
    }

    /// A repeat with the same number and amount answers as the first did.
    func precreate(_ biz: AlipayPrecreateContent, amount: Int64, notifyURL: String?) -> AlipayTradeResponse {
        let (created, existing) = trades.withLock { trades -> (Bool, SimulatedTrade?) in
            if let trade = trades[biz.outTradeNo] { return (false, trade) }
            trades[biz.outTradeNo] = SimulatedTrade(outTradeNo: biz.outTradeNo, amount: amount, subject: biz.subject, notifyURL: notifyURL,
                                                    state: .waiting, tradeNo: reference("2026"))
            return (true, nil)
        }
        if let existing {
            if existing.amount != amount {
                return AlipayTradeResponse(code: "40004", msg: "Business Failed", subCode: "ACQ.CONTEXT_INCONSISTENT")
            }
            if existing.state == .paid { return AlipayTradeResponse(code: "40004", msg: "Business Failed", subCode: "ACQ.TRADE_HAS_SUCCESS") }
        }
        if created {
            counters.withLock { $0.tradesCreated += 1 }
            playPayer(biz.outTradeNo, amount: amount)
        }
        return AlipayTradeResponse(code: "10000", msg: "Success", outTradeNo: biz.outTradeNo,
                                   qrCode: "https://qr.alipay.com/sim\(biz.outTradeNo.suffix(10))")
    }

    /// Closes a waiting trade; a paid one (or one the payer pays first) is refused with
    /// `ACQ.TRADE_STATUS_ERROR`.
    func close(_ outTradeNo: String) -> AlipayTradeResponse {
        if behaviour.happens(.payBeforeClose, rate: behaviour.payBeforeCloseRate, outTradeNo), pay(outTradeNo, fails: false) {
            spawn { [self] in await notifyWithRetries(outTradeNo, refund: nil) }
        }
        // Counted once per trade: a close asked again (its first answer lost or late) finds it closed.
        let (result, closedNow) = trades.withLock { trades -> (AlipayTradeResponse, Bool) in
            guard var trade = trades[outTradeNo] else {
                return (AlipayTradeResponse(code: "40004", msg: "Business Failed", subCode: "ACQ.TRADE_NOT_EXIST"), false)
            }
            switch trade.state {
            case .paid: return (AlipayTradeResponse(code: "40004", msg: "Business Failed", subCode: "ACQ.TRADE_STATUS_ERROR"), false)
            case .waiting, .failed:
                trade.state = .closed
                trade.closedAt = Date()
                trades[outTradeNo] = trade
                return (AlipayTradeResponse(code: "10000", msg: "Success", outTradeNo: outTradeNo, tradeNo: trade.tradeNo), true)
            case .closed:
                return (AlipayTradeResponse(code: "10000", msg: "Success", outTradeNo: outTradeNo, tradeNo: trade.tradeNo), false)
            }
        }
        if closedNow { counters.withLock { $0.tradesClosed += 1 } }
        return result
    }

    /// Synchronous: `fund_change=Y` the first time, `N` for a repeat of the same `out_request_no`.
    func alipayRefund(_ biz: AlipayRefundContent, amount: Int64) -> AlipayTradeResponse {
        let result = trades.withLock { trades -> (AlipayTradeResponse, Bool) in
            guard var trade = trades[biz.outTradeNo] else {
                return (AlipayTradeResponse(code: "40004", msg: "Business Failed", subCode: "ACQ.TRADE_NOT_EXIST"), false)
            }
            guard trade.state == .paid else {
                return (AlipayTradeResponse(code: "40004", msg: "Business Failed", subCode: "ACQ.TRADE_STATUS_ERROR"), false)
            }
            if let existing = trade.refunds[biz.outRequestNo] {
                return (AlipayTradeResponse(code: "10000", msg: "Success", outTradeNo: trade.outTradeNo, tradeNo: trade.tradeNo,
                                            fundChange: "N", refundFee: AlipayAmount.text(existing.amount)), false)
            }
            let refunded = trade.refunds.values.reduce(Int64(0)) { $0 + $1.amount }
            guard refunded + amount <= trade.amount else {
                return (AlipayTradeResponse(code: "40004", msg: "Business Failed", subCode: "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"), false)
            }
            trade.refunds[biz.outRequestNo] = SimulatedRefund(outRefundNo: biz.outRequestNo, amount: amount, refundId: trade.tradeNo, done: true,
                                                               at: Date())
            trades[biz.outTradeNo] = trade
            return (AlipayTradeResponse(code: "10000", msg: "Success", outTradeNo: trade.outTradeNo, tradeNo: trade.tradeNo,
                                        fundChange: "Y", refundFee: AlipayAmount.text(refunded + amount)), true)
        }
        if result.1 { counters.withLock { $0.refunds += 1 } }
        return result.0
    }

    func alipayNode(_ method: AlipayMethod, _ node: AlipayTradeResponse) -> HTTPResponse {
        let encoded = (try? JSONEncoder().encode(node)) ?? Data("{}".utf8)
        return .json(200, AlipayResponseEnvelope.signed(method: method.rawValue, node: encoded, key: identity.channelKey))
    }

    func alipayBad(_ method: AlipayMethod) -> HTTPResponse {
        alipayNode(method, AlipayTradeResponse(code: "40004", msg: "Business Failed", subCode: "ACQ.INVALID_PARAMETER"))
    }

    /// The gateway's own refusal: `error_response`, unsigned.
    func alipayError(_ code: String, _ subCode: String, _ message: String) -> HTTPResponse {
        let node = (try? JSONEncoder().encode(AlipayResult(code: code, msg: "Invalid Arguments", subCode: subCode, subMsg: message))) ?? Data()
        var body = Data(#"{"error_response":"#.utf8)
        body.append(node)
        body.append(Data(#","sign":""}"#.utf8))
        return .json(200, body)
    }

    /// The form Alipay posts: every field, signed without `sign_type` (V1), then `sign_type`.
    func alipayNotification(_ trade: SimulatedTrade) -> (headers: [(String, String)], body: Data)? {
        guard trade.state != .waiting else { return nil }
        let notifyId = "\(trade.tradeNo)\(trade.state.rawValue)"
        var fields: [String: String] = [
            "notify_id": notifyId, "notify_type": "trade_status_sync", "notify_time": ChinaTime.format(Date()),
            "app_id": identity.merchantId, "charset": "utf-8", "version": "1.0",
            "out_trade_no": trade.outTradeNo, "trade_no": trade.tradeNo, "trade_status": Self.alipayStatus(trade).rawValue,
            "total_amount": AlipayAmount.text(trade.amount), "subject": trade.subject,
            // A 16-digit 2088… buyer id, as Alipay's are: it must never reach a log line unmasked.
            "buyer_id": "2088" + String(trade.tradeNo.suffix(12)), "seller_id": "2088102177846880",
        ]
        if let paidAt = trade.paidAt {
            fields["gmt_payment"] = ChinaTime.format(paidAt)
            fields["receipt_amount"] = AlipayAmount.text(trade.amount)
            fields["buyer_pay_amount"] = AlipayAmount.text(trade.amount)
        }
        if let closedAt = trade.closedAt { fields["gmt_close"] = ChinaTime.format(closedAt) }
        fields["sign"] = identity.channelKey.sign(AlipaySignature.notifyContent(fields))
        fields["sign_type"] = "RSA2"
        let body = FormEncoding.encode(fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        return ([("content-type", "application/x-www-form-urlencoded; charset=utf-8")], Data(body.utf8))
    }
}
