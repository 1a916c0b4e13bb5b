import Foundation

/// The real channels the gateway speaks to.
public enum ChannelKind: String, Sendable, Codable, CaseIterable {
    case alipay
    case weChatPay = "wechat_pay"
}

/// What one call (or one notification) says about a trade or a refund, in the channel's terms
/// mapped to ours. `unknown` is never an answer: the call is tried again with the same
/// idempotency number, or the trade queried.
public enum ChannelOutcome: Sendable, Equatable {
    /// Create: the trade exists and waits for the payer.
    case accepted
    /// The money was taken: the channel's amount (minor units), its reference, when.
    case paid(amount: Int64, reference: String, at: Date?)
    /// The trade exists and is not paid (yet).
    case awaitingPayment
    /// The trade is closed unpaid (by us, by its timeout, or the payer's failure): `reason` is
    /// the channel's word for it.
    case closed(reason: String)
    /// The channel has no such trade (or refund).
    case notFound
    /// A close (or a create again) refused because the trade is paid: query it.
    case alreadyPaid
    /// The money went back.
    case refunded(amount: Int64, reference: String, at: Date?)
    /// A refund accepted and not done yet.
    case refundPending
    /// A definite refusal that moved no money, with the channel's code.
    case refused(code: String, message: String)
    /// No answer that can be trusted: a timeout, a 5xx, `SYSTEM_ERROR`, a reply whose signature
    /// does not verify.
    case unknown(String)
}

/// One trade or refund as the gateway asks a connector about it.
public struct ChannelOrder: Sendable, Equatable {
    /// `out_trade_no` (a payment) or `out_request_no` / `out_refund_no` (a refund).
    public var outNo: String
    /// Minor units (fen).
    public var amount: Int64
    public var currency: String
    /// What the payer sees (Alipay `subject`, WeChat Pay `description`).
    public var subject: String
    /// For a refund: the payment's `out_trade_no` and amount.
    public var paymentOutNo: String?
    public var paymentAmount: Int64?

    public init(outNo: String, amount: Int64, currency: String, subject: String, paymentOutNo: String? = nil, paymentAmount: Int64? = nil) {
        self.outNo = outNo
        self.amount = amount
        self.currency = currency
        self.subject = subject
        self.paymentOutNo = paymentOutNo
        self.paymentAmount = paymentAmount
    }
}

/// A verified notification, read: which trade (and refund) it is about and what it says.
public struct ChannelEvent: Sendable, Equatable {
    /// The channel's id of the notification, the same on every resend (Alipay `notify_id`,
    /// WeChat Pay `id`).
    public var notificationId: String
    public var outTradeNo: String
    /// Set when the notification is about a refund.
    public var outRefundNo: String?
    public var outcome: ChannelOutcome

    public init(notificationId: String, outTradeNo: String, outRefundNo: String? = nil, outcome: ChannelOutcome) {
        self.notificationId = notificationId
        self.outTradeNo = outTradeNo
        self.outRefundNo = outRefundNo
        self.outcome = outcome
    }
}

/// A notification as received: the raw body and the headers that sign it (names lowercased).
public struct ChannelCallback: Sendable, Codable, Equatable {
    public var headers: [String: String]
    public var body: Data

    public init(headers: [String: String], body: Data) {
        self.headers = headers
        self.body = body
    }
}

/// Why a notification was refused at the edge; each is counted under `code`.
public struct CallbackRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// `bad_signature`, `stale_timestamp`, `signature_probe`, `unknown_serial`, `missing_header`,
    /// `malformed`, `wrong_app`, `undecryptable`.
    public let code: String
    public let message: String

    public init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

/// What the gateway answers the channel's notification request with.
public struct CallbackReply: Sendable, Equatable {
    public var status: Int
    public var contentType: String?
    public var body: Data

    public init(status: Int, contentType: String?, body: Data) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

/// One channel's protocol, as the gateway uses it. The calls never throw: every failure is an
/// outcome (`unknown` when nothing trustworthy came back).
public protocol ChannelConnector: Sendable {
    var kind: ChannelKind { get }
    func create(_ order: ChannelOrder) async -> ChannelOutcome
    func query(_ order: ChannelOrder) async -> ChannelOutcome
    func close(_ order: ChannelOrder) async -> ChannelOutcome
    func refund(_ refund: ChannelOrder) async -> ChannelOutcome
    func queryRefund(_ refund: ChannelOrder) async -> ChannelOutcome

    /// At the edge, when a notification arrives: its signature (and, for WeChat Pay, its time
    /// window) checked, and what it is about read.
    func check(_ callback: ChannelCallback, now: Date) throws(CallbackRefusal) -> ChannelEvent
    /// In the shard, when the stored notification is decided: its signature checked again (the
    /// topic holds nothing a broker writer could forge), without the time window.
    func read(_ callback: ChannelCallback) throws(CallbackRefusal) -> ChannelEvent
    /// The answer that tells the channel the notification was taken (or, `accepted` false, to
    /// send it again / that it was refused).
    func reply(accepted: Bool, message: String) -> CallbackReply
}

/// A call's reply once signed and checked, or the outcome that stands for its failure.
enum Called<Value> {
    case success(Value)
    case failure(ChannelOutcome)
}
