import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One line of a payment channel's statement, as reconciliation compares it with what the payment
/// stage recorded (`statement-line/v1`). Amounts are positive minor units; `type` says whether
/// money came in (`payment`) or went back (`refund`).
public struct StatementLine: Sendable, Codable, Hashable {
    public static let schemaName = "statement-line/v1"

    public var schema: String = StatementLine.schemaName
    /// Stable: the same line read from the same file again has the same id (so loading a file
    /// twice changes nothing): `<source>:<channel reference>:<type>[:<refund reference>]`.
    public var lineId: String
    /// `sandbox`, `wechat_pay` or `alipay`: the reader that produced it.
    public var source: String
    public var method: String
    /// The statement day (`yyyy-MM-dd`).
    public var day: String
    /// The channel's own transaction id.
    public var channelReference: String
    /// Ours: the payment id the instruction carried (the merchant order number in the bill).
    public var paymentId: String
    /// `payment` or `refund`.
    public var type: String
    public var amount: Int64
    public var currency: String
    /// The channel's fee on the line, minor units (0 when it shows none).
    public var fee: Int64
    /// For a refund: the channel's or our refund reference, when the statement has one.
    public var refundReference: String?

    public init(lineId: String, source: String, method: String, day: String, channelReference: String, paymentId: String, type: String,
                amount: Int64, currency: String, fee: Int64, refundReference: String? = nil) {
        self.lineId = lineId
        self.source = source
        self.method = method
        self.day = day
        self.channelReference = channelReference
        self.paymentId = paymentId
        self.type = type
        self.amount = amount
        self.currency = currency
        self.fee = fee
        self.refundReference = refundReference
    }

    enum CodingKeys: String, CodingKey {
        case schema
        case lineId = "line_id"
        case source, method, day
        case channelReference = "channel_reference"
        case paymentId = "payment_id"
        case type, amount, currency, fee
        case refundReference = "refund_reference"
    }
}
