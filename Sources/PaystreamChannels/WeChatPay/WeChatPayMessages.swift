import Foundation

/// `trade_state` of a WeChat Pay transaction.
public enum WeChatPayTradeState: String, Sendable, Codable, CaseIterable {
    case success = "SUCCESS"
    /// Paid, then (partly) refunded: the money was taken.
    case refund = "REFUND"
    case notPay = "NOTPAY"
    case closed = "CLOSED"
    case revoked = "REVOKED"
    case userPaying = "USERPAYING"
    case payError = "PAYERROR"
    case accept = "ACCEPT"
}

/// `status` of a WeChat Pay refund.
public enum WeChatPayRefundStatus: String, Sendable, Codable, CaseIterable {
    case success = "SUCCESS"
    case closed = "CLOSED"
    case processing = "PROCESSING"
    case abnormal = "ABNORMAL"
}

/// A callback's body: an envelope whose `resource` is encrypted with the APIv3 key.
public struct WeChatPayNotification: Sendable, Codable, Equatable {
    /// The same on every resend of one notification: the dedup key.
    public var id: String
    public var createTime: String
    public var resourceType: String
    /// `TRANSACTION.SUCCESS`, `REFUND.SUCCESS`, `REFUND.ABNORMAL`, `REFUND.CLOSED`.
    public var eventType: String
    public var summary: String?
    public var resource: Resource

    public struct Resource: Sendable, Codable, Equatable {
        public var originalType: String
        public var algorithm: String
        public var ciphertext: String
        public var associatedData: String?
        public var nonce: String

        public init(originalType: String, algorithm: String = "AEAD_AES_256_GCM", ciphertext: String, associatedData: String?, nonce: String) {
            self.originalType = originalType
            self.algorithm = algorithm
            self.ciphertext = ciphertext
            self.associatedData = associatedData
            self.nonce = nonce
        }

        enum CodingKeys: String, CodingKey {
            case originalType = "original_type", algorithm, ciphertext, associatedData = "associated_data", nonce
        }
    }

    public init(id: String, createTime: String, resourceType: String = "encrypt-resource", eventType: String, summary: String?,
                resource: Resource) {
        self.id = id
        self.createTime = createTime
        self.resourceType = resourceType
        self.eventType = eventType
        self.summary = summary
        self.resource = resource
    }

    enum CodingKeys: String, CodingKey {
        case id, createTime = "create_time", resourceType = "resource_type", eventType = "event_type", summary, resource
    }

    /// The decrypted resource (`AEAD_AES_256_GCM` only).
    public func decrypt(with cipher: WeChatPayCipher) throws(WeChatPayDecryptionError) -> Data {
        guard resource.algorithm == "AEAD_AES_256_GCM" else {
            throw WeChatPayDecryptionError("unsupported resource algorithm \(resource.algorithm.prefix(40))")
        }
        return try cipher.decrypt(ciphertext: resource.ciphertext, nonce: resource.nonce, associatedData: resource.associatedData ?? "")
    }
}

/// A transaction: the query's answer and a `TRANSACTION.SUCCESS` callback's resource.
public struct WeChatPayTransaction: Sendable, Codable, Equatable {
    public var mchid: String?
    public var appid: String?
    public var outTradeNo: String
    public var transactionId: String?
    public var tradeType: String?
    public var tradeState: String
    public var tradeStateDesc: String?
    public var successTime: String?
    public var attach: String?
    public var payer: Payer?
    public var amount: Amount?

    public struct Payer: Sendable, Codable, Equatable {
        public var openid: String?
        public init(openid: String?) { self.openid = openid }
    }

    public struct Amount: Sendable, Codable, Equatable {
        /// Fen (分).
        public var total: Int64?
        public var payerTotal: Int64?
        public var currency: String?
        public var payerCurrency: String?

        public init(total: Int64?, payerTotal: Int64? = nil, currency: String?, payerCurrency: String? = nil) {
            self.total = total
            self.payerTotal = payerTotal
            self.currency = currency
            self.payerCurrency = payerCurrency
        }

        enum CodingKeys: String, CodingKey { case total, payerTotal = "payer_total", currency, payerCurrency = "payer_currency" }
    }

    public init(mchid: String?, appid: String?, outTradeNo: String, transactionId: String?, tradeType: String? = "NATIVE",
                tradeState: String, tradeStateDesc: String? = nil, successTime: String?, attach: String?, payer: Payer?, amount: Amount?) {
        self.mchid = mchid
        self.appid = appid
        self.outTradeNo = outTradeNo
        self.transactionId = transactionId
        self.tradeType = tradeType
        self.tradeState = tradeState
        self.tradeStateDesc = tradeStateDesc
        self.successTime = successTime
        self.attach = attach
        self.payer = payer
        self.amount = amount
    }

    enum CodingKeys: String, CodingKey {
        case mchid, appid, outTradeNo = "out_trade_no", transactionId = "transaction_id", tradeType = "trade_type"
        case tradeState = "trade_state", tradeStateDesc = "trade_state_desc", successTime = "success_time", attach, payer, amount
    }
}

/// A refund: the answer to create and query, and a `REFUND.*` callback's resource (which spells
/// the status `refund_status`).
public struct WeChatPayRefund: Sendable, Codable, Equatable {
    public var refundId: String?
    public var outRefundNo: String
    public var transactionId: String?
    public var outTradeNo: String?
    public var status: String?
    public var refundStatus: String?
    public var successTime: String?
    public var amount: Amount?

    public struct Amount: Sendable, Codable, Equatable {
        public var total: Int64?
        public var refund: Int64?
        public var currency: String?

        public init(total: Int64?, refund: Int64?, currency: String?) {
            self.total = total
            self.refund = refund
            self.currency = currency
        }
    }

    public init(refundId: String?, outRefundNo: String, transactionId: String?, outTradeNo: String?, status: String?,
                refundStatus: String? = nil, successTime: String?, amount: Amount?) {
        self.refundId = refundId
        self.outRefundNo = outRefundNo
        self.transactionId = transactionId
        self.outTradeNo = outTradeNo
        self.status = status
        self.refundStatus = refundStatus
        self.successTime = successTime
        self.amount = amount
    }

    /// The status under either spelling.
    public var state: WeChatPayRefundStatus? { (status ?? refundStatus).flatMap(WeChatPayRefundStatus.init(rawValue:)) }

    enum CodingKeys: String, CodingKey {
        case refundId = "refund_id", outRefundNo = "out_refund_no", transactionId = "transaction_id", outTradeNo = "out_trade_no"
        case status, refundStatus = "refund_status", successTime = "success_time", amount
    }
}

/// Request bodies.
public struct WeChatPayNativeOrder: Sendable, Codable, Equatable {
    public var appid: String
    public var mchid: String
    public var description: String
    public var outTradeNo: String
    public var notifyUrl: String
    public var attach: String?
    public var amount: Amount

    public struct Amount: Sendable, Codable, Equatable {
        public var total: Int64
        public var currency: String
        public init(total: Int64, currency: String = "CNY") {
            self.total = total
            self.currency = currency
        }
    }

    public init(appid: String, mchid: String, description: String, outTradeNo: String, notifyUrl: String, attach: String?, amount: Amount) {
        self.appid = appid
        self.mchid = mchid
        self.description = description
        self.outTradeNo = outTradeNo
        self.notifyUrl = notifyUrl
        self.attach = attach
        self.amount = amount
    }

    enum CodingKeys: String, CodingKey {
        case appid, mchid, description, outTradeNo = "out_trade_no", notifyUrl = "notify_url", attach, amount
    }
}

public struct WeChatPayRefundOrder: Sendable, Codable, Equatable {
    public var outTradeNo: String
    public var outRefundNo: String
    public var notifyUrl: String?
    public var amount: Amount

    public struct Amount: Sendable, Codable, Equatable {
        public var refund: Int64
        public var total: Int64
        public var currency: String
        public init(refund: Int64, total: Int64, currency: String = "CNY") {
            self.refund = refund
            self.total = total
            self.currency = currency
        }
    }

    public init(outTradeNo: String, outRefundNo: String, notifyUrl: String?, amount: Amount) {
        self.outTradeNo = outTradeNo
        self.outRefundNo = outRefundNo
        self.notifyUrl = notifyUrl
        self.amount = amount
    }

    enum CodingKeys: String, CodingKey { case outTradeNo = "out_trade_no", outRefundNo = "out_refund_no", notifyUrl = "notify_url", amount }
}

public struct WeChatPayCloseOrder: Sendable, Codable, Equatable {
    public var mchid: String
    public init(mchid: String) { self.mchid = mchid }
}

/// The error body of a 4xx/5xx answer, and what a merchant answers a callback it refuses.
public struct WeChatPayError: Sendable, Codable, Equatable {
    public var code: String
    public var message: String
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// RFC 3339 times with an offset, as WeChat Pay writes them (`2026-12-06T10:00:00+08:00`).
public enum RFC3339Time {
    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard let civil = CivilTime(text: text, separator: UInt8(ascii: "T")) else { return nil }
        var rest = bytes[19...]
        if rest.first == UInt8(ascii: ".") {
            rest = rest.dropFirst()
            let digits = rest.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            guard !digits.isEmpty else { return nil }
            rest = rest.dropFirst(digits.count)
        }
        let offset: Int64
        if rest.elementsEqual("Z".utf8) {
            offset = 0
        } else {
            guard rest.count == 6, let sign = rest.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-"),
                  rest[rest.startIndex + 3] == UInt8(ascii: ":"),
                  let hours = Int64(String(decoding: rest[(rest.startIndex + 1)...(rest.startIndex + 2)], as: UTF8.self)),
                  let minutes = Int64(String(decoding: rest[(rest.startIndex + 4)...], as: UTF8.self)), hours < 24, minutes < 60 else {
                return nil
            }
            offset = (sign == UInt8(ascii: "+") ? 1 : -1) * (hours * 3600 + minutes * 60)
        }
        return Date(timeIntervalSince1970: TimeInterval(civil.epochSeconds - offset))
    }

    /// `yyyy-MM-ddTHH:mm:ss+08:00`, as WeChat Pay writes its times.
    public static func formatChina(_ date: Date) -> String {
        CivilTime(epochSeconds: Int64((date.timeIntervalSince1970 + ChinaTime.offset).rounded(.down))).text(dateTimeSeparator: "T") + "+08:00"
    }
}
