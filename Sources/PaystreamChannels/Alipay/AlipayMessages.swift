import Foundation
import PaystreamDomain

/// The methods the connector calls on the Alipay gateway.
public enum AlipayMethod: String, Sendable, CaseIterable {
    /// Create a trade the payer pays by scanning its QR code (an online order's checkout):
    /// answers at once with the code; the payment itself is notified and can be queried.
    case precreate = "alipay.trade.precreate"
    case query = "alipay.trade.query"
    /// Synchronous: `fund_change=Y` means the money went back now; a repeat with the same
    /// `out_request_no` never refunds twice.
    case refund = "alipay.trade.refund"
    case refundQuery = "alipay.trade.fastpay.refund.query"
    /// Close an unpaid trade (it can no longer be paid).
    case close = "alipay.trade.close"
}

/// `trade_status` of a trade.
public enum AlipayTradeStatus: String, Sendable, Codable, CaseIterable {
    /// Created, not paid yet. No answer to give.
    case waitBuyerPay = "WAIT_BUYER_PAY"
    /// Paid, refundable.
    case tradeSuccess = "TRADE_SUCCESS"
    /// Paid, no longer refundable.
    case tradeFinished = "TRADE_FINISHED"
    /// Closed unpaid (timeout or close), or fully refunded.
    case tradeClosed = "TRADE_CLOSED"

    /// Only SUCCESS and FINISHED mean the money was taken.
    public var isPaid: Bool { self == .tradeSuccess || self == .tradeFinished }
}

/// A call to the gateway, ready to send: the common parameters and `sign` in the URL's query,
/// `biz_content` (a JSON string) in a form body, as Alipay's own SDK sends them.
public struct AlipayCall: Sendable {
    public let method: AlipayMethod
    /// All parameters, `sign` included.
    public let parameters: [String: String]

    /// `timestamp` is `yyyy-MM-dd HH:mm:ss` in China Standard Time (GMT+8).
    public init(method: AlipayMethod, appId: String, bizContent: String, notifyURL: String?, at time: Date, key: RSASigningKey) {
        self.method = method
        var parameters = [
            "app_id": appId, "method": method.rawValue, "format": "JSON", "charset": "utf-8", "sign_type": "RSA2",
            "timestamp": ChinaTime.format(time), "version": "1.0", "biz_content": bizContent,
        ]
        if let notifyURL { parameters["notify_url"] = notifyURL }
        parameters["sign"] = AlipaySignature.signRequest(parameters, with: key)
        self.parameters = parameters
    }

    /// The query string: everything but `biz_content`, escaped.
    public var query: String {
        FormEncoding.encode(parameters.filter { $0.key != "biz_content" }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    /// The form body: `biz_content=…`.
    public var body: Data { Data(FormEncoding.encode([("biz_content", parameters["biz_content"] ?? "")]).utf8) }

    public static let contentType = "application/x-www-form-urlencoded;charset=utf-8"
}

/// `biz_content` of each call (names as Alipay spells them).
public struct AlipayPrecreateContent: Sendable, Codable, Equatable {
    public var outTradeNo: String
    public var totalAmount: String
    public var subject: String
    /// Minutes the trade may stay unpaid (`timeout_express`, e.g. `15m`).
    public var timeoutExpress: String?

    public init(outTradeNo: String, totalAmount: String, subject: String, timeoutExpress: String? = nil) {
        self.outTradeNo = outTradeNo
        self.totalAmount = totalAmount
        self.subject = subject
        self.timeoutExpress = timeoutExpress
    }

    enum CodingKeys: String, CodingKey {
        case outTradeNo = "out_trade_no", totalAmount = "total_amount", subject, timeoutExpress = "timeout_express"
    }
}

public struct AlipayTradeContent: Sendable, Codable, Equatable {
    public var outTradeNo: String
    public init(outTradeNo: String) { self.outTradeNo = outTradeNo }
    enum CodingKeys: String, CodingKey { case outTradeNo = "out_trade_no" }
}

public struct AlipayRefundContent: Sendable, Codable, Equatable {
    public var outTradeNo: String
    public var refundAmount: String
    /// The refund's own idempotency number: the same number never refunds twice.
    public var outRequestNo: String

    public init(outTradeNo: String, refundAmount: String, outRequestNo: String) {
        self.outTradeNo = outTradeNo
        self.refundAmount = refundAmount
        self.outRequestNo = outRequestNo
    }

    enum CodingKeys: String, CodingKey { case outTradeNo = "out_trade_no", refundAmount = "refund_amount", outRequestNo = "out_request_no" }
}

/// The response nodes (after `AlipayResponseEnvelope.verifiedNode`).
public struct AlipayTradeResponse: Sendable, Codable, Equatable {
    public var code: String
    public var msg: String?
    public var subCode: String?
    public var subMsg: String?
    public var outTradeNo: String?
    public var tradeNo: String?
    public var tradeStatus: String?
    public var totalAmount: String?
    /// Refunds: `Y` when this call moved money back, `N` for a repeat of one that did.
    public var fundChange: String?
    public var refundFee: String?
    /// Refund query: `REFUND_SUCCESS` once the refund is done.
    public var refundStatus: String?
    public var refundAmount: String?
    public var outRequestNo: String?
    /// Precreate: what the payer scans.
    public var qrCode: String?
    public var sendPayDate: String?

    public init(code: String, msg: String? = nil, subCode: String? = nil, subMsg: String? = nil, outTradeNo: String? = nil,
                tradeNo: String? = nil, tradeStatus: String? = nil, totalAmount: String? = nil, fundChange: String? = nil,
                refundFee: String? = nil, refundStatus: String? = nil, refundAmount: String? = nil, outRequestNo: String? = nil,
                qrCode: String? = nil, sendPayDate: String? = nil) {
        self.code = code
        self.msg = msg
        self.subCode = subCode
        self.subMsg = subMsg
        self.outTradeNo = outTradeNo
        self.tradeNo = tradeNo
        self.tradeStatus = tradeStatus
        self.totalAmount = totalAmount
        self.fundChange = fundChange
        self.refundFee = refundFee
        self.refundStatus = refundStatus
        self.refundAmount = refundAmount
        self.outRequestNo = outRequestNo
        self.qrCode = qrCode
        self.sendPayDate = sendPayDate
    }

    enum CodingKeys: String, CodingKey {
        case code, msg
        case subCode = "sub_code", subMsg = "sub_msg", outTradeNo = "out_trade_no", tradeNo = "trade_no"
        case tradeStatus = "trade_status", totalAmount = "total_amount", fundChange = "fund_change", refundFee = "refund_fee"
        case refundStatus = "refund_status", refundAmount = "refund_amount", outRequestNo = "out_request_no"
        case qrCode = "qr_code", sendPayDate = "send_pay_date"
    }
}

/// An asynchronous notification (a form POST to `notify_url`), once its signature is checked.
public struct AlipayNotify: Sendable, Equatable {
    /// The same on every resend of one notification: the dedup key.
    public let notifyId: String
    public let appId: String
    public let outTradeNo: String
    public let tradeNo: String
    public let tradeStatus: AlipayTradeStatus
    public let totalAmount: String
    /// Set on a refund's notification: its `out_request_no`.
    public let outBizNo: String?
    public let refundFee: String?
    public let gmtPayment: String?
    public let gmtClose: String?
    public let notifyTime: String

    /// Reads the fields of a notification whose signature was verified; throws when a required
    /// field is missing or its status unknown.
    public init(fields: [String: String]) throws(AlipayNotifyError) {
        func required(_ name: String) throws(AlipayNotifyError) -> String {
            guard let value = fields[name], !value.isEmpty else { throw .missingField(name) }
            return value
        }
        notifyId = try required("notify_id")
        appId = try required("app_id")
        outTradeNo = try required("out_trade_no")
        tradeNo = try required("trade_no")
        let status = try required("trade_status")
        guard let tradeStatus = AlipayTradeStatus(rawValue: status) else { throw .unknownStatus(status) }
        self.tradeStatus = tradeStatus
        totalAmount = try required("total_amount")
        notifyTime = try required("notify_time")
        outBizNo = fields["out_biz_no"].flatMap { $0.isEmpty ? nil : $0 }
        refundFee = fields["refund_fee"].flatMap { $0.isEmpty ? nil : $0 }
        gmtPayment = fields["gmt_payment"].flatMap { $0.isEmpty ? nil : $0 }
        gmtClose = fields["gmt_close"].flatMap { $0.isEmpty ? nil : $0 }
    }
}

public enum AlipayNotifyError: Error, Sendable, Equatable, CustomStringConvertible {
    case missingField(String)
    case unknownStatus(String)

    public var description: String {
        switch self {
        case .missingField(let name): "the notification has no \(name)"
        case .unknownStatus(let status): "unknown trade_status \(status.prefix(40))"
        }
    }
}

/// Amounts as Alipay writes them: yuan with up to two decimals ("199.99"), read exactly into
/// minor units (never through a Double), within Alipay's range [0.01, 100000000].
public enum AlipayAmount {
    public static let currency = Currency.named("CNY")!

    public static func minorUnits(_ text: String) throws(MoneyError) -> Int64 {
        guard !text.isEmpty, text.utf8.allSatisfy({ ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: ".") }) else {
            throw .invalidAmount("'\(text.prefix(40))' is not an Alipay amount (yuan, digits and a point)")
        }
        let money = try Money.parse(text, currency: currency)
        guard money.minorUnits >= 1, money.minorUnits <= 10_000_000_000 else {
            throw .invalidAmount("'\(text.prefix(40))' is outside Alipay's range 0.01…100000000")
        }
        return money.minorUnits
    }

    public static func text(_ minorUnits: Int64) -> String {
        Money(minorUnits: minorUnits, currency: currency).decimalString
    }
}

/// China Standard Time (GMT+8, no daylight saving): Alipay's `timestamp`, `gmt_payment`,
/// `notify_time` (`yyyy-MM-dd HH:mm:ss`).
public enum ChinaTime {
    static let offset: TimeInterval = 8 * 3600

    public static func format(_ date: Date) -> String {
        let civil = CivilTime(epochSeconds: Int64((date.timeIntervalSince1970 + offset).rounded(.down)))
        return civil.text(dateTimeSeparator: " ")
    }

    public static func parse(_ text: String) -> Date? {
        guard let civil = CivilTime(text: text, separator: UInt8(ascii: " ")), text.utf8.count == 19 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(civil.epochSeconds) - offset)
    }
}

/// A wall-clock time without a zone, with the days-from-civil arithmetic (no calendar objects).
struct CivilTime {
    var year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64

    init(epochSeconds: Int64) {
        let days = epochSeconds >= 0 ? epochSeconds / 86_400 : (epochSeconds - 86_399) / 86_400
        let secondOfDay = epochSeconds - days * 86_400
        hour = secondOfDay / 3600
        minute = secondOfDay % 3600 / 60
        second = secondOfDay % 60
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        day = doy - (153 * mp + 2) / 5 + 1
        month = mp < 10 ? mp + 3 : mp - 9
        year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    }

    /// `yyyy-MM-dd?HH:mm:ss` with `separator` between date and time; the rest of `text` is not
    /// read (the caller checks it).
    init?(text: String, separator: UInt8) {
        let bytes = Array(text.utf8)
        guard bytes.count >= 19, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == separator,
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":") else { return nil }
        func number(_ from: Int, _ count: Int) -> Int64? {
            var value: Int64 = 0
            for index in from..<(from + count) {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                value = value * 10 + Int64(digit)
            }
            return value
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
              let minute = number(14, 2), let second = number(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60 else { return nil }
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
        // A day past the month's end (Feb 30) does not round-trip: refused.
        guard CivilTime(epochSeconds: epochSeconds).day == day else { return nil }
    }

    var epochSeconds: Int64 {
        // Howard Hinnant's days_from_civil.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return days * 86_400 + hour * 3600 + minute * 60 + second
    }

    func text(dateTimeSeparator: String) -> String {
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(String(year).leftPadded(to: 4))-\(two(month))-\(two(day))\(dateTimeSeparator)\(two(hour)):\(two(minute)):\(two(second))"
    }
}
