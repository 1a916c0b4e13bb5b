/// An instruction to a payment channel (`channel-request/v1` on `channel.requests`, keyed by payer).
public struct ChannelRequest: Sendable, Codable, Hashable {
    public static let schemaName = "channel-request/v1"

    public var schema: String = ChannelRequest.schemaName
    /// `authorize` today; `query` and `refund` come with the payment issue.
    public var requestType: String
    public var channelRequestId: String
    public var paymentId: String
    public var payerId: String
    public var merchantId: String
    public var amount: Int64
    public var currency: String
    public var method: String
    public var channel: String
    public var requestedAt: String

    public init(requestType: String, channelRequestId: String, paymentId: String, payerId: String, merchantId: String,
                amount: Int64, currency: String, method: String, channel: String, requestedAt: String) {
        self.requestType = requestType
        self.channelRequestId = channelRequestId
        self.paymentId = paymentId
        self.payerId = payerId
        self.merchantId = merchantId
        self.amount = amount
        self.currency = currency
        self.method = method
        self.channel = channel
        self.requestedAt = requestedAt
    }
}

/// A channel's answer (`channel-confirmation/v1` on `channel.confirmations`, keyed like the request).
public struct ChannelConfirmation: Sendable, Codable, Hashable {
    public static let schemaName = "channel-confirmation/v1"

    public var schema: String = ChannelConfirmation.schemaName
    /// Unique per answer; a channel that repeats an answer repeats this id.
    public var confirmationId: String
    public var channelRequestId: String
    public var paymentId: String
    /// `approved` or `declined`.
    public var status: String
    public var amount: Int64
    public var currency: String
    public var channelReference: String?
    public var reason: String?
    public var message: String?
    public var confirmedAt: String

    public init(confirmationId: String, channelRequestId: String, paymentId: String, status: String, amount: Int64,
                currency: String, channelReference: String?, reason: String? = nil, message: String? = nil,
                confirmedAt: String) {
        self.confirmationId = confirmationId
        self.channelRequestId = channelRequestId
        self.paymentId = paymentId
        self.status = status
        self.amount = amount
        self.currency = currency
        self.channelReference = channelReference
        self.reason = reason
        self.message = message
        self.confirmedAt = confirmedAt
    }
}
