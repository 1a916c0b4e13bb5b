import Foundation

/// How the gateway reaches WeChat Pay (APIv3).
public struct WeChatPayConfiguration: Sendable {
    /// `https://api.mch.weixin.qq.com` (backup `https://api2.mch.weixin.qq.com`).
    public var baseURL: String
    public var mchid: String
    public var appid: String
    /// Where WeChat Pay sends notifications (HTTPS, no query string).
    public var notifyURL: String
    /// The merchant API certificate's serial and private key (signs requests).
    public var merchantSerial: String
    public var merchantKey: RSASigningKey
    /// WeChat Pay's keys by serial (platform certificates and/or the WeChat Pay public key).
    public var verifier: WeChatPayVerifier
    /// The APIv3 key (decrypts notification resources).
    public var cipher: WeChatPayCipher
    public var timeout: Duration

    public init(baseURL: String, mchid: String, appid: String, notifyURL: String, merchantSerial: String, merchantKey: RSASigningKey,
                verifier: WeChatPayVerifier, cipher: WeChatPayCipher, timeout: Duration = .seconds(10)) {
        self.baseURL = baseURL
        self.mchid = mchid
        self.appid = appid
        self.notifyURL = notifyURL
        self.merchantSerial = merchantSerial
        self.merchantKey = merchantKey
        self.verifier = verifier
        self.cipher = cipher
        self.timeout = timeout
    }
}

/// WeChat Pay APIv3: Native orders (the payer scans the order's code), query by
/// `out_trade_no`, close, refunds (`out_refund_no`) and their query; callbacks verified (time
/// window, probes, key by serial) and decrypted with the APIv3 key. Ordinary payments are
/// notified only when paid: declines and closes are learned by query.
public struct WeChatPayConnector: ChannelConnector {
    public let configuration: WeChatPayConfiguration
    let transport: any ChannelTransport
    let clock: @Sendable () -> Date

    public init(configuration: WeChatPayConfiguration, transport: any ChannelTransport = HTTPChannelTransport(),
                clock: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        self.transport = transport
        self.clock = clock
    }

    public var kind: ChannelKind { .weChatPay }

    /// Error codes that say "try again" rather than "no".
    static let retryable: Set<String> = ["SYSTEM_ERROR", "SYSTEMERROR", "FREQUENCY_LIMITED", "BANK_ERROR", "BANKERROR", "ORDER_NOT_READY"]

    // MARK: calls

    public func create(_ order: ChannelOrder) async -> ChannelOutcome {
        guard order.currency == "CNY" else { return .refused(code: "unsupported_currency", message: "WeChat Pay orders are in CNY") }
        let body = WeChatPayNativeOrder(appid: configuration.appid, mchid: configuration.mchid, description: order.subject,
                                        outTradeNo: order.outNo, notifyUrl: configuration.notifyURL, attach: nil,
                                        amount: .init(total: order.amount))
        switch await call("POST", "/v3/pay/transactions/native", body: body) {
        case .failure(let outcome): return outcome
        case .success((200, _)): return .accepted
        case .success((let status, let data)):
            return Self.failure(status: status, data, special: ["ORDERPAID": .alreadyPaid])
        }
    }

    public func query(_ order: ChannelOrder) async -> ChannelOutcome {
        let path = "/v3/pay/transactions/out-trade-no/\(order.outNo)?mchid=\(FormEncoding.escape(configuration.mchid))"
        switch await call("GET", path, body: nil as WeChatPayCloseOrder?) {
        case .failure(let outcome): return outcome
        case .success((200, let data)):
            guard let transaction = try? JSONDecoder().decode(WeChatPayTransaction.self, from: data) else {
                return .unknown("unreadable transaction")
            }
            return Self.outcome(of: transaction)
        case .success((404, _)): return .notFound
        case .success((let status, let data)): return Self.failure(status: status, data, special: ["ORDER_NOT_EXIST": .notFound])
        }
    }

    public func close(_ order: ChannelOrder) async -> ChannelOutcome {
        switch await call("POST", "/v3/pay/transactions/out-trade-no/\(order.outNo)/close", body: WeChatPayCloseOrder(mchid: configuration.mchid)) {
        case .failure(let outcome): return outcome
        case .success((200, _)), .success((204, _)): return .closed(reason: "CLOSED")
        case .success((404, _)): return .notFound
        case .success((let status, let data)):
            return Self.failure(status: status, data, special: ["ORDERPAID": .alreadyPaid, "ORDER_NOT_EXIST": .notFound])
        }
    }

    public func refund(_ refund: ChannelOrder) async -> ChannelOutcome {
        guard let trade = refund.paymentOutNo, let total = refund.paymentAmount else {
            return .refused(code: "no_payment", message: "a refund needs its payment")
        }
        let body = WeChatPayRefundOrder(outTradeNo: trade, outRefundNo: refund.outNo, notifyUrl: configuration.notifyURL,
                                        amount: .init(refund: refund.amount, total: total))
        switch await call("POST", "/v3/refund/domestic/refunds", body: body) {
        case .failure(let outcome): return outcome
        case .success((200, let data)): return Self.refundOutcome(data, amount: refund.amount)
        case .success((let status, let data)): return Self.failure(status: status, data, special: [:])
        }
    }

    public func queryRefund(_ refund: ChannelOrder) async -> ChannelOutcome {
        switch await call("GET", "/v3/refund/domestic/refunds/\(refund.outNo)", body: nil as WeChatPayCloseOrder?) {
        case .failure(let outcome): return outcome
        case .success((200, let data)): return Self.refundOutcome(data, amount: refund.amount)
        case .success((404, _)): return .notFound
        case .success((let status, let data)): return Self.failure(status: status, data, special: ["RESOURCE_NOT_EXISTS": .notFound])
        }
    }

    static func outcome(of transaction: WeChatPayTransaction) -> ChannelOutcome {
        guard let state = WeChatPayTradeState(rawValue: transaction.tradeState) else {
            return .unknown("trade_state \(transaction.tradeState.prefix(40))")
        }
        switch state {
        case .success, .refund:
            guard let total = transaction.amount?.total, let reference = transaction.transactionId else {
                return .unknown("a paid transaction without amount.total or transaction_id")
            }
            return .paid(amount: total, reference: reference, at: transaction.successTime.flatMap(RFC3339Time.parse))
        case .notPay, .userPaying, .accept: return .awaitingPayment
        case .closed, .revoked, .payError: return .closed(reason: state.rawValue)
        }
    }

    static func refundOutcome(_ data: Data, amount: Int64) -> ChannelOutcome {
        guard let refund = try? JSONDecoder().decode(WeChatPayRefund.self, from: data), let state = refund.state else {
            return .unknown("unreadable refund")
        }
        switch state {
        case .success: return .refunded(amount: refund.amount?.refund ?? amount, reference: refund.refundId ?? refund.outRefundNo,
                                        at: refund.successTime.flatMap(RFC3339Time.parse))
        case .processing: return .refundPending
        case .closed, .abnormal: return .refused(code: state.rawValue, message: "refund \(state.rawValue)")
        }
    }

    /// A 4xx with a business code is a refusal unless the code says "try again"; 5xx and
    /// anything unreadable is unknown.
    static func failure(status: Int, _ data: Data, special: [String: ChannelOutcome]) -> ChannelOutcome {
        guard (400..<500).contains(status), let error = try? JSONDecoder().decode(WeChatPayError.self, from: data) else {
            return .unknown("HTTP \(status)")
        }
        if let outcome = special[error.code] { return outcome }
        if retryable.contains(error.code) || status == 429 { return .unknown(error.code) }
        return .refused(code: error.code, message: error.message)
    }

    /// Signs and sends one call and verifies the reply's signature (error replies included): the
    /// status and raw body, or `unknown`.
    func call(_ method: String, _ path: String, body: (some Encodable)?) async -> Called<(Int, Data)> {
        var data = Data()
        if let body {
            guard let encoded = try? JSONEncoder().encode(body) else { return .failure(.unknown("cannot encode the request")) }
            data = encoded
        }
        let timestamp = Int64(clock().timeIntervalSince1970.rounded(.down))
        let authorization = WeChatPaySignature.authorization(
            mchid: configuration.mchid, serialNo: configuration.merchantSerial, method: method, pathAndQuery: path, body: data,
            timestamp: timestamp, nonce: ChannelNonce.make(), key: configuration.merchantKey)
        var headers = [("authorization", authorization), ("accept", "application/json")]
        if method == "POST" { headers.append(("content-type", "application/json")) }
        switch await transport.send(method: method, url: configuration.baseURL + path, headers: headers, body: data,
                                    timeout: configuration.timeout) {
        case .failure(let error):
            return .failure(.unknown(error.description))
        case .success(let response):
            if response.status >= 500 { return .failure(.unknown("HTTP \(response.status)")) }
            do {
                try configuration.verifier.verify(headers: response.headers, body: response.body, now: clock())
            } catch {
                return .failure(.unknown("reply refused: \(error.description)"))
            }
            return .success((response.status, response.body))
        }
    }

    // MARK: notifications

    public func check(_ callback: ChannelCallback, now: Date) throws(CallbackRefusal) -> ChannelEvent {
        do {
            try configuration.verifier.verify(headers: callback.headers, body: callback.body, now: now)
        } catch {
            throw CallbackRefusal(error.rawValue, error.description)
        }
        return try decrypted(callback)
    }

    public func read(_ callback: ChannelCallback) throws(CallbackRefusal) -> ChannelEvent {
        // The window was checked when it arrived; the signature is checked again.
        let timestamp = callback.headers["wechatpay-timestamp"].flatMap { Int64($0) } ?? 0
        do {
            try configuration.verifier.verify(headers: callback.headers, body: callback.body,
                                              now: Date(timeIntervalSince1970: TimeInterval(timestamp)))
        } catch {
            throw CallbackRefusal(error.rawValue, error.description)
        }
        return try decrypted(callback)
    }

    func decrypted(_ callback: ChannelCallback) throws(CallbackRefusal) -> ChannelEvent {
        let notification: WeChatPayNotification
        let plaintext: Data
        do {
            notification = try JSONDecoder().decode(WeChatPayNotification.self, from: callback.body)
        } catch {
            throw CallbackRefusal("malformed", "not a WeChat Pay notification")
        }
        do {
            plaintext = try notification.decrypt(with: configuration.cipher)
        } catch {
            throw CallbackRefusal("undecryptable", error.description)
        }
        switch notification.resource.originalType {
        case "transaction":
            guard let transaction = try? JSONDecoder().decode(WeChatPayTransaction.self, from: plaintext) else {
                throw CallbackRefusal("malformed", "the resource is not a transaction")
            }
            guard transaction.mchid == nil || transaction.mchid == configuration.mchid else {
                throw CallbackRefusal("wrong_app", "the transaction is for another mchid")
            }
            return ChannelEvent(notificationId: notification.id, outTradeNo: transaction.outTradeNo, outcome: Self.outcome(of: transaction))
        case "refund":
            guard let refund = try? JSONDecoder().decode(WeChatPayRefund.self, from: plaintext), let trade = refund.outTradeNo else {
                throw CallbackRefusal("malformed", "the resource is not a refund")
            }
            return ChannelEvent(notificationId: notification.id, outTradeNo: trade, outRefundNo: refund.outRefundNo,
                                outcome: Self.refundOutcome(plaintext, amount: refund.amount?.refund ?? 0))
        default:
            throw CallbackRefusal("malformed", "unknown resource type \(notification.resource.originalType.prefix(40))")
        }
    }

    /// 204 with no body takes it; a 4xx with the `FAIL` JSON refuses it (WeChat Pay sends it again).
    public func reply(accepted: Bool, message: String) -> CallbackReply {
        if accepted { return CallbackReply(status: 204, contentType: nil, body: Data()) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(WeChatPayError(code: "FAIL", message: message))) ?? Data(#"{"code":"FAIL","message":"refused"}"#.utf8)
        return CallbackReply(status: 400, contentType: "application/json", body: body)
    }
}
