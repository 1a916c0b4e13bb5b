import Foundation

import PaystreamDomain
import PaystreamWire

/// A channel's notification as received (`channel-notification/v1` on `channel.notifications`,
/// written by the gateway's listener to the partition its `out_trade_no` names, keyed by it).
/// It carries the raw signed material, not what we read from it: the shard checks the
/// signature again before deciding, so a record on the topic proves it came from the channel.
public struct ChannelNotificationRecord: Sendable, Codable, Equatable, WireKeyed {
    public static let schemaName = "channel-notification/v1"

    public var schema: String = ChannelNotificationRecord.schemaName
    /// `alipay` or `wechat_pay`.
    public var channel: String
    /// The channel's id of the notification (the same on every resend).
    public var notificationId: String
    public var receivedAt: String
    /// The headers that sign it (WeChat Pay's `wechatpay-*`), names lowercased.
    public var headers: [String: String]
    /// The body, base64 (signatures are over its exact bytes).
    public var body: String

    public init(channel: String, notificationId: String, receivedAt: String, headers: [String: String], body: Data) {
        self.channel = channel
        self.notificationId = notificationId
        self.receivedAt = receivedAt
        self.headers = headers
        self.body = body.base64EncodedString()
    }

    public var callback: ChannelCallback? {
        Data(base64Encoded: body).map { ChannelCallback(headers: headers, body: $0) }
    }

    enum CodingKeys: String, CodingKey {
        case schema, channel, notificationId = "notification_id", receivedAt = "received_at", headers, body
    }
}
